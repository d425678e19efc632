import Foundation
import GRDB
import PBRCore
import ParameterBlocks
import TensorFiles
import XXHash

/// The store's SQLite index (`index.sqlite3`, WAL mode): every SQL statement of the store is in this type.
///
/// The index never names an object that is not on disk: callers write and sync objects before `record`, which
/// checks inside its write transaction that each one still exists; `collectGarbage` deletes inside a write
/// transaction too, so no ingest commits a reference to an object while it is being deleted.
final class StoreIndex: Sendable {
    private let database: DatabasePool
    /// The store directory, for messages.
    let root: String

    init(path: String, root: String) throws(StoreError) {
        self.root = root
        var configuration = Configuration()
        configuration.busyMode = .timeout(60)  // concurrent ingests wait for each other's commit
        configuration.foreignKeysEnabled = true
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch {
            throw StoreError(.database, "cannot open the index of store \(root): \(error)", underlying: error)
        }
    }

    // MARK: - Rows

    struct ModelRow: FetchableRecord, Decodable {
        var id: Int64
        var name: String
        var family: String
        var bytes: Int64
    }

    struct SourceRow: FetchableRecord, Decodable {
        var path: String
        var sha256: String
        var size: Int64
    }

    struct BlockRow: FetchableRecord, Decodable {
        var block: String
        var name: String
        var kind: String
    }

    struct TensorRow: FetchableRecord, Decodable {
        var digest: String
        var bytes: Int64
        var blockPosition: Int

        enum CodingKeys: String, CodingKey {
            case digest, bytes
            case blockPosition = "block_position"
        }
    }

    struct BaseTensorRow: FetchableRecord, Decodable {
        var blockPosition: Int
        var indexInBlock: Int
        var dtype: String
        var shape: String
        var object: String
        var base: String?

        enum CodingKeys: String, CodingKey {
            case blockPosition = "block_position"
            case indexInBlock = "index_in_block"
            case dtype, shape, object, base
        }
    }

    struct SummaryRow: FetchableRecord, Decodable {
        var name: String
        var family: String
        var baseModel: String?
        var format: String
        var bytes: Int64
        var ingestedAt: String
        var blocks: Int
        var tensors: Int

        enum CodingKeys: String, CodingKey {
            case name, family
            case baseModel = "base_model"
            case format, bytes
            case ingestedAt = "ingested_at"
            case blocks, tensors
        }
    }

    /// Runs a read, turning GRDB's errors into the store's.
    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try database.read(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.database, "cannot read the index of store \(root): \(error)", underlying: error)
        }
    }

    /// Runs a write transaction, turning GRDB's errors into the store's.
    private func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try database.write(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.database, "cannot write the index of store \(root): \(error)", underlying: error)
        }
    }

    // MARK: - Ingest

    /// `path=sha256` of every source file of the model called `name`, or nil when there is none.
    func sourceFingerprint(of name: String) throws -> [String]? {
        try read { db -> [String]? in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM model WHERE name = ?", arguments: [name]) else {
                return nil
            }
            return try SourceRow.fetchAll(
                db, sql: "SELECT path, sha256, size FROM source_file WHERE model_id = ? ORDER BY position",
                arguments: [id]
            ).map { "\($0.path)=\($0.sha256)" }
        }
    }

    /// The base model's self-contained tensors by (block position, index in block), for delta candidates: the
    /// explicit model, else the family's first model other than `name`.
    func baseTensors(family: String, explicit: String?, excluding name: String) throws -> BaseTensors? {
        try read { db -> BaseTensors? in
            let row: Row?
            if let explicit {
                row = try Row.fetchOne(db, sql: "SELECT id, name FROM model WHERE name = ?", arguments: [explicit])
                guard row != nil else {
                    throw StoreError(.unknownModel, "base model \"\(explicit)\" is not in the store")
                }
            } else {
                row = try Row.fetchOne(
                    db, sql: "SELECT id, name FROM model WHERE family = ? AND name != ? ORDER BY id LIMIT 1",
                    arguments: [family, name])
            }
            guard let row else { return nil }
            let id: Int64 = row["id"]
            var tensors: [BaseTensors.Key: BaseTensors.Tensor] = [:]
            for tensor in try BaseTensorRow.fetchAll(
                db,
                sql: """
                    SELECT t.block_position, t.index_in_block, t.dtype, t.shape, t.object, o.base
                    FROM model_tensor t JOIN object o ON o.digest = t.object WHERE t.model_id = ?
                    """, arguments: [id])
            {
                // Deltas are only taken against self-contained objects: chains stay one link long.
                guard tensor.base == nil, let object = XXH3Digest(hex: tensor.object) else { continue }
                tensors[BaseTensors.Key(block: tensor.blockPosition, index: tensor.indexInBlock)] =
                    BaseTensors.Tensor(dtype: tensor.dtype, shape: tensor.shape, object: object)
            }
            return BaseTensors(model: row["name"], tensors: tensors)
        }
    }

    /// Digests of every object the index records.
    func objectDigests() throws -> Set<String> {
        try read { db in Set(try String.fetchAll(db, sql: "SELECT digest FROM object")) }
    }

    /// What one ingest records.
    struct ModelEntry {
        var plan: ModelPlan
        var report: PartitionReport
        var name: String
        var family: String
        var baseModel: String?
        var rules: PartitionRules?
        var source: String
    }

    /// The one transaction that makes a model visible; `exists` tells whether an object file is on disk, asked
    /// inside the transaction. Returns how many of the model's blocks the store already had.
    func record(_ entry: ModelEntry, exists: (XXH3Digest) -> Bool) throws -> Int {
        let (plan, report, name) = (entry.plan, entry.report, entry.name)
        let recipeJSON = try String(decoding: JSONEncoder().encode(plan.recipe), as: UTF8.self)
        return try write { db -> Int in
            if try Int64.fetchOne(db, sql: "SELECT id FROM model WHERE name = ?", arguments: [name]) != nil {
                throw StoreError(.conflict, "model \"\(name)\" was added by another ingest meanwhile")
            }
            // Checked inside the write transaction, which gc also takes before it deletes anything.
            for object in plan.objects where !exists(object.digest) {
                throw StoreError(.missingObject, "object \(object.digest) vanished before model \(name) was recorded")
            }
            for object in plan.objects where object.isNew {
                try db.execute(
                    sql:
                        "INSERT OR IGNORE INTO object (digest, codec, raw_bytes, stored_bytes, base) VALUES (?, ?, ?, ?, ?)",
                    arguments: [
                        object.digest.description, object.codec.name, Int64(object.rawBytes), Int64(object.storedBytes),
                        object.base?.description,
                    ])
            }
            var reused = 0
            for block in report.blocks {
                if try Int64.fetchOne(
                    db, sql: "SELECT 1 FROM block WHERE digest = ?", arguments: [block.digest.description]) != nil
                {
                    reused += 1
                }
                try db.execute(
                    sql: "INSERT OR IGNORE INTO block (digest, bytes, tensor_count) VALUES (?, ?, ?)",
                    arguments: [block.digest.description, Int64(block.bytes), block.block.tensors.count])
            }
            try db.execute(
                sql: """
                    INSERT INTO model (name, family, base_model, format, source, rules, recipe, bytes, ingested_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    name, entry.family, entry.baseModel, report.inspection.format.rawValue, entry.source,
                    entry.rules?.source,
                    recipeJSON, Int64(report.inspection.totalBytes), ISO8601DateFormatter().string(from: Date()),
                ])
            let id = db.lastInsertedRowID
            for (position, file) in plan.recipe.files.enumerated() {
                try db.execute(
                    sql: "INSERT INTO source_file (model_id, position, path, sha256, size) VALUES (?, ?, ?, ?, ?)",
                    arguments: [id, position, file.path, file.sha256, Int64(file.size)])
            }
            var blockOf = [Int: (position: Int, index: Int)]()
            for (position, block) in report.blocks.enumerated() {
                try db.execute(
                    sql: "INSERT INTO model_block (model_id, position, block, name, kind) VALUES (?, ?, ?, ?, ?)",
                    arguments: [id, position, block.digest.description, block.block.name, block.block.kind.rawValue])
                for (index, tensor) in block.block.tensors.enumerated() { blockOf[tensor] = (position, index) }
            }
            let stored = Set(plan.objects.map(\.digest))
            for (position, tensor) in report.inspection.tensors.enumerated() {
                let place = blockOf[position] ?? (-1, -1)
                let shape = "[" + tensor.descriptor.shape.map(String.init).joined(separator: ",") + "]"
                try db.execute(
                    sql: """
                        INSERT INTO model_tensor (model_id, position, name, dtype, shape, bytes, digest, block_position,
                            index_in_block, object) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        id, position, tensor.descriptor.name, tensor.descriptor.dtype, shape,
                        Int64(tensor.descriptor.byteCount), tensor.digest.description, place.position, place.index,
                        stored.contains(tensor.digest) ? tensor.digest.description : nil,
                    ])
            }
            for object in plan.objects {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO model_object (model_id, object) VALUES (?, ?)",
                    arguments: [id, object.digest.description])
            }
            return reused
        }
    }

    // MARK: - Queries

    /// The recipe recorded for `model` as JSON text, or nil when there is no such model.
    func recipeText(of model: String) throws -> String? {
        try read { db in try String.fetchOne(db, sql: "SELECT recipe FROM model WHERE name = ?", arguments: [model]) }
    }

    func summaries() throws -> [ModelSummary] {
        try read { db in
            try SummaryRow.fetchAll(
                db,
                sql: """
                    SELECT m.name, m.family, m.base_model, m.format, m.bytes, m.ingested_at,
                        (SELECT COUNT(*) FROM model_block b WHERE b.model_id = m.id) AS blocks,
                        (SELECT COUNT(*) FROM model_tensor t WHERE t.model_id = m.id) AS tensors
                    FROM model m ORDER BY m.family, m.name
                    """
            ).map { row in
                ModelSummary(
                    name: row.name, family: row.family, baseModel: row.baseModel, format: row.format,
                    bytes: UInt64(row.bytes), blocks: row.blocks, tensors: row.tensors, ingestedAt: row.ingestedAt)
            }
        }
    }

    /// The store's contents (every model, or those named), loaded in one read transaction.
    func snapshot(models names: [String]? = nil) throws -> Snapshot {
        try read { db in
            var models: [Snapshot.Model] = []
            for row in try ModelRow.fetchAll(db, sql: "SELECT id, name, family, bytes FROM model ORDER BY name") {
                if let names, !names.contains(row.name) { continue }
                let blocks = try BlockRow.fetchAll(
                    db, sql: "SELECT block, name, kind FROM model_block WHERE model_id = ? ORDER BY position",
                    arguments: [row.id]
                ).map { (digest: $0.block, name: $0.name, kind: $0.kind) }
                let tensors = try TensorRow.fetchAll(
                    db,
                    sql: "SELECT digest, bytes, block_position FROM model_tensor WHERE model_id = ? ORDER BY position",
                    arguments: [row.id]
                ).map { (digest: $0.digest, bytes: UInt64($0.bytes), block: $0.blockPosition) }
                let sources = try SourceRow.fetchAll(
                    db, sql: "SELECT path, sha256, size FROM source_file WHERE model_id = ? ORDER BY position",
                    arguments: [row.id]
                ).map { (path: $0.path, sha256: $0.sha256, size: UInt64($0.size)) }
                models.append(
                    Snapshot.Model(
                        name: row.name, family: row.family, bytes: UInt64(row.bytes), blocks: blocks,
                        tensorDigests: tensors,
                        sources: sources))
            }
            var blockBytes: [String: UInt64] = [:]
            var blockTensors: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT digest, bytes, tensor_count FROM block") {
                blockBytes[row["digest"]] = UInt64(row["bytes"] as Int64)
                blockTensors[row["digest"]] = Int(row["tensor_count"] as Int64)
            }
            var stored: [String: UInt64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT digest, stored_bytes FROM object") {
                stored[row["digest"]] = UInt64(row["stored_bytes"] as Int64)
            }
            return Snapshot(
                models: models, blockBytes: blockBytes, blockTensorCount: blockTensors, objectStored: stored)
        }
    }

    // MARK: - Maintenance

    /// What `verify` compares with the object files: every indexed object, every (model, object) a model needs,
    /// and every model's name.
    func references() throws -> (objects: [String], needs: [(model: String, object: String)], models: [String]) {
        try read { db in
            (
                try String.fetchAll(db, sql: "SELECT digest FROM object"),
                try Row.fetchAll(
                    db, sql: "SELECT m.name, o.object FROM model_object o JOIN model m ON m.id = o.model_id"
                )
                .map { (model: $0["name"] as String, object: $0["object"] as String) },
                try String.fetchAll(db, sql: "SELECT name FROM model")
            )
        }
    }

    /// Deletes the model's rows; false when there is no such model.
    func removeModel(_ name: String) throws -> Bool {
        try write { db -> Bool in
            try db.execute(sql: "DELETE FROM model WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    /// In one write transaction: computes the live objects (those a model needs, and the bases of those that are
    /// deltas), lets `deleteFiles` remove the rest from disk, then deletes the rows of dead objects and blocks.
    func collectGarbage<R>(deleteFiles: (_ live: Set<String>) throws -> R) throws -> R {
        try write { db -> R in
            var live = Set(try String.fetchAll(db, sql: "SELECT DISTINCT object FROM model_object"))
            for base in try String.fetchAll(
                db,
                sql:
                    "SELECT DISTINCT o.base FROM object o JOIN model_object m ON m.object = o.digest WHERE o.base IS NOT NULL"
            ) {
                live.insert(base)
            }
            let result = try deleteFiles(live)
            try db.execute(
                sql:
                    "DELETE FROM object WHERE digest NOT IN (SELECT object FROM model_object) AND digest NOT IN (SELECT base FROM object WHERE base IS NOT NULL AND digest IN (SELECT object FROM model_object))"
            )
            try db.execute(sql: "DELETE FROM block WHERE digest NOT IN (SELECT block FROM model_block)")
            return result
        }
    }

    // MARK: - Schema

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE object (
                        digest TEXT PRIMARY KEY,
                        codec TEXT NOT NULL,
                        raw_bytes INTEGER NOT NULL,
                        stored_bytes INTEGER NOT NULL,
                        base TEXT REFERENCES object(digest));
                    CREATE TABLE model (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        family TEXT NOT NULL,
                        base_model TEXT,
                        format TEXT NOT NULL,
                        source TEXT NOT NULL,
                        rules TEXT,
                        recipe TEXT NOT NULL,
                        bytes INTEGER NOT NULL,
                        ingested_at TEXT NOT NULL);
                    CREATE TABLE source_file (
                        model_id INTEGER NOT NULL REFERENCES model(id) ON DELETE CASCADE,
                        position INTEGER NOT NULL,
                        path TEXT NOT NULL,
                        sha256 TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        PRIMARY KEY (model_id, position));
                    CREATE TABLE block (
                        digest TEXT PRIMARY KEY,
                        bytes INTEGER NOT NULL,
                        tensor_count INTEGER NOT NULL);
                    CREATE TABLE model_block (
                        model_id INTEGER NOT NULL REFERENCES model(id) ON DELETE CASCADE,
                        position INTEGER NOT NULL,
                        block TEXT NOT NULL REFERENCES block(digest),
                        name TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        PRIMARY KEY (model_id, position));
                    CREATE TABLE model_tensor (
                        model_id INTEGER NOT NULL REFERENCES model(id) ON DELETE CASCADE,
                        position INTEGER NOT NULL,
                        name TEXT NOT NULL,
                        dtype TEXT NOT NULL,
                        shape TEXT NOT NULL,
                        bytes INTEGER NOT NULL,
                        digest TEXT NOT NULL,
                        block_position INTEGER NOT NULL,
                        index_in_block INTEGER NOT NULL,
                        object TEXT REFERENCES object(digest),
                        PRIMARY KEY (model_id, position));
                    CREATE TABLE model_object (
                        model_id INTEGER NOT NULL REFERENCES model(id) ON DELETE CASCADE,
                        object TEXT NOT NULL REFERENCES object(digest),
                        PRIMARY KEY (model_id, object));
                    CREATE INDEX model_block_by_block ON model_block(block);
                    CREATE INDEX model_tensor_by_digest ON model_tensor(digest);
                    CREATE INDEX model_object_by_object ON model_object(object);
                    CREATE INDEX object_by_base ON object(base);
                    """)
        }
        return migrator
    }
}
