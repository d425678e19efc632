import BlockStore
import Foundation
import GRDB
import PBRCore
import TestSupport
import Testing

/// Stores sealed by the first sealing build (schema v2: seals computed from Swift's descriptions of the values, which
/// cost a reflection per value) are re-sealed in the second format on their first writable open (migration v3) —
/// but only models whose first seal holds, so that an upgrade never launders damage. The fixture is a real store
/// written by that build (mlp-base and mlp-ft-freeze1 of the samples).
@Suite struct SealUpgradeTests {
    static let fixture = Samples.root + "/Tests/BlockStoreTests/Fixtures/store-with-first-seals"

    static func copyOfFixture() throws -> String {
        let root = Samples.temporaryDirectory() + "/store"
        try FileManager.default.copyItem(atPath: fixture, toPath: root)
        return root
    }

    static func seals(_ root: String) throws -> [String: String] {
        let queue = try DatabaseQueue(path: root + "/index.sqlite3")
        return try queue.read { db in
            Dictionary(
                uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT name, seal FROM model").map {
                    ($0["name"] as String, $0["seal"] as String)
                })
        }
    }

    @Test func aStoreWithFirstSealsIsResealedAndStillRebuildsItsModels() throws {
        let root = try Self.copyOfFixture()
        #expect(try Self.seals(root).values.allSatisfy { !$0.hasPrefix("2:") })
        let store = try Store(root: root, create: false)
        let result = try store.verify()
        #expect(result.isHealthy, "\(result)")
        let upgraded = try Self.seals(root)
        #expect(upgraded.values.allSatisfy { $0.hasPrefix("2:") }, "\(upgraded)")
        for model in ["mlp-base", "mlp-ft-freeze1"] {
            let output = Samples.temporaryDirectory() + "/\(model).safetensors"
            _ = try store.assemble(model, to: output)
            #expect(try FileSystem.read(output) == FileSystem.read(Samples.path("mlp/\(model).safetensors")))
        }
    }

    @Test func aModelWhoseFirstSealFailsStaysDamagedAfterTheUpgrade() throws {
        let root = try Self.copyOfFixture()
        // A value changed behind pbrepo's back before the upgrade, as a flipped byte would.
        let queue = try DatabaseQueue(path: root + "/index.sqlite3")
        try queue.write { db in
            try db.execute(
                sql: """
                    UPDATE model_tensor SET bytes = bytes + 1 WHERE rowid = (SELECT MIN(t.rowid) FROM model_tensor t
                        JOIN model m ON m.id = t.model_id WHERE m.name = 'mlp-ft-freeze1')
                    """)
        }
        try queue.close()
        let store = try Store(root: root, create: false)
        let result = try store.verify()
        #expect(result.incompleteModels == ["mlp-ft-freeze1"], "\(result)")
        #expect(result.indexProblems.contains { $0.contains("mlp-ft-freeze1") && $0.contains("seal") }, "\(result)")
        let seals = try Self.seals(root)
        #expect(seals["mlp-base"]?.hasPrefix("2:") == true && seals["mlp-ft-freeze1"]?.hasPrefix("2:") == false)
    }
}
