import Foundation
import PBRCore
import TestSupport
import Testing

/// Hugging Face hub caches (issue 12 §2), built with the layout `huggingface_hub` writes: blobs named by sha256
/// (LFS files) or git-sha1 (the others), snapshots of links into them (relative, one `../` per folder level), refs
/// holding commit hashes. The round trip is checked with `diff -r` against the snapshot.
@Suite struct HuggingFaceCacheCommandTests {
    static func output(_ executable: String, _ arguments: [String]) throws -> String {
        let run = try CommandRun.run(arguments, executable: executable)
        #expect(run.status == 0, "\(executable) \(arguments): \(run.stderr)")
        return String(run.stdout.prefix { !$0.isWhitespace })
    }

    /// Adds a snapshot `commit` of repo `id` made of `files` (path in the repo → source file) to `cache`.
    static func addSnapshot(
        _ id: String, commit: String, refs: [String], files: [(String, String)], cache: String
    ) throws {
        let repository = cache + "/models--" + id.replacingOccurrences(of: "/", with: "--")
        let manager = FileManager.default
        try manager.createDirectory(atPath: repository + "/blobs", withIntermediateDirectories: true)
        for (path, source) in files {
            let isLFS = path.hasSuffix(".safetensors")
            let blob =
                isLFS
                ? try output("/usr/bin/sha256sum", [source]) : try output("/usr/bin/git", ["hash-object", source])
            if !manager.fileExists(atPath: repository + "/blobs/" + blob) {
                try manager.copyItem(atPath: source, toPath: repository + "/blobs/" + blob)
            }
            let link = repository + "/snapshots/" + commit + "/" + path
            try manager.createDirectory(
                atPath: URL(fileURLWithPath: link).deletingLastPathComponent().path, withIntermediateDirectories: true)
            let depth = path.split(separator: "/").count + 1
            try manager.createSymbolicLink(
                atPath: link, withDestinationPath: String(repeating: "../", count: depth) + "blobs/" + blob)
        }
        for ref in refs {
            let file = repository + "/refs/" + ref
            try manager.createDirectory(
                atPath: URL(fileURLWithPath: file).deletingLastPathComponent().path, withIntermediateDirectories: true)
            try commit.write(toFile: file, atomically: true, encoding: .utf8)
        }
    }

    static func listed(_ store: String) throws -> [String: [String: Any]] {
        let list = try CommandRun.run(["list", "--store", store, "--json"])
        let models = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: models.map { ($0["name"] as! String, $0) })
    }

    @Test func aHubCacheRepositoryRoundTripsAndIsNamedByItsRepoID() throws {
        let root = Samples.temporaryDirectory()
        let cache = root + "/hub"
        let base = Samples.path("transformer/tiny-llama-base")
        let card = root + "/README.md"
        try "---\nlicense: mit\n---\n# tiny llama\n".write(toFile: card, atomically: true, encoding: .utf8)
        let onnx = root + "/model.onnx"
        try Data([0x08, 0x07, 0x12, 0x04]).write(to: URL(fileURLWithPath: onnx))
        let mainCommit = String(repeating: "a1", count: 20)
        let prCommit = String(repeating: "b2", count: 20)
        try Self.addSnapshot(
            "acme/tiny-llama", commit: mainCommit, refs: ["main"],
            files: [
                ("model.safetensors", base + "/model.safetensors"), ("config.json", base + "/config.json"),
                ("README.md", card), ("onnx/model.onnx", onnx),
            ], cache: cache)
        try Self.addSnapshot(
            "acme/tiny-llama", commit: prCommit, refs: ["pr/1"],
            files: [
                ("model.safetensors", Samples.path("transformer/tiny-llama-ft-top/model.safetensors")),
                ("config.json", base + "/config.json"), ("README.md", card),
            ], cache: cache)
        let fineTuneCard = root + "/ft-README.md"
        try "---\nbase_model:\n- acme/tiny-llama\nlicense: mit\n---\n".write(
            toFile: fineTuneCard, atomically: true, encoding: .utf8)
        try Self.addSnapshot(
            "someone/tiny-llama-ft", commit: String(repeating: "c3", count: 20), refs: ["main"],
            files: [
                ("model.safetensors", Samples.path("transformer/tiny-llama-ft-top/model.safetensors")),
                ("config.json", base + "/config.json"), ("README.md", fineTuneCard),
            ], cache: cache)

        // The fine-tune first, so that the family's first model is not its base: the card decides.
        let store = root + "/s"
        let fineTune = try CommandRun.run(
            [
                "HF_HUB_CACHE=" + cache, CommandRun.binary, "ingest", "--store", store, "--hf-cache",
                "someone/tiny-llama-ft",
            ],
            executable: "/usr/bin/env")
        #expect(fineTune.status == 0, "\(fineTune.stderr)")
        let repository = cache + "/models--acme--tiny-llama"
        let ingest = try CommandRun.run(["ingest", "--store", store, repository])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        var models = try Self.listed(store)
        #expect(Set(models.keys) == ["acme/tiny-llama", "someone/tiny-llama-ft"])
        #expect(models["acme/tiny-llama"]?["org"] as? String == "acme")
        #expect(models["someone/tiny-llama-ft"]?["family"] as? String == "acme/tiny-llama")
        #expect(models["acme/tiny-llama"]?["family"] as? String == "acme/tiny-llama")

        let output = root + "/out"
        #expect(try CommandRun.run(["assemble", "--store", store, "acme/tiny-llama", "-o", output]).status == 0)
        let compared = try CommandRun.run(
            ["-r", repository + "/snapshots/" + mainCommit, output], executable: "/usr/bin/diff")
        #expect(compared.status == 0, "\(compared.stdout)\(compared.stderr)")

        let exported = root + "/export"
        #expect(
            try CommandRun.run(["export-blocks", "--store", store, "acme/tiny-llama", "-o", exported]).status == 0)
        let recipe =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: exported + "/acme/tiny-llama.recipe.json")))
            as? [String: Any]
        let provenance = recipe?["provenance"] as? [String: Any]
        #expect(provenance?["commit"] as? String == mainCommit && provenance?["revision"] as? String == "main")
        #expect(provenance?["repo"] as? String == "acme/tiny-llama" && provenance?["parent"] == nil)
        let client = root + "/client"
        #expect(try CommandRun.run(["assemble", "acme/tiny-llama", "--from", exported, "-o", client]).status == 0)
        #expect(try CommandRun.run(["-r", output, client], executable: "/usr/bin/diff").status == 0)

        // Every cached revision: main again (unchanged) and pr/1 as acme/tiny-llama@pr-1, whose base is main's.
        let all = try CommandRun.run(["ingest", "--store", store, repository, "--all-revisions", "--json"])
        #expect(all.status == 0, "\(all.stderr)")
        models = try Self.listed(store)
        #expect(models["acme/tiny-llama@pr-1"]?["base"] as? String == "acme/tiny-llama")
        #expect(try CommandRun.run(["verify", "--store", store]).status == 0)
        let missing = try CommandRun.run(
            ["HF_HUB_CACHE=" + cache, CommandRun.binary, "ingest", "--store", store, "--hf-cache", "acme/nothing"],
            executable: "/usr/bin/env")
        #expect(
            missing.status == 1 && missing.stderr.contains("not in the Hugging Face hub cache"), "\(missing.stderr)")

        // scan-cache's estimate, against a store that really holds every revision: the same objects (dedup is
        // exact), and at most the estimated bytes (the store may also take deltas).
        let scan = try CommandRun.run(["scan-cache", cache, "--json"])
        #expect(scan.status == 0, "\(scan.stderr)")
        let estimate = try #require(try JSONSerialization.jsonObject(with: Data(scan.stdout.utf8)) as? [String: Any])
        let repos = (estimate["repos"] as? [[String: Any]])?.map { $0["repo"] as? String }
        #expect(repos == ["acme/tiny-llama", "someone/tiny-llama-ft"])
        let storeBytes = FileSystem.regularFileBytes(under: store + "/objects")
        let estimated = try #require(estimate["stored_bytes"] as? Int)
        #expect(storeBytes <= UInt64(estimated) && storeBytes > UInt64(estimated) / 2, "\(storeBytes) vs \(estimated)")
        let disk = try #require(estimate["disk_bytes"] as? Int)
        let raw = try #require(estimate["raw_bytes"] as? Int)
        #expect(raw > 0 && raw < disk, "\(estimate)")
    }
}
