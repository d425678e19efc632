import PBRCore
public import TensorFiles

/// The file the caching experiments read (`pbrepo.manifest/v1`, docs/manifest.md, docs/manifest.schema.json): the
/// real sizes of the parameter blocks and which models use which blocks. The same store contents give the same bytes.
public struct Manifest: Sendable {
    public static let schemaID = "pbrepo.manifest/v1"
    public static let toolVersion = "0.1.0"

    public struct Block: Sendable, Equatable {
        /// The block's content digest.
        public var id: String
        public var bytes: UInt64
        public var storedBytes: UInt64
        public var kind: String
        /// Position in the first model (by name) that has the block.
        public var position: Int
        public var tensors: Int
        /// Models that use the block, by name.
        public var models: [String]
    }

    public struct Model: Sendable, Equatable {
        public var id: String
        public var family: String
        public var blocks: [String]
        public var bytes: UInt64
        public var sources: [(path: String, sha256: String, size: UInt64)]

        public static func == (a: Model, b: Model) -> Bool {
            a.id == b.id && a.family == b.family && a.blocks == b.blocks && a.bytes == b.bytes
                && a.sources.map(\.sha256) == b.sources.map(\.sha256)
        }
    }

    public var blocks: [Block]
    public var models: [Model]

    init(_ snapshot: Snapshot) {
        var blocks: [Block] = []
        var index: [String: Int] = [:]
        for model in snapshot.models {
            for (position, block) in model.blocks.enumerated() {
                if let existing = index[block.digest] {
                    if blocks[existing].models.last != model.name { blocks[existing].models.append(model.name) }
                    continue
                }
                index[block.digest] = blocks.count
                blocks.append(
                    Block(
                        id: block.digest, bytes: snapshot.blockBytes[block.digest] ?? 0,
                        storedBytes: snapshot.storedBytes(ofBlock: position, in: model), kind: block.kind,
                        position: position, tensors: snapshot.blockTensorCount[block.digest] ?? 0, models: [model.name]))
            }
        }
        self.blocks = blocks
        models = snapshot.models.map {
            Model(id: $0.name, family: $0.family, blocks: $0.blocks.map(\.digest), bytes: $0.bytes, sources: $0.sources)
        }
    }

    public var json: JSONValue {
        .object([
            ("schema", .string(Self.schemaID)),
            ("tool", .object([("name", .string("pbrepo")), ("version", .string(Self.toolVersion))])),
            (
                "blocks",
                .array(
                    blocks.map { block in
                        .object([
                            ("id", .string(block.id)), ("bytes", .number(block.bytes)),
                            ("stored_bytes", .number(block.storedBytes)), ("kind", .string(block.kind)),
                            ("position", .number(block.position)), ("tensors", .number(block.tensors)),
                            ("models", .array(block.models.map(JSONValue.string))),
                        ])
                    })
            ),
            (
                "models",
                .array(
                    models.map { model in
                        .object([
                            ("id", .string(model.id)), ("family", .string(model.family)),
                            ("blocks", .array(model.blocks.map(JSONValue.string))), ("bytes", .number(model.bytes)),
                        ])
                    })
            ),
            (
                "provenance",
                .object([
                    (
                        "models",
                        .array(
                            models.map { model in
                                .object([
                                    ("id", .string(model.id)),
                                    (
                                        "sources",
                                        .array(
                                            model.sources.map { source in
                                                .object([
                                                    ("path", .string(source.path)), ("sha256", .string(source.sha256)),
                                                    ("size", .number(source.size)),
                                                ])
                                            })
                                    ),
                                ])
                            })
                    )
                ])
            ),
        ])
    }

    /// One row per block: id,bytes,stored_bytes,kind,position,tensors,models (models joined by ";").
    public var blocksCSV: String {
        (["id,bytes,stored_bytes,kind,position,tensors,models"]
            + blocks.map { block in
                [block.id, String(block.bytes), String(block.storedBytes), block.kind, String(block.position),
                    String(block.tensors), csvField(block.models.joined(separator: ";"))].joined(separator: ",")
            }).joined(separator: "\n") + "\n"
    }

    /// One row per (model, block): model,family,position,block,bytes — the long format pandas pivots easily.
    public var modelsCSV: String {
        let bytes = Dictionary(uniqueKeysWithValues: blocks.map { ($0.id, $0.bytes) })
        return (["model,family,position,block,bytes"]
            + models.flatMap { model in
                model.blocks.enumerated().map { position, block in
                    [csvField(model.id), csvField(model.family), String(position), block, String(bytes[block] ?? 0)]
                        .joined(separator: ",")
                }
            }).joined(separator: "\n") + "\n"
    }
}

extension Store {
    /// The manifest of `models` (all models when nil).
    public func manifest(models: [String]? = nil) throws -> Manifest {
        let snapshot = try snapshot(models: models)
        if let models {
            let found = Set(snapshot.models.map(\.name))
            if let missing = models.first(where: { !found.contains($0) }) {
                throw StoreError(.unknownModel, "no model named \"\(missing)\" in store \(root)")
            }
        }
        return Manifest(snapshot)
    }
}
