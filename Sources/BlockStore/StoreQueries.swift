import TensorFiles
import XXHash

/// One model as `list` shows it.
package struct ModelSummary: Sendable, Equatable {
    package var name: String
    package var family: String
    package var baseModel: String?
    package var format: String
    package var bytes: UInt64
    package var blocks: Int
    package var tensors: Int
    package var ingestedAt: String
}

/// One block of a model as `show` shows it.
package struct ModelBlockEntry: Sendable, Equatable {
    package var position: Int
    package var name: String
    package var kind: String
    package var digest: String
    package var bytes: UInt64
    package var tensors: Int
    /// Bytes of the block's objects on disk (deltas count their own size).
    package var storedBytes: UInt64
    /// The other models that have this block.
    package var sharedWith: [String]
}

/// The store's contents, loaded once for the read-only commands (`list`, `show`, `report`, `export-manifest`).
struct Snapshot {
    struct Model {
        var name: String
        var family: String
        var bytes: UInt64
        /// Block digests in model order, with name and kind.
        var blocks: [(digest: String, name: String, kind: String)]
        var tensorDigests: [(digest: String, bytes: UInt64, block: Int)]
        var sources: [(path: String, sha256: String, size: UInt64)]
        /// For each block position, the indices in `tensorDigests` of its tensors.
        let tensorsOfBlock: [[Int]]

        init(
            name: String, family: String, bytes: UInt64, blocks: [(digest: String, name: String, kind: String)],
            tensorDigests: [(digest: String, bytes: UInt64, block: Int)],
            sources: [(path: String, sha256: String, size: UInt64)]
        ) {
            self.name = name
            self.family = family
            self.bytes = bytes
            self.blocks = blocks
            self.tensorDigests = tensorDigests
            self.sources = sources
            var grouped = [[Int]](repeating: [], count: blocks.count)
            for (index, tensor) in tensorDigests.enumerated() where grouped.indices.contains(tensor.block) {
                grouped[tensor.block].append(index)
            }
            tensorsOfBlock = grouped
        }
    }

    var models: [Model]
    var blockBytes: [String: UInt64]
    var blockTensorCount: [String: Int]
    /// Stored bytes of each object.
    var objectStored: [String: UInt64]

    var storedBytes: UInt64 { objectStored.values.reduce(0, +) }

    /// Stored bytes of a block of `model`: its tensors' objects (tensors kept inside an HDF5 skeleton count 0).
    func storedBytes(ofBlock position: Int, in model: Model) -> UInt64 {
        model.tensorsOfBlock[position].reduce(0) { $0 + (objectStored[model.tensorDigests[$1].digest] ?? 0) }
    }
}

extension Store {
    /// The index's snapshot, with each object's stored size taken from its file (what the disk really holds).
    func snapshot(models: [String]? = nil) throws -> Snapshot {
        var snapshot = try index.snapshot(models: models)
        for digest in Array(snapshot.objectStored.keys) {
            if let object = XXH3Digest(hex: digest), let size = objects.size(of: object) {
                snapshot.objectStored[digest] = size
            }
        }
        return snapshot
    }

    package func list() throws -> [ModelSummary] { try index.summaries() }

    /// `model`'s blocks in order, each with the other models that share it.
    package func show(_ model: String) throws -> [ModelBlockEntry] {
        let snapshot = try snapshot()
        guard let entry = snapshot.models.first(where: { $0.name == model }) else {
            throw unknownModel(model)
        }
        var holders: [String: [String]] = [:]
        for other in snapshot.models where other.name != model {
            for block in Set(other.blocks.map(\.digest)) { holders[block, default: []].append(other.name) }
        }
        return entry.blocks.enumerated().map { position, block in
            ModelBlockEntry(
                position: position, name: block.name, kind: block.kind, digest: block.digest,
                bytes: snapshot.blockBytes[block.digest] ?? 0, tensors: snapshot.blockTensorCount[block.digest] ?? 0,
                storedBytes: snapshot.storedBytes(ofBlock: position, in: entry), sharedWith: holders[block.digest] ?? []
            )
        }
    }
}

extension Store {
    /// The path `model` was ingested from.
    package func sourcePath(of model: String) throws -> String? { try index.source(of: model)?.path }
}
