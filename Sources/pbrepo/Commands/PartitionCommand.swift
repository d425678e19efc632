import ArgumentParser
import BlockStore
import PBRCore
import ParameterBlocks
import TensorFiles

struct PartitionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partition",
        abstract: "Show a model's parameter blocks (PBs) without storing anything.",
        discussion: """
            A PB is one architectural unit: the embedding, one numbered layer or block, the final norm, the head, a \
            LoRA adapter's tensors of one layer, one Keras layer. docs/blocks.md gives the rule; --rules overrides it \
            with ordered regular expressions. The digest identifies the block by content across models. A model \
            folder is partitioned as ingest partitions it: every checkpoint of its tree, block names prefixed with \
            the checkpoint's sub-folder (unet/down_blocks.0).

            Example: pbrepo partition ~/models/stable-diffusion-v1-5 --json > blocks.json
            """
    )

    @Argument(help: "Checkpoint file, sharded checkpoint or model folder.") var path: String
    @Option(help: "Rules file (JSON) overriding the default partition.") var rules: String?
    @Flag(help: "Print JSON: {path, format, blocks: [{name, kind, position, bytes, digest, tensors}]}.") var json =
        false

    func run() throws {
        let progress = ProgressBar(label: "hashing")
        let report = try Console.run {
            let parsed = try rules.map { (path) throws in try PartitionRules.load(path) }
            let source = try ModelSource.find(path)
            for file in source.hdf5Files { try HDF5Isolation.check(file) }
            return try ModelPartition.run(try source.open(), rules: parsed) { progress.update(done: $0, total: $1) }
        }
        progress.finish()
        if json {
            print(report.json(path: path).prettyPrinted())
            return
        }
        var table = TextTable(headers: ["#", "block", "kind", "tensors", "bytes", "digest"], rightAligned: [0, 3, 4])
        for (position, block) in report.blocks.enumerated() {
            table.rows.append([
                String(position), block.block.name, block.block.kind.rawValue, String(block.block.tensors.count),
                String(block.bytes), "\(block.digest)",
            ])
        }
        print(table.render())
        let total = report.blocks.reduce(0) { $0 + $1.bytes }
        print(
            "\n\(report.blocks.count) blocks, \(report.tensors.count) tensors, \(total) bytes (\(formatBytes(total))) in \(path)"
        )
    }
}
