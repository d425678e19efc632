import ArgumentParser
import PBRCore
import TensorFiles

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a checkpoint's tensors with their XXH3-128 digests.",
        discussion: """
            PATH is a .safetensors file, a sharded checkpoint (its directory or its model.safetensors.index.json), \
            or an HDF5 file (Keras .h5 / .weights.h5). The file is validated completely first; anything that is not \
            a valid checkpoint is reported in one line and the exit status is 1. Digests are \
            xxh3_128_hexdigest of each tensor's raw little-endian C-order bytes.
            """
    )

    @Argument(help: "Checkpoint file or directory.")
    var path: String

    @Flag(help: "Print JSON: {path, format, metadata, tensors: [{name, dtype, shape, bytes, xxh3_128}]}.")
    var json = false

    func run() throws {
        let progress = ProgressBar(label: "hashing")
        let inspection = try Console.run {
            try HDF5Isolation.check(path)
            return try Inspection.run(path: path) { done, total in progress.update(done: done, total: total) }
        }
        progress.finish()
        if json {
            print(inspection.json.prettyPrinted())
            return
        }
        var table = TextTable(headers: ["name", "dtype", "shape", "bytes", "xxh3_128"], rightAligned: [3])
        for tensor in inspection.tensors {
            let descriptor = tensor.descriptor
            table.rows.append([
                descriptor.name, descriptor.dtype,
                "[" + descriptor.shape.map(String.init).joined(separator: ", ") + "]",
                String(descriptor.byteCount), "\(tensor.digest)",
            ])
        }
        print(table.render())
        print(
            "\n\(inspection.tensors.count) tensors, \(inspection.totalBytes) bytes (\(formatBytes(inspection.totalBytes)))"
                + " in \(inspection.format.rawValue) checkpoint \(inspection.path)")
        for entry in inspection.metadata {
            let value = entry.value.count > 100 ? String(entry.value.prefix(97)) + "..." : entry.value
            print("  \(entry.key): \(value.oneLine)")
        }
    }
}
