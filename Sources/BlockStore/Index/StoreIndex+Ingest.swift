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
        let (plan, report) = (entry.plan, entry.partition)
        var blockOf = [Int: (position: Int, index: Int)]()
        for (position, block) in report.blocks.enumerated() {
            for (index, tensor) in block.block.tensors.enumerated() { blockOf[tensor] = (position, index) }
        }
        let stored = Set(plan.objects.map(\.digest))
        var seen = Set<XXH3Digest>()
        let record = ModelRecord(
            name: entry.name, family: entry.family, baseModel: entry.baseModel, format: report.format,
            source: entry.source, rules: entry.rules?.source, bytes: report.totalBytes,
            ingestedAt: ISO8601DateFormatter().string(from: Date()),
            blocks: report.blocks.map { block in
                ModelRecord.Block(
                    digest: block.digest.description, name: block.block.name, kind: block.block.kind.rawValue,
                    bytes: block.bytes, tensorCount: block.block.tensors.count)
            },
            tensors: report.tensors.enumerated().map { position, tensor in
                let place = blockOf[position] ?? (-1, -1)
                return ModelRecord.Tensor(
                    name: tensor.descriptor.name, dtype: tensor.descriptor.dtype,
                    shape: "[" + tensor.descriptor.shape.map(String.init).joined(separator: ",") + "]",
                    bytes: UInt64(tensor.descriptor.byteCount), digest: tensor.digest.description,
                    blockPosition: place.position, indexInBlock: place.index,
                    object: stored.contains(tensor.digest) ? tensor.digest.description : nil)
            },
            objects: plan.objects.map(\.digest).filter { seen.insert($0).inserted }.map(\.description))
        return try write { db in try Self.insert(record, recipe: plan.recipe, in: db, facts: facts) }
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
