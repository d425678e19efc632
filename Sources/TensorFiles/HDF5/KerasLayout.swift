public import HDF5
import PBRCore

/// How Keras laid out the weights of an HDF5 checkpoint: which layers it has, in which order, and which datasets
/// hold each layer's weights.
public struct KerasLayout: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// Keras 2 / tf.keras / Keras 3 `model.save("x.h5")` (`model_weights/<layer>/...`) or `save_weights`
        /// (the same at the root), with `layer_names` and `weight_names` attributes.
        case legacyH5 = "keras-legacy-h5"
        /// Keras 3 `.weights.h5`: `layers/<path>/vars/<i>`, the user's layer name in the `vars` group's `name`
        /// attribute.
        case kerasV3 = "keras3-weights-h5"
    }

    public struct Layer: Sendable, Equatable {
        /// The layer's name as the user sees it (`dense_3`, `conv1`).
        public var name: String
        /// The group holding its weights.
        public var group: String
        /// Its weight datasets in Keras's order (trainable, then non-trainable).
        public var weights: [String]
    }

    public var kind: Kind
    /// Layers in the model's order (legacy: the `layer_names` attribute; Keras 3: creation order, i.e. the paths
    /// `dense`, `dense_1`, `dense_2`, ... counted naturally), weightless layers included with no weights.
    public var layers: [Layer]

    /// Recognises a Keras layout; nil for other HDF5 files.
    public static func detect(_ checkpoint: HDF5Checkpoint) -> KerasLayout? {
        var groups: [String: [HDF5Attribute]] = [:]
        var datasets = Set<String>()
        for node in checkpoint.nodes {
            switch node {
            case .group(let path, let attributes): groups[path] = attributes
            case .dataset(let info): datasets.insert(info.path)
            }
        }
        for prefix in ["model_weights", ""] {
            guard let attributes = groups[prefix], let names = joinedStrings(attributes, "layer_names") else {
                continue
            }
            let layers = names.map { name in
                let group = prefix.isEmpty ? name : prefix + "/" + name
                let weights = (groups[group].flatMap { joinedStrings($0, "weight_names") } ?? []).map {
                    group + "/" + $0
                }
                return Layer(name: name, group: group, weights: weights.filter { datasets.contains($0) })
            }
            return KerasLayout(kind: .legacyH5, layers: layers)
        }
        let varsGroups = checkpoint.nodes.compactMap { node -> (String, [HDF5Attribute])? in
            guard case .group(let path, let attributes) = node, path.hasPrefix("layers/"), path.hasSuffix("/vars")
            else {
                return nil
            }
            return (path, attributes)
        }
        guard !varsGroups.isEmpty else { return nil }
        // Keras numbers repeated layers dense, dense_1, dense_2, ... in creation order: count, don't spell.
        let ordered = varsGroups.sorted { naturallyPrecedes($0.0, $1.0) }
        let layers = ordered.map { path, attributes in
            let group = String(path.dropLast("/vars".count))
            let name =
                attributes.first { $0.name == "name" }?.strings?.first
                ?? String(group.split(separator: "/").last ?? "")
            let weights = datasets.filter { $0.hasPrefix(path + "/") && !$0.dropFirst(path.count + 1).contains("/") }
                .sorted {
                    (Int($0.dropFirst(path.count + 1)) ?? .max, $0) < (Int($1.dropFirst(path.count + 1)) ?? .max, $1)
                }
            return Layer(name: name, group: group, weights: weights)
        }
        return KerasLayout(kind: .kerasV3, layers: layers)
    }

    /// A string-list attribute, put back together when Keras split it into `name0`, `name1`, ... because it
    /// exceeded the 64 KiB object-header limit.
    public static func joinedStrings(_ attributes: [HDF5Attribute], _ name: String) -> [String]? {
        if let whole = attributes.first(where: { $0.name == name }) {
            return whole.strings ?? []  // Keras writes an empty float64 array for a layer without weights.
        }
        var parts: [String] = []
        var index = 0
        while let part = attributes.first(where: { $0.name == name + String(index) }) {
            parts.append(contentsOf: part.strings ?? [])
            index += 1
        }
        return index > 0 ? parts : nil
    }
}
