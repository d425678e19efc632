package import AsyncHTTPClient
import Foundation
package import NIOCore
import NIOFoundationCompat
import NIOHTTP1
package import OCI

/// An error of the code a blob's bytes were handed to, passed through the response's error handling untouched.
struct ConsumerFailure: Error {
    var error: any Error
}

/// A manifest as a registry served it: its exact bytes (their sha256 is its digest) and what it said it was.
package struct FetchedManifest: Sendable {
    package var bytes: [UInt8]
    package var digest: OCIDigest
    package var contentType: String?
}

extension RegistryClient {
    static func pullScope(_ repository: String) -> String { "repository:\(repository):pull" }
    static func pushScope(_ repository: String) -> String { "repository:\(repository):pull,push" }

    /// `GET /v2/`: whether the registry speaks the distribution API (and takes the credentials).
    package func ping() async throws(RegistryError) {
        let call = Call(method: .GET, target: "/v2/", scopes: [], what: "GET /v2/")
        let response = try await send(call)
        try await Self.expect(response, [200], call, host: host)
        _ = await Self.drain(response)
    }

    /// The manifest `reference` (a tag or a digest) of `repository`, checked: at most 4 MiB, its sha256 equal to the
    /// digest asked for, and to `Docker-Content-Digest` when the registry sends one.
    package func manifest(repository: String, reference: String) async throws(RegistryError) -> FetchedManifest {
        let call = Call(
            method: .GET, target: "/v2/\(repository)/manifests/\(reference)",
            headers: [("Accept", MediaType.manifestAccept.joined(separator: ", "))],
            scopes: [Self.pullScope(repository)], what: "manifest \(repository):\(reference)")
        let response = try await send(call)
        try await Self.expect(response, [200], call, host: host)
        let bytes: ByteBuffer
        do {
            bytes = try await response.body.collect(upTo: OCILimits.manifestBytes)
        } catch is NIOTooManyBytesError {
            throw RegistryError(
                .badResponse, "\(host) sent a manifest \(repository):\(reference) over the 4 MiB limit")
        } catch {
            throw Self.describe(error, call: call, host: host)
        }
        let body = Array(bytes.readableBytesView)
        let digest = OCIDigest(of: body)
        if reference.hasPrefix("sha256:"), reference != digest.description {
            throw RegistryError(
                .badResponse, "\(host) sent manifest \(repository)@\(reference) whose bytes are \(digest)")
        }
        if let claimed = response.headers.first(name: "Docker-Content-Digest"), claimed != digest.description {
            throw RegistryError(
                .badResponse,
                "\(host) says manifest \(repository):\(reference) is \(claimed) but its bytes are \(digest)")
        }
        return FetchedManifest(
            bytes: body, digest: digest,
            contentType: response.headers.first(name: "Content-Type").map {
                String($0.split(separator: ";").first ?? "").trimmingCharacters(in: .whitespaces)
            })
    }

    /// The size of blob `digest` in `repository` (HEAD), nil when the repository does not have it.
    package func blobSize(repository: String, digest: OCIDigest) async throws(RegistryError) -> UInt64? {
        let call = Call(
            method: .HEAD, target: "/v2/\(repository)/blobs/\(digest)", scopes: [Self.pullScope(repository)],
            what: "HEAD of blob \(digest) in \(repository)")
        let response = try await send(call)
        if response.status == .notFound {
            _ = await Self.drain(response)
            return nil
        }
        try await Self.expect(response, [200], call, host: host)
        _ = await Self.drain(response)
        guard let length = response.headers.first(name: "Content-Length").flatMap({ UInt64($0) }) else {
            throw RegistryError(.badResponse, "\(host) answered the HEAD of blob \(digest) without a Content-Length")
        }
        return length
    }

    /// Streams bytes `range` (all of it when nil) of blob `digest` into `body`, checking that the registry sends
    /// exactly those bytes: a 206 must name the range asked for, a 200 to a range request is cut to the range, a
    /// `Content-Length` must agree, and a body that ends early or runs over fails naming the blob.
    ///
    /// - Parameter size: the blob's size from its descriptor.
    package func fetchBlob(
        repository: String, digest: OCIDigest, size: UInt64, range: Range<UInt64>? = nil,
        into body: (ByteBuffer) async throws -> Void
    ) async throws -> UInt64 {
        let wanted = range ?? 0..<size
        guard wanted.upperBound <= size else {
            throw RegistryError(.badResponse, "bytes \(wanted) of blob \(digest) lie beyond its \(size) bytes")
        }
        var headers: [(String, String)] = []
        let ranged = wanted != 0..<size
        if ranged { headers.append(("Range", "bytes=\(wanted.lowerBound)-\(wanted.upperBound - 1)")) }
        let what =
            "blob \(digest) of \(repository)" + (ranged ? " (bytes \(wanted.lowerBound)-\(wanted.upperBound - 1))" : "")
        let call = Call(
            method: .GET, target: "/v2/\(repository)/blobs/\(digest)", headers: headers,
            scopes: [Self.pullScope(repository)], what: what)
        let response = try await send(call)
        try await Self.expect(response, ranged ? [200, 206] : [200], call, host: host)
        // Where the response's bytes start in the blob.
        var position: UInt64 = 0
        if response.status == .partialContent {
            guard let contentRange = response.headers.first(name: "Content-Range"),
                let parsed = Self.parseContentRange(contentRange), parsed.range == wanted,
                parsed.total == nil || parsed.total == size
            else {
                _ = await Self.drain(response)
                throw RegistryError(
                    .badResponse,
                    "\(host) answered \(what) with Content-Range \(response.headers.first(name: "Content-Range") ?? "(none)")"
                )
            }
            position = wanted.lowerBound
        }
        let expectedLength = response.status == .partialContent ? UInt64(wanted.count) : size
        if let length = response.headers.first(name: "Content-Length").flatMap({ UInt64($0) }), length != expectedLength
        {
            _ = await Self.drain(response)
            throw RegistryError(
                .badResponse, "\(host) announces \(length) bytes for \(what), not \(expectedLength)")
        }
        var delivered: UInt64 = 0
        do {
            for try await var buffer in response.body {
                let start = position
                position += UInt64(buffer.readableBytes)
                guard position <= size else {
                    throw RegistryError(.badResponse, "\(host) sent more than the \(size) bytes of blob \(digest)")
                }
                // A 200 to a range request: keep only the range's part of each buffer.
                let from = max(start, wanted.lowerBound)
                let to = min(position, wanted.upperBound)
                guard from < to else {
                    if start >= wanted.upperBound { break }
                    continue
                }
                buffer.moveReaderIndex(forwardBy: Int(from - start))
                buffer = buffer.getSlice(at: buffer.readerIndex, length: Int(to - from)) ?? buffer
                delivered += UInt64(buffer.readableBytes)
                do {
                    try await body(buffer)
                } catch {
                    throw ConsumerFailure(error: error)
                }
                if position >= wanted.upperBound { break }
            }
        } catch let failure as ConsumerFailure {
            throw failure.error
        } catch let error as RegistryError {
            throw error
        } catch let error as HTTPClientError where error == .readTimeout {
            throw Self.describe(error, call: call, host: host)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw RegistryError(
                .badResponse,
                "\(host) broke off \(what) after \(delivered) of \(wanted.count) bytes (\(error)): a truncated blob")
        }
        guard delivered == UInt64(wanted.count) else {
            throw RegistryError(
                .badResponse,
                "\(host) ended \(what) after \(delivered) of \(wanted.count) bytes (a truncated blob)")
        }
        return delivered
    }

    /// `bytes a-b/total` (total may be `*`).
    static func parseContentRange(_ header: String) -> (range: Range<UInt64>, total: UInt64?)? {
        let text = header.trimmingCharacters(in: .whitespaces)
        guard text.hasPrefix("bytes ") else { return nil }
        let parts = text.dropFirst(6).split(separator: "/", maxSplits: 1)
        let bounds = parts.first?.split(separator: "-", maxSplits: 1) ?? []
        guard parts.count == 2, bounds.count == 2, let first = UInt64(bounds[0]), let last = UInt64(bounds[1]),
            first <= last
        else { return nil }
        return (first..<(last + 1), parts[1] == "*" ? nil : UInt64(parts[1]))
    }

    /// Mounts blob `digest` from repository `source` (cross-repository mount): true when the registry mounted it
    /// (201), false when it opened an upload session instead (202: the blob is not in `source` for it), which is
    /// cancelled.
    package func mount(repository: String, digest: OCIDigest, from source: String) async throws(RegistryError) -> Bool {
        let call = Call(
            method: .POST,
            target:
                "/v2/\(repository)/blobs/uploads/?mount=\(Self.queryEscaped(digest.description))&from=\(Self.queryEscaped(source))",
            headers: [("Content-Length", "0")],
            scopes: [Self.pushScope(repository), Self.pullScope(source)],
            what: "mount of blob \(digest) from \(source) into \(repository)")
        let response = try await send(call)
        try await Self.expect(response, [201, 202], call, host: host)
        _ = await Self.drain(response)
        if response.status == .created { return true }
        if let location = response.headers.first(name: "Location") {
            let cancel = Call(
                method: .DELETE, target: resolve(location), scopes: [Self.pushScope(repository)],
                what: "cancelling an upload to \(repository)")
            if let answer = try? await send(cancel) { _ = await Self.drain(answer) }
        }
        return false
    }

    /// Uploads blob `digest` of `size` bytes to `repository`: `POST` for a session, then one `PUT` with the whole
    /// body (monolithic). `body` makes the bytes again for a retry.
    package func upload(
        repository: String, digest: OCIDigest, size: UInt64,
        body: @escaping @Sendable () -> HTTPClientRequest.Body
    ) async throws(RegistryError) {
        let location = try await startUpload(repository: repository, digest: digest)
        let put = Call(
            method: .PUT, target: appendingDigest(to: resolve(location), digest),
            headers: [("Content-Type", "application/octet-stream"), ("Content-Length", String(size))],
            body: body, scopes: [Self.pushScope(repository)], what: "upload of blob \(digest) to \(repository)")
        let response = try await send(put)
        try await Self.expect(response, [201], put, host: host)
        _ = await Self.drain(response)
        try checkCreated(response, digest: digest, what: put.what)
    }

    /// Uploads blob `digest` in chunks of `chunkBytes` (`PATCH` each, `PUT` to close). Offsets come from the
    /// registry's `Range` answers, never from the `Content-Range` sent: distribution 2.8.2 ignores that header and
    /// never answers 416.
    package func uploadChunked(
        repository: String, digest: OCIDigest, size: UInt64, chunkBytes: UInt64,
        chunk: @escaping @Sendable (Range<UInt64>) -> HTTPClientRequest.Body
    ) async throws(RegistryError) {
        var location = resolve(try await startUpload(repository: repository, digest: digest))
        var offset: UInt64 = 0
        while offset < size {
            let piece = offset..<min(size, offset + chunkBytes)
            let patch = Call(
                method: .PATCH, target: location,
                headers: [
                    ("Content-Type", "application/octet-stream"), ("Content-Length", String(piece.count)),
                    ("Content-Range", "\(piece.lowerBound)-\(piece.upperBound - 1)"),
                ],
                body: { chunk(piece) }, scopes: [Self.pushScope(repository)],
                what: "chunk \(piece.lowerBound)-\(piece.upperBound - 1) of blob \(digest) to \(repository)")
            let response = try await send(patch)
            try await Self.expect(response, [202], patch, host: host)
            _ = await Self.drain(response)
            guard let next = response.headers.first(name: "Location") else {
                throw RegistryError(.badResponse, "\(host) accepted \(patch.what) without a Location")
            }
            location = resolve(next)
            // `Range: 0-<last byte received>`.
            guard let range = response.headers.first(name: "Range"),
                let last = range.split(separator: "-").last.flatMap({ UInt64($0) })
            else {
                throw RegistryError(.badResponse, "\(host) accepted \(patch.what) without a Range")
            }
            guard last + 1 == piece.upperBound else {
                throw RegistryError(
                    .badResponse,
                    "\(host) holds bytes 0-\(last) of blob \(digest) after \(patch.what); expected 0-\(piece.upperBound - 1)"
                )
            }
            offset = piece.upperBound
        }
        let put = Call(
            method: .PUT, target: appendingDigest(to: location, digest), headers: [("Content-Length", "0")],
            scopes: [Self.pushScope(repository)], what: "closing the upload of blob \(digest) to \(repository)")
        let response = try await send(put)
        try await Self.expect(response, [201], put, host: host)
        _ = await Self.drain(response)
        try checkCreated(response, digest: digest, what: put.what)
    }

    private func startUpload(repository: String, digest: OCIDigest) async throws(RegistryError) -> String {
        let post = Call(
            method: .POST, target: "/v2/\(repository)/blobs/uploads/", headers: [("Content-Length", "0")],
            scopes: [Self.pushScope(repository)], what: "starting the upload of blob \(digest) to \(repository)")
        let response = try await send(post)
        try await Self.expect(response, [202], post, host: host)
        _ = await Self.drain(response)
        guard let location = response.headers.first(name: "Location") else {
            throw RegistryError(.badResponse, "\(host) opened an upload session to \(repository) without a Location")
        }
        return location
    }

    private func checkCreated(_ response: HTTPClientResponse, digest: OCIDigest, what: String) throws(RegistryError) {
        if let claimed = response.headers.first(name: "Docker-Content-Digest"), claimed != digest.description {
            throw RegistryError(.badResponse, "\(host) stored \(claimed) for \(what)")
        }
    }

    /// Puts manifest `bytes` under `reference` (a tag, or its digest) in `repository`; returns its digest, checked
    /// against the one the registry answers with.
    package func putManifest(repository: String, reference: String, bytes: [UInt8], mediaType: String)
        async throws(RegistryError) -> OCIDigest
    {
        let digest = OCIDigest(of: bytes)
        let call = Call(
            method: .PUT, target: "/v2/\(repository)/manifests/\(reference)",
            headers: [("Content-Type", mediaType), ("Content-Length", String(bytes.count))],
            body: { .bytes(ByteBuffer(bytes: bytes)) }, scopes: [Self.pushScope(repository)],
            what: "manifest \(repository):\(reference)")
        let response = try await send(call)
        try await Self.expect(response, [201], call, host: host)
        _ = await Self.drain(response)
        if let claimed = response.headers.first(name: "Docker-Content-Digest"), claimed != digest.description {
            throw RegistryError(
                .badResponse, "\(host) stored manifest \(repository):\(reference) as \(claimed), not \(digest)")
        }
        return digest
    }

    /// The tags of `repository`, sorted (distribution 2.8.2 returns them unsorted and ignores `n` and `last`; the
    /// `Link` pages of other registries are followed).
    package func tags(repository: String) async throws(RegistryError) -> [String] {
        struct TagList: Decodable {
            var tags: [String]?
        }
        var tags: [String] = []
        var target: String? = "/v2/\(repository)/tags/list?n=1000"
        var pages = 0
        while let current = target, pages < 1000 {
            pages += 1
            let call = Call(
                method: .GET, target: current, scopes: [Self.pullScope(repository)], what: "tags of \(repository)")
            let response = try await send(call)
            try await Self.expect(response, [200], call, host: host)
            let body: ByteBuffer
            do {
                body = try await response.body.collect(upTo: 16 << 20)
            } catch {
                throw Self.describe(error, call: call, host: host)
            }
            guard let list = try? JSONDecoder().decode(TagList.self, from: Data(buffer: body)) else {
                throw RegistryError(.badResponse, "\(host) sent a tag list of \(repository) that is not JSON")
            }
            let page = list.tags ?? []
            let known = Set(tags)
            tags += page.filter { !known.contains($0) }
            target = response.headers.first(name: "Link").flatMap(Self.nextLink)
            if page.isEmpty { break }
        }
        return tags.sorted()
    }

    /// The target of `Link: <…>; rel="next"`.
    static func nextLink(_ header: String) -> String? {
        guard header.contains("rel=\"next\""), let open = header.firstIndex(of: "<"),
            let close = header[open...].firstIndex(of: ">")
        else { return nil }
        return String(header[header.index(after: open)..<close])
    }

    /// An upload `Location`: absolute, or a path on this registry.
    func resolve(_ location: String) -> String {
        if location.hasPrefix("http://") || location.hasPrefix("https://") { return location }
        return base + (location.hasPrefix("/") ? location : "/" + location)
    }

    func appendingDigest(to location: String, _ digest: OCIDigest) -> String {
        location + (location.contains("?") ? "&" : "?") + "digest=" + Self.queryEscaped(digest.description)
    }

    static func queryEscaped(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
