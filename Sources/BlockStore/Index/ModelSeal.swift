import GRDB
import XXHash

extension StoreIndex {
    /// A model's seal: XXH3-128 of every row that describes it (its `model` row, source files, blocks, tensors and
    /// objects), written when it is recorded. SQLite checks the structure of its pages, not the values in them; a
    /// flipped byte inside a row (a block's size, a recipe, a digest) changes the seal, and `verify` and every
    /// command that reads the model see it.
    static func seal(ofModel id: Int64, in db: Database) throws -> String {
        var hasher = XXH3Hasher()
        func add(_ kind: String, _ row: Row, skipping: Set<String> = []) {
            var text = kind
            for (column, value) in row where !skipping.contains(column) {
                // Length-prefixed, so that no value can pass for a neighbour's.
                let field = value.isNull ? "\u{0}" : String(describing: value.storage)
                text += "|\(field.utf8.count):\(field)"
            }
            hasher.update(Array((text + "\n").utf8))
        }
        for row in try Row.fetchAll(db, sql: "SELECT * FROM model WHERE id = ?", arguments: [id]) {
            add("model", row, skipping: ["seal"])
        }
        let queries = [
            ("source", "SELECT * FROM source_file WHERE model_id = ? ORDER BY position"),
            ("block", "SELECT * FROM model_block WHERE model_id = ? ORDER BY position"),
            ("tensor", "SELECT * FROM model_tensor WHERE model_id = ? ORDER BY position"),
            ("object", "SELECT * FROM model_object WHERE model_id = ? ORDER BY object"),
        ]
        for (kind, sql) in queries {
            for row in try Row.fetchAll(db, sql: sql, arguments: [id]) { add(kind, row) }
        }
        return hasher.finalize().description
    }

    /// Models whose rows no longer match their seal, by name.
    static func unsealedModels(in db: Database, names: [String]? = nil) throws -> [String] {
        var damaged: [String] = []
        for row in try Row.fetchAll(db, sql: "SELECT id, name, seal FROM model ORDER BY name") {
            let name: String = row["name"]
            if let names, !names.contains(name) { continue }
            let recorded: String? = row["seal"]
            if try recorded != seal(ofModel: row["id"], in: db) { damaged.append(name) }
        }
        return damaged
    }
}
