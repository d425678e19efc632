package import PBRCore
package import TensorFiles

/// A whole model partitioned into one list of blocks: a single checkpoint, or every checkpoint of a model folder
/// tree (a diffusers pipeline's `unet/`, `text_encoder/` and `vae/`, a sentence-transformers model's root and
/// `1_Pooling/`).
///
/// Each checkpoint is partitioned on its own names (the rules see `down_blocks.0.resnets.1.conv1.weight`, not the
/// folder), then its tensor and block names get the checkpoint's prefix, so that blocks of different folders never
/// share a name.
package struct ModelPartition: Sendable {
    package struct Component: Sendable {
        /// Prepended to the component's tensor and block names: "" for a model's only checkpoint at its root, else
        /// the checkpoint's folder (`unet/`) and, when a folder holds several checkpoints, the checkpoint's own name
        /// (`unet/diffusion_pytorch_model.fp16/`).
        package var prefix: String
        /// The component's files, relative to the model's folder (for a single-file model: the file's name).
        package var files: [String]
        package var report: PartitionReport
        /// Where the component's tensors start in `tensors`.
        package var firstTensor: Int
    }

    /// What to partition: an opened checkpoint with its prefix and files.
    package struct Source: Sendable {
        package var prefix: String
        package var files: [String]
        package var checkpoint: Checkpoint
        /// The path messages name.
        package var path: String

        package init(prefix: String, files: [String], checkpoint: Checkpoint, path: String) {
            self.prefix = prefix
            self.files = files
            self.checkpoint = checkpoint
            self.path = path
        }
    }

    package var components: [Component]
    /// Every tensor of every component, components in order, names prefixed.
    package var tensors: [InspectedTensor]
    /// Every block of every component, names prefixed, tensor indices into `tensors`.
    package var blocks: [DigestedBlock]

    package var totalBytes: UInt64 { tensors.reduce(0) { $0 + $1.descriptor.byteCount } }

    /// The formats of the components, each once in order, joined by `+` (`safetensors`, `safetensors+hdf5`).
    package var format: String {
        var seen = Set<String>()
        return components.map(\.report.inspection.format.rawValue).filter { seen.insert($0).inserted }
            .joined(separator: "+")
    }

    /// As `PartitionReport.json`, for the model at `path`.
    package func json(path: String) -> JSONValue {
        PartitionReport.json(path: path, format: format, blocks: blocks, tensors: tensors)
    }

    /// Validates, hashes and partitions every checkpoint; `progress` sees the bytes of all of them as one total.
    ///
    /// - Parameter chunkBytes: also digest each chunk of this size of the tensors larger than it.
    package static func run(
        _ sources: [Source], rules: PartitionRules? = nil, chunkBytes: Int? = nil,
        progress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) throws -> ModelPartition {
        var sizes: [UInt64] = []
        for source in sources { sizes.append(try source.checkpoint.tensors().reduce(0) { $0 + $1.byteCount }) }
        let total = sizes.reduce(0, +)
        var components: [Component] = []
        var tensors: [InspectedTensor] = []
        var blocks: [DigestedBlock] = []
        var before: UInt64 = 0
        for (source, size) in zip(sources, sizes) {
            let offset = before
            let inspection = try Inspection.run(
                checkpoint: source.checkpoint, path: source.path, chunkBytes: chunkBytes
            ) { done, _ in
                progress?(offset + done, total)
            }
            before += size
            let report = PartitionReport.run(inspection: inspection, rules: rules)
            let first = tensors.count
            components.append(Component(prefix: source.prefix, files: source.files, report: report, firstTensor: first))
            for var tensor in inspection.tensors {
                tensor.descriptor.name = source.prefix + tensor.descriptor.name
                tensors.append(tensor)
            }
            for var block in report.blocks {
                block.block.name = source.prefix + block.block.name
                block.block.tensors = block.block.tensors.map { $0 + first }
                blocks.append(block)
            }
        }
        return ModelPartition(components: components, tensors: tensors, blocks: blocks)
    }
}
