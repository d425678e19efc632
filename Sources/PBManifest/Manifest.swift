package import PBRCore

/// The contract between the store and every simulator (`pbrepo.manifest/v1`, docs/manifest.md,
/// docs/manifest.schema.json): the real sizes of the parameter blocks and which models use which blocks.
///
/// Written by the store (`pbrepo export-manifest`) and the synthesizer (`pbrepo synthesize-manifest`), read by the
/// simulators and the trainer. `read(_:)` is as strict as the schema: unknown members, ids that are not 32 hex
/// digits, unknown kinds, negative or fractional sizes, duplicate block ids and models naming unlisted blocks are
/// refused with the member's path. Encoding with `JSONValueEncoder` gives the members in the schema's order.
package struct Manifest: Codable, Sendable, Equatable {
    package static let schemaID = "pbrepo.manifest/v1"
    package static let toolVersion = "0.1.0"
    /// The kinds a block may have (`ParameterBlocks.BlockKind`'s raw values).
    package static let blockKinds: Set<String> = [
        "embedding", "layer", "norm", "head", "adapter", "optimizer", "other",
    ]

    package struct Tool: Codable, Sendable, Equatable {
        package var name: String
        package var version: String

        package init(name: String = "pbrepo", version: String = Manifest.toolVersion) {
            self.name = name
            self.version = version
        }
    }

    package struct Block: Codable, Sendable, Equatable {
        /// The block's content digest (XXH3-128, 32 lowercase hex digits).
        package var id: String
        /// Decoded size, bytes.
        package var bytes: UInt64
        /// Size of the objects that store it, bytes (the decoded size when nothing was stored).
        package var storedBytes: UInt64
        package var kind: String
        /// Position in the first model (in manifest order) that has the block.
        package var position: Int
        package var tensors: Int
        /// Models that use the block, by id.
        package var models: [String]

        package init(
            id: String, bytes: UInt64, storedBytes: UInt64, kind: String, position: Int, tensors: Int, models: [String]
        ) {
            self.id = id
            self.bytes = bytes
            self.storedBytes = storedBytes
            self.kind = kind
            self.position = position
            self.tensors = tensors
            self.models = models
        }

        enum CodingKeys: String, CodingKey {
            case id, bytes
            case storedBytes = "stored_bytes"
            case kind, position, tensors, models
        }
    }

    package struct Model: Codable, Sendable, Equatable {
        package var id: String
        package var family: String
        /// Block ids in model order.
        package var blocks: [String]
        package var bytes: UInt64

        package init(id: String, family: String, blocks: [String], bytes: UInt64) {
            self.id = id
            self.family = family
            self.blocks = blocks
            self.bytes = bytes
        }
    }

    /// Where the models came from: the source files of ingested models, or how a synthesized repository was derived.
    package struct Provenance: Codable, Sendable, Equatable {
        package struct Source: Codable, Sendable, Equatable {
            package var path: String
            package var sha256: String
            package var size: UInt64

            package init(path: String, sha256: String, size: UInt64) {
                self.path = path
                self.sha256 = sha256
                self.size = size
            }
        }

        package struct ModelSources: Codable, Sendable, Equatable {
            package var id: String
            package var sources: [Source]

            package init(id: String, sources: [Source]) {
                self.id = id
                self.sources = sources
            }
        }

        /// How a repository without checkpoints was derived (synthesized manifests only).
        package var derivation: String?
        package var models: [ModelSources]

        package init(derivation: String? = nil, models: [ModelSources]) {
            self.derivation = derivation
            self.models = models
        }
    }

    package var schema: String
    package var tool: Tool
    package var blocks: [Block]
    package var models: [Model]
    package var provenance: Provenance

    package init(tool: Tool = Tool(), blocks: [Block], models: [Model], provenance: Provenance) {
        schema = Self.schemaID
        self.tool = tool
        self.blocks = blocks
        self.models = models
        self.provenance = provenance
    }

    /// The manifest as JSON, members in the schema's order.
    package var json: JSONValue {
        // Encoding plain structs of strings and integers cannot fail.
        (try? JSONValueEncoder().encode(self)) ?? .null
    }

    /// The file's text: indented JSON and a final newline.
    package var text: String { json.prettyPrinted() + "\n" }

    /// Reads and validates a manifest file.
    package static func read(_ path: String) throws(ManifestError) -> Manifest {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.read(path)
        } catch {
            throw ManifestError(.unreadable, path: path, field: nil, error.message, underlying: error)
        }
        return try parse(bytes, path: path)
    }

    /// Parses and validates a manifest's text; `path` names it in errors.
    package static func parse(_ bytes: [UInt8], path: String) throws(ManifestError) -> Manifest {
        let value: JSONValue
        do {
            value = try StrictJSONParser.parse(bytes)
        } catch {
            throw ManifestError(.invalidJSON, path: path, field: nil, "not valid JSON: \(error)", underlying: error)
        }
        try ManifestShape.check(value, path: path)
        let manifest: Manifest
        do {
            manifest = try JSONValueDecoder().decode(Manifest.self, from: value)
        } catch {
            throw ManifestError(.invalidField, path: path, field: nil, describe(error), underlying: error)
        }
        try manifest.validate(path: path)
        return manifest
    }

    /// Checks what the schema and the manifest's meaning require beyond the JSON shape: the schema id, 32-hex block
    /// ids listed once, known kinds, models that name only listed blocks, 64-hex source digests.
    package func validate(path: String = "manifest") throws(ManifestError) {
        func fail(_ code: ManifestError.Code, _ field: String, _ message: String) -> ManifestError {
            ManifestError(code, path: path, field: field, message)
        }
        guard schema == Self.schemaID else {
            throw fail(.wrongSchema, "schema", "schema \"\(schema)\" is not \(Self.schemaID)")
        }
        guard tool.name == "pbrepo" else { throw fail(.invalidField, "tool.name", "must be \"pbrepo\"") }
        var listed = Set<String>()
        for (index, block) in blocks.enumerated() {
            let field = "blocks[\(index)]"
            guard Self.isHex(block.id, digits: 32) else {
                throw fail(.invalidField, field + ".id", "block id \"\(block.id)\" is not 32 lowercase hex digits")
            }
            guard listed.insert(block.id).inserted else {
                throw fail(.duplicateBlock, field + ".id", "block \(block.id) is listed twice")
            }
            guard Self.blockKinds.contains(block.kind) else {
                throw fail(.invalidField, field + ".kind", "unknown kind \"\(block.kind)\"")
            }
            guard block.position >= 0 else { throw fail(.invalidField, field + ".position", "negative position") }
            guard block.tensors >= 1 else {
                throw fail(.invalidField, field + ".tensors", "a block holds at least one tensor")
            }
            guard !block.models.isEmpty else {
                throw fail(.invalidField, field + ".models", "a block is used by at least one model")
            }
        }
        for (index, model) in models.enumerated() {
            guard !model.id.isEmpty else { throw fail(.invalidField, "models[\(index)].id", "empty model id") }
            for (position, block) in model.blocks.enumerated() where !listed.contains(block) {
                throw fail(
                    .unknownBlock, "models[\(index)].blocks[\(position)]",
                    "model \(model.id) names block \(block), which the manifest does not list")
            }
        }
        for (index, entry) in provenance.models.enumerated() {
            for (position, source) in entry.sources.enumerated() where !Self.isHex(source.sha256, digits: 64) {
                throw fail(
                    .invalidField, "provenance.models[\(index)].sources[\(position)].sha256",
                    "\"\(source.sha256)\" is not 64 lowercase hex digits")
            }
        }
    }

    static func isHex(_ text: String, digits: Int) -> Bool {
        text.utf8.count == digits && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

/// The members the schema allows at each level (`additionalProperties: false`), checked before decoding so that a
/// misspelt member is refused rather than ignored.
enum ManifestShape {
    static let top: Set<String> = ["schema", "tool", "blocks", "models", "provenance"]
    static let blockMembers: Set<String> = ["id", "bytes", "stored_bytes", "kind", "position", "tensors", "models"]
    static let modelMembers: Set<String> = ["id", "family", "blocks", "bytes"]

    static func check(_ value: JSONValue, path: String) throws(ManifestError) {
        try members(of: value, allowed: top, field: nil, path: path)
        if case .array(let blocks)? = value["blocks"] {
            for (index, block) in blocks.enumerated() {
                try members(of: block, allowed: blockMembers, field: "blocks[\(index)]", path: path)
            }
        }
        if case .array(let models)? = value["models"] {
            for (index, model) in models.enumerated() {
                try members(of: model, allowed: modelMembers, field: "models[\(index)]", path: path)
            }
        }
    }

    private static func members(of value: JSONValue, allowed: Set<String>, field: String?, path: String)
        throws(ManifestError)
    {
        guard case .object(let members) = value else {
            throw ManifestError(
                .invalidField, path: path, field: field, "expected an object, found a JSON \(value.typeName)")
        }
        let present = Set(members.map(\.key))
        if let unknown = members.first(where: { !allowed.contains($0.key) }) {
            let name = field.map { $0 + "." + unknown.key } ?? unknown.key
            throw ManifestError(.invalidField, path: path, field: name, "unknown member (the schema allows no other)")
        }
        if let missing = allowed.subtracting(present).sorted().first {
            let name = field.map { $0 + "." + missing } ?? missing
            throw ManifestError(.invalidField, path: path, field: name, "missing")
        }
    }
}
