import Foundation
import TestSupport
import Testing

/// A batch ingest (issue 12 §1, §2): every PATH is checked before anything is stored; `--keep-going` stores the
/// valid ones and ends with a summary; `--json` has one result per PATH, errors included; several `model.safetensors`
/// are named after their folders.
@Suite struct BatchIngestCommandTests {
    static func models(in store: String) throws -> [String] {
        let list = try CommandRun.run(["list", "--store", store, "--json"])
        let models = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]] ?? []
        return models.compactMap { $0["name"] as? String }.sorted()
    }

    @Test func oneBadPathStoresNothingUnlessKeepGoing() throws {
        let root = Samples.temporaryDirectory()
        let good = [Samples.path("mlp/mlp-base.safetensors"), Samples.path("mlp/mlp-ft-freeze1.safetensors")]
        let bad = Samples.path("hostile/truncated-data.safetensors")
        let refused = try CommandRun.run(["ingest", "--store", root + "/s", good[0], bad, good[1]])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("truncated-data.safetensors") && refused.stderr.contains("nothing stored"))
        #expect(try Self.models(in: root + "/s").isEmpty)

        let kept = try CommandRun.run(["ingest", "--store", root + "/s", good[0], bad, good[1], "--keep-going"])
        #expect(kept.status == 1)
        #expect(kept.stdout.contains("2 added, 0 already stored or repaired, 1 failed: \(bad)"), "\(kept.stdout)")
        #expect(try Self.models(in: root + "/s") == ["mlp-base", "mlp-ft-freeze1"])

        let again = try CommandRun.run(["ingest", "--store", root + "/s", good[0], bad, "--keep-going", "--json"])
        #expect(again.status == 1)
        let results = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [[String: Any]])
        #expect(results.count == 2)
        #expect(results[0]["status"] as? String == "unchanged" && results[0]["path"] as? String == good[0])
        #expect(results[1]["status"] as? String == "failed")
        #expect((results[1]["error"] as? String)?.contains("truncated-data.safetensors") == true, "\(results[1])")
    }

    @Test func filesNamedModelSafetensorsAreNamedAfterTheirFolders() throws {
        let root = Samples.temporaryDirectory()
        let paths = ["tiny-llama-base", "tiny-llama-ft-top"].map {
            Samples.path("transformer/\($0)/model.safetensors")
        }
        let run = try CommandRun.run(["ingest", "--store", root + "/s"] + paths)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try Self.models(in: root + "/s") == ["tiny-llama-base", "tiny-llama-ft-top"])
        for folder in ["a", "b"] {
            try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                atPath: Samples.path("mlp/mlp-base.safetensors"), toPath: root + "/\(folder)/mlp.safetensors")
        }
        let collide = try CommandRun.run([
            "ingest", "--store", root + "/t", root + "/a/mlp.safetensors", root + "/b/mlp.safetensors",
        ])
        #expect(collide.status == 1)
        #expect(collide.stderr.contains("would both be the model \"mlp\""), "\(collide.stderr)")
        #expect(try Self.models(in: root + "/t").isEmpty)
        let named = try CommandRun.run(["ingest", "--name", "x", paths[0], paths[1], "--store", root + "/t"])
        #expect(named.status == 64 && named.stderr.contains("--name names one model"), "\(named.stderr)")
    }
}
