import Foundation
import Glibc
import PBRCore
import TestSupport
import Testing

/// A model is its whole folder tree (issue 12 §1): every file of every sub-folder is stored, every checkpoint in it
/// partitioned, and assemble rebuilds the tree byte for byte — checked with `diff -r`, not with pbrepo's own digests.
@Suite struct ModelTreeCommandTests {
    /// A diffusers-like pipeline built from the samples: safetensors checkpoints in sub-folders (one with an fp16
    /// variant beside it, whose tensor names repeat the other's), a sharded text encoder with its index, an HDF5
    /// checkpoint, configs, a tokenizer file that links inside the folder, an empty folder, and a `.git` folder.
    static func makePipeline(at path: String, unet: String = "mlp/mlp-base.safetensors") throws {
        let files = FileManager.default
        for folder in ["unet", "text_encoder", "vae", "scheduler", "tokenizer", "feature_extractor/empty", ".git"] {
            try files.createDirectory(atPath: path + "/" + folder, withIntermediateDirectories: true)
        }
        for name in try files.contentsOfDirectory(atPath: Samples.path("transformer/tiny-llama-ft-sharded")) {
            try files.copyItem(
                atPath: Samples.path("transformer/tiny-llama-ft-sharded/" + name),
                toPath: path + "/text_encoder/" + name)
        }
        try files.copyItem(atPath: Samples.path(unet), toPath: path + "/unet/diffusion_pytorch_model.safetensors")
        try files.copyItem(
            atPath: Samples.path("mlp/mlp-ft-freeze2.safetensors"),
            toPath: path + "/unet/diffusion_pytorch_model.fp16.safetensors")
        try files.copyItem(atPath: Samples.path("mlp/mlp-base.weights.h5"), toPath: path + "/vae/vae.weights.h5")
        try #"{"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}"#.write(
            toFile: path + "/model_index.json", atomically: true, encoding: .utf8)
        try #"{"beta_start": 0.00085}"#.write(
            toFile: path + "/scheduler/scheduler_config.json", atomically: true, encoding: .utf8)
        try "a\nb\nc\n".write(toFile: path + "/tokenizer/vocab.txt", atomically: true, encoding: .utf8)
        try files.createSymbolicLink(atPath: path + "/tokenizer/merges.txt", withDestinationPath: "vocab.txt")
        try "ref: refs/heads/main\n".write(toFile: path + "/.git/HEAD", atomically: true, encoding: .utf8)
    }

    static func diff(_ a: String, _ b: String) throws -> CommandRun {
        try CommandRun.run(["-r", "--no-dereference", "-x", ".git", a, b], executable: "/usr/bin/diff")
    }

    @Test func aDiffusersLikeTreeRoundTripsByteForByte() throws {
        let root = Samples.temporaryDirectory()
        let pipeline = root + "/pipelines/sd-base"
        try Self.makePipeline(at: pipeline)
        let ingest = try CommandRun.run(["ingest", "--store", root + "/s", pipeline, "--json"])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        #expect(ingest.stderr.contains("left out of sd-base: .git"), "\(ingest.stderr)")
        let result = try #require(
            (try JSONSerialization.jsonObject(with: Data(ingest.stdout.utf8)) as? [[String: Any]])?.first)
        // 4 text-encoder files, 2 unet, 1 vae, model_index, scheduler config, 2 tokenizer files.
        #expect(result["files"] as? Int == 11, "\(result)")
        #expect(result["checkpoints"] as? Int == 4, "\(result)")

        let show = try CommandRun.run(["show", "--store", root + "/s", "sd-base"])
        #expect(show.status == 0, "\(show.stderr)")
        for block in [
            "text_encoder/model.layers.0", "unet/diffusion_pytorch_model/layers.0",
            "unet/diffusion_pytorch_model.fp16/layers.0", "vae/",
        ] {
            #expect(show.stdout.contains(block), "\(block) in\n\(show.stdout)")
        }

        // inspect and partition read the tree as ingest does.
        let inspect = try CommandRun.run(["inspect", pipeline, "--json"])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let inspected = try #require(
            try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])
        let names = ((inspected["tensors"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
        #expect(names.contains("text_encoder/model.embed_tokens.weight") && names.contains { $0.hasPrefix("vae/") })
        #expect(inspected["format"] as? String == "safetensors+hdf5")
        let partition = try CommandRun.run(["partition", pipeline, "--json"])
        let blocks = try #require(try JSONSerialization.jsonObject(with: Data(partition.stdout.utf8)) as? [String: Any])
        #expect((blocks["blocks"] as? [Any])?.count == (result["blocks"] as? Int), "partition shows ingest's blocks")

        let output = root + "/out/sd-base"
        let assemble = try CommandRun.run(["assemble", "--store", root + "/s", "sd-base", "-o", output])
        #expect(assemble.status == 0, "\(assemble.stderr)")
        let compared = try Self.diff(pipeline, output)
        // merges.txt is a link in the source and a file in the output: diff --no-dereference says so, and nothing else.
        let lines = compared.stdout.split(separator: "\n").filter { !$0.contains("merges.txt") }
        #expect(lines.isEmpty, "\(compared.stdout)\(compared.stderr)")
        #expect(try String(contentsOfFile: output + "/tokenizer/merges.txt", encoding: .utf8) == "a\nb\nc\n")
        #expect(FileSystem.isDirectory(output + "/feature_extractor/empty"))
        #expect(!FileManager.default.fileExists(atPath: output + "/.git"))
        #expect(try Self.diff(pipeline + "/text_encoder", output + "/text_encoder").status == 0)

        // The same tree again from export-blocks, as a client would rebuild it.
        let exported = root + "/export"
        #expect(try CommandRun.run(["export-blocks", "--store", root + "/s", "sd-base", "-o", exported]).status == 0)
        let client = root + "/client/sd-base"
        let fromExport = try CommandRun.run(["assemble", "sd-base", "--from", exported, "-o", client])
        #expect(fromExport.status == 0, "\(fromExport.stderr)")
        #expect(try Self.diff(output, client).status == 0)
    }

    @Test func aFineTunedPipelineStoresOnlyWhatChanged() throws {
        let root = Samples.temporaryDirectory()
        try Self.makePipeline(at: root + "/pipelines/sd-base")
        try Self.makePipeline(at: root + "/pipelines/sd-ft", unet: "mlp/mlp-ft-freeze3.safetensors")
        let ingest = try CommandRun.run([
            "ingest", "--store", root + "/s", root + "/pipelines/sd-base", root + "/pipelines/sd-ft", "--json",
        ])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let results = try #require(try JSONSerialization.jsonObject(with: Data(ingest.stdout.utf8)) as? [[String: Any]])
        let fineTune = try #require(results.last)
        let blocks = try #require(fineTune["blocks"] as? Int)
        // Only the unet's unfrozen layers (freeze3 keeps layers 0–2) differ: its top layer and head.
        #expect(fineTune["reused_blocks"] as? Int == blocks - 2, "\(fineTune)")
        for model in ["sd-base", "sd-ft"] {
            let output = root + "/out/" + model
            #expect(try CommandRun.run(["assemble", "--store", root + "/s", model, "-o", output]).status == 0)
            #expect(try Self.diff(root + "/pipelines/" + model + "/unet", output + "/unet").status == 0)
        }
        #expect(try CommandRun.run(["verify", "--store", root + "/s"]).status == 0)
    }
}
