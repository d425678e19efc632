import Glibc
public import TensorFiles
public import XXHash

/// A directory of objects named by content digest: `objects/ab/cdef…` (the first two hex digits of the digest
/// fan the objects out over 256 directories). The store keeps its objects this way, and so does a directory written
/// by `export-blocks`, so the assembler reads both alike.
public struct ObjectDirectory: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    public func path(of digest: XXH3Digest) -> String {
        let hex = digest.description
        return root + "/objects/" + hex.prefix(2) + "/" + hex.dropFirst(2)
    }

    public func contains(_ digest: XXH3Digest) -> Bool {
        var status = stat()
        return stat(path(of: digest), &status) == 0
    }

    /// Size of an object file, or nil when it is missing.
    public func size(of digest: XXH3Digest) -> UInt64? {
        var status = stat()
        return stat(path(of: digest), &status) == 0 ? UInt64(status.st_size) : nil
    }

    /// Writes an object file atomically (temporary file, fsync, rename, directory fsync). Objects are immutable and
    /// content-addressed: if another writer got there first, its file stands for this one.
    public func write(_ object: [UInt8], digest: XXH3Digest) throws {
        let destination = path(of: digest)
        try makeDirectories(AtomicFile.directory(of: destination))
        let file = try AtomicFile(destination: destination)
        try file.write(object)
        try file.commit()
    }

    /// Calls `body` with an object file's bytes (mapped).
    public func withObject<R>(_ digest: XXH3Digest, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let file: MappedFile
        do {
            file = try MappedFile(path: path(of: digest))
        } catch {
            throw StoreError(.missingObject, "object \(digest) is missing (\(path(of: digest)))")
        }
        return try file.withUnsafeBytes(body)
    }

    /// Decodes an object (and, for a delta, its base), checking every digest on the way.
    public func content(of digest: XXH3Digest) throws -> [UInt8] {
        try withObject(digest) { object in
            let header = try StoredObject.header(of: object, name: "\(digest)")
            guard header.digest == digest else {
                throw StoreError(.corruptObject, "object file \(path(of: digest)) holds object \(header.digest)")
            }
            var base: [UInt8]?
            if let baseDigest = header.base {
                base = try withObject(baseDigest) { baseObject in
                    let baseHeader = try StoredObject.header(of: baseObject, name: "\(baseDigest)")
                    guard baseHeader.base == nil else {
                        throw StoreError(.corruptObject, "object \(digest) is a delta against another delta \(baseDigest)")
                    }
                    return try StoredObject.decode(baseObject, name: "\(baseDigest)")
                }
            }
            return try StoredObject.decode(object, name: "\(digest)", base: base)
        }
    }

    /// The base of a delta object, read from its header; nil for a self-contained object.
    public func base(of digest: XXH3Digest) throws -> XXH3Digest? {
        try withObject(digest) { try StoredObject.header(of: $0, name: "\(digest)").base }
    }

    /// Every object file present, by digest.
    public func allObjects() -> [XXH3Digest] {
        var found: [XXH3Digest] = []
        for fan in (try? listDirectory(root + "/objects")) ?? [] where fan.count == 2 {
            for rest in (try? listDirectory(root + "/objects/" + fan)) ?? [] {
                if let digest = XXH3Digest(hex: fan + rest) { found.append(digest) }
            }
        }
        return found
    }
}

/// `mkdir -p`.
func makeDirectories(_ path: String) throws {
    var current = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
        current += "/" + component
        if mkdir(current, 0o755) != 0 && errno != EEXIST {
            throw StoreError(.io, "cannot create directory \(current): \(String(cString: strerror(errno)))")
        }
    }
}
