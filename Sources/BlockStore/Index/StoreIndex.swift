import Foundation
import GRDB
import Glibc
import PBRCore
import ParameterBlocks
import TensorFiles
import XXHash

/// The store's SQLite index (`index.sqlite3`, WAL mode): every SQL statement of the store is in this type and its
/// extensions (`StoreIndex+Ingest`, `StoreIndex+Maintenance`).
///
/// The index never names an object that is not on disk: callers write and sync objects before `record`, which
/// checks inside its write transaction that each one still exists. The object files are the truth about how each
/// object decodes: `record` copies their headers into the `object` rows, and `gc` follows the delta bases written
/// in the files. Every commit is durable (`synchronous = FULL`) and checkpointed into `index.sqlite3` itself, so a
/// copy of that one file, or losing the `-wal` file after pbrepo has exited, loses nothing acknowledged.
final class StoreIndex: Sendable {
    let database: any DatabaseWriter
    /// The store directory, for messages.
    let root: String

    /// Opens the index; `readOnly` opens it without writing anything (not even SQLite's shared-memory file when the
    /// directory is not writable: a store on read-only media, or another user's), for the commands that only read.
    init(path: String, root: String, readOnly: Bool = false) throws(StoreError) {
        self.root = root
        var configuration = Configuration()
        configuration.busyMode = .timeout(60)  // concurrent ingests wait for each other's commit
        configuration.foreignKeysEnabled = true
        do {
            if readOnly {
                configuration.readonly = true
                // Nothing can change a store nobody may write: SQLite may read it as immutable, without -shm.
                let immutable = access(root, W_OK) != 0 || access(path, W_OK) != 0
                let queue = try DatabaseQueue(
                    path: immutable ? "file:\(path)?immutable=1" : path, configuration: configuration)
                guard try queue.read({ try Self.migrator.hasCompletedMigrations($0) }) else {
                    throw StoreError(
                        .database,
                        "the index of store \(root) was written by an older pbrepo; run a command that writes "
                            + "(pbrepo gc) once to upgrade it")
                }
                database = queue
            } else {
                configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
                let pool = try DatabasePool(path: path, configuration: configuration)
                try Self.migrator.migrate(pool)
                database = pool
            }
        } catch let error as StoreError {
            throw error
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
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try database.read(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.database, "cannot read the index of store \(root): \(error)", underlying: error)
        }
    }

    /// Runs a write transaction, turning GRDB's errors into the store's, then checkpoints the WAL into the main
    /// file (a checkpoint that readers hold up is left to the next one: the commit is durable in the WAL already).
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        let result: T
        do {
            result = try database.write(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.database, "cannot write the index of store \(root): \(error)", underlying: error)
        }
        _ = try? database.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        return result
    }

    // MARK: - Queries

    /// The recipe recorded for `model` as JSON text, or nil when there is no such model.
    func recipeText(of model: String) throws -> String? {
        try read { db in
            guard let text = try String.fetchOne(db, sql: "SELECT recipe FROM model WHERE name = ?", arguments: [model])
            else { return nil }
            try Self.requireSealed([model], in: db)
            return text
        }
    }

    /// Refuses models whose rows do not match their seal: what they say can no longer be trusted.
    static func requireSealed(_ names: [String]?, in db: Database) throws {
        let damaged = try unsealedModels(in: db, names: names)
        guard damaged.isEmpty else {
            throw StoreError(
                .database,
                "the index rows of model\(damaged.count == 1 ? "" : "s") \(damaged.joined(separator: ", ")) are damaged "
                    + "(they no longer match their seal); run pbrepo verify --repair")
        }
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
            try Self.requireSealed(names, in: db)
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
            // Block rows are shared by models and not under their seals: they must agree with the sealed tensors.
            for model in models {
                for (position, block) in model.blocks.enumerated() {
                    let tensors = model.tensorsOfBlock[position]
                    guard blockBytes[block.digest] == tensors.reduce(0, { $0 + model.tensorDigests[$1].bytes }),
                        blockTensors[block.digest] == tensors.count
                    else {
                        throw StoreError(
                            .database,
                            "the index row of block \(block.digest) (model \(model.name)) disagrees with its tensors; "
                                + "run pbrepo verify --repair")
                    }
                }
            }
            return Snapshot(
                models: models, blockBytes: blockBytes, blockTensorCount: blockTensors, objectStored: stored)
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
        // Seals of each model's rows; gc's list of object files it will delete (written before it deletes any, so a
        // killed gc leaves no row naming a deleted file); the index that keeps deleting object rows linear.
        migrator.registerMigration("v2") { db in
            try db.execute(
                sql: """
                    ALTER TABLE model ADD COLUMN seal TEXT;
                    CREATE TABLE doomed_object (digest TEXT PRIMARY KEY);
                    CREATE INDEX model_tensor_by_object ON model_tensor(object);
                    """)
            for id in try Int64.fetchAll(db, sql: "SELECT id FROM model") {
                try db.execute(
                    sql: "UPDATE model SET seal = ? WHERE id = ?", arguments: [try firstSeal(ofModel: id, in: db), id])
            }
        }
        // Seals in the second format (`2:…`, linear without reflection). A model whose first seal does not hold
        // keeps it, so it is still reported as damaged rather than sealed afresh.
        migrator.registerMigration("v3") { db in
            for row in try Row.fetchAll(db, sql: "SELECT id, seal FROM model") {
                let id: Int64 = row["id"]
                guard try sealHolds(row["seal"], ofModel: id, in: db) else { continue }
                try db.execute(
                    sql: "UPDATE model SET seal = ? WHERE id = ?", arguments: [try seal(ofModel: id, in: db), id])
            }
        }
        // What distribution remembers so that nothing is hashed twice: each object file's sha256 (keyed by its file
        // checksum, so a rewritten file is hashed again), the packs pushed or pulled (object files one after another,
        // named by their sha256), and where a blob was last seen, for cross-repository mounts. Caches, not under the
        // seals: a wrong row costs a refused upload or a failed pull, never a wrong byte (registries and pulls check
        // every digest).
        migrator.registerMigration("v4") { db in
            try db.execute(
                sql: """
                    CREATE TABLE object_sha256 (
                        digest TEXT PRIMARY KEY,
                        checksum TEXT NOT NULL,
                        sha256 TEXT NOT NULL,
                        size INTEGER NOT NULL);
                    CREATE TABLE pack (
                        sha256 TEXT PRIMARY KEY,
                        size INTEGER NOT NULL);
                    CREATE TABLE pack_member (
                        pack TEXT NOT NULL REFERENCES pack(sha256) ON DELETE CASCADE,
                        position INTEGER NOT NULL,
                        object TEXT NOT NULL,
                        offset INTEGER NOT NULL,
                        size INTEGER NOT NULL,
                        sha256 TEXT NOT NULL,
                        PRIMARY KEY (pack, position));
                    CREATE INDEX pack_member_by_object ON pack_member(object);
                    CREATE TABLE blob_location (
                        sha256 TEXT NOT NULL,
                        registry TEXT NOT NULL,
                        repository TEXT NOT NULL,
                        seen_at TEXT NOT NULL,
                        PRIMARY KEY (sha256, registry, repository));
                    """)
        }
        return migrator
    }
}
