import Foundation
import ParameterBlocks
import TensorFiles
import TestSupport
import Testing

@Suite struct DefaultRuleTests {
    func blocks(_ names: [String], separator: Character = ".") -> [String: [String]] {
        let partition = Partition.make(names: names, separator: separator)
        return Dictionary(uniqueKeysWithValues: partition.blocks.map { ($0.name, $0.tensors.map { names[$0] }) })
    }

    @Test func transformerLayersAreOneBlockEach() {
        let names = [
            "lm_head.weight", "model.embed_tokens.weight", "model.norm.weight",
            "model.layers.10.mlp.up_proj.weight", "model.layers.2.self_attn.q_proj.weight",
            "model.layers.2.input_layernorm.weight", "model.layers.10.input_layernorm.weight",
        ]
        let partition = Partition.make(names: names, separator: ".")
        #expect(
            partition.blocks.map(\.name) == [
                "model.embed_tokens", "model.layers.2", "model.layers.10", "model.norm", "lm_head",
            ])
        #expect(partition.blocks.map(\.kind) == [.embedding, .layer, .layer, .norm, .head])
        #expect(
            blocks(names)["model.layers.2"] == [
                "model.layers.2.input_layernorm.weight", "model.layers.2.self_attn.q_proj.weight",
            ])
    }

    @Test(arguments: [
        ("transformer.h.7.attn.c_attn.weight", "transformer.h.7"),
        ("transformer.wte.weight", "transformer.wte"),
        ("transformer.ln_f.bias", "transformer.ln_f"),
        ("bert.encoder.layer.3.output.dense.weight", "bert.encoder.layer.3"),
        ("bert.embeddings.LayerNorm.weight", "bert.embeddings"),
        ("layer2.1.bn1.running_mean", "layer2.1"),
        ("layer2.0.downsample.1.weight", "layer2.0"),
        ("features.4.conv.0.0.weight", "features.4"),
        ("features.0.0.weight", "features.0"),
        ("features.18.1.bias", "features.18"),
        ("blocks.0.0.bn1.weight", "blocks.0.0"),
        ("blocks.3.2.conv_pw.weight", "blocks.3.2"),
        ("encoder.block.5.layer.1.DenseReluDense.wi.weight", "encoder.block.5"),
        ("Mixed_5b.branch1x1.conv.weight", "Mixed_5b"),
        ("conv1.weight", "conv1"),
        ("fc.bias", "fc"),
        ("cls_token", "cls_token"),
        ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", "base_model.model.model.layers.0"),
    ])
    func familiesFromTheNotes(name: String, block: String) {
        // Context so that rule 2 sees the containers a real model has.
        let context = ["transformer.h.0.ln_1.weight", "bert.encoder.layer.0.output.dense.bias", "features.0.0.weight"]
        let partition = Partition.make(names: [name] + context, separator: ".")
        #expect(partition.blocks.first { $0.tensors.contains(0) }?.name == block)
    }

    @Test func loraTensorsOfOneLayerFormOneAdapterBlock() {
        let names = (0..<2).flatMap { layer in
            ["q_proj", "v_proj"].flatMap { target in
                ["lora_A", "lora_B"].map { "base_model.model.model.layers.\(layer).self_attn.\(target).\($0).weight" }
            }
        }
        let partition = Partition.make(names: names, separator: ".")
        #expect(partition.blocks.count == 2)
        #expect(partition.blocks.allSatisfy { $0.kind == .adapter && $0.tensors.count == 4 })
    }

    @Test func rulesOverrideTheDefault() throws {
        let rules = try PartitionRules(rules: [
            .init(match: #"^model\.layers\.(\d+)\.mlp\."#, block: "mlp.$1", kind: .layer),
            .init(match: #"^(lm_head|model\.norm)\."#, block: "output", kind: .head),
        ])
        let names = [
            "model.layers.0.mlp.up_proj.weight", "model.layers.0.self_attn.q_proj.weight", "lm_head.weight",
            "model.norm.weight",
        ]
        let result = Dictionary(
            uniqueKeysWithValues: Partition.make(names: names, separator: ".", rules: rules).blocks.map {
                ($0.name, $0)
            })
        #expect(result["mlp.0"]?.tensors == [0])
        #expect(result["model.layers.0"]?.tensors == [1])
        #expect(result["output"]?.tensors.sorted() == [2, 3])
        #expect(result["output"]?.kind == .head)
        let bad = #expect(throws: PartitionError.self) { try PartitionRules(rules: [.init(match: "([", block: "x")]) }
        #expect(bad?.code == .invalidRule && bad?.rule == 0)
    }

    /// The rules file format of docs/blocks.md: capture groups, kinds, and every way a file can be wrong.
    @Test func rulesFilesAreReadAndRefusedWithTheirCode() throws {
        try Samples.withTemporaryDirectory { directory in
            let path = directory + "/rules.json"
            try
                #"{"rules": [{"match": "^model\\.layers\\.(\\d+)\\.", "block": "layer.$1"}, {"match": "^lm_head\\.", "block": "head", "kind": "head"}]}"#
                .write(toFile: path, atomically: true, encoding: .utf8)
            let rules = try PartitionRules.load(path)
            #expect(rules.rules.count == 2 && rules.rules[1].kind == .head)
            let blocks = Partition.make(
                names: ["model.layers.12.mlp.weight", "lm_head.weight"], separator: ".", rules: rules
            ).blocks
            #expect(Set(blocks.map(\.name)) == ["layer.12", "head"])
            #expect(rules.source.contains("layer.$1"))
            let cases: [(String, PartitionError.Code, Int?)] = [
                (#"{"rules": [{"match": "x"}]}"#, .invalidRule, 0),
                (
                    #"{"rules": [{"match": "x", "block": "b"}, {"match": "y", "block": "c", "kind": "bogus"}]}"#,
                    .invalidRule, 1
                ),
                (#"{"rules": [{"match": "(", "block": "b"}]}"#, .invalidRule, 0),
                (#"{"rule": []}"#, .invalidRule, nil),
                (#"{"rules": [}"#, .invalidJSON, nil),
            ]
            for (text, code, rule) in cases {
                try text.write(toFile: path, atomically: true, encoding: .utf8)
                let error = #expect(throws: PartitionError.self, "\(text)") { try PartitionRules.load(path) }
                #expect(error?.code == code && error?.rule == rule, "\(text): \(String(describing: error))")
                #expect(error?.path == path)
            }
            let missing = #expect(throws: PartitionError.self) { try PartitionRules.load(directory + "/none.json") }
            #expect(missing?.code == .unreadable)
        }
    }

    @Test func everyTensorIsInExactlyOneBlock() {
        let names = ["a.0.w", "a.1.w", "b.w", "c", "a.0.x.1.y", "d.e.f"]
        let all = Partition.make(names: names, separator: ".").blocks.flatMap(\.tensors)
        #expect(all.sorted() == Array(names.indices))
    }
}

@Suite struct SampleBlockTests {
    func report(_ relative: String) throws -> PartitionReport { try PartitionReport.run(path: Samples.path(relative)) }

    @Test func transformerLayersAreOneBlockEachAndFrozenOnesAreShared() throws {
        let base = try report("transformer/tiny-llama-base")
        #expect(
            base.blocks.map(\.block.name) == ["model.embed_tokens"] + (0..<4).map { "model.layers.\($0)" } + [
                "model.norm", "lm_head",
            ])
        #expect(base.blocks.filter { $0.block.kind == .layer }.allSatisfy { $0.block.tensors.count == 9 })
        let tuned = try report("transformer/tiny-llama-ft-sharded")
        let shared = Set(base.blocks.map(\.digest)).intersection(tuned.blocks.map(\.digest))
        // Embeddings and layers 0–1 were frozen (truth.json): exactly those three blocks are shared.
        let sharedNames = base.blocks.filter { shared.contains($0.digest) }.map(\.block.name)
        #expect(sharedNames == ["model.embed_tokens", "model.layers.0", "model.layers.1"])
    }

    @Test func kerasFilesPartitionByLayerAndShareFrozenLayersAcrossScopes() throws {
        for suffix in [".h5", ".weights.h5"] {
            let base = try report("mlp/mlp-base" + suffix)
            let tuned = try report("mlp/mlp-ft-freeze2" + suffix)
            let layers = tuned.blocks.filter { $0.block.kind == .layer }
            #expect(layers.count == 5, "\(suffix)")
            #expect(layers.allSatisfy { $0.block.tensors.count == 2 })
            // Different scope names (sequential_2/dense_10 vs sequential/dense), same content for the 2 frozen layers.
            let shared = Set(base.blocks.map(\.digest)).intersection(tuned.blocks.map(\.digest))
            #expect(shared.count == 2, "\(suffix)")
        }
        let legacy = try report("mlp/mlp-base.h5")
        #expect(legacy.blocks.last?.block.kind == .optimizer)
    }

    @Test func safetensorsAndKerasBlocksAgreeWhereBytesAgree() throws {
        // Biases are stored identically in both layouts; kernels are transposed in Keras, so blocks differ.
        let torch = try report("mlp/mlp-base.safetensors")
        let keras = try report("mlp/mlp-base.weights.h5")
        #expect(torch.blocks.map(\.bytes).sorted() == keras.blocks.map(\.bytes).sorted())
    }
}
