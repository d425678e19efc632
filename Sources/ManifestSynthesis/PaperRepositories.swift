import Foundation
package import PBManifest
import ParameterBlocks
import XXHash

/// Paper-scale model repositories derived from architecture tensor tables (names and shapes of the learnable
/// parameters, as torchvision and Hugging Face name them), partitioned by the same partitioner as `ingest`, with
/// fine-tunes that share their frozen lower blocks. No weights exist: block ids are digests of
/// "<family>/<lineage>/<block name>", so two models share an id exactly when they share the block.
package enum PaperRepositories {
    package static let names = ["paper-cnn60", "llama2-20"]

    struct Tensor {
        var name: String
        var shape: [UInt64]
    }

    struct Architecture {
        var name: String
        var tensors: [Tensor]
        var bytesPerElement: UInt64
        var rules: PartitionRules?
    }

    /// One model of the repository: its architecture, the lineage its unfrozen blocks belong to, and the lineage
    /// (with how many leading blocks) its frozen blocks come from.
    struct Variant {
        var id: String
        var architecture: Architecture
        var lineage: String
        var frozen: (lineage: String, blocks: Int)?
    }

    /// Builds a repository's manifest.
    package static func manifest(named name: String) throws(SynthesisError) -> Manifest {
        let variants: [Variant]
        let note: String
        switch name {
        case "paper-cnn60":
            variants = cnnVariants()
            note =
                "Derived from architecture tensor tables (torchvision ResNet-18, MobileNet-V2, Inception-v3 learnable parameters, fp32, 5-class heads), partitioned by pbrepo's partitioner; two-stage fine-tuning as in Section V-A: per base, 5 fully fine-tuned models and 3 children of each that freeze the lower blocks (Inception-v3 13 of 18 blocks, 36.8 % of bytes; ResNet-18 7 of 10, 24.9 %; MobileNet-V2 16 of 20, 31.6 %). No checkpoint was ingested."
        case "llama2-20":
            variants = llamaVariants()
            note =
                "Derived from the Llama-2-7B and Llama-2-13B configs (fp16), partitioned by pbrepo's partitioner; 10 fine-tunes each, freezing the embedding and the first 28 (7B) or 35 (13B) decoder layers as in Section V-E. No checkpoint was ingested."
        default:
            throw SynthesisError(
                .unknownRepository, "unknown repository \"\(name)\" (known: \(names.joined(separator: ", ")))")
        }
        var blocks: [Manifest.Block] = []
        var blockIndex: [String: Int] = [:]
        var models: [Manifest.Model] = []
        for variant in variants {
            let architecture = variant.architecture
            let partition = Partition.make(
                names: architecture.tensors.map(\.name), separator: ".", rules: architecture.rules)
            var ids: [String] = []
            var total: UInt64 = 0
            for (position, block) in partition.blocks.enumerated() {
                let lineage =
                    variant.frozen.map { position < $0.blocks ? $0.lineage : variant.lineage } ?? variant.lineage
                let id = xxh3_128(Array("\(architecture.name)/\(lineage)/\(block.name)".utf8)).description
                let bytes = block.tensors.reduce(0) { sum, index in
                    sum + architecture.tensors[index].shape.reduce(architecture.bytesPerElement, *)
                }
                if let existing = blockIndex[id] {
                    blocks[existing].models.append(variant.id)
                } else {
                    blockIndex[id] = blocks.count
                    blocks.append(
                        Manifest.Block(
                            id: id, bytes: bytes, storedBytes: bytes, kind: block.kind.rawValue, position: position,
                            tensors: block.tensors.count, models: [variant.id]))
                }
                ids.append(id)
                total += bytes
            }
            models.append(Manifest.Model(id: variant.id, family: architecture.name, blocks: ids, bytes: total))
        }
        return Manifest(blocks: blocks, models: models, provenance: .init(derivation: note, models: []))
    }

    // MARK: - CNNs

    static func cnnVariants() -> [Variant] {
        // Frozen lower blocks per child, at block granularity as close as it gets to the paper's 33.41 % of bytes
        // for Inception-v3 (13 blocks: 36.8 %), and to about a third for the others (ResNet-18 7 blocks: 24.9 %,
        // MobileNet-V2 16 blocks: 31.6 %).
        let bases: [(Architecture, Int)] = [(inceptionV3(), 13), (resnet18(), 7), (mobilenetV2(), 16)]
        var variants: [Variant] = []
        for (architecture, frozen) in bases {
            for parent in 0..<5 {
                let parentLineage = "stage1-\(parent)"
                variants.append(
                    Variant(
                        id: "\(architecture.name)-\(parentLineage)", architecture: architecture, lineage: parentLineage,
                        frozen: nil))
                for child in 0..<3 {
                    let lineage = "stage2-\(parent)-\(child)"
                    variants.append(
                        Variant(
                            id: "\(architecture.name)-\(lineage)", architecture: architecture, lineage: lineage,
                            frozen: (parentLineage, frozen)))
                }
            }
        }
        return variants
    }

    /// Conv weight plus BatchNorm weight and bias (learnable parameters only).
    static func convBN(
        _ prefix: String, _ input: UInt64, _ output: UInt64, _ kh: UInt64, _ kw: UInt64, bnSuffix: String = "bn",
        convName: String = "conv"
    ) -> [Tensor] {
        [
            Tensor(name: "\(prefix).\(convName).weight", shape: [output, input, kh, kw]),
            Tensor(name: "\(prefix).\(bnSuffix).weight", shape: [output]),
            Tensor(name: "\(prefix).\(bnSuffix).bias", shape: [output]),
        ]
    }

    static func resnet18(classes: UInt64 = 5) -> Architecture {
        var tensors = [
            Tensor(name: "conv1.weight", shape: [64, 3, 7, 7]), Tensor(name: "bn1.weight", shape: [64]),
            Tensor(name: "bn1.bias", shape: [64]),
        ]
        var input: UInt64 = 64
        for (stage, width) in [UInt64(64), 128, 256, 512].enumerated() {
            for block in 0..<2 {
                let prefix = "layer\(stage + 1).\(block)"
                let blockInput = block == 0 ? input : width
                tensors += [
                    Tensor(name: "\(prefix).conv1.weight", shape: [width, blockInput, 3, 3]),
                    Tensor(name: "\(prefix).bn1.weight", shape: [width]),
                    Tensor(name: "\(prefix).bn1.bias", shape: [width]),
                    Tensor(name: "\(prefix).conv2.weight", shape: [width, width, 3, 3]),
                    Tensor(name: "\(prefix).bn2.weight", shape: [width]),
                    Tensor(name: "\(prefix).bn2.bias", shape: [width]),
                ]
                if block == 0 && stage > 0 {
                    tensors += [
                        Tensor(name: "\(prefix).downsample.0.weight", shape: [width, blockInput, 1, 1]),
                        Tensor(name: "\(prefix).downsample.1.weight", shape: [width]),
                        Tensor(name: "\(prefix).downsample.1.bias", shape: [width]),
                    ]
                }
            }
            input = width
        }
        tensors += [Tensor(name: "fc.weight", shape: [classes, 512]), Tensor(name: "fc.bias", shape: [classes])]
        let rules = try? PartitionRules(rules: [.init(match: #"^(conv1|bn1)\."#, block: "stem", kind: .embedding)])
        return Architecture(name: "resnet18", tensors: tensors, bytesPerElement: 4, rules: rules)
    }

    static func mobilenetV2(classes: UInt64 = 5) -> Architecture {
        var tensors = [
            Tensor(name: "features.0.0.weight", shape: [32, 3, 3, 3]), Tensor(name: "features.0.1.weight", shape: [32]),
            Tensor(name: "features.0.1.bias", shape: [32]),
        ]
        var input: UInt64 = 32
        var index = 1
        for (expansion, output, repeats, _) in [
            (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
        ] as [(UInt64, UInt64, Int, Int)] {
            for _ in 0..<repeats {
                let prefix = "features.\(index).conv"
                let hidden = input * expansion
                if expansion == 1 {
                    tensors += [
                        Tensor(name: "\(prefix).0.0.weight", shape: [hidden, 1, 3, 3]),
                        Tensor(name: "\(prefix).0.1.weight", shape: [hidden]),
                        Tensor(name: "\(prefix).0.1.bias", shape: [hidden]),
                        Tensor(name: "\(prefix).1.weight", shape: [output, hidden, 1, 1]),
                        Tensor(name: "\(prefix).2.weight", shape: [output]),
                        Tensor(name: "\(prefix).2.bias", shape: [output]),
                    ]
                } else {
                    tensors += [
                        Tensor(name: "\(prefix).0.0.weight", shape: [hidden, input, 1, 1]),
                        Tensor(name: "\(prefix).0.1.weight", shape: [hidden]),
                        Tensor(name: "\(prefix).0.1.bias", shape: [hidden]),
                        Tensor(name: "\(prefix).1.0.weight", shape: [hidden, 1, 3, 3]),
                        Tensor(name: "\(prefix).1.1.weight", shape: [hidden]),
                        Tensor(name: "\(prefix).1.1.bias", shape: [hidden]),
                        Tensor(name: "\(prefix).2.weight", shape: [output, hidden, 1, 1]),
                        Tensor(name: "\(prefix).3.weight", shape: [output]),
                        Tensor(name: "\(prefix).3.bias", shape: [output]),
                    ]
                }
                input = output
                index += 1
            }
        }
        tensors += [
            Tensor(name: "features.18.0.weight", shape: [1280, 320, 1, 1]),
            Tensor(name: "features.18.1.weight", shape: [1280]), Tensor(name: "features.18.1.bias", shape: [1280]),
            Tensor(name: "classifier.1.weight", shape: [classes, 1280]),
            Tensor(name: "classifier.1.bias", shape: [classes]),
        ]
        return Architecture(name: "mobilenet_v2", tensors: tensors, bytesPerElement: 4, rules: nil)
    }

    static func inceptionV3(classes: UInt64 = 5) -> Architecture {
        var tensors: [Tensor] = []
        func basic(_ name: String, _ input: UInt64, _ output: UInt64, _ kh: UInt64, _ kw: UInt64) {
            tensors += convBN(name, input, output, kh, kw)
        }
        basic("Conv2d_1a_3x3", 3, 32, 3, 3)
        basic("Conv2d_2a_3x3", 32, 32, 3, 3)
        basic("Conv2d_2b_3x3", 32, 64, 3, 3)
        basic("Conv2d_3b_1x1", 64, 80, 1, 1)
        basic("Conv2d_4a_3x3", 80, 192, 3, 3)
        func inceptionA(_ name: String, _ input: UInt64, _ pool: UInt64) {
            basic("\(name).branch1x1", input, 64, 1, 1)
            basic("\(name).branch5x5_1", input, 48, 1, 1)
            basic("\(name).branch5x5_2", 48, 64, 5, 5)
            basic("\(name).branch3x3dbl_1", input, 64, 1, 1)
            basic("\(name).branch3x3dbl_2", 64, 96, 3, 3)
            basic("\(name).branch3x3dbl_3", 96, 96, 3, 3)
            basic("\(name).branch_pool", input, pool, 1, 1)
        }
        inceptionA("Mixed_5b", 192, 32)
        inceptionA("Mixed_5c", 256, 64)
        inceptionA("Mixed_5d", 288, 64)
        basic("Mixed_6a.branch3x3", 288, 384, 3, 3)
        basic("Mixed_6a.branch3x3dbl_1", 288, 64, 1, 1)
        basic("Mixed_6a.branch3x3dbl_2", 64, 96, 3, 3)
        basic("Mixed_6a.branch3x3dbl_3", 96, 96, 3, 3)
        func inceptionC(_ name: String, _ c7: UInt64) {
            basic("\(name).branch1x1", 768, 192, 1, 1)
            basic("\(name).branch7x7_1", 768, c7, 1, 1)
            basic("\(name).branch7x7_2", c7, c7, 1, 7)
            basic("\(name).branch7x7_3", c7, 192, 7, 1)
            basic("\(name).branch7x7dbl_1", 768, c7, 1, 1)
            basic("\(name).branch7x7dbl_2", c7, c7, 7, 1)
            basic("\(name).branch7x7dbl_3", c7, c7, 1, 7)
            basic("\(name).branch7x7dbl_4", c7, c7, 7, 1)
            basic("\(name).branch7x7dbl_5", c7, 192, 1, 7)
            basic("\(name).branch_pool", 768, 192, 1, 1)
        }
        inceptionC("Mixed_6b", 128)
        inceptionC("Mixed_6c", 160)
        inceptionC("Mixed_6d", 160)
        inceptionC("Mixed_6e", 192)
        basic("AuxLogits.conv0", 768, 128, 1, 1)
        basic("AuxLogits.conv1", 128, 768, 5, 5)
        tensors += [
            Tensor(name: "AuxLogits.fc.weight", shape: [classes, 768]),
            Tensor(name: "AuxLogits.fc.bias", shape: [classes]),
        ]
        basic("Mixed_7a.branch3x3_1", 768, 192, 1, 1)
        basic("Mixed_7a.branch3x3_2", 192, 320, 3, 3)
        basic("Mixed_7a.branch7x7x3_1", 768, 192, 1, 1)
        basic("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7)
        basic("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1)
        basic("Mixed_7a.branch7x7x3_4", 192, 192, 3, 3)
        func inceptionE(_ name: String, _ input: UInt64) {
            basic("\(name).branch1x1", input, 320, 1, 1)
            basic("\(name).branch3x3_1", input, 384, 1, 1)
            basic("\(name).branch3x3_2a", 384, 384, 1, 3)
            basic("\(name).branch3x3_2b", 384, 384, 3, 1)
            basic("\(name).branch3x3dbl_1", input, 448, 1, 1)
            basic("\(name).branch3x3dbl_2", 448, 384, 3, 3)
            basic("\(name).branch3x3dbl_3a", 384, 384, 1, 3)
            basic("\(name).branch3x3dbl_3b", 384, 384, 3, 1)
            basic("\(name).branch_pool", input, 192, 1, 1)
        }
        inceptionE("Mixed_7b", 1280)
        inceptionE("Mixed_7c", 2048)
        tensors += [Tensor(name: "fc.weight", shape: [classes, 2048]), Tensor(name: "fc.bias", shape: [classes])]
        // Keep the module order of the network (AuxLogits sits between Mixed_6e and Mixed_7a) instead of the
        // default rule's embeddings-layers-head ranking, which would put AuxLogits last.
        let order = [
            "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3", "Mixed_5b",
            "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "AuxLogits",
            "Mixed_7a", "Mixed_7b", "Mixed_7c", "fc",
        ]
        let rules = try? PartitionRules(
            rules: order.enumerated().map { index, module in
                .init(
                    match: "^\(module)\\.", block: String(format: "%02d.%@", index, module),
                    kind: module == "fc" || module == "AuxLogits" ? .head : .layer)
            })
        return Architecture(name: "inception_v3", tensors: tensors, bytesPerElement: 4, rules: rules)
    }

    // MARK: - Llama 2

    static func llama(name: String, hidden: UInt64, intermediate: UInt64, layers: Int, vocab: UInt64 = 32000)
        -> Architecture
    {
        var tensors = [Tensor(name: "model.embed_tokens.weight", shape: [vocab, hidden])]
        for layer in 0..<layers {
            let prefix = "model.layers.\(layer)"
            for kind in ["q", "k", "v", "o"] {
                tensors.append(Tensor(name: "\(prefix).self_attn.\(kind)_proj.weight", shape: [hidden, hidden]))
            }
            tensors += [
                Tensor(name: "\(prefix).mlp.gate_proj.weight", shape: [intermediate, hidden]),
                Tensor(name: "\(prefix).mlp.up_proj.weight", shape: [intermediate, hidden]),
                Tensor(name: "\(prefix).mlp.down_proj.weight", shape: [hidden, intermediate]),
                Tensor(name: "\(prefix).input_layernorm.weight", shape: [hidden]),
                Tensor(name: "\(prefix).post_attention_layernorm.weight", shape: [hidden]),
            ]
        }
        tensors += [
            Tensor(name: "model.norm.weight", shape: [hidden]), Tensor(name: "lm_head.weight", shape: [vocab, hidden]),
        ]
        return Architecture(name: name, tensors: tensors, bytesPerElement: 2, rules: nil)
    }

    static func llamaVariants() -> [Variant] {
        let bases: [(Architecture, Int)] = [
            (llama(name: "llama2-7b", hidden: 4096, intermediate: 11008, layers: 32), 1 + 28),
            (llama(name: "llama2-13b", hidden: 5120, intermediate: 13824, layers: 40), 1 + 35),
        ]
        return bases.flatMap { architecture, frozen in
            (0..<10).map { index in
                Variant(
                    id: "\(architecture.name)-ft\(index)", architecture: architecture, lineage: "ft\(index)",
                    frozen: ("pretrained", frozen))
            }
        }
    }
}
