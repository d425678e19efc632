package import BlockStore
import Crypto
import Foundation
package import OCI
package import PBRCore
package import RegistryClient
import Synchronization
import XXHash

/// Why a push or pull failed where the registry did not say so: the model, an object or a document is not what it
/// must be. `description` names it.
package struct DistributionError: Error, Sendable, CustomStringConvertible {
    package typealias Code = ErrorCode<DistributionError>

    package var code: Code
    package var message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { message }
}

extension ErrorCode where Domain == DistributionError {
    /// A manifest, recipe or model index that is not a pbrepo model artifact, or contradicts itself.
    package static let notAModel = ErrorCode(rawValue: "not_a_model")
    /// Downloaded bytes that are not what the artifact says (sha256, size, XXH3 of the decoded object).
    package static let verification = ErrorCode(rawValue: "verification")
    /// The local model of that name differs from the one pulled.
    package static let conflict = ErrorCode(rawValue: "conflict")
    package static let invalidArgument = ErrorCode(rawValue: "invalid_argument")
}

/// The model index layer (`application/vnd.pbrepo.model-index.v1+json`): what a store needs besides the recipe to
/// hold the model (its rows), and every object a pull may need — each with the sha256 of its file and where it lies
/// in which blob, so that a pull fetches only the byte ranges it lacks and checks each before it keeps it.
package struct ModelIndexDocument: Codable, Sendable, Equatable {
    package static let schemaID = "pbrepo.model-index/v1"

    package var schema = ModelIndexDocument.schemaID
    package var record: ModelRecord
    package var objects: [Object]

    package struct Object: Codable, Sendable, Equatable {
        /// XXH3-128 of the decoded content (the object's name in every store).
        package var name: String
        package var codec: String
        package var rawSize: UInt64
        package var base: String?
        /// The object file: its size and sha256.
        package var size: UInt64
        package var sha256: String
        /// The blob (layer) that holds it, and where.
        package var blob: String
        package var offset: UInt64
    }
}

/// A model as an OCI artifact: the manifest and every blob it names, with where each blob's bytes come from in the
/// store (docs/distribution.md).
package struct ModelArtifact: Sendable {
    package var model: String
    package var manifest: [UInt8]
    package var manifestDigest: OCIDigest
    package var blobs: [Blob]
    /// The model's files, in bytes (what a download without pbrepo would move).
    package var modelBytes: UInt64
    package var document: ModelIndexDocument

    package struct Blob: Sendable {
        package var descriptor: Descriptor
        package var content: Content
    }

    package enum Content: Sendable {
        /// A document built in memory (the recipe, the model index).
        case bytes([UInt8])
        /// Files of the store one after another (an object, or the objects of a pack).
        case files(FileSlices)
    }

    package struct Options: Sendable {
        /// Objects smaller than this go into packs; larger ones are layers of their own.
        package var packBelow: UInt64 = 4 << 20
        /// The most bytes one new pack holds.
        package var packBytes: UInt64 = 64 << 20
        /// The most layers one manifest may have (ECR takes 500): large objects are packed too when a model would
        /// need more.
        package var maxLayers = 400

        package init() {}
    }

    /// Builds the artifact of `model` from the store. Object files are hashed (sha256) once and remembered in the
    /// index; objects already in a pack the store knows (pushed or pulled before) stay in that pack, so that the
    /// fine-tunes of a family share their base's blobs and a re-push sends nothing.
    package static func build(
        _ model: String, store: Store, options: Options = Options(),
        progress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) throws -> ModelArtifact {
        let (record, recipe) = try store.modelRecord(of: model)
        let required = Assembler.requiredObjects(recipe, in: store.objects)
        guard required.missing.isEmpty else {
            throw DistributionError(
                .notAModel,
                "model \(model): objects missing from the store: \(required.missing.prefix(5).joined(separator: ", ")) (run pbrepo verify)"
            )
        }
        // Each object file: header facts, then its sha256 (remembered, else computed in parallel).
        struct Facts: Sendable {
            var digest: XXH3Digest
            var header: StoredObject
            var size: UInt64
            var checksumKey: String
        }
        let facts = try required.present.map { digest -> Facts in
            try store.objects.withObject(digest) { object in
                let header = try StoredObject.header(of: object, name: "\(digest)")
                return Facts(
                    digest: digest, header: header, size: UInt64(object.count),
                    checksumKey: Store.sha256Key(of: header, fileSize: object.count))
            }
        }
        var sha256 = try store.objectSHA256(
            Dictionary(facts.map { ($0.digest.description, $0.checksumKey) }, uniquingKeysWith: { a, _ in a })
        ).mapValues(\.sha256)
        let unknown = facts.filter { sha256[$0.digest.description] == nil }
        let totalToHash = unknown.reduce(UInt64(0)) { $0 + $1.size }
        let hashedBytes = Counter()
        let hashed = try Parallel.map(count: unknown.count, order: Parallel.largestFirst(unknown.map(\.size))) {
            index in
            let fact = unknown[index]
            let digest = try store.objects.withObject(fact.digest) { OCIDigest(of: $0) }
            progress?(hashedBytes.add(fact.size), totalToHash)
            return digest.hex
        }
        try store.rememberSHA256(
            zip(unknown, hashed).map {
                (digest: $0.digest.description, checksum: $0.checksumKey, sha256: $1, size: $0.size)
            })
        for (fact, hex) in zip(unknown, hashed) { sha256[fact.digest.description] = hex }

        // Layers: known packs first, then large objects alone, then new packs of the rest, in first-use order.
        let byName = Dictionary(facts.map { ($0.digest.description, $0) }, uniquingKeysWith: { a, _ in a })
        var placed: [String: (blob: String, offset: UInt64)] = [:]
        var layers: [Blob] = []
        var newPacks: [PackRecord] = []
        for pack in try store.packs(holding: facts.map(\.digest.description)) {
            // Usable only if the store can rebuild its exact bytes: every member present with the same file.
            let usable = pack.members.allSatisfy { member in
                if let known = sha256[member.object] { return known == member.sha256 }
                guard let digest = XXH3Digest(hex: member.object), store.objects.contains(digest) else { return false }
                return (try? store.objects.withObject(digest) { OCIDigest(of: $0).hex }) == member.sha256
            }
            guard usable else {
                try store.forgetPack(pack.sha256)
                continue
            }
            let helps = pack.members.contains { byName[$0.object] != nil && placed[$0.object] == nil }
            guard helps else { continue }
            for member in pack.members where byName[member.object] != nil && placed[member.object] == nil {
                placed[member.object] = (pack.sha256, member.offset)
            }
            layers.append(
                Blob(
                    descriptor: packDescriptor(sha256: pack.sha256, size: pack.size, count: pack.members.count),
                    content: .files(
                        FileSlices(
                            pack.members.map { member in
                                FileSlices.Slice(
                                    path: store.objects.path(of: XXH3Digest(hex: member.object)!), length: member.size)
                            }))))
        }
        var loose = facts.filter { placed[$0.digest.description] == nil }
        var large = loose.filter { $0.size >= options.packBelow }
        var small = loose.filter { $0.size < options.packBelow }
        var packLimit = options.packBytes
        let budget = options.maxLayers - 1 - layers.count
        let smallPacks = Int((small.reduce(UInt64(0)) { $0 + $1.size } + packLimit - 1) / max(1, packLimit))
        if large.count + smallPacks > budget {
            // Too many layers: everything goes into packs, sized so that they fit the budget.
            let total = loose.reduce(UInt64(0)) { $0 + $1.size }
            packLimit = max(packLimit, total / UInt64(max(1, budget - 1)) + 1)
            small = loose
            large = []
        }
        loose = []
        var blockByObject: [String: String] = [:]
        for tensor in record.tensors where tensor.blockPosition >= 0 && tensor.blockPosition < record.blocks.count {
            if let object = tensor.object, blockByObject[object] == nil {
                blockByObject[object] = record.blocks[tensor.blockPosition].digest
            }
        }
        for fact in large {
            let name = fact.digest.description
            let hex = sha256[name]!
            placed[name] = (hex, 0)
            var annotations = [
                AnnotationKey.objectXXH3: name, AnnotationKey.rawSize: String(fact.header.rawLength),
                AnnotationKey.codec: fact.header.codec.name, AnnotationKey.title: name + ".pbo",
            ]
            if let base = fact.header.base { annotations[AnnotationKey.deltaBase] = base.description }
            if let block = blockByObject[name] { annotations[AnnotationKey.block] = block }
            layers.append(
                Blob(
                    descriptor: Descriptor(
                        mediaType: MediaType.object(codec: fact.header.codec.name),
                        digest: OCIDigest(trustedHex: hex), size: fact.size, annotations: annotations),
                    content: .files(FileSlices([.init(path: store.objects.path(of: fact.digest), length: fact.size)]))))
        }
        var start = 0
        while start < small.count {
            var end = start
            var bytes: UInt64 = 0
            while end < small.count, end == start || bytes + small[end].size <= packLimit {
                bytes += small[end].size
                end += 1
            }
            let members = small[start..<end]
            var hasher = SHA256()
            var offset: UInt64 = 0
            var records: [PackRecord.Member] = []
            for fact in members {
                try store.objects.withObject(fact.digest) { hasher.update(bufferPointer: $0) }
                records.append(
                    PackRecord.Member(
                        object: fact.digest.description, offset: offset, size: fact.size,
                        sha256: sha256[fact.digest.description]!))
                offset += fact.size
            }
            let digest = OCIDigest(hasher.finalize())
            newPacks.append(PackRecord(sha256: digest.hex, size: offset, members: records))
            for member in records { placed[member.object] = (digest.hex, member.offset) }
            layers.append(
                Blob(
                    descriptor: packDescriptor(sha256: digest.hex, size: offset, count: records.count),
                    content: .files(
                        FileSlices(members.map { .init(path: store.objects.path(of: $0.digest), length: $0.size) }))))
            start = end
        }
        try store.rememberPacks(newPacks)
        // The same model gives the same manifest whichever packs were new: layers in the order the model first uses
        // an object of theirs.
        let firstUse = Dictionary(facts.enumerated().map { ($1.digest.description, $0) }, uniquingKeysWith: min)
        var firstOfBlob: [String: Int] = [:]
        for (name, place) in placed {
            firstOfBlob[place.blob] = min(firstOfBlob[place.blob] ?? .max, firstUse[name] ?? .max)
        }
        layers.sort {
            (firstOfBlob[$0.descriptor.digest.hex] ?? .max) < (firstOfBlob[$1.descriptor.digest.hex] ?? .max)
        }

        let document = ModelIndexDocument(
            record: record,
            objects: facts.map { fact in
                let name = fact.digest.description
                return ModelIndexDocument.Object(
                    name: name, codec: fact.header.codec.name, rawSize: fact.header.rawLength,
                    base: fact.header.base?.description, size: fact.size, sha256: sha256[name]!,
                    blob: "sha256:" + placed[name]!.blob, offset: placed[name]!.offset)
            })
        let recipeBytes = try canonicalJSON(recipe)
        let indexBytes = try canonicalJSON(document)
        let config = Descriptor(
            mediaType: MediaType.recipe, digest: OCIDigest(of: recipeBytes), size: UInt64(recipeBytes.count))
        let indexLayer = Descriptor(
            mediaType: MediaType.modelIndex, digest: OCIDigest(of: indexBytes), size: UInt64(indexBytes.count),
            annotations: [AnnotationKey.title: "model-index.json"])
        var annotations = [
            AnnotationKey.created: record.ingestedAt, AnnotationKey.model: record.name,
            AnnotationKey.family: record.family,
        ]
        if let base = record.baseModel { annotations[AnnotationKey.base] = base }
        let manifest = ImageManifest(
            artifactType: MediaType.model, config: config, layers: [indexLayer] + layers.map(\.descriptor),
            annotations: annotations)
        let manifestBytes = try canonicalJSON(manifest)
        guard manifestBytes.count <= OCILimits.manifestBytes else {
            throw DistributionError(
                .notAModel,
                "the manifest of \(model) would be \(manifestBytes.count) bytes, over the 4 MiB registries take")
        }
        return ModelArtifact(
            model: model, manifest: manifestBytes, manifestDigest: OCIDigest(of: manifestBytes),
            blobs: [
                Blob(descriptor: config, content: .bytes(recipeBytes)),
                Blob(descriptor: indexLayer, content: .bytes(indexBytes)),
            ]
                + layers,
            modelBytes: recipe.files.reduce(0) { $0 + $1.size }, document: document)
    }

    static func packDescriptor(sha256: String, size: UInt64, count: Int) -> Descriptor {
        Descriptor(
            mediaType: MediaType.pack, digest: OCIDigest(trustedHex: sha256), size: size,
            annotations: [
                AnnotationKey.packObjects: String(count), AnnotationKey.title: "pack-" + sha256.prefix(16) + ".pbp",
            ])
    }
}

/// A byte counter shared by parallel work, for progress.
final class Counter: Sendable {
    private let value = Mutex<UInt64>(0)
    /// Adds `amount`; returns the new total.
    func add(_ amount: UInt64) -> UInt64 {
        value.withLock {
            $0 += amount
            return $0
        }
    }
    var total: UInt64 { value.withLock { $0 } }
}
