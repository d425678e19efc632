import BlockStore
import Foundation
import ManifestSynthesis
import PBManifest
import PBRCore
import TestSupport
import Testing

/// The manifest is the contract between the store and every simulator: every manifest the project writes and
/// every file in `manifests/` must satisfy `docs/manifest.schema.json`, checked by a validator that does not use
/// the project's JSON code, and the reader must refuse what the schema refuses.
@Suite struct ManifestContractTests {
    static let validator = Result { try SchemaValidator(schemaFile: Samples.root + "/docs/manifest.schema.json") }

    func violations(_ text: String) throws -> [SchemaViolation] {
        try Self.validator.get().violations(ofJSON: Data(text.utf8))
    }

    static let committed = ["samples", "paper-cnn60", "llama2-20"]

    @Test(arguments: committed)
    func committedManifestsSatisfyTheSchemaAndTheReader(name: String) throws {
        let path = Samples.root + "/manifests/\(name).json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let found = try violations(text)
        #expect(found.isEmpty, "\(found.prefix(3))")
        let manifest = try Manifest.read(path)
        // Read back and written again, the file is unchanged byte for byte.
        #expect(manifest.text == text)
    }

    @Test(arguments: PaperRepositories.names)
    func synthesizedManifestsSatisfyTheSchema(name: String) throws {
        let manifest = try PaperRepositories.manifest(named: name)
        #expect(try violations(manifest.text).isEmpty)
        #expect(try Manifest.parse(Array(manifest.text.utf8), path: name) == manifest)
    }

    @Test func exportedManifestsSatisfyTheSchema() throws {
        try Samples.withTemporaryDirectory { directory in
            let store = try Store(root: directory + "/store")
            for relative in [
                "transformer/tiny-llama-base", "transformer/tiny-llama-ft-top", "lora/digits-5-9",
                "mlp/mlp-base.weights.h5", "mlp/mlp-ft-freeze2.h5",
            ] {
                _ = try store.ingest(Samples.path(relative))
            }
            let manifest = try store.manifest()
            let found = try violations(manifest.text)
            #expect(found.isEmpty, "\(found.prefix(3))")
            #expect(manifest.provenance.models.allSatisfy { !$0.sources.isEmpty })
            #expect(try Manifest.parse(Array(manifest.text.utf8), path: "exported") == manifest)
        }
    }

    /// Each hostile manifest breaks one rule of the schema (or of meaning); the validator and the reader agree.
    static let hostile:
        [(name: String, edit: @Sendable (inout [String: Any]) -> Void, code: ManifestError.Code, schemaRefuses: Bool)] =
            [
                ("unknown top-level member", { $0["extra"] = 1 }, .invalidField, true),
                ("missing provenance", { $0["provenance"] = nil }, .invalidField, true),
                ("wrong schema id", { $0["schema"] = "pbrepo.manifest/v2" }, .wrongSchema, true),
                ("block id not hex", { editBlock(&$0) { $0["id"] = "a\"b\\c" } }, .invalidField, true),
                ("fractional bytes", { editBlock(&$0) { $0["bytes"] = 1.5 } }, .invalidField, true),
                ("negative bytes", { editBlock(&$0) { $0["bytes"] = -1 } }, .invalidField, true),
                ("unknown kind", { editBlock(&$0) { $0["kind"] = "attention" } }, .invalidField, true),
                ("no tensors", { editBlock(&$0) { $0["tensors"] = 0 } }, .invalidField, true),
                ("unknown block member", { editBlock(&$0) { $0["note"] = "x" } }, .invalidField, true),
                ("missing stored_bytes", { editBlock(&$0) { $0["stored_bytes"] = nil } }, .invalidField, true),
                ("bytes as a string", { editBlock(&$0) { $0["bytes"] = "12" } }, .invalidField, true),
                // Beyond JSON Schema's reach: meaning across members.
                (
                    "a block listed twice",
                    {
                        var blocks = $0["blocks"] as? [[String: Any]] ?? []
                        blocks.append(blocks[0])
                        $0["blocks"] = blocks
                    }, .duplicateBlock, false
                ),
                (
                    "a model naming an unlisted block",
                    {
                        var models = $0["models"] as? [[String: Any]] ?? []
                        models[0]["blocks"] = [String(repeating: "f", count: 32)]
                        $0["models"] = models
                    }, .unknownBlock, false
                ),
            ]

    static func editBlock(_ manifest: inout [String: Any], _ edit: (inout [String: Any]) -> Void) {
        var blocks = manifest["blocks"] as? [[String: Any]] ?? []
        edit(&blocks[0])
        manifest["blocks"] = blocks
    }

    @Test(arguments: hostile.indices)
    func hostileManifestsAreRefusedWithTheirCode(index: Int) throws {
        let (name, edit, code, schemaRefuses) = Self.hostile[index]
        let data = try Data(contentsOf: URL(fileURLWithPath: Samples.root + "/manifests/samples.json"))
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        edit(&object)
        let text = try JSONSerialization.data(withJSONObject: object)
        #expect(try !Self.validator.get().violations(ofJSON: text).isEmpty == schemaRefuses, "\(name)")
        let error = #expect(throws: ManifestError.self, "\(name)") {
            try Manifest.parse(Array(text), path: "hostile.json")
        }
        #expect(error?.code == code, "\(name): \(String(describing: error))")
        #expect(error?.description.hasPrefix("hostile.json: ") == true)
    }

    @Test func duplicateKeysAndExponentIntegers() throws {
        let base = try String(contentsOfFile: Samples.root + "/manifests/samples.json", encoding: .utf8)
        // A repeated key would silently win in most readers; here it is refused.
        let repeated = base.replacingOccurrences(
            of: "\"schema\": \"pbrepo.manifest/v1\",", with: "\"schema\": \"pbrepo.manifest/v1\", \"schema\": \"x\",")
        let error = #expect(throws: ManifestError.self) { try Manifest.parse(Array(repeated.utf8), path: "m.json") }
        #expect(error?.code == .invalidJSON)
        // 3e8 is an integer to JSON Schema, and to the reader.
        let exponent = base.replacingOccurrences(of: "\"bytes\": 2048,", with: "\"bytes\": 2.048e3,")
        #expect(exponent != base)
        #expect(try violations(exponent).isEmpty)
        #expect(try Manifest.parse(Array(exponent.utf8), path: "m.json").blocks[0].bytes == 2048)
    }
}
