import Foundation
import GRDB
import XXHash

extension StoreIndex {
    /// Inside a write transaction: the rows of one model, from its record and recipe (the one writer of model rows,
    /// for ingest and for pull). Returns how many of its blocks the store already had, and their bytes.
    static func insert(
        _ record: ModelRecord, recipe: Recipe, in db: Database, facts: (XXH3Digest) -> ObjectFileFacts?
    ) throws -> (blocks: Int, bytes: UInt64) {
        let name = record.name
        if try Int64.fetchOne(db, sql: "SELECT id FROM model WHERE name = ?", arguments: [name]) != nil {
            throw StoreError(.conflict, "model \"\(name)\" was added by another command meanwhile")
        }
        let digests = try record.objects.map { text -> XXH3Digest in
            guard let digest = XXH3Digest(hex: text) else {
                throw StoreError(.invalidArgument, "model \(name) names an object \"\(text)\" that is not a digest")
            }
            return digest
        }
        try adopt(digests, model: name, in: db, facts: facts)
        var reused = 0
        var reusedBytes: UInt64 = 0
        for block in record.blocks {
            if try Int64.fetchOne(db, sql: "SELECT 1 FROM block WHERE digest = ?", arguments: [block.digest]) != nil {
                reused += 1
                reusedBytes += block.bytes
            }
            try db.execute(
                sql: "INSERT OR IGNORE INTO block (digest, bytes, tensor_count) VALUES (?, ?, ?)",
                arguments: [block.digest, Int64(block.bytes), block.tensorCount])
        }
        let recipeJSON = try String(decoding: JSONEncoder().encode(recipe), as: UTF8.self)
        try db.execute(
            sql: """
                INSERT INTO model (name, family, base_model, format, source, rules, recipe, bytes, ingested_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                name, record.family, record.baseModel, record.format, record.source, record.rules, recipeJSON,
                Int64(record.bytes), record.ingestedAt,
            ])
        let id = db.lastInsertedRowID
        for (position, file) in recipe.files.enumerated() {
            try db.execute(
                sql: "INSERT INTO source_file (model_id, position, path, sha256, size) VALUES (?, ?, ?, ?, ?)",
                arguments: [id, position, file.path, file.sha256, Int64(file.size)])
        }
        for (position, block) in record.blocks.enumerated() {
            try db.execute(
                sql: "INSERT INTO model_block (model_id, position, block, name, kind) VALUES (?, ?, ?, ?, ?)",
                arguments: [id, position, block.digest, block.name, block.kind])
        }
        for (position, tensor) in record.tensors.enumerated() {
            try db.execute(
                sql: """
                    INSERT INTO model_tensor (model_id, position, name, dtype, shape, bytes, digest, block_position,
                        index_in_block, object) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    id, position, tensor.name, tensor.dtype, tensor.shape, Int64(tensor.bytes), tensor.digest,
                    tensor.blockPosition, tensor.indexInBlock, tensor.object,
                ])
        }
        for object in record.objects {
            try db.execute(
                sql: "INSERT OR IGNORE INTO model_object (model_id, object) VALUES (?, ?)", arguments: [id, object])
        }
        try db.execute(sql: "UPDATE model SET seal = ? WHERE id = ?", arguments: [try seal(ofModel: id, in: db), id])
        return (reused, reusedBytes)
    }

    /// The record and recipe text of `model` (sealed rows only), or nil when there is no such model.
    func record(of model: String) throws -> (record: ModelRecord, recipe: String)? {
        try read { db -> (record: ModelRecord, recipe: String)? in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM model WHERE name = ?", arguments: [model]) else {
                return nil
            }
            try Self.requireSealed([model], in: db)
            let id: Int64 = row["id"]
            let blocks = try Row.fetchAll(
                db,
                sql: """
                    SELECT mb.block, mb.name, mb.kind, b.bytes, b.tensor_count FROM model_block mb
                    JOIN block b ON b.digest = mb.block WHERE mb.model_id = ? ORDER BY mb.position
                    """, arguments: [id]
            ).map { row in
                ModelRecord.Block(
                    digest: row["block"], name: row["name"], kind: row["kind"], bytes: UInt64(row["bytes"] as Int64),
                    tensorCount: Int(row["tensor_count"] as Int64))
            }
            let tensors = try Row.fetchAll(
                db,
                sql: """
                    SELECT name, dtype, shape, bytes, digest, block_position, index_in_block, object FROM model_tensor
                    WHERE model_id = ? ORDER BY position
                    """, arguments: [id]
            ).map { row in
                ModelRecord.Tensor(
                    name: row["name"], dtype: row["dtype"], shape: row["shape"], bytes: UInt64(row["bytes"] as Int64),
                    digest: row["digest"], blockPosition: Int(row["block_position"] as Int64),
                    indexInBlock: Int(row["index_in_block"] as Int64), object: row["object"])
            }
            let objects = try String.fetchAll(
                db, sql: "SELECT object FROM model_object WHERE model_id = ? ORDER BY object", arguments: [id])
            let record = ModelRecord(
                name: row["name"], family: row["family"], baseModel: row["base_model"], format: row["format"],
                source: row["source"], rules: row["rules"], bytes: UInt64(row["bytes"] as Int64),
                ingestedAt: row["ingested_at"], blocks: blocks, tensors: tensors, objects: objects)
            return (record, row["recipe"])
        }
    }
}
