import Foundation
package import NeuralKit
import TensorFiles

/// Networks saved as safetensors files written by the project's own writer: one F32 tensor per parameter, named as
/// the parameter (`actor0.embed.0.weight`, ...), shape [rows, columns]; string metadata alongside. A trained policy is
/// then a checkpoint like any other (`pbrepo inspect` reads it, `safetensors.torch.load_file` too).
package enum NetworkCheckpoint {
    package static func save(_ parameters: [Parameter], metadata: [(key: String, value: String)] = [], to path: String)
        throws
    {
        var seen = Set<String>()
        for parameter in parameters where !seen.insert(parameter.name).inserted {
            throw TensorFileError(.duplicateName, path: path, "two parameters are named \(parameter.name)")
        }
        try SafetensorsWriter.write(
            path: path,
            tensors: parameters.map { parameter in
                (
                    name: parameter.name, dtype: .F32,
                    shape: [UInt64(parameter.value.rows), UInt64(parameter.value.columns)],
                    bytes: parameter.value.values.withUnsafeBytes { Array($0) }
                )
            },
            metadata: metadata.isEmpty ? nil : metadata)
    }

    /// Loads values into `parameters` by name; every parameter must be present with its shape.
    ///
    /// - Returns: the file's metadata.
    @discardableResult
    package static func load(_ parameters: [Parameter], from path: String) throws -> [(key: String, value: String)] {
        let file = try SafetensorsFile(path: path)
        var byName: [String: SafetensorsTensor] = [:]
        for tensor in file.header.tensors { byName[tensor.name] = tensor }
        for parameter in parameters {
            guard let tensor = byName[parameter.name] else {
                throw TensorFileError(.invalidHeader, path: path, "no tensor named \(parameter.name)")
            }
            let shape = [UInt64(parameter.value.rows), UInt64(parameter.value.columns)]
            guard tensor.dtype == .F32, tensor.shape == shape else {
                throw TensorFileError(
                    .sizeMismatch, path: path,
                    "tensor \(parameter.name) is \(tensor.dtype.rawValue) \(tensor.shape), the network wants F32 \(shape)"
                )
            }
            let bytes = file.bytes(of: tensor)
            let values = (0..<(parameter.value.rows * parameter.value.columns)).map {
                bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self)
            }
            // A NaN weight makes every score NaN, and the plan then quietly caches nothing (F-28).
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw TrainingError(
                    .invalidPolicy,
                    "\(path): tensor \(parameter.name) holds \(values[bad]) at element \(bad); weights must be finite")
            }
            parameter.value.values = values
        }
        return file.header.metadata ?? []
    }
}
