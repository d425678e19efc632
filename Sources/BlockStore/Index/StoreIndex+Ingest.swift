import Foundation
import GRDB
import PBRCore
import ParameterBlocks
import TensorFiles
import XXHash

/// What an object file says about itself: its header and its size on disk.
struct ObjectFileFacts: Sendable {
    var header: StoredObject
    var size: UInt64
}

extension StoreIndex {
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
    func baseTensors(family: String, explicit: String?, parent: String?, excluding name: String) throws
        -> BaseTensors?
    {
        try read { db -> BaseTensors? in
            var row: Row?
            if let explicit {
                row = try Row.fetchOne(db, sql: "SELECT id, name FROM model WHERE name = ?", arguments: [explicit])
                guard row != nil else {
                    throw StoreError(.unknownModel, "base model \"\(explicit)\" is not in the store")
                }
            }
            if row == nil, let parent, parent != name {
                row = try Row.fetchOne(db, sql: "SELECT id, name FROM model WHERE name = ?", arguments: [parent])
            }
            if row == nil {
                // The family's base: the model named like the family (a Hugging Face base's family is its repo id),
                // else one whose files name no parent, else the first ingested — never the shell's glob order alone.
                row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT id, name FROM model WHERE family = ? AND name != ?
                        ORDER BY name = family DESC, json_extract(recipe, '$.provenance.parent') IS NULL DESC, id
                        LIMIT 1
                        """,
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

    /// What one ingest records.
    struct ModelEntry {
        var plan: ModelPlan
        var partition: ModelPartition
        var name: String
        var family: String
        var baseModel: String?
        var rules: PartitionRules?
        var source: String
    }

    /// The one transaction that makes a model visible. `facts` reads an object file's header, asked inside the
    /// transaction: every object must still be on disk, and its row is written from what the file says (so a row
    /// can never claim a self-contained object for a file that is a delta). Returns how many of the model's blocks
    /// the store already had, and their bytes.
    func record(_ entry: ModelEntry, facts: (XXH3Digest) -> ObjectFileFacts?) throws -> (blocks: Int, bytes: UInt64) {
        let (plan, report, name) = (entry.plan, entry.partition, entry.name)
        let recipeJSON = try String(decoding: JSONEncoder().encode(plan.recipe), as: UTF8.self)
        return try write { db -> (blocks: Int, bytes: UInt64) in
            if try Int64.fetchOne(db, sql: "SELECT id FROM model WHERE name = ?", arguments: [name]) != nil {
                throw StoreError(.conflict, "model \"\(name)\" was added by another ingest meanwhile")
            }
            try Self.adopt(plan.objects.map(\.digest), model: name, in: db, facts: facts)
            var reused = 0
            var reusedBytes: UInt64 = 0
            for block in report.blocks {
                if try Int64.fetchOne(
                    db, sql: "SELECT 1 FROM block WHERE digest = ?", arguments: [block.digest.description]) != nil
                {
                    reused += 1
                    reusedBytes += block.bytes
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
                    name, entry.family, entry.baseModel, report.format, entry.source,
                    entry.rules?.source,
                    recipeJSON, Int64(report.totalBytes), ISO8601DateFormatter().string(from: Date()),
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
            for (position, tensor) in report.tensors.enumerated() {
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
            try db.execute(
                sql: "UPDATE model SET seal = ? WHERE id = ?", arguments: [try Self.seal(ofModel: id, in: db), id])
            return (reused, reusedBytes)
        }
    }

    /// Takes objects back from gc's list of files to delete (see `doomUnreferenced`), before an ingest relies on
    /// their files.
    func claim(_ digests: [XXH3Digest]) throws {
        guard try read({ db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM doomed_object") ?? 0 }) > 0 else {
            return  // one doomed later is taken back by `record`
        }
        try write { db in
            for digest in digests {
                try db.execute(sql: "DELETE FROM doomed_object WHERE digest = ?", arguments: [digest.description])
            }
        }
    }

    /// Rewrites the rows of objects an ingest has healed (rewritten from its source), from their files.
    func refresh(_ digests: [XXH3Digest], model: String, facts: (XXH3Digest) -> ObjectFileFacts?) throws {
        try write { db in try Self.adopt(digests, model: model, in: db, facts: facts) }
    }

    /// Inside a write transaction: takes the objects (and their delta bases) back from gc's list of files to delete,
    /// checks that each is on disk, and writes its row from its file's header.
    static func adopt(
        _ digests: [XXH3Digest], model: String, in db: Database, facts: (XXH3Digest) -> ObjectFileFacts?
    ) throws {
        func upsert(_ digest: XXH3Digest, depth: Int) throws {
            guard let file = facts(digest) else {
                throw StoreError(
                    .missingObject,
                    depth == 0
                        ? "object \(digest) vanished before model \(model) was recorded"
                        : "object \(digest), the delta base of another object of \(model), vanished before it was recorded"
                )
            }
            if let base = file.header.base {
                guard depth == 0 else {
                    throw StoreError(.corruptObject, "object \(digest) is a delta against another delta \(base)")
                }
                try upsert(base, depth: 1)
            }
            guard let rawBytes = Int64(exactly: file.header.rawLength), let storedBytes = Int64(exactly: file.size)
            else {
                throw StoreError(.corruptObject, "object \(digest) claims \(file.header.rawLength) bytes")
            }
            try db.execute(sql: "DELETE FROM doomed_object WHERE digest = ?", arguments: [digest.description])
            try db.execute(
                sql: """
                    INSERT INTO object (digest, codec, raw_bytes, stored_bytes, base) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT(digest) DO UPDATE SET codec = excluded.codec, raw_bytes = excluded.raw_bytes,
                        stored_bytes = excluded.stored_bytes, base = excluded.base
                    """,
                arguments: [
                    digest.description, file.header.codec.name, rawBytes, storedBytes, file.header.base?.description,
                ])
        }
        for digest in digests { try upsert(digest, depth: 0) }
    }
}
