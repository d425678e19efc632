import GRDB
import XXHash

extension StoreIndex {
    /// A model's seal: XXH3-128 of every row that describes it (its `model` row, source files, blocks, tensors and
    /// objects), written when it is recorded. SQLite checks the structure of its pages, not the values in them; a
    /// flipped byte inside a row (a block's size, a recipe, a digest) changes the seal, and `verify` and every
    /// command that reads the model see it.
    ///
    /// The seal is `2:` and the hex digest. Each row is hashed as its kind and, per column, a type tag, a length and
    /// the value's bytes (a double by its bit pattern), so that no value can pass for a neighbour's.
    static func seal(ofModel id: Int64, in db: Database) throws -> String {
        var hasher = XXH3Hasher()
        var bytes: [UInt8] = []
        func append(_ tag: UInt8, _ payload: some Collection<UInt8>) {
            bytes.append(tag)
            withUnsafeBytes(of: UInt64(payload.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: payload)
        }
        try forEachRow(ofModel: id, in: db) { kind, row in
            bytes.removeAll(keepingCapacity: true)
            append(0x6B, kind.utf8)
            for (column, value) in row where column != "seal" {
                switch value.storage {
                case .null: append(0x00, EmptyCollection())
                case .int64(let number): withUnsafeBytes(of: number.littleEndian) { append(0x69, $0) }
                case .double(let number): withUnsafeBytes(of: number.bitPattern.littleEndian) { append(0x64, $0) }
                case .string(let text): append(0x73, text.utf8)
                case .blob(let data): append(0x62, data)
                }
            }
            hasher.update(bytes)
        }
        return "2:" + hasher.finalize().description
    }

    /// The rows a seal covers, in a fixed order, each with its kind.
    private static func forEachRow(ofModel id: Int64, in db: Database, _ body: (String, Row) throws -> Void) throws {
        let queries = [
            ("model", "SELECT * FROM model WHERE id = ?"),
            ("source", "SELECT * FROM source_file WHERE model_id = ? ORDER BY position"),
            ("block", "SELECT * FROM model_block WHERE model_id = ? ORDER BY position"),
            ("tensor", "SELECT * FROM model_tensor WHERE model_id = ? ORDER BY position"),
            ("object", "SELECT * FROM model_object WHERE model_id = ? ORDER BY object"),
        ]
        for (kind, sql) in queries {
            let rows = try Row.fetchCursor(db, sql: sql, arguments: [id])
            while let row = try rows.next() { try body(kind, row) }
        }
    }

    /// The seals the first sealing build wrote (schema migration v2): each value as Swift describes it, which costs
    /// a reflection per value (10 s for a model of 100 000 tensors). Still checked for stores sealed then; migration
    /// v3 re-seals the models whose first seal holds.
    static func firstSeal(ofModel id: Int64, in db: Database) throws -> String {
        var hasher = XXH3Hasher()
        try forEachRow(ofModel: id, in: db) { kind, row in
            var text = kind
            for (column, value) in row where column != "seal" {
                let field = value.isNull ? "\u{0}" : String(describing: value.storage)
                text += "|\(field.utf8.count):\(field)"
            }
            hasher.update(Array((text + "\n").utf8))
        }
        return hasher.finalize().description
    }

    /// Whether a model's rows match the seal recorded with them (of either format).
    static func sealHolds(_ recorded: String?, ofModel id: Int64, in db: Database) throws -> Bool {
        guard let recorded else { return false }
        return recorded.hasPrefix("2:")
            ? recorded == (try seal(ofModel: id, in: db)) : recorded == (try firstSeal(ofModel: id, in: db))
    }

    /// Models whose rows no longer match their seal, by name.
    static func unsealedModels(in db: Database, names: [String]? = nil) throws -> [String] {
        var damaged: [String] = []
        for row in try Row.fetchAll(db, sql: "SELECT id, name, seal FROM model ORDER BY name") {
            let name: String = row["name"]
            if let names, !names.contains(name) { continue }
            let recorded: String? = row["seal"]
            if try !sealHolds(recorded, ofModel: row["id"], in: db) { damaged.append(name) }
        }
        return damaged
    }
}
