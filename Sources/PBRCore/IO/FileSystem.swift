package import Glibc

/// Small file-system operations every module needs, with errors that name the path.
public enum FileSystem {
    /// Whether `path` names a directory (following symbolic links).
    public static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names in a directory (no "." or ".."), sorted byte-wise.
    ///
    /// A name that is not UTF-8 cannot be given back as a `String` without becoming another name: with
    /// `requireUTF8` (a model's folder, whose every file must be stored) it is refused naming its bytes, otherwise
    /// (the store's own directories, whose names pbrepo writes in ASCII) it is left out.
    public static func listDirectory(_ path: String, requireUTF8: Bool = false) throws(FileError) -> [String] {
        guard let directory = opendir(path) else { throw FileError.system(path, "cannot list directory") }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            guard let name = String(validating: bytes, as: UTF8.self) else {
                guard requireUTF8 else { continue }
                let shown = bytes.map {
                    $0 < 0x80 && $0 >= 0x20
                        ? String(UnicodeScalar($0)) : "\\x" + String($0 >> 4, radix: 16) + String($0 & 15, radix: 16)
                }.joined()
                throw FileError(
                    .invalidName, path: path,
                    "the name \"\(shown)\" is not UTF-8; pbrepo records names as UTF-8 text (rename the file)")
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    /// `mkdir -p`; a file where a directory is needed (the folder itself or one above it) is named.
    public static func makeDirectories(_ path: String) throws(FileError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            guard mkdir(current, 0o755) != 0 else { continue }
            guard errno == EEXIST else { throw FileError.system(current, "cannot create directory") }
            guard isDirectory(current) else {
                let shown = path.hasPrefix("/") || path.hasPrefix("./") ? current : String(current.dropFirst(2))
                throw FileError(.wrongKind, path: shown, "exists and is not a directory")
            }
        }
    }

    /// Calls `body` with every entry under `directory` and its `lstat`, depth first, a directory's entries before the
    /// directory itself; links are reported, never followed.
    package static func forEachEntry(under directory: String, _ body: (String, stat) -> Void) {
        for name in (try? listDirectory(directory)) ?? [] {
            let path = directory + "/" + name
            var status = stat()
            guard lstat(path, &status) == 0 else { continue }
            if (status.st_mode & S_IFMT) == S_IFDIR { forEachEntry(under: path, body) }
            body(path, status)
        }
    }

    /// The size of the regular file at `path` (links followed), nil when there is none.
    package static func regularFileSize(_ path: String) -> UInt64? {
        var status = stat()
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
        return UInt64(status.st_size)
    }

    /// The bytes of the regular files under `directory` (links not followed), as `du --apparent-size -b` adds them.
    package static func regularFileBytes(under directory: String) -> UInt64 {
        var total: UInt64 = 0
        forEachEntry(under: directory) { _, status in
            if (status.st_mode & S_IFMT) == S_IFREG { total += UInt64(status.st_size) }
        }
        return total
    }

    /// `rm -r` that never follows a link (a link, here or inside, is removed, not what it points to); a file or
    /// link at `path` is simply unlinked.
    ///
    /// - Returns: whether `path` itself is gone.
    @discardableResult
    public static func removeTree(_ path: String) -> Bool {
        var status = stat()
        guard lstat(path, &status) == 0 else { return false }
        guard (status.st_mode & S_IFMT) == S_IFDIR else { return unlink(path) == 0 }
        forEachEntry(under: path) { entry, status in
            if (status.st_mode & S_IFMT) == S_IFDIR { rmdir(entry) } else { unlink(entry) }
        }
        return rmdir(path) == 0
    }

    /// Swaps two paths in one step (`renameat2` with `RENAME_EXCHANGE`, Linux 3.15): each name then names what the
    /// other did, and no moment exists when either is missing. False with `errno` set when it fails.
    public static func exchange(_ a: String, _ b: String) -> Bool {
        renameat2(AT_FDCWD, a, AT_FDCWD, b, 2) == 0  // RENAME_EXCHANGE
    }

    /// Whether `path` is (or links to) a regular file: not a directory, FIFO, socket or device.
    public static func isRegularFile(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
    }

    /// The whole file's bytes.
    public static func read(_ path: String) throws(FileError) -> [UInt8] {
        let file = try MappedFile(path: path)
        return file.withUnsafeBytes { Array($0) }
    }

    /// Replaces `path` with `bytes` atomically and durably (`AtomicFile`).
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(FileError) {
        let file = try AtomicFile(destination: path)
        try file.write(bytes)
        try file.commit()
    }

    /// Replaces `path` with `text` atomically and durably.
    public static func writeAtomically(_ text: String, to path: String) throws(FileError) {
        try writeAtomically(Array(text.utf8), to: path)
    }

    /// Reads a JSON file strictly (`StrictJSONParser`: duplicate keys refused) and decodes it.
    ///
    /// - Throws: `FileError` with `.io` when the file cannot be read, `.invalidJSON` naming the byte offset or the
    ///   field when it is not the expected JSON (the `DecodingError` or `JSONSyntaxError` as `underlying`).
    public static func readJSON<T: Decodable>(_ type: T.Type, from path: String) throws(FileError) -> T {
        let bytes = try read(path)
        do {
            return try JSONValueDecoder().decode(type, from: bytes)
        } catch let error as JSONSyntaxError {
            throw FileError(.invalidJSON, path: path, "not valid JSON: \(error)", underlying: error)
        } catch {
            throw FileError(.invalidJSON, path: path, describe(error), underlying: error)
        }
    }
}

// Glibc declares renameat2 only under _GNU_SOURCE, which Swift's Glibc module does not set.
@_silgen_name("renameat2")
private func renameat2(
    _ oldDirectory: Int32, _ old: UnsafePointer<CChar>, _ newDirectory: Int32, _ new: UnsafePointer<CChar>,
    _ flags: UInt32
) -> Int32

/// A decoding error as one line that names the field: `models[3].blocks: expected String, found a JSON number`.
public func describe(_ error: any Error) -> String {
    guard let decoding = error as? DecodingError else { return "\(error)" }
    func path(_ keys: [any CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += (text.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return text.isEmpty ? "the top level" : text
    }
    switch decoding {
    case .keyNotFound(let key, let context):
        return "\(path(context.codingPath + [key])): missing"
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
        return "\(path(context.codingPath)): \(context.debugDescription)"
    @unknown default:
        return "\(error)"
    }
}
