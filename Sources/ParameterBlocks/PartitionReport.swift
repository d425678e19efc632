package import PBRCore
package import TensorFiles
import XXHash

/// What `pbrepo partition` shows: a checkpoint's parameter blocks with their tensors, sizes and digests.
package struct PartitionReport: Sendable {
    package var inspection: Inspection
    package var blocks: [DigestedBlock]

    /// Inspects `path` (validating and hashing every tensor) and partitions it.
    package static func run(
        path: String, rules: PartitionRules? = nil, progress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) throws -> PartitionReport {
        try run(inspection: try Inspection.run(path: path, progress: progress), rules: rules)
    }

    /// Partitions an inspected checkpoint.
    package static func run(inspection: Inspection, rules: PartitionRules? = nil) -> PartitionReport {
        let partition = Partition.make(
            inspection.checkpoint, tensors: inspection.tensors.map(\.descriptor), rules: rules)
        return PartitionReport(inspection: inspection, blocks: partition.digested(inspection))
    }

    /// `{"path", "format", "blocks": [{"name", "kind", "position", "bytes", "digest", "tensors": [names]}]}`.
    package var json: JSONValue {
        Self.json(
            path: inspection.path, format: inspection.format.rawValue, blocks: blocks, tensors: inspection.tensors)
    }

    static func json(path: String, format: String, blocks: [DigestedBlock], tensors: [InspectedTensor]) -> JSONValue {
        .object([
            ("path", .string(path)),
            ("format", .string(format)),
            (
                "blocks",
                .array(
                    blocks.enumerated().map { position, block in
                        .object([
                            ("name", .string(block.block.name)),
                            ("kind", .string(block.block.kind.rawValue)),
                            ("position", .number(position)),
                            ("bytes", .number(block.bytes)),
                            ("digest", .string(block.digest.description)),
                            ("tensors", .array(block.block.tensors.map { .string(tensors[$0].descriptor.name) })),
                        ])
                    })
            ),
        ])
    }
}
