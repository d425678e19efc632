import BlockStore
import Foundation
import PBManifest
import PBRCore
import TensorFiles
import TestSupport
import Testing

/// `report` on the MLP family, against figures computed here from samples/truth.json alone (tensor digests and
/// sizes from Python, and which layers each fine-tune froze).
@Suite(.serialized) struct ReportTests {
    struct Truth {
        /// model → tensor name → (digest, bytes)
        var tensors: [String: [String: (digest: String, bytes: UInt64)]] = [:]
        /// model → layers (`layers.0` ...) frozen from the base
        var frozen: [String: Set<String>] = [:]
    }

    static func truth() -> Truth {
        var truth = Truth()
        for file in Samples.truthFiles where file.path.hasPrefix("mlp/") && file.path.hasSuffix(".safetensors") {
            let model = String(file.path.dropFirst(4).dropLast(12))
            truth.tensors[model] = file.tensors.mapValues { ($0.digest, $0.bytes) }
        }
        let frozen = Samples.truth["frozen_copies"] as? [String: [String: Any]] ?? [:]
        for (path, entry) in frozen where path.hasPrefix("mlp/") && path.hasSuffix(".safetensors") {
            let model = String(path.dropFirst(4).dropLast(12))
            let names = (entry["tensors"] as? [[String: String]] ?? []).compactMap { $0["tensor"] }
            truth.frozen[model] = Set(names.map { String($0.split(separator: ".").prefix(2).joined(separator: ".")) })
        }
        return truth
    }

    @Test func figuresMatchAnIndependentComputation() throws {
        let store = try Store(root: Samples.temporaryDirectory() + "/store")
        for name in SampleModels.mlpSafetensors { _ = try store.ingest(Samples.path("mlp/\(name).safetensors")) }
        let report = try store.reuseReport()
        let truth = Self.truth()
        let models = SampleModels.mlpSafetensors
        func layerBytes(_ model: String, _ layer: String) -> UInt64 {
            truth.tensors[model, default: [:]].filter { $0.key.hasPrefix(layer + ".") }.reduce(0) {
                $0 + $1.value.bytes
            }
        }
        // Which layers two models share: a fine-tune shares its frozen layers with the base, two fine-tunes share the
        // layers both froze (copies of the same base layers).
        func shared(_ a: String, _ b: String) -> Set<String> {
            if a == "mlp-base" { return truth.frozen[b] ?? [] }
            if b == "mlp-base" { return truth.frozen[a] ?? [] }
            return (truth.frozen[a] ?? []).intersection(truth.frozen[b] ?? [])
        }
        var allDigests: [String: UInt64] = [:]
        for model in models {
            let tensors = truth.tensors[model] ?? [:]
            let bytes = tensors.values.reduce(0) { $0 + $1.bytes }
            let others = models.filter { $0 != model }
            let reusedLayers = Set(others.flatMap { shared(model, $0) })
            let reusedBlockBytes = reusedLayers.reduce(0) { $0 + layerBytes(model, $1) }
            let otherDigests = Set(others.flatMap { truth.tensors[$0]?.values.map(\.digest) ?? [] })
            let reusedTensorBytes = tensors.values.filter { otherDigests.contains($0.digest) }.reduce(0) {
                $0 + $1.bytes
            }
            let entry = try #require(report.models.first { $0.name == model })
            #expect(entry.bytes == bytes, "\(model)")
            #expect(entry.blocks == 5, "\(model)")
            #expect(entry.reusedBlockBytes == reusedBlockBytes, "\(model)")
            #expect(entry.reusedTensorBytes == reusedTensorBytes, "\(model)")
            #expect(abs(entry.reuseRatio - Double(reusedBlockBytes) / Double(bytes)) < 1e-12, "\(model)")
            for tensor in tensors.values { allDigests[tensor.digest] = tensor.bytes }
            for other in others {
                let pair = try #require(report.pairs.first { $0.a == model && $0.b == other })
                let expected = shared(model, other).reduce(0) { $0 + layerBytes(model, $1) }
                #expect(pair.sharedBytes == expected, "\(model) → \(other)")
            }
        }
        let logical = models.reduce(0) { total, model in
            total + (truth.tensors[model] ?? [:]).values.reduce(0) { $0 + $1.bytes }
        }
        #expect(report.logicalBytes == logical)
        #expect(report.uniqueTensorBytes == allDigests.values.reduce(0, +))
        #expect(report.pairs.count == 20)
        // Stored bytes are the object files on disk.
        let onDisk = store.objects.allObjects().reduce(0) { $0 + (store.objects.size(of: $1) ?? 0) }
        #expect(report.storedBytes == onDisk)
    }

    @Test func manifestIsDeterministicAndConsistent() throws {
        func export() throws -> (String, Manifest) {
            let store = try Store(root: Samples.temporaryDirectory() + "/store")
            for relative in ["transformer/tiny-llama-base", "transformer/tiny-llama-ft-top", "lora/digits-5-9"] {
                _ = try store.ingest(Samples.path(relative))
            }
            let manifest = try store.manifest()
            return (manifest.json.prettyPrinted(), manifest)
        }
        let (first, manifest) = try export()
        let (second, _) = try export()
        #expect(first == second)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        #expect(object["schema"] as? String == "pbrepo.manifest/v1")
        // Every block a model lists exists, and lists that model; sizes add up to the model's bytes.
        let blocks = Dictionary(uniqueKeysWithValues: manifest.blocks.map { ($0.id, $0) })
        for model in manifest.models {
            #expect(model.blocks.reduce(0) { $0 + (blocks[$1]?.bytes ?? 0) } == model.bytes, "\(model.id)")
            for block in model.blocks { #expect(blocks[block]?.models.contains(model.id) == true) }
        }
        let shared = manifest.blocks.filter { $0.models.count > 1 }
        // tiny-llama-ft-top froze the embeddings and layers 0–2 (truth.json): four blocks shared with the base.
        #expect(shared.count == 4)
        #expect(manifest.blocksCSV.split(separator: "\n").count == manifest.blocks.count + 1)
    }
}
