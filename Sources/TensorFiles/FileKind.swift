/// What a file that is not a safetensors or HDF5 checkpoint looks like, from its first bytes, so that a refusal can
/// say "looks like a GGUF file" instead of quoting eight bytes of it as a header length.
enum FileKind {
    static let text = "a text file"
    static let json = "a JSON file"

    /// A short description of the format `bytes` (the file's start) and `name` suggest, nil when none is known.
    static func guess(_ bytes: UnsafeRawBufferPointer, name: String) -> String? {
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            bytes.count >= offset + magic.count && Array(bytes[offset..<(offset + magic.count)]) == magic
        }
        let lowered = name.lowercased()
        if starts(Array("GGUF".utf8)) { return "a GGUF file" }
        if starts([0x50, 0x4B, 0x03, 0x04]) {
            if lowered.hasSuffix(".keras") {
                return "a Keras 3 .keras archive, whose weights are the model.weights.h5 that unzip takes out of it"
            }
            return "a zip archive, as torch.save writes PyTorch checkpoints"
        }
        if bytes.count >= 2, bytes[0] == 0x80, (2...5).contains(bytes[1]) {
            return "a pickle, as older torch.save writes PyTorch checkpoints"
        }
        if starts([0x93] + Array("NUMPY".utf8)) { return "a NumPy .npy file" }
        if starts([0x1F, 0x8B]) { return "a gzip file" }
        if starts(Array("ustar".utf8), at: 257) { return "a tar archive" }
        if lowered.hasSuffix(".onnx") || (lowered.hasSuffix(".pb") && starts([0x08])) {
            return "an ONNX or TensorFlow protobuf file"
        }
        if lowered.hasSuffix(".msgpack") { return "a Flax msgpack checkpoint" }
        let start = bytes.prefix(512)
        if !start.isEmpty, start.allSatisfy({ $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || (0x20..<0x7F).contains($0) }) {
            if let first = start.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x09 && $0 != 0x0D }),
                first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
            {
                return FileKind.json
            }
            return FileKind.text
        }
        return nil
    }

    /// The refusal for a file that is not a checkpoint: what it looks like and what pbrepo does with such files.
    static func refusal(_ kind: String?) -> String {
        "not a safetensors or HDF5 file (\(kind.map { "looks like " + $0 } ?? "its first bytes are not a safetensors header"));"
            + " pbrepo stores it as a plain file inside a model directory"
    }
}
