import Glibc
package import PBRCore
import TensorFiles
package import XXHash

/// A directory of objects named by content digest: `objects/ab/cdef…` (the first two hex digits of the digest
/// fan the objects out over 256 directories). The store keeps its objects this way, and so does a directory written
/// by `export-blocks`, so the assembler reads both alike.
package struct ObjectDirectory: Sendable {
    package let root: String
    /// Where objects this directory lacks are read from: a pull's staging directory reads the delta bases and chunks
    /// the store already has, so that downloads are decoded and checked before they join the store.
    let fallback: String?
    /// Objects still arriving (a pull that assembles while it downloads): reads of them wait.
    package let arrivals: ObjectArrivals?

    package init(
        root: String, readingMissingFrom fallback: ObjectDirectory? = nil, arrivals: ObjectArrivals? = nil
    ) {
        self.root = root
        self.fallback = fallback?.root
        self.arrivals = arrivals
    }

    /// The file an object is read from: this directory's, else the fallback's.
    func readablePath(of digest: XXH3Digest) -> String {
        let own = path(of: digest)
        guard let fallback else { return own }
        var status = stat()
        return stat(own, &status) == 0 ? own : ObjectDirectory(root: fallback).path(of: digest)
    }

    package func path(of digest: XXH3Digest) -> String {
        let hex = digest.description
        return root + "/objects/" + hex.prefix(2) + "/" + hex.dropFirst(2)
    }

    /// The object is here, or on its way (`arrivals`).
    package func contains(_ digest: XXH3Digest) -> Bool {
        if arrivals?.pending(digest) != nil { return true }
        var status = stat()
        return stat(readablePath(of: digest), &status) == 0
    }

    /// Size of an object file, or nil when it is missing.
    package func size(of digest: XXH3Digest) -> UInt64? {
        var status = stat()
        return stat(readablePath(of: digest), &status) == 0 ? UInt64(status.st_size) : nil
    }

    /// Moves a checked object file from `staging` into this directory (fsync, hard link, unlink: an object already
    /// here stays as it is). Returns false when it was already here.
    @discardableResult
    package func adopt(_ digest: XXH3Digest, from staging: ObjectDirectory) throws -> Bool {
        let source = staging.path(of: digest)
        let destination = path(of: digest)
        try makeDirectories(AtomicFile.directory(of: destination))
        let descriptor = open(source, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0, fsync(descriptor) == 0 else {
            let reason = String(cString: strerror(errno))
            if descriptor >= 0 { close(descriptor) }
            throw StoreError(.io, "cannot read \(source): \(reason)")
        }
        close(descriptor)
        if link(source, destination) != 0 {
            guard errno == EEXIST else {
                throw StoreError(
                    .io, "cannot move \(source) into the store as \(destination): \(String(cString: strerror(errno)))")
            }
            unlink(source)
            return false
        }
        unlink(source)
        return true
    }

    /// Writes an object file atomically (temporary file, fsync, rename, directory fsync).
    ///
    /// Objects are content-addressed but one content has several encodings (a delta or not): a file already there
    /// is left as it is unless `replacing` (healing a damaged file), so that what a reader or the index learnt about
    /// an object's encoding stays true.
    ///
    /// - Parameter syncDirectory: false leaves the fsync of the object's fan-out directory to the caller
    ///   (`syncDirectories(of:)`), which must do it before it records the object anywhere.
    /// - Returns: false when the file existed and was left alone.
    @discardableResult
    package func write(_ object: [UInt8], digest: XXH3Digest, syncDirectory: Bool = true, replacing: Bool = false)
        throws -> Bool
    {
        try object.withUnsafeBytes {
            try write($0, digest: digest, syncDirectory: syncDirectory, replacing: replacing)
        }
    }

    /// `write` of bytes held elsewhere (an encoder's scratch buffer).
    @discardableResult
    package func write(
        _ object: UnsafeRawBufferPointer, digest: XXH3Digest, syncDirectory: Bool = true, replacing: Bool = false
    ) throws -> Bool {
        let destination = path(of: digest)
        try makeDirectories(AtomicFile.directory(of: destination))
        // Large objects skip the page cache: they are written once and read rarely, and it halves the cost of
        // making them durable.
        let file = try AtomicFile(destination: destination, directIO: object.count >= 1 << 20)
        try file.write(object)
        return try file.commit(syncDirectory: syncDirectory, replacing: replacing)
    }

    /// What an object file's header says, and its size; nil when it is missing or has no readable header.
    func facts(of digest: XXH3Digest) -> ObjectFileFacts? {
        try? withObject(digest) { object in
            ObjectFileFacts(header: try StoredObject.header(of: object, name: "\(digest)"), size: UInt64(object.count))
        }
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
        try withMappedObject(digest) { _, bytes in try body(bytes) }
    }

    /// Calls `body` with an object file's mapping and its bytes: a reader that passes over a large object evicts
    /// what it has read (`MappedFile.evict`), so that it keeps a window of the file resident, not the file.
    package func withMappedObject<R>(
        _ digest: XXH3Digest, _ body: (MappedFile, UnsafeRawBufferPointer) throws -> R
    ) throws -> R {
        try arrivals?.wait(for: digest)
        let file: MappedFile
        do {
            file = try MappedFile(path: readablePath(of: digest))
        } catch {
            throw StoreError(.missingObject, "object \(digest) is missing (\(path(of: digest)))")
        }
        return try file.withUnsafeBytes { try body(file, $0) }
    }

    /// The content length of an object, from its header (or, for one still arriving, as declared: its decoding
    /// checks the header against the length the reader planned for).
    package func rawLength(of digest: XXH3Digest) throws -> UInt64 {
        if let declared = arrivals?.pending(digest) { return declared.rawLength }
        return try withObject(digest) { try StoredObject.validated($0, name: "\(digest)").rawLength }
    }

    /// The objects an object's decoding reads besides itself: a delta's base, a list's chunks (in order).
    package func references(of digest: XXH3Digest) throws -> [XXH3Digest] {
        if let declared = arrivals?.pending(digest), !declared.isChunkList { return declared.base.map { [$0] } ?? [] }
        return try withObject(digest) { object in
            let header = try StoredObject.header(of: object, name: "\(digest)")
            if header.codec == .chunked { return try StoredObject.chunks(of: object, name: "\(digest)").map(\.digest) }
            return header.base.map { [$0] } ?? []
        }
    }

    /// The chunks a list object names, or nil for an object that holds its content itself.
    package func chunks(of digest: XXH3Digest) throws -> [StoredObject.Chunk]? {
        if let declared = arrivals?.pending(digest), !declared.isChunkList { return nil }
        return try withObject(digest) { object in
            let header = try StoredObject.validated(object, name: "\(digest)")
            guard header.digest == digest else {
                throw StoreError(.corruptObject, "object file \(path(of: digest)) holds object \(header.digest)")
            }
            return header.codec == .chunked ? try StoredObject.chunks(of: object, name: "\(digest)") : nil
        }
    }

    /// Decodes one chunk a list names, checking it is the chunk listed (its digest and length) and holds its
    /// content itself: lists are one level deep.
    package func decoded(chunk: StoredObject.Chunk, of list: XXH3Digest) throws -> ScratchBuffer {
        guard case .content(let content) = try decode(chunk.digest, asChunkOf: list) else {
            throw StoreError(.corruptObject, "object \(list) lists \(chunk.digest) as a chunk, which is a list itself")
        }
        guard UInt64(content.count) == chunk.length else {
            throw StoreError(
                .corruptObject,
                "object \(list) lists chunk \(chunk.digest) as \(chunk.length) bytes; it holds \(content.count)")
        }
        return content
    }

    /// Calls `body` with an object's content in order, a chunk at a time for a list (whose whole digest is checked
    /// at the end: a failure after some pieces means those were not the object's), else at once.
    package func forEachPiece(of digest: XXH3Digest, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        switch try decode(digest, asChunkOf: nil) {
        case .content(let content): try content.withBytes(body)
        case .list(let chunks): try forEachChunk(chunks, of: digest, body)
        }
    }

    /// Decodes an object (and, for a delta, its base; for a list, its chunks), checking the content's digest.
    package func content(of digest: XXH3Digest) throws -> [UInt8] {
        try decoded(digest).withBytes { Array($0) }
    }

    /// `content(of:)` into a buffer of the shared scratch pool: what the assembler and ingest decode into, so that
    /// a chunk's memory is not mapped and zeroed afresh each time.
    package func decoded(_ digest: XXH3Digest) throws -> ScratchBuffer {
        switch try decode(digest, asChunkOf: nil) {
        case .content(let content):
            return content
        case .list(let chunks):
            // The lengths add up to the header's content length, which validation bounds.
            let buffer = ScratchPool.shared.take(Int(chunks.reduce(0) { $0 + $1.length }))
            var offset = 0
            try forEachChunk(chunks, of: digest) { piece in
                UnsafeMutableRawBufferPointer(rebasing: buffer.space[offset..<(offset + piece.count)])
                    .copyMemory(from: piece)
                offset += piece.count
            }
            return buffer
        }
    }

    /// What one reading of an object file gives: its decoded content, or the chunks it lists.
    private enum Decoded {
        case content(ScratchBuffer)
        case list([StoredObject.Chunk])
    }

    /// Maps an object file once, checks it is the object it is named after, and decodes it (with its delta base)
    /// or reads its chunk list; a list named as a chunk of `list` is not read further.
    private func decode(_ digest: XXH3Digest, asChunkOf list: XXH3Digest?) throws -> Decoded {
        try withMappedObject(digest) { file, object -> Decoded in
            let header = try StoredObject.validated(object, name: "\(digest)")
            guard header.digest == digest else {
                throw StoreError(.corruptObject, "object file \(path(of: digest)) holds object \(header.digest)")
            }
            if header.codec == .chunked {
                return .list(list == nil ? try StoredObject.chunks(of: object, name: "\(digest)") : [])
            }
            let buffer = ScratchPool.shared.take(Int(header.rawLength))
            let destination = UnsafeMutableRawBufferPointer(start: buffer.pointer, count: buffer.count)
            if let baseDigest = header.base {
                try withMappedObject(baseDigest) { baseFile, baseObject in
                    try StoredObject.decode(
                        object, name: "\(digest)", baseObject: baseObject, baseName: "\(baseDigest)", into: destination,
                        release: file.evict, releaseBase: baseFile.evict)
                }
            } else {
                try StoredObject.decode(object, name: "\(digest)", base: nil, into: destination, release: file.evict)
            }
            return .content(buffer)
        }
    }

    /// Decodes a list's chunks in order, hands each to `body`, and checks that together they are the list's content.
    private func forEachChunk(
        _ chunks: [StoredObject.Chunk], of digest: XXH3Digest, _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        var hasher = XXH3Hasher()
        for chunk in chunks {
            let piece = try decoded(chunk: chunk, of: digest)
            try piece.withBytes { bytes in
                hasher.update(bytes)
                try body(bytes)
            }
        }
        let actual = hasher.finalize()
        guard actual == digest else {
            throw StoreError(.corruptObject, "object \(digest): its chunks make content with digest \(actual)")
        }
    }

    /// Checks that an object file is intact without decoding it where its format allows (version 2 objects carry a
    /// checksum of the file; version 1 objects are decoded), and that it is the object it is named after. A delta's
    /// base is checked too: a delta is only as good as its base.
    ///
    /// - Returns: the object's header.
    /// - Throws: `.missingObject` when the file (or its base) is missing, `.corruptObject` when either is damaged.
    ///
    /// - Parameter followingChunks: false checks a list without its chunks (for a caller that checks them itself).
    @discardableResult
    package func checkIntact(_ digest: XXH3Digest, followingChunks: Bool = true) throws -> StoredObject {
        var chunks: [StoredObject.Chunk] = []
        let header = try withObject(digest) { object -> StoredObject in
            let header = try StoredObject.validated(object, name: "\(digest)")
            guard header.digest == digest else {
                throw StoreError(.corruptObject, "object file \(path(of: digest)) holds object \(header.digest)")
            }
            if try !StoredObject.checkFile(object, name: "\(digest)"), header.base == nil {
                _ = try StoredObject.decode(object, name: "\(digest)")
            }
            if header.codec == .chunked { chunks = try StoredObject.chunks(of: object, name: "\(digest)") }
            return header
        }
        for chunk in chunks where followingChunks {
            let chunkHeader = try checkIntact(chunk.digest)
            guard chunkHeader.codec != .chunked, chunkHeader.rawLength == chunk.length else {
                throw StoreError(
                    .corruptObject, "object \(digest) lists chunk \(chunk.digest), which is not the chunk it lists")
            }
        }
        if let base = header.base {
            let baseHeader = try checkIntact(base)
            guard baseHeader.base == nil else {
                throw StoreError(.corruptObject, "object \(digest) is a delta against another delta \(base)")
            }
            if header.checksum == nil { _ = try content(of: digest) }
        }
        return header
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
