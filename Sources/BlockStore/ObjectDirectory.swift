import Glibc
import PBRCore
import TensorFiles
package import XXHash

/// A directory of objects named by content digest: `objects/ab/cdef…` (the first two hex digits of the digest
/// fan the objects out over 256 directories). The store keeps its objects this way, and so does a directory written
/// by `export-blocks`, so the assembler reads both alike.
package struct ObjectDirectory: Sendable {
    package let root: String

    package init(root: String) { self.root = root }

    package func path(of digest: XXH3Digest) -> String {
        let hex = digest.description
        return root + "/objects/" + hex.prefix(2) + "/" + hex.dropFirst(2)
    }

    package func contains(_ digest: XXH3Digest) -> Bool {
        var status = stat()
        return stat(path(of: digest), &status) == 0
    }

    /// Size of an object file, or nil when it is missing.
    package func size(of digest: XXH3Digest) -> UInt64? {
        var status = stat()
        return stat(path(of: digest), &status) == 0 ? UInt64(status.st_size) : nil
    }

    /// Writes an object file atomically (temporary file, fsync, rename, directory fsync). Objects are immutable and
    /// content-addressed: if another writer got there first, its file stands for this one.
    ///
    /// - Parameter syncDirectory: false leaves the fsync of the object's fan-out directory to the caller
    ///   (`syncDirectories(of:)`), which must do it before it records the object anywhere.
    package func write(_ object: [UInt8], digest: XXH3Digest, syncDirectory: Bool = true) throws {
        let destination = path(of: digest)
        try makeDirectories(AtomicFile.directory(of: destination))
        // Large objects skip the page cache: they are written once and read rarely, and it halves the cost of
        // making them durable.
        let file = try AtomicFile(destination: destination, directIO: object.count >= 1 << 20)
        try file.write(object)
        try file.commit(syncDirectory: syncDirectory)
    }

    /// fsyncs the fan-out directories of `digests` (and `objects/`), each once.
    package func syncDirectories(of digests: some Sequence<XXH3Digest>) {
        for fan in Set(digests.map { $0.description.prefix(2) }).sorted() {
            AtomicFile.syncDirectory(root + "/objects/" + fan)
        }
        AtomicFile.syncDirectory(root + "/objects")
    }

    /// Calls `body` with an object file's bytes (mapped).
    package func withObject<R>(_ digest: XXH3Digest, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let file: MappedFile
        do {
            file = try MappedFile(path: path(of: digest))
        } catch {
            throw StoreError(.missingObject, "object \(digest) is missing (\(path(of: digest)))")
        }
        return try file.withUnsafeBytes(body)
    }

    /// Decodes an object (and, for a delta, its base), checking the content's digest.
    package func content(of digest: XXH3Digest) throws -> [UInt8] {
        try withObject(digest) { object in
            let header = try StoredObject.header(of: object, name: "\(digest)")
            guard header.digest == digest else {
                throw StoreError(.corruptObject, "object file \(path(of: digest)) holds object \(header.digest)")
            }
            guard let baseDigest = header.base else { return try StoredObject.decode(object, name: "\(digest)") }
            guard header.rawLength < UInt64(Int.max / 4) else {
                throw StoreError(.corruptObject, "object \(digest) claims \(header.rawLength) bytes")
            }
            return try withObject(baseDigest) { baseObject in
                var failure: (any Error)?
                let content = [UInt8](unsafeUninitializedCapacity: Int(header.rawLength)) { out, initialized in
                    do {
                        try StoredObject.decode(
                            object, name: "\(digest)", baseObject: baseObject, baseName: "\(baseDigest)",
                            into: UnsafeMutableRawBufferPointer(out))
                    } catch {
                        failure = error
                    }
                    initialized = failure == nil ? out.count : 0
                }
                if let failure { throw failure }
                return content
            }
        }
    }

    /// The base of a delta object, read from its header; nil for a self-contained object.
    package func base(of digest: XXH3Digest) throws -> XXH3Digest? {
        try withObject(digest) { try StoredObject.header(of: $0, name: "\(digest)").base }
    }

    /// Every object file present, by digest.
    package func allObjects() -> [XXH3Digest] {
        var found: [XXH3Digest] = []
        for fan in (try? FileSystem.listDirectory(root + "/objects")) ?? [] where fan.count == 2 {
            for rest in (try? FileSystem.listDirectory(root + "/objects/" + fan)) ?? [] {
                if let digest = XXH3Digest(hex: fan + rest) { found.append(digest) }
            }
        }
        return found
    }
}

/// `mkdir -p`, failing as a store error.
func makeDirectories(_ path: String) throws(StoreError) {
    do {
        try FileSystem.makeDirectories(path)
    } catch {
        throw StoreError(error)
    }
}
