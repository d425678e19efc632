package import BlockStore
import Crypto
import Foundation
import Glibc
import NIOCore
package import OCI
import PBRCore
package import RegistryClient
package import XXHash

/// Moving store objects out of registry blobs: which byte ranges to ask for, receiving them into a staging directory
/// with each object's size and sha256 checked as it arrives, then decoding each and checking it against its XXH3
/// name before it joins the store. `pbrepo pull` and the edge node (`pbrepo serve`) both fetch through it.
package enum ObjectTransfer {
    /// An object to fetch: what its file must be, and where it lies in which blob.
    package struct Wanted: Sendable {
        package var object: ModelIndexDocument.Object
        package var digest: XXH3Digest
        package var blob: Descriptor
        /// Bytes of it already in its `.partial` file (an interrupted fetch).
        package var have: UInt64

        package init(object: ModelIndexDocument.Object, digest: XXH3Digest, blob: Descriptor, have: UInt64 = 0) {
            self.object = object
            self.digest = digest
            self.blob = blob
            self.have = have
        }
    }

    /// One request: a byte range of a blob covering one or more objects (with gaps fetched along).
    package struct Run: Sendable {
        package var blob: Descriptor
        package var range: Range<UInt64>
        package var objects: [Wanted]
    }

    /// What an interrupted fetch left in `staging`: whole objects are hashed again (a crash may have cut them) and
    /// dropped from the list when right; partial ones resume from their length.
    package static func resumable(_ wanted: [Wanted], staging: ObjectDirectory) -> [Wanted] {
        var toFetch: [Wanted] = []
        for var entry in wanted {
            let path = staging.path(of: entry.digest)
            if let bytes = try? MappedFile(path: path), UInt64(bytes.count) == entry.object.size,
                bytes.withUnsafeBytes({ OCIDigest(of: $0).hex }) == entry.object.sha256
            {
                continue
            }
            unlink(path)
            var status = stat()
            let partial = stat(path + ".partial", &status) == 0 ? UInt64(status.st_size) : 0
            // All its bytes arrived and the run was cut before their check: check them now.
            if partial == entry.object.size, let bytes = try? MappedFile(path: path + ".partial"),
                bytes.withUnsafeBytes({ OCIDigest(of: $0).hex }) == entry.object.sha256,
                rename(path + ".partial", path) == 0
            {
                continue
            }
            entry.have = partial < entry.object.size ? partial : 0
            toFetch.append(entry)
        }
        return toFetch
    }

    /// Runs of objects of one blob, adjacent (or within `gapBytes`), up to `rangeBytes`; an object resumed from a
    /// partial file starts a run of its own.
    package static func runs(_ wanted: [Wanted], gapBytes: UInt64 = 0, rangeBytes: UInt64 = 64 << 20) -> [Run] {
        var runs: [Run] = []
        let byBlob = Dictionary(grouping: wanted, by: { $0.blob.digest })
        for blobDigest in byBlob.keys.sorted() {
            let members = byBlob[blobDigest]!.sorted { $0.object.offset < $1.object.offset }
            for member in members {
                let start = member.object.offset + member.have
                let end = member.object.offset + member.object.size
                if member.have == 0, var last = runs.last, last.blob.digest == blobDigest,
                    start >= last.range.upperBound, start - last.range.upperBound <= gapBytes,
                    end - last.range.lowerBound <= rangeBytes
                {
                    last.range = last.range.lowerBound..<end
                    last.objects.append(member)
                    runs[runs.count - 1] = last
                } else {
                    runs.append(Run(blob: member.blob, range: start..<end, objects: [member]))
                }
            }
        }
        return runs
    }

    /// Fetches `runs` from `repository` into `staging`, `streams` at a time; each object is renamed from `.partial`
    /// to its name once its size and sha256 hold. Returns the bytes received. `source` names the registry in errors.
    package static func fetch(
        _ runs: [Run], client: RegistryClient, repository: String, staging: ObjectDirectory, streams: Int,
        source: String, progress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) async throws -> UInt64 {
        let total = runs.reduce(UInt64(0)) { $0 + UInt64($1.range.count) }
        let received = Counter()
        let counts = try await boundedMap(runs, width: streams) { run -> UInt64 in
            var receiver = RunReceiver(
                run: run.objects.map { ($0.object, staging.path(of: $0.digest), $0.have) }, arrivals: staging.arrivals)
            defer { receiver.close() }
            let wholeBlob = run.range == 0..<run.blob.size
            let bytes = try await client.fetchBlob(
                repository: repository, digest: run.blob.digest, size: run.blob.size, range: wholeBlob ? nil : run.range
            ) { buffer in
                try receiver.receive(buffer, blob: run.blob.digest, source: source)
                progress?(received.add(UInt64(buffer.readableBytes)), total)
            }
            try receiver.finish(blob: run.blob.digest, source: source)
            return bytes
        }
        return counts.reduce(0, +)
    }

    /// Decodes every fetched object (delta bases and chunks from `staging` or the store) and checks it is the
    /// content it is named after; only then do they join the store. A wrong one is deleted and named in the error.
    /// `decoded`: the caller has decoded and checked every one already (an assembly from `staging`).
    package static func commit(
        _ digests: [XXH3Digest], staging: ObjectDirectory, store: Store, source: String, decoded: Bool = false
    ) throws {
        _ = try Parallel.map(count: decoded ? 0 : digests.count) { position in
            let digest = digests[position]
            do {
                try staging.checkIntact(digest)
                try staging.forEachPiece(of: digest) { _ in }
            } catch {
                unlink(staging.path(of: digest))
                throw DistributionError(
                    .verification, "object \(digest) from \(source) is not the object it is named after: \(error)")
            }
        }
        for digest in digests { try store.objects.adopt(digest, from: staging) }
        store.objects.syncDirectories(of: digests)
    }
}

/// Writes the bytes of one range into the staging files of its objects, hashing each as it goes; an object is
/// renamed from `.partial` to its name once its size and sha256 hold.
struct RunReceiver {
    struct Target {
        var object: ModelIndexDocument.Object
        var path: String
        /// Bytes of it already in its `.partial` file.
        var have: UInt64
    }

    var targets: [Target]
    var current = 0
    var written: UInt64 = 0
    var descriptor: Int32 = -1
    var hasher = SHA256()
    /// Bytes between objects (a gap fetched along) still to skip.
    var skip: UInt64 = 0

    /// Told of each object once it is in place (a reader assembling meanwhile waits for them).
    let arrivals: ObjectArrivals?

    init(run: [(ModelIndexDocument.Object, String, UInt64)], arrivals: ObjectArrivals? = nil) {
        targets = run.map { Target(object: $0.0, path: $0.1, have: $0.2) }
        self.arrivals = arrivals
    }

    mutating func open(blob: OCIDigest, source: String) throws {
        let target = targets[current]
        let partial = target.path + ".partial"
        try FileSystem.makeDirectories(AtomicFile.directory(of: partial))
        descriptor = Glibc.open(partial, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw DistributionError(.verification, "cannot write \(partial): \(String(cString: strerror(errno)))")
        }
        hasher = SHA256()
        written = 0
        if target.have > 0 {
            // Resumed: what is there counts, hashed again from the file.
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            var offset: UInt64 = 0
            while offset < target.have {
                let count = pread(descriptor, &buffer, min(buffer.count, Int(target.have - offset)), off_t(offset))
                guard count > 0 else { break }
                buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                offset += UInt64(count)
            }
            written = offset
        }
        ftruncate(descriptor, off_t(written))
        lseek(descriptor, off_t(written), SEEK_SET)
    }

    mutating func receive(_ buffer: ByteBuffer, blob: OCIDigest, source: String) throws {
        try buffer.withUnsafeReadableBytes { bytes in
            var position = 0
            while position < bytes.count {
                if skip > 0 {
                    let skipped = min(UInt64(bytes.count - position), skip)
                    skip -= skipped
                    position += Int(skipped)
                    continue
                }
                guard current < targets.count else {
                    throw DistributionError(
                        .verification, "blob \(blob) from \(source) sent bytes past its last object")
                }
                if descriptor < 0 { try open(blob: blob, source: source) }
                let target = targets[current]
                let take = min(bytes.count - position, Int(target.object.size - written))
                let piece = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + take)])
                var done = 0
                while done < take {
                    let count = write(descriptor, piece.baseAddress! + done, take - done)
                    guard count > 0 else {
                        throw DistributionError(
                            .verification, "cannot write \(target.path).partial: \(String(cString: strerror(errno)))")
                    }
                    done += count
                }
                hasher.update(bufferPointer: piece)
                written += UInt64(take)
                position += take
                if written == target.object.size { try complete(blob: blob, source: source) }
            }
        }
    }

    /// The current object has all its bytes: check them and give it its name.
    mutating func complete(blob: OCIDigest, source: String) throws {
        let target = targets[current]
        Glibc.close(descriptor)
        descriptor = -1
        let actual = OCIDigest(hasher.finalize())
        guard actual.hex == target.object.sha256 else {
            unlink(target.path + ".partial")
            throw DistributionError(
                .verification,
                "object \(target.object.name) (bytes \(target.object.offset)-\(target.object.offset + target.object.size - 1) of blob \(blob) from \(source)) has sha256 \(actual.hex), not \(target.object.sha256)"
            )
        }
        guard rename(target.path + ".partial", target.path) == 0 else {
            throw DistributionError(
                .verification, "cannot rename \(target.path).partial: \(String(cString: strerror(errno)))")
        }
        if let arrivals, let digest = XXH3Digest(hex: target.object.name) { arrivals.arrive(digest) }
        current += 1
        if current < targets.count {
            skip = targets[current].object.offset - (target.object.offset + target.object.size)
        }
    }

    /// The range ended: every object must have arrived whole.
    func finish(blob: OCIDigest, source: String) throws {
        guard current == targets.count else {
            throw DistributionError(
                .verification,
                "blob \(blob) from \(source) ended before object \(targets[current].object.name) was whole")
        }
    }

    mutating func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }
}
