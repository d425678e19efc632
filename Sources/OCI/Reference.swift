/// `host[:port]/name[:tag|@digest]`: where a model is pushed to or pulled from. pbrepo has no default registry, so
/// the host is always written.
package struct Reference: Sendable, Equatable, CustomStringConvertible {
    package var host: String
    package var repository: String
    package var tag: String?
    package var digest: OCIDigest?

    /// What `/manifests/<reference>` takes: the digest when there is one, else the tag (`latest` by default).
    package var manifestReference: String { digest?.description ?? tag ?? "latest" }

    package init(host: String, repository: String, tag: String? = nil, digest: OCIDigest? = nil) {
        self.host = host
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    package init(parsing text: String) throws(OCIError) {
        func refuse(_ why: String) -> OCIError {
            OCIError(.invalidReference, "\"\(OCIDigest.shown(text))\" is not a reference (host/name[:tag]): \(why)")
        }
        var rest = Substring(text)
        for scheme in ["oci://", "docker://"] where rest.hasPrefix(scheme) { rest = rest.dropFirst(scheme.count) }
        guard let slash = rest.firstIndex(of: "/") else { throw refuse("no registry host before the first /") }
        host = String(rest[..<slash])
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || ".-:[]".contains($0) }) else {
            throw refuse("\"\(host)\" is not a host[:port]")
        }
        rest = rest[rest.index(after: slash)...]
        digest = nil
        if let at = rest.firstIndex(of: "@") {
            digest = try OCIDigest(parsing: String(rest[rest.index(after: at)...]))
            rest = rest[..<at]
        }
        tag = nil
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            let tag = String(rest[rest.index(after: colon)...])
            guard Self.isTag(tag) else { throw refuse("\"\(tag)\" is not a tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})") }
            self.tag = tag
            rest = rest[..<colon]
        }
        repository = String(rest)
        guard Self.isRepositoryName(repository) else {
            throw refuse(
                "\"\(repository)\" is not a repository name (lowercase letters, digits, separators . _ __ - and /)")
        }
    }

    package var description: String {
        host + "/" + repository + (tag.map { ":" + $0 } ?? "") + (digest.map { "@" + $0.description } ?? "")
    }

    /// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` (distribution-spec).
    package static func isTag(_ tag: String) -> Bool {
        let bytes = Array(tag.utf8)
        func word(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x5F
        }
        guard let first = bytes.first, word(first), bytes.count <= 128 else { return false }
        return bytes.allSatisfy { word($0) || $0 == 0x2E || $0 == 0x2D }
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*` (distribution-spec), at most 255
    /// characters as clients cap host and name together.
    package static func isRepositoryName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255 else { return false }
        // Scanned by hand: the edge checks the name of every request, and the regex took ~100 µs a time.
        func alphanumeric(_ byte: UInt8) -> Bool { (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) }
        for component in Array(name.utf8).split(separator: 0x2F, omittingEmptySubsequences: false) {
            guard let first = component.first, let last = component.last, alphanumeric(first), alphanumeric(last)
            else { return false }
            var position = component.startIndex
            while position < component.endIndex {
                if alphanumeric(component[position]) {
                    position += 1
                    continue
                }
                var end = position
                while end < component.endIndex, !alphanumeric(component[end]) { end += 1 }
                let separator = component[position..<end]
                guard
                    separator.elementsEqual([0x2E]) || separator.elementsEqual([0x5F])
                        || separator.elementsEqual([0x5F, 0x5F]) || separator.allSatisfy({ $0 == 0x2D })
                else { return false }
                position = end
            }
        }
        return true
    }
}
