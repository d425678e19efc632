package import BlockStore
import Crypto
import Foundation
import Glibc
import NIOCore
package import OCI
import PBRCore
package import RegistryClient
import Synchronization
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
    /// Where the model was assembled (`Options.assemble`), when the pull did it.
    package var assembledOutput: String?
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
        /// Assemble the model here from what arrived, before it is committed: the assembly decodes and checks every
        /// object, in place of the check a pull without an output makes (nothing is decoded twice).
        package var assemble: Assemble?

        package struct Assemble: Sendable {
            package var output: String
            package var options: Assembler.Options
            package var progress: (@Sendable (UInt64, UInt64) -> Void)?

            package init(
                output: String, options: Assembler.Options, progress: (@Sendable (UInt64, UInt64) -> Void)? = nil
            ) {
                self.output = output
                self.options = options
                self.progress = progress
            }
        }

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
        let missing = entries.filter { !store.objects.contains($0.digest) }
        result.missing = missing.count
        let wanted = missing.map { ObjectTransfer.Wanted(object: $0.object, digest: $0.digest, blob: $0.blob) }
        let toFetch = ObjectTransfer.resumable(wanted, staging: ObjectDirectory(root: stagingRoot))
        result.fetched = toFetch.count
        // With an output, the model is assembled while its objects arrive: a read of one still on its way waits,
        // and the runs are fetched in the order the assembly reads them (the model index lists objects in first
        // use, a delta's base just before the delta).
        let arrivals = options.assemble.map { _ in
            ObjectArrivals(
                declared: Dictionary(
                    toFetch.map { wanted in
                        (
                            wanted.digest,
                            ObjectArrivals.Declared(
                                rawLength: wanted.object.rawSize,
                                base: wanted.object.base.flatMap(XXH3Digest.init(hex:)),
                                isChunkList: wanted.object.codec == ObjectCodec.chunked.name)
                        )
                    }, uniquingKeysWith: { a, _ in a }))
        }
        let staging = ObjectDirectory(root: stagingRoot, readingMissingFrom: store.objects, arrivals: arrivals)
        var rank: [XXH3Digest: Double] = [:]
        for (position, entry) in entries.enumerated() where rank[entry.digest] == nil {
            rank[entry.digest] = Double(position)
        }
        for entry in entries {
            if let base = entry.object.base.flatMap(XXH3Digest.init(hex:)), let own = rank[entry.digest] {
                rank[base] = min(rank[base] ?? own, own - 0.5)
            }
        }
        let runs = ObjectTransfer.runs(toFetch, gapBytes: options.gapBytes, rangeBytes: options.rangeBytes).sorted {
            ($0.objects.compactMap { rank[$0.digest] }.min() ?? 0)
                < ($1.objects.compactMap { rank[$0.digest] }.min() ?? 0)
        }
        try FileSystem.makeDirectories(stagingRoot + "/objects")
        result.requests += runs.count
        func fetch() async throws -> UInt64 {
            try await ObjectTransfer.fetch(
                runs, client: client, repository: repository, staging: staging, streams: options.streams, source: name,
                progress: progress)
        }
        if let assemble = options.assemble, let arrivals {
            let downloaded = Flag()
            // One bar at a time: the download's, then the rest of the assembly's.
            var assembleProgress: (@Sendable (UInt64, UInt64) -> Void)?
            if let report = assemble.progress {
                assembleProgress = { @Sendable done, total in if downloaded.isSet { report(done, total) } }
            }
            let reportAssembly = assembleProgress
            enum Outcome: Sendable {
                case fetched(UInt64)
                case assembled(String)
            }
            try await withThrowingTaskGroup(of: Outcome.self) { group in
                group.addTask {
                    do {
                        let bytes = try await fetch()
                        downloaded.set()
                        return .fetched(bytes)
                    } catch {
                        arrivals.fail(error)
                        throw error
                    }
                }
                group.addTask {
                    .assembled(
                        try await onThread {
                            do {
                                return try store.assemble(
                                    recipe, from: staging, to: assemble.output, options: assemble.options,
                                    progress: reportAssembly
                                ).output
                            } catch let error as StoreError
                                where error.code == .corruptObject || error.code == .checksumMismatch
                            {
                                throw DistributionError(.verification, "\(name): \(error)")
                            }
                        })
                }
                for try await outcome in group {
                    switch outcome {
                    case .fetched(let bytes): result.bytesFetched = bytes
                    case .assembled(let output): result.assembledOutput = output
                    }
                }
            }
        } else {
            result.bytesFetched = try await fetch()
        }
        try ObjectTransfer.commit(
            missing.map(\.digest), staging: ObjectDirectory(root: stagingRoot, readingMissingFrom: store.objects),
            store: store, source: name, decoded: options.assemble != nil)
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
                    let key = Store.sha256Key(of: header, fileSize: object.count)
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

/// Runs blocking work (an assembly, with its own worker threads and waits) on a thread of its own, off the
/// concurrency pool, whose two threads on a 2-core machine the download needs.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// A flag set once, read from any thread.
final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
