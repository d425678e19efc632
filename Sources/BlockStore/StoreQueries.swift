import GRDB
import TensorFiles

/// One model as `list` shows it.
public struct ModelSummary: Sendable, Equatable {
    public var name: String
    public var family: String
    public var baseModel: String?
    public var format: String
    public var bytes: UInt64
    public var blocks: Int
    public var tensors: Int
    public var ingestedAt: String
}

/// One block of a model as `show` shows it.
public struct ModelBlockEntry: Sendable, Equatable {
    public var position: Int
    public var name: String
    public var kind: String
    public var digest: String
    public var bytes: UInt64
    public var tensors: Int
    /// Bytes of the block's objects on disk (deltas count their own size).
    public var storedBytes: UInt64
    /// The other models that have this block.
    public var sharedWith: [String]
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
    }

    var models: [Model]
    var blockBytes: [String: UInt64]
    var blockTensorCount: [String: Int]
    /// Stored bytes of each object.
    var objectStored: [String: UInt64]
    var storedBytes: UInt64

    init(_ db: Database, models names: [String]? = nil) throws {
        var models: [Model] = []
        for row in try Row.fetchAll(db, sql: "SELECT id, name, family, bytes FROM model ORDER BY name") {
            let name: String = row["name"]
            if let names, !names.contains(name) { continue }
            let id: Int64 = row["id"]
            let blocks = try Row.fetchAll(
                db, sql: "SELECT block, name, kind FROM model_block WHERE model_id = ? ORDER BY position", arguments: [id]
            ).map { (digest: $0["block"] as String, name: $0["name"] as String, kind: $0["kind"] as String) }
            let tensors = try Row.fetchAll(
                db, sql: "SELECT digest, bytes, block_position FROM model_tensor WHERE model_id = ? ORDER BY position",
                arguments: [id]
            ).map { (digest: $0["digest"] as String, bytes: UInt64($0["bytes"] as Int64), block: Int($0["block_position"] as Int64)) }
            let sources = try Row.fetchAll(
                db, sql: "SELECT path, sha256, size FROM source_file WHERE model_id = ? ORDER BY position", arguments: [id]
            ).map { (path: $0["path"] as String, sha256: $0["sha256"] as String, size: UInt64($0["size"] as Int64)) }
            models.append(
                Model(
                    name: name, family: row["family"], bytes: UInt64(row["bytes"] as Int64), blocks: blocks,
                    tensorDigests: tensors, sources: sources))
        }
        self.models = models
        var blockBytes: [String: UInt64] = [:]
        var blockTensors: [String: Int] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT digest, bytes, tensor_count FROM block") {
            blockBytes[row["digest"]] = UInt64(row["bytes"] as Int64)
            blockTensors[row["digest"]] = Int(row["tensor_count"] as Int64)
        }
        self.blockBytes = blockBytes
        self.blockTensorCount = blockTensors
        var stored: [String: UInt64] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT digest, stored_bytes FROM object") {
            stored[row["digest"]] = UInt64(row["stored_bytes"] as Int64)
        }
        objectStored = stored
        storedBytes = stored.values.reduce(0, +)
    }

    /// Stored bytes of a block of `model`: its tensors' objects (tensors kept inside an HDF5 skeleton count 0).
    func storedBytes(ofBlock position: Int, in model: Model) -> UInt64 {
        model.tensorDigests.filter { $0.block == position }.reduce(0) { $0 + (objectStored[$1.digest] ?? 0) }
    }
}

extension Store {
    func snapshot(models: [String]? = nil) throws -> Snapshot {
        try database.read { db in try Snapshot(db, models: models) }
    }

    public func list() throws -> [ModelSummary] {
        try database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT m.name, m.family, m.base_model, m.format, m.bytes, m.ingested_at,
                        (SELECT COUNT(*) FROM model_block b WHERE b.model_id = m.id) AS blocks,
                        (SELECT COUNT(*) FROM model_tensor t WHERE t.model_id = m.id) AS tensors
                    FROM model m ORDER BY m.family, m.name
                    """
            ).map { row in
                ModelSummary(
                    name: row["name"], family: row["family"], baseModel: row["base_model"], format: row["format"],
                    bytes: UInt64(row["bytes"] as Int64), blocks: Int(row["blocks"] as Int64),
                    tensors: Int(row["tensors"] as Int64), ingestedAt: row["ingested_at"])
            }
        }
    }

    /// `model`'s blocks in order, each with the other models that share it.
    public func show(_ model: String) throws -> [ModelBlockEntry] {
        let snapshot = try snapshot()
        guard let entry = snapshot.models.first(where: { $0.name == model }) else {
            throw StoreError(.unknownModel, "no model named \"\(model)\" in store \(root)")
        }
        var holders: [String: [String]] = [:]
        for other in snapshot.models where other.name != model {
            for block in Set(other.blocks.map(\.digest)) { holders[block, default: []].append(other.name) }
        }
        return entry.blocks.enumerated().map { position, block in
            ModelBlockEntry(
                position: position, name: block.name, kind: block.kind, digest: block.digest,
                bytes: snapshot.blockBytes[block.digest] ?? 0, tensors: snapshot.blockTensorCount[block.digest] ?? 0,
                storedBytes: snapshot.storedBytes(ofBlock: position, in: entry), sharedWith: holders[block.digest] ?? [])
        }
    }
}
