import PBRCore
package import TensorFiles

/// What a parameter block is in its model.
package enum BlockKind: String, Sendable, Codable, CaseIterable {
    case embedding, layer, norm, head, adapter, optimizer, other
}

/// One parameter block (PB) of a model: an architectural unit whose tensors travel and are stored together.
package struct ParameterBlock: Sendable, Equatable {
    /// The block's name in this model (`model.layers.3`, `lm_head`, `dense_5`). Identity across models is the
    /// block's content digest, never this name.
    package var name: String
    package var kind: BlockKind
    /// Indices into the checkpoint's tensor list, in the block's canonical order (see `Partition`).
    package var tensors: [Int]
}

/// A model split into parameter blocks, in model order.
///
/// The default rule (docs/blocks.md) works on names alone:
/// 1. A component that is all digits at position ≥ 1 marks a repeated unit; the block is the name up to it,
///    stretched over digit components that follow directly: `model.layers.12.mlp.up_proj.weight` → `model.layers.12`,
///    `blocks.3.2.conv.weight` → `blocks.3.2`, `layer2.1.bn1.bias` → `layer2.1`.
/// 2. Any other tensor belongs to the longest prefix it shares with a container of rule 1 plus one component
///    (`model.embed_tokens`, `model.norm`, `transformer.ln_f`), or else to its first component (`lm_head`, `conv1`,
///    `Mixed_5b`, `fc`); a one-component name is its own block.
/// 3. Keras files: one block per Keras layer (legacy `layer_names` or Keras 3 `layers/<x>/vars`), in model order;
///    the optimizer's state is one block of kind `optimizer`.
/// 4. A rules file, when given, decides first for every name it matches.
///
/// Within a block, tensors are ordered by their name relative to the block (byte-wise), or by Keras's weight order, so
/// that the same unit of two models lists its tensors in the same order.
package struct Partition: Sendable, Equatable {
    package var blocks: [ParameterBlock]

    /// Partitions a checkpoint's tensors (as listed by `Checkpoint.tensors()`).
    package static func make(
        _ checkpoint: Checkpoint, tensors: [TensorDescriptor], rules: PartitionRules? = nil
    ) -> Partition {
        let names = tensors.map(\.name)
        if case .hdf5(let file) = checkpoint {
            if let keras = KerasLayout.detect(file) { return make(names: names, keras: keras, rules: rules) }
            return make(names: names, separator: "/", rules: rules)
        }
        return make(names: names, separator: ".", rules: rules)
    }

    /// Partitions dotted (safetensors) or slashed (HDF5) names with the default rule and the user's rules.
    package static func make(names: [String], separator: Character, rules: PartitionRules? = nil) -> Partition {
        var assignments = [(block: String, kind: BlockKind?)](repeating: ("", nil), count: names.count)
        var free: [Int] = []
        for (index, name) in names.enumerated() {
            if let ruled = rules?.block(for: name) {
                assignments[index] = (ruled.name, ruled.kind)
            } else {
                free.append(index)
            }
        }
        let split = names.map { $0.split(separator: separator, omittingEmptySubsequences: false).map(String.init) }
        var containers = Set<[String]>()
        for index in free {
            if let (container, _) = containerKey(split[index]) { containers.insert(container) }
        }
        let sep = String(separator)
        for index in free {
            let components = split[index]
            if let (_, key) = containerKey(components) {
                assignments[index] = (key.joined(separator: sep), nil)
            } else if components.count == 1 {
                assignments[index] = (components[0], nil)
            } else {
                let shared = containers.map { commonPrefixLength($0, components) }.max() ?? 0
                let length = min(components.count, shared + 1)
                assignments[index] = (components[0..<max(1, length)].joined(separator: sep), nil)
            }
        }
        return group(names: names, assignments: assignments, separator: sep, containers: containers)
    }

    /// Keras: a block per layer with weights, tensors in Keras's weight order; other datasets by the default rule.
    static func make(names: [String], keras: KerasLayout, rules: PartitionRules?) -> Partition {
        let position = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        var claimed = Set<Int>()
        var blocks: [ParameterBlock] = []
        var ruled: [(name: String, kind: BlockKind?, tensor: Int)] = []
        for (index, name) in names.enumerated() {
            if let rule = rules?.block(for: name) {
                ruled.append((rule.name, rule.kind, index))
                claimed.insert(index)
            }
        }
        for layer in keras.layers {
            let indices = layer.weights.compactMap { position[$0] }.filter { !claimed.contains($0) }
            guard !indices.isEmpty else { continue }
            claimed.formUnion(indices)
            blocks.append(ParameterBlock(name: layer.name, kind: .layer, tensors: indices))
        }
        let rest = names.indices.filter { !claimed.contains($0) }
        let optimizer = rest.filter { names[$0].hasPrefix("optimizer_weights/") || names[$0].hasPrefix("optimizer/") }
        let others = rest.filter { !optimizer.contains($0) }
        let defaultBlocks = make(names: others.map { names[$0] }, separator: "/").blocks.map { block in
            ParameterBlock(name: block.name, kind: block.kind, tensors: block.tensors.map { others[$0] })
        }
        blocks += defaultBlocks
        if !optimizer.isEmpty {
            blocks.append(
                ParameterBlock(
                    name: "optimizer", kind: .optimizer,
                    tensors: optimizer.sorted { naturallyPrecedes(names[$0], names[$1]) }))
        }
        var byName: [String: Int] = [:]
        var ruledBlocks: [ParameterBlock] = []
        for entry in ruled {
            if let existing = byName[entry.name] {
                ruledBlocks[existing].tensors.append(entry.tensor)
            } else {
                byName[entry.name] = ruledBlocks.count
                ruledBlocks.append(
                    ParameterBlock(name: entry.name, kind: entry.kind ?? .other, tensors: [entry.tensor]))
            }
        }
        return Partition(
            blocks: ruledBlocks.map { block in
                var sorted = block
                sorted.tensors.sort { names[$0].utf8.lexicographicallyPrecedes(names[$1].utf8) }
                return sorted
            } + blocks)
    }

    /// The container of rule 1 and the block key, or nil when no component at position ≥ 1 is all digits.
    static func containerKey(_ components: [String]) -> (container: [String], key: [String])? {
        guard let first = components.indices.dropFirst().first(where: { isNumber(components[$0]) }) else { return nil }
        var last = first
        // Stretch over directly following numbers (timm's `blocks.3.2.conv_pw.weight`: stage, block) unless the run
        // ends right before the parameter's own name: in torchvision's `features.0.0.weight` the second number is a
        // layer inside block 0 (conv, then BN as `features.0.1`), not a block of its own.
        while last + 1 < components.count && isNumber(components[last + 1]) && components.count - (last + 2) >= 2 {
            last += 1
        }
        return (Array(components[..<first]), Array(components[...last]))
    }

    static func isNumber(_ text: String) -> Bool { !text.isEmpty && text.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }

    static func commonPrefixLength(_ a: [String], _ b: [String]) -> Int {
        zip(a, b).prefix { $0 == $1 }.count
    }

    /// Groups tensors by block, orders tensors inside each block and the blocks in the model.
    static func group(
        names: [String], assignments: [(block: String, kind: BlockKind?)], separator: String, containers: Set<[String]>
    ) -> Partition {
        var order: [String] = []
        var members: [String: [Int]] = [:]
        var explicitKind: [String: BlockKind] = [:]
        for (index, assignment) in assignments.enumerated() {
            if members[assignment.block] == nil { order.append(assignment.block) }
            members[assignment.block, default: []].append(index)
            if let kind = assignment.kind { explicitKind[assignment.block] = kind }
        }
        let blocks = order.map { name -> ParameterBlock in
            let prefix = name + separator
            let tensors = (members[name] ?? []).sorted { a, b in
                let left = names[a].hasPrefix(prefix) ? String(names[a].dropFirst(prefix.count)) : names[a]
                let right = names[b].hasPrefix(prefix) ? String(names[b].dropFirst(prefix.count)) : names[b]
                return left.utf8.lexicographicallyPrecedes(right.utf8)
            }
            let kind =
                explicitKind[name]
                ?? inferKind(block: name, tensorNames: tensors.map { names[$0] }, separator: separator)
            return ParameterBlock(name: name, kind: kind, tensors: tensors)
        }
        return Partition(
            blocks: blocks.sorted { a, b in
                let (rankA, rankB) = (rank(a.kind), rank(b.kind))
                return rankA != rankB ? rankA < rankB : naturallyPrecedes(a.name, b.name)
            })
    }

    /// Model order: embeddings, then layers (and adapters, other units) by name counted naturally, final norm, head.
    static func rank(_ kind: BlockKind) -> Int {
        switch kind {
        case .embedding: return 0
        case .layer, .adapter, .other: return 1
        case .norm: return 2
        case .head: return 3
        case .optimizer: return 4
        }
    }

    static let embeddingNames: Set<String> = [
        "embed_tokens", "wte", "wpe", "embeddings", "embedding", "shared", "token_embd", "patch_embed", "cls_token",
        "pos_embed", "conv_stem", "word_embeddings", "tok_embeddings",
    ]
    static let headNames: Set<String> = [
        "lm_head", "output", "fc", "classifier", "head", "cls", "pooler", "predictions", "score", "AuxLogits",
    ]
    static let normNames: Set<String> = ["norm", "ln_f", "final_layer_norm", "layernorm", "output_norm", "final_norm"]

    static func inferKind(block: String, tensorNames: [String], separator: String) -> BlockKind {
        if tensorNames.contains(where: { $0.contains("lora_") }) { return .adapter }
        let components = block.split(separator: Character(separator)).map(String.init)
        if containerKey(components) != nil { return .layer }
        let last = components.last ?? block
        if embeddingNames.contains(last) { return .embedding }
        if normNames.contains(last) { return .norm }
        if headNames.contains(last) { return .head }
        return .other
    }
}
