import Foundation
import GRDB
import PBRCore
import Synchronization
import XXHash

extension StoreIndex {
    /// An `object` row.
    struct ObjectRow: FetchableRecord, Decodable, Sendable {
        var digest: String
        var codec: String
        var rawBytes: Int64
        var storedBytes: Int64
        var base: String?

        enum CodingKeys: String, CodingKey {
            case digest, codec, base
            case rawBytes = "raw_bytes"
            case storedBytes = "stored_bytes"
        }
    }

    /// What `verify` compares with the object files, read in one transaction.
    struct References: Sendable {
        var objects: [ObjectRow]
        /// Every model's recipe text, by name.
        var recipes: [(model: String, recipe: String)]
        /// The objects each model's rows say it needs.
        var needs: [String: Set<String>]
        /// Objects a gc has decided to delete (their files may be gone already).
        var doomed: Set<String>
    }

    func references() throws -> References {
        try read { db in
            var needs: [String: Set<String>] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT m.name, o.object FROM model_object o JOIN model m ON m.id = o.model_id")
            {
                needs[row["name"], default: []].insert(row["object"])
            }
            return References(
                objects: try ObjectRow.fetchAll(db, sql: "SELECT * FROM object ORDER BY digest"),
                recipes: try Row.fetchAll(db, sql: "SELECT name, recipe FROM model ORDER BY name").map {
                    (model: $0["name"], recipe: $0["recipe"])
                },
                needs: needs,
                doomed: Set(try String.fetchAll(db, sql: "SELECT digest FROM doomed_object")))
        }
    }

    /// One thing wrong with the index, and the model or object it concerns.
    struct Problem: Sendable {
        var model: String?
        var object: String?
        var message: String
    }

    /// What is wrong with the index itself: SQLite's own structural check, foreign keys, model seals, and block rows
    /// against the tensors that make them up. Empty when nothing is.
    func problems() throws -> [Problem] {
        try read { db in
            var problems: [Problem] = []
            let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check")
            if integrity != ["ok"] {
                problems += integrity.prefix(10).map { Problem(message: "index.sqlite3 is damaged: \($0)") }
            }
            for row in try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").prefix(10) {
                problems.append(
                    Problem(
                        message:
                            "index.sqlite3: a row of \(row[0] as String? ?? "?") names a missing \(row[2] as String? ?? "?")"
                    ))
            }
            for model in try Self.unsealedModels(in: db) {
                problems.append(
                    Problem(
                        model: model, message: "model \(model): its index rows no longer match their seal (damaged)"))
            }
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT m.name, b.position, b.block, k.bytes, k.tensor_count,
                        COALESCE(t.bytes, 0) AS tensor_bytes, COALESCE(t.tensors, 0) AS tensors
                    FROM model_block b JOIN model m ON m.id = b.model_id LEFT JOIN block k ON k.digest = b.block
                    LEFT JOIN (
                        SELECT model_id, block_position, SUM(bytes) AS bytes, COUNT(*) AS tensors FROM model_tensor
                        GROUP BY model_id, block_position) t
                        ON t.model_id = b.model_id AND t.block_position = b.position
                    """)
            {
                let bytes: Int64? = row["bytes"]
                let count: Int64? = row["tensor_count"]
                if bytes != row["tensor_bytes"] || count != row["tensors"] {
                    let model: String = row["name"]
                    problems.append(
                        Problem(
                            model: model,
                            message:
                                "block \(row["block"] as String) (model \(row["name"] as String), position \(row["position"] as Int)): "
                                + "the index says \(bytes.map(String.init) ?? "nothing") bytes in \(count.map(String.init) ?? "no") tensors, "
                                + "its tensors add up to \(row["tensor_bytes"] as Int64) bytes in \(row["tensors"] as Int64)"
                        ))
                }
            }
            return problems
        }
    }

    /// SQLite's integrity check (every page, and every index against its table) and, with `seals`, every model's
    /// seal. Commands that write run it first and refuse a damaged index rather than write into it; gc, whose
    /// deletions follow the model rows, also refuses rows that no longer match their seal.
    func requireSound(seals: Bool = false) throws {
        let (integrity, unsealed) = try read { db in
            (try String.fetchAll(db, sql: "PRAGMA integrity_check"), seals ? try Self.unsealedModels(in: db) : [])
        }
        guard integrity == ["ok"], unsealed.isEmpty else {
            let what =
                integrity != ["ok"]
                ? integrity.first ?? "integrity_check failed"
                : "the rows of \(unsealed.joined(separator: ", ")) no longer match their seal"
            throw StoreError(
                .database,
                "the index of store \(root) is damaged (\(what)); nothing was changed. Run pbrepo verify --repair, or "
                    + "restore index.sqlite3 from a backup")
        }
    }

    /// Where a model was ingested from, and its family.
    func source(of model: String) throws -> (path: String, family: String)? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT source, family FROM model WHERE name = ?", arguments: [model]).map {
                (path: $0["source"], family: $0["family"])
            }
        }
    }

    /// gc's first transaction: decides which objects die and records them in `doomed_object` before any file is
    /// deleted, deleting their rows (and the rows of blocks no model has).
    ///
    /// Live are the objects a model needs, those a running ingest holds a lease on, and the delta bases of live
    /// objects — as their rows say and as their files say (the files are what decoding follows).
    ///
    /// - Parameters:
    ///   - present: every object file on disk.
    ///   - baseInFile: the delta base an object file's header names.
    /// - Returns: how many objects were doomed.
    func doomUnreferenced(present: [String], leased: Set<String>, baseInFile: (String) -> String?) throws -> Int {
        try write { db -> Int in
            // Rows of dead deltas and their dead bases go in one transaction, in any order.
            try db.execute(sql: "PRAGMA defer_foreign_keys = ON")
            var live = Set(try String.fetchAll(db, sql: "SELECT DISTINCT object FROM model_object")).union(leased)
            for row in try Row.fetchAll(db, sql: "SELECT digest, base FROM object WHERE base IS NOT NULL")
            where live.contains(row["digest"] as String) {
                live.insert(row["base"])
            }
            for digest in Array(live) {
                if let base = baseInFile(digest) { live.insert(base) }
            }
            let indexed = try String.fetchAll(db, sql: "SELECT digest FROM object")
            let dead = Set(present).union(indexed).subtracting(live)
            for digest in dead.sorted() {
                try db.execute(sql: "INSERT OR IGNORE INTO doomed_object (digest) VALUES (?)", arguments: [digest])
                try db.execute(sql: "DELETE FROM object WHERE digest = ?", arguments: [digest])
            }
            try db.execute(
                sql: "DELETE FROM block WHERE NOT EXISTS (SELECT 1 FROM model_block b WHERE b.block = block.digest)")
            return dead.count
        }
    }

    /// gc's second step: deletes the doomed objects' files in short write transactions (a thousand at a time), each
    /// file only while it is still doomed — an ingest that needs one of them takes it back in its own transaction.
    ///
    /// - Parameter unlinkFile: deletes an object's file and returns its size, nil when it was already gone.
    func deleteDoomed(_ unlinkFile: (String) -> UInt64?) throws -> (removed: Int, freed: UInt64) {
        var removed = 0
        var freed: UInt64 = 0
        while true {
            let batch = try write { db -> Int in
                let digests = try String.fetchAll(db, sql: "SELECT digest FROM doomed_object LIMIT 1000")
                for digest in digests {
                    if let size = unlinkFile(digest) {
                        removed += 1
                        freed += size
                    }
                    try db.execute(sql: "DELETE FROM doomed_object WHERE digest = ?", arguments: [digest])
                }
                return digests.count
            }
            if batch == 0 { return (removed, freed) }
        }
    }
}

extension StoreIndex {
    /// Which objects each model needs and the delta base each object row names, read in one transaction: what space
    /// accounting (`du`, `rm`, `gc --dry-run`) works from.
    struct Needs: Sendable {
        var byModel: [String: Set<String>]
        var base: [String: String]
        var indexed: Set<String>
    }

    func needs() throws -> Needs {
        try read { db in
            var byModel: [String: Set<String>] = [:]
            for name in try String.fetchAll(db, sql: "SELECT name FROM model") { byModel[name] = [] }
            for row in try Row.fetchAll(
                db, sql: "SELECT m.name, o.object FROM model_object o JOIN model m ON m.id = o.model_id")
            {
                byModel[row["name"], default: []].insert(row["object"])
            }
            var base: [String: String] = [:]
            var indexed = Set<String>()
            for row in try Row.fetchAll(db, sql: "SELECT digest, base FROM object") {
                indexed.insert(row["digest"])
                if let of: String = row["base"] { base[row["digest"]] = of }
            }
            return Needs(byModel: byModel, base: base, indexed: indexed)
        }
    }

    /// Deletes the rows of every model in `names` in one transaction, or of none when one of them is not there.
    func removeModels(_ names: [String]) throws -> [String] {
        try write { db -> [String] in
            var missing: [String] = []
            for name in names {
                try db.execute(sql: "DELETE FROM model WHERE name = ?", arguments: [name])
                if db.changesCount == 0 { missing.append(name) }
            }
            if !missing.isEmpty { throw RollbackUnknown(names: missing) }
            return names
        }
    }

    struct RollbackUnknown: Error {
        var names: [String]
    }
}
