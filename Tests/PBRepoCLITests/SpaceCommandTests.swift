import Foundation
import Glibc
import PBRCore
import TestSupport
import Testing

/// `du`, `rm` of several models and the `--dry-run`s (issue 12 §1, §4): what they predict is checked against what
/// `gc` then really deletes and against the bytes the objects directory loses, measured with stat.
@Suite struct SpaceCommandTests {
    static func json(_ run: CommandRun) throws -> [String: Any] {
        #expect(run.status == 0, "\(run.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
    }

    @Test func duRmAndGcAgreeWithWhatGcReallyFrees() throws {
        let root = Samples.temporaryDirectory()
        let store = root + "/s"
        let ingest = try CommandRun.run(
            ["ingest", "--store", store, "--family", "mlp"]
                + ["base", "ft-freeze1", "ft-freeze3"].map { Samples.path("mlp/mlp-\($0).safetensors") })
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let usage = try Self.json(try CommandRun.run(["du", "--store", store, "--json"]))
        let models = try #require(usage["models"] as? [[String: Any]])
        #expect(models.map { $0["model"] as? String } == ["mlp-base", "mlp-ft-freeze1", "mlp-ft-freeze3"])
        #expect(usage["garbage_bytes"] as? Int == 0)
        let unique = Dictionary(
            uniqueKeysWithValues: models.map { ($0["model"] as! String, $0["unique_bytes"] as! Int) })

        // Removing the base keeps what the fine-tunes' deltas need: it frees at most its unique bytes.
        let unknown = try CommandRun.run(["rm", "--store", store, "mlp-ft-freeze1", "no-such-model"])
        #expect(
            unknown.status == 1 && unknown.stderr.contains("no-such-model")
                && unknown.stderr.contains("nothing removed"))
        let dry = try Self.json(
            try CommandRun.run(["rm", "--store", store, "mlp-ft-freeze1", "mlp-ft-freeze3", "--dry-run", "--json"]))
        let list = try CommandRun.run(["list", "--store", store])
        #expect(list.stdout.contains("mlp-ft-freeze1"), "a dry run removed something: \(list.stdout)")
        let before = FileSystem.regularFileBytes(under: store + "/objects")
        let removed = try Self.json(
            try CommandRun.run(["rm", "--store", store, "mlp-ft-freeze1", "mlp-ft-freeze3", "--json"]))
        #expect(removed["gc_bytes"] as? Int == dry["gc_bytes"] as? Int)
        let gcDry = try Self.json(try CommandRun.run(["gc", "--store", store, "--dry-run", "--json"]))
        #expect(gcDry["bytes_freed"] as? Int == dry["gc_bytes"] as? Int)
        #expect(FileSystem.regularFileBytes(under: store + "/objects") == before, "gc --dry-run deleted something")
        let gc = try Self.json(try CommandRun.run(["gc", "--store", store, "--json"]))
        let freed = try #require(gc["bytes_freed"] as? Int)
        #expect(freed == dry["gc_bytes"] as? Int)
        #expect(UInt64(freed) == before - FileSystem.regularFileBytes(under: store + "/objects"))
        // With two fine-tunes gone, what they held alone is what went (their shared blocks too, since nothing else
        // needs them): at least the sum of their unique bytes.
        #expect(freed >= unique["mlp-ft-freeze1"]! + unique["mlp-ft-freeze3"]!)
        #expect(freed > 0)
        // And a single model's unique bytes are exactly what rm + gc of it frees.
        let lastUsage = try Self.json(try CommandRun.run(["du", "--store", store, "--json"]))
        let baseUnique = try #require((lastUsage["models"] as? [[String: Any]])?.first?["unique_bytes"] as? Int)
        let before2 = FileSystem.regularFileBytes(under: store + "/objects")
        _ = try Self.json(try CommandRun.run(["rm", "--store", store, "mlp-base", "--json"]))
        _ = try Self.json(try CommandRun.run(["gc", "--store", store, "--json"]))
        #expect(UInt64(baseUnique) == before2 - FileSystem.regularFileBytes(under: store + "/objects"))
        #expect(FileSystem.regularFileBytes(under: store + "/objects") == 0)
    }
}
