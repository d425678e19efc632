package import BlockStore
import Crypto
import Foundation
import Glibc
import NIOCore
package import OCI
import PBRCore
package import RegistryClient
import XXHash

/// What a pull did.
package struct PullResult: Sendable, Codable, Equatable {
    package var model: String
    package var reference: String
    package var manifestDigest: String
    /// Objects the model needs, those the store lacked, and those fetched now (the rest came from an earlier,
    /// interrupted pull).
    package var objects: Int
    package var missing: Int
    package var fetched: Int
    /// Bytes received for objects (ranges of blobs), and for the manifest, recipe and model index.
    package var bytesFetched: UInt64
    package var documentBytes: UInt64
    package var requests: Int
    /// The artifact's blob bytes, and the model's files.
    package var artifactBytes: UInt64
    package var modelBytes: UInt64
    /// The model was in the store already, the same.
    package var alreadyPresent: Bool
}

package enum Pull {
    package struct Options: Sendable {
        /// Ranges in flight at once.
        package var streams = 4
        /// Missing objects this close together in a blob are fetched in one range (the bytes between come along).
        package var gapBytes: UInt64 = 0
        /// The longest range one request asks for.
        package var rangeBytes: UInt64 = 64 << 20
        /// Largest recipe and model index accepted.
        package var documentLimit = 256 << 20
        /// Runs once the recipe is known and before any object is fetched: a pull that would end in a refusal
        /// (an output that exists, say) is refused before it moves the bytes.
        package var checkRecipe: (@Sendable (Recipe) throws -> Void)?

        package init() {}
    }

    /// The model `reference` names: the manifest is resolved once (by tag) and everything after is fetched by
    /// digest; only objects the store lacks are fetched (byte ranges of packs), into a staging directory, each
    /// checked against its size and sha256 as it arrives, then decoded and checked against its XXH3 name, before
    /// any joins the store; the model is recorded last, in one transaction. A pull cut short keeps what it had
    /// checked (and the bytes of the object it was receiving) and resumes from there.
    package static func pull(
        _ reference: Reference, store: Store, client: RegistryClient, options: Options = Options(),
        progress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) async throws -> PullResult {
        let repository = reference.repository
        let fetchedManifest = try await client.manifest(repository: repository, reference: reference.manifestReference)
        let name = "\(reference.host)/\(repository)@\(fetchedManifest.digest)"
        let manifest = try ImageManifest(
            decoding: fetchedManifest.bytes, contentType: fetchedManifest.contentType, name: name)
        guard manifest.config.mediaType == MediaType.recipe, let indexLayer = manifest.layers.first,
            indexLayer.mediaType == MediaType.modelIndex
        else {
            throw DistributionError(
                .notAModel,
                "\(name) is not a pbrepo model (artifactType \(manifest.artifactType ?? "none"), config \(manifest.config.mediaType))"
            )
        }
        var requests = 1
        func document(_ descriptor: Descriptor, _ what: String) async throws -> [UInt8] {
            guard descriptor.size <= UInt64(options.documentLimit) else {
                throw DistributionError(
                    .notAModel,
                    "the \(what) of \(name) is \(descriptor.size) bytes, over the \(options.documentLimit) limit")
            }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(Int(descriptor.size))
            requests += 1
            _ = try await client.fetchBlob(repository: repository, digest: descriptor.digest, size: descriptor.size) {
                bytes += $0.readableBytesView
            }
            let actual = OCIDigest(of: bytes)
            guard actual == descriptor.digest else {
                throw DistributionError(
                    .verification, "the \(what) of \(name) (blob \(descriptor.digest)) arrived as \(actual)")
            }
            return bytes
        }
        let indexBytes = try await document(indexLayer, "model index")
        let index: ModelIndexDocument
        do {
            index = try JSONValueDecoder().decode(ModelIndexDocument.self, from: indexBytes)
        } catch {
            throw DistributionError(.notAModel, "the model index of \(name) is unreadable: \(error)")
        }
        guard index.schema == ModelIndexDocument.schemaID else {
            throw DistributionError(
                .notAModel,
                "the model index of \(name) is a \(index.schema); this pbrepo reads \(ModelIndexDocument.schemaID)")
        }
        let recipeBytes = try await document(manifest.config, "recipe")
        let recipe = try Assembler.recipe(
            decoding: recipeBytes, path: "the recipe of \(name)", model: index.record.name)
        try options.checkRecipe?(recipe)
        let documentBytes = UInt64(fetchedManifest.bytes.count + indexBytes.count + recipeBytes.count)

        // Every object must lie inside a blob of the manifest, with a sane name and digest.
        let blobs = Dictionary(manifest.layers.map { ($0.digest.description, $0) }, uniquingKeysWith: { a, _ in a })
        var entries: [(object: ModelIndexDocument.Object, digest: XXH3Digest, blob: Descriptor)] = []
        for object in index.objects {
            guard let digest = XXH3Digest(hex: object.name),
                (try? OCIDigest(parsing: "sha256:" + object.sha256)) != nil,
                let blob = blobs[object.blob], object.offset <= blob.size, object.size <= blob.size - object.offset,
                object.size >= 48
            else {
                throw DistributionError(
                    .notAModel,
                    "the model index of \(name) places object \(object.name) outside its blob \(object.blob)")
            }
            entries.append((object, digest, blob))
        }
        var result = PullResult(
            model: index.record.name, reference: reference.description,
            manifestDigest: fetchedManifest.digest.description,
            objects: entries.count, missing: 0, fetched: 0, bytesFetched: 0, documentBytes: documentBytes,
            requests: requests, artifactBytes: manifest.layers.reduce(0) { $0 + $1.size } + manifest.config.size,
            modelBytes: recipe.files.reduce(0) { $0 + $1.size }, alreadyPresent: false)

        if let existing = try? store.recipe(of: index.record.name) {
            guard existing == recipe else {
                throw DistributionError(
                    .conflict,
                    "a different model named \(index.record.name) is already in the store \(store.root); pbrepo rm it first"
                )
            }
            result.alreadyPresent = true
            return result
        }

        let lease = try store.lease(entries.map(\.digest))
        defer { withExtendedLifetime(lease) {} }
        let stagingRoot = store.root + "/incoming/" + fetchedManifest.digest.hex
        let staging = ObjectDirectory(root: stagingRoot, readingMissingFrom: store.objects)
        let missing = entries.filter { !store.objects.contains($0.digest) }
        result.missing = missing.count

        // What an interrupted pull left: whole objects are hashed again (a crash may have cut them), partial ones
        // are resumed from their length.
        var toFetch: [(object: ModelIndexDocument.Object, digest: XXH3Digest, blob: Descriptor, have: UInt64)] = []
        for entry in missing {
            let path = staging.path(of: entry.digest)
            if let bytes = try? MappedFile(path: path), UInt64(bytes.count) == entry.object.size,
                bytes.withUnsafeBytes({ OCIDigest(of: $0).hex }) == entry.object.sha256
            {
                continue
            }
            unlink(path)
            var status = stat()
            let partial = stat(path + ".partial", &status) == 0 ? UInt64(status.st_size) : 0
            toFetch.append((entry.object, entry.digest, entry.blob, partial < entry.object.size ? partial : 0))
        }
        result.fetched = toFetch.count

        // Ranges: runs of objects of one blob, adjacent (or within gapBytes), up to rangeBytes; an object resumed
        // from a partial file starts a run of its own.
        struct Run: Sendable {
            var blob: Descriptor
            var range: Range<UInt64>
            var objects: [(object: ModelIndexDocument.Object, digest: XXH3Digest, have: UInt64)]
        }
        var runs: [Run] = []
        let byBlob = Dictionary(grouping: toFetch, by: { $0.blob.digest })
        for blobDigest in byBlob.keys.sorted() {
            let members = byBlob[blobDigest]!.sorted { $0.object.offset < $1.object.offset }
            for member in members {
                let start = member.object.offset + member.have
                let end = member.object.offset + member.object.size
                if member.have == 0, var last = runs.last, last.blob.digest == blobDigest,
                    start >= last.range.upperBound, start - last.range.upperBound <= options.gapBytes,
                    end - last.range.lowerBound <= options.rangeBytes
                {
                    last.range = last.range.lowerBound..<end
                    last.objects.append((member.object, member.digest, 0))
                    runs[runs.count - 1] = last
                } else {
                    runs.append(
                        Run(
                            blob: member.blob, range: start..<end,
                            objects: [(member.object, member.digest, member.have)]))
                }
            }
        }
        let total = runs.reduce(UInt64(0)) { $0 + UInt64($1.range.count) }
        let received = Counter()
        try FileSystem.makeDirectories(stagingRoot + "/objects")
        let counts = try await boundedMap(runs, width: options.streams) { run -> UInt64 in
            var receiver = RunReceiver(run: run.objects.map { ($0.object, staging.path(of: $0.digest), $0.have) })
            defer { receiver.close() }
            let wholeBlob = run.range == 0..<run.blob.size
            let bytes = try await client.fetchBlob(
                repository: repository, digest: run.blob.digest, size: run.blob.size, range: wholeBlob ? nil : run.range
            ) { buffer in
                try receiver.receive(buffer, blob: run.blob.digest, source: name)
                progress?(received.add(UInt64(buffer.readableBytes)), total)
            }
            try receiver.finish(blob: run.blob.digest, source: name)
            return bytes
        }
        result.bytesFetched = counts.reduce(0, +)
        result.requests += runs.count

        // Decode every downloaded object (delta bases and chunks from the staging directory or the store) and check
        // it is the content it is named after; only then do they join the store.
        let checked = missing.map(\.digest)
        _ = try Parallel.map(count: checked.count) { position in
            let digest = checked[position]
            do {
                try staging.checkIntact(digest)
                try staging.forEachPiece(of: digest) { _ in }
            } catch {
                unlink(staging.path(of: digest))
                throw DistributionError(
                    .verification, "object \(digest) from \(name) is not the object it is named after: \(error)")
            }
        }
        for digest in checked { try store.objects.adopt(digest, from: staging) }
        store.objects.syncDirectories(of: checked)
        guard Assembler.requiredObjects(recipe, in: store.objects).missing.isEmpty else {
            throw DistributionError(
                .notAModel, "the model index of \(name) does not list every object its recipe needs")
        }
        var record = index.record
        record.source = name
        try store.importModel(record, recipe: recipe)

        // Remember what was learnt, so that pushing this model on sends the same blobs and hashes nothing.
        try store.rememberSHA256(
            try entries.compactMap { entry in
                try store.objects.withObject(entry.digest) { object in
                    guard UInt64(object.count) == entry.object.size,
                        let header = try? StoredObject.header(of: object, name: entry.object.name)
                    else { return nil }
                    let key = header.checksum.map { "2:" + $0.description } ?? "1:\(object.count)"
                    // A local object encoded otherwise has another sha256: only downloaded or equal files count.
                    guard
                        missing.contains(where: { $0.digest == entry.digest })
                            || entry.object.codec == header.codec.name
                    else { return nil }
                    return (entry.object.name, key, entry.object.sha256, entry.object.size)
                }
            })
        let packs = Dictionary(grouping: entries.filter { $0.blob.mediaType == MediaType.pack }, by: { $0.blob.digest })
        try store.rememberPacks(
            packs.map { digest, members in
                PackRecord(
                    sha256: digest.hex, size: members[0].blob.size,
                    members: members.sorted { $0.object.offset < $1.object.offset }.map {
                        PackRecord.Member(
                            object: $0.object.name, offset: $0.object.offset, size: $0.object.size,
                            sha256: $0.object.sha256)
                    })
            }.filter { pack in pack.members.reduce(0) { $0 + $1.size } == pack.size })
        try store.rememberBlobLocations(
            manifest.layers.map(\.digest.hex) + [manifest.config.digest.hex], registry: client.host,
            repository: repository)
        try? FileManager.default.removeItem(atPath: stagingRoot)
        return result
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

    init(run: [(ModelIndexDocument.Object, String, UInt64)]) {
        targets = run.map { Target(object: $0.0, path: $0.1, have: $0.2) }
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
