import Foundation
package import PBRCore

/// Parameter reuse across the store's models (`pbrepo report`); the definitions are those of docs/blocks.md.
package struct ReuseReport: Sendable, Equatable {
    package struct Model: Sendable, Equatable {
        package var name: String
        package var family: String
        /// The model's tensor bytes.
        package var bytes: UInt64
        /// Its number of parameter blocks.
        package var blocks: Int
        /// Bytes of its blocks that at least one other model also has.
        package var reusedBlockBytes: UInt64
        /// Bytes of its tensors whose digest at least one other model also has.
        package var reusedTensorBytes: UInt64
        /// reusedBlockBytes / bytes (0 for an empty model).
        package var reuseRatio: Double
    }

    package struct Pair: Sendable, Equatable {
        package var a: String
        package var b: String
        /// Bytes of a's blocks that b also has.
        package var sharedBytes: UInt64
        /// sharedBytes / a's bytes.
        package var ratio: Double
    }

    package var models: [Model]
    /// Sum of the models' bytes.
    package var logicalBytes: UInt64
    /// Bytes of the distinct blocks, each counted once.
    package var uniqueBlockBytes: UInt64
    /// Bytes of the distinct tensors (by digest), each counted once.
    package var uniqueTensorBytes: UInt64
    /// Bytes of all objects on disk (tensors, headers, skeletons, other files).
    package var storedBytes: UInt64
    /// logical / unique tensor bytes.
    package var dedupRatio: Double
    /// unique tensor bytes / stored bytes.
    package var compressionRatio: Double
    /// Every ordered pair of distinct models.
    package var pairs: [Pair]

    init(_ snapshot: Snapshot) {
        var blockHolders: [String: Set<String>] = [:]
        var tensorHolders: [String: Set<String>] = [:]
        var tensorBytes: [String: UInt64] = [:]
        for model in snapshot.models {
            for block in model.blocks { blockHolders[block.digest, default: []].insert(model.name) }
            for tensor in model.tensorDigests {
                tensorHolders[tensor.digest, default: []].insert(model.name)
                tensorBytes[tensor.digest] = tensor.bytes
            }
        }
        func ratio(_ part: UInt64, _ whole: UInt64) -> Double { whole == 0 ? 0 : Double(part) / Double(whole) }
        models = snapshot.models.map { model in
            let reusedBlocks = model.blocks.filter { (blockHolders[$0.digest]?.count ?? 0) > 1 }
                .reduce(0) { $0 + (snapshot.blockBytes[$1.digest] ?? 0) }
            let reusedTensors = model.tensorDigests.filter { (tensorHolders[$0.digest]?.count ?? 0) > 1 }
                .reduce(0) { $0 + $1.bytes }
            return Model(
                name: model.name, family: model.family, bytes: model.bytes, blocks: model.blocks.count,
                reusedBlockBytes: reusedBlocks, reusedTensorBytes: reusedTensors,
                reuseRatio: ratio(reusedBlocks, model.bytes))
        }
        logicalBytes = snapshot.models.reduce(0) { $0 + $1.bytes }
        uniqueBlockBytes = blockHolders.keys.reduce(0) { $0 + (snapshot.blockBytes[$1] ?? 0) }
        uniqueTensorBytes = tensorBytes.values.reduce(0, +)
        storedBytes = snapshot.storedBytes
        dedupRatio = ratio(logicalBytes, uniqueTensorBytes)
        compressionRatio = ratio(uniqueTensorBytes, storedBytes)
        var pairs: [Pair] = []
        for a in snapshot.models {
            for b in snapshot.models where b.name != a.name {
                let other = Set(b.blocks.map(\.digest))
                let shared = a.blocks.filter { other.contains($0.digest) }.reduce(0) {
                    $0 + (snapshot.blockBytes[$1.digest] ?? 0)
                }
                pairs.append(Pair(a: a.name, b: b.name, sharedBytes: shared, ratio: ratio(shared, a.bytes)))
            }
        }
        self.pairs = pairs
    }

    package var json: JSONValue {
        .object([
            (
                "models",
                .array(
                    models.map { model in
                        .object([
                            ("name", .string(model.name)), ("family", .string(model.family)),
                            ("bytes", .number(model.bytes)), ("blocks", .number(model.blocks)),
                            ("reused_block_bytes", .number(model.reusedBlockBytes)),
                            ("reused_tensor_bytes", .number(model.reusedTensorBytes)),
                            ("reuse_ratio", .number(formatRatio(model.reuseRatio))),
                        ])
                    })
            ),
            ("logical_bytes", .number(logicalBytes)), ("unique_block_bytes", .number(uniqueBlockBytes)),
            ("unique_tensor_bytes", .number(uniqueTensorBytes)), ("stored_bytes", .number(storedBytes)),
            ("dedup_ratio", .number(formatRatio(dedupRatio))),
            ("compression_ratio", .number(formatRatio(compressionRatio))),
            (
                "pairs",
                .array(
                    pairs.map { pair in
                        .object([
                            ("a", .string(pair.a)), ("b", .string(pair.b)), ("shared_bytes", .number(pair.sharedBytes)),
                            ("ratio", .number(formatRatio(pair.ratio))),
                        ])
                    })
            ),
        ])
    }

    /// One CSV row per model (header first): name,family,bytes,blocks,reused_block_bytes,reused_tensor_bytes,reuse_ratio.
    package var csv: String {
        (["name,family,bytes,blocks,reused_block_bytes,reused_tensor_bytes,reuse_ratio"]
            + models.map { model in
                [
                    CSV.field(model.name), CSV.field(model.family), String(model.bytes), String(model.blocks),
                    String(model.reusedBlockBytes), String(model.reusedTensorBytes), formatRatio(model.reuseRatio),
                ]
                .joined(separator: ",")
            }).joined(separator: "\n") + "\n"
    }
}

/// A ratio as JSON/CSV text with 6 decimals (stable across runs and platforms).
func formatRatio(_ value: Double) -> String {
    let scaled = (value * 1_000_000).rounded()
    let whole = Int(scaled) / 1_000_000
    let fraction = Int(scaled) % 1_000_000
    let digits = String(fraction)
    return "\(whole)." + String(repeating: "0", count: 6 - digits.count) + digits
}

/// RFC 4180 quoting where needed.
extension Store {
    package func reuseReport() throws -> ReuseReport { ReuseReport(try snapshot()) }
}
