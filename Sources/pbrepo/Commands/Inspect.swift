import ArgumentParser
import BlockStore
import PBRCore
import ParameterBlocks
import TensorFiles

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a checkpoint's tensors with their XXH3-128 digests.",
        discussion: """
            PATH is a .safetensors file, a sharded checkpoint (its directory or its model.safetensors.index.json), \
            an HDF5 file (Keras .h5 / .weights.h5), or a model folder whose checkpoints are in sub-folders (read as \
            ingest reads it, tensor names prefixed with their folder). The file is validated completely first; \
            anything that is not a valid checkpoint is reported in one line and the exit status is 1. Digests are \
            xxh3_128_hexdigest of each tensor's raw little-endian C-order bytes.

            Example: pbrepo inspect ~/models/Llama-3.2-1B/model.safetensors --json
            """
    )

    @Argument(help: "Checkpoint file or directory.")
    var path: String

    @Flag(help: "Print JSON: {path, format, metadata, tensors: [{name, dtype, shape, bytes, xxh3_128}]}.")
    var json = false

    func run() throws {
        let progress = ProgressBar(label: "hashing")
        let inspected = try Console.run { () throws -> (String, [(key: String, value: String)], [InspectedTensor]) in
            // A folder whose checkpoints sit in sub-folders (a diffusers pipeline, a hub cache repository) is read
            // as ingest reads it: every checkpoint of the tree, names prefixed with their folder.
            // (A folder the tree walk refuses is reported by the checkpoint reader below, as before.)
            if FileSystem.isDirectory(path), let source = try? ModelSource.find(path) {
                if source.checkpoints.contains(where: { !$0.prefix.isEmpty }) || source.provenance.hub != nil {
                    for file in source.hdf5Files { try HDF5Isolation.check(file) }
                    let partition = try ModelPartition.run(try source.open()) {
                        progress.update(done: $0, total: $1)
                    }
                    let metadata = partition.components.flatMap { component in
                        component.report.inspection.metadata.map { (component.prefix + $0.key, $0.value) }
                    }
                    return (partition.format, metadata, partition.tensors)
                }
            }
            try HDF5Isolation.check(path)
            let inspection = try Inspection.run(path: path) { done, total in progress.update(done: done, total: total) }
            return (inspection.format.rawValue, inspection.metadata, inspection.tensors)
        }
        let (format, metadata, tensors) = inspected
        progress.finish()
        if json {
            print(Inspection.json(path: path, format: format, metadata: metadata, tensors: tensors).prettyPrinted())
            return
        }
        var table = TextTable(headers: ["name", "dtype", "shape", "bytes", "xxh3_128"], rightAligned: [3])
        for tensor in tensors {
            let descriptor = tensor.descriptor
            table.rows.append([
                descriptor.name, descriptor.dtype,
                "[" + descriptor.shape.map(String.init).joined(separator: ", ") + "]",
                String(descriptor.byteCount), "\(tensor.digest)",
            ])
        }
        print(table.render())
        let total = tensors.reduce(0) { $0 + $1.descriptor.byteCount }
        print("\n\(tensors.count) tensors, \(total) bytes (\(formatBytes(total))) in \(format) checkpoint \(path)")
        for entry in metadata {
            let value = entry.value.count > 100 ? String(entry.value.prefix(97)) + "..." : entry.value
            print("  \(entry.key): \(value.oneLine)")
        }
    }
}
