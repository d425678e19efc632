import Foundation
import GRDB
import PBRCore
import Synchronization
import XXHash

/// A pbrepo store: a directory with the objects (`objects/`) and the index (`index.sqlite3`, SQLite in WAL mode).
///
/// The index never names an object that is not on disk: objects are written and made durable before the one
/// transaction that records a model commits. Objects nothing refers to (after `rm`, or left by a killed ingest) are
/// removed by `gc`.
public final class Store: Sendable {
    public let root: String
    public let objects: ObjectDirectory
    let database: DatabasePool
    /// Decoded base tensors, reused while the fine-tunes of one family are ingested by the same process (1 GiB at
    /// most; a tensor over a quarter of that is decoded again each time).
    let baseCache = Memo<XXH3Digest, [UInt8]>(capacity: 1 << 30, cost: { $0.count })

    /// The store directory: `explicit` (`--store`), else `$PBREPO_STORE`, else `$XDG_DATA_HOME/pbrepo`, else
    /// `~/.local/share/pbrepo`.
    public static func location(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let store = environment["PBREPO_STORE"], !store.isEmpty { return store }
        if let data = environment["XDG_DATA_HOME"], !data.isEmpty { return data + "/pbrepo" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.local/share/pbrepo"
    }

    /// Opens the store at `root`, creating it when `create` is true.
    public init(root: String, create: Bool = true) throws {
        self.root = root
        objects = ObjectDirectory(root: root)
        let indexPath = root + "/index.sqlite3"
        if !FileManager.default.fileExists(atPath: indexPath) {
            guard create else { throw StoreError(.io, "no store at \(root) (no index.sqlite3)") }
            try makeDirectories(root + "/objects")
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(60)  // concurrent ingests wait for each other's commit
        configuration.foreignKeysEnabled = true
        do {
            database = try DatabasePool(path: indexPath, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch {
            throw StoreError(.database, "cannot open the index of store \(root): \(error)")
        }
    }

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
