import PBRCore

/// A validated safetensors file, memory-mapped; tensor bytes are handed out as views into the mapping (no copy).
///
/// Nothing is handed out before the whole header has been validated against the file's length.
public final class SafetensorsFile: Sendable {
    public let path: String
    public let header: SafetensorsHeader
    private let mapping: MappedFile

    /// Byte offset of the data section in the file (8 + N).
    public var dataStart: Int { 8 + header.json.count }
    /// Length of the whole file.
    public var fileLength: Int { mapping.count }

    /// Opens, maps and validates `path` with the checks of the reference reader (see `SafetensorsHeader.parse`).
    ///
    /// - Throws: `TensorFileError`; the message names the file and, where there is one, the tensor.
    public init(path: String) throws(TensorFileError) {
        self.path = path
        mapping = try fileOperation { () throws(FileError) in try MappedFile(path: path) }
        let bytes = mapping.unsafeBytes
        guard bytes.count >= 8 else {
            throw TensorFileError(
                .tooShort, path: path,
                bytes.isEmpty
                    ? "file is empty: not a safetensors file"
                    : "file is \(bytes.count) bytes, too short for the 8-byte header length")
        }
        let length = bytes.loadUnaligned(as: UInt64.self).littleEndian
        // Every safetensors header is a JSON object: a file whose ninth byte cannot start one is some other format,
        // and its first eight bytes mean nothing as a length.
        if bytes.count <= 8 || bytes[8] != UInt8(ascii: "{") {
            let kind = FileKind.guess(bytes, name: path)
            let plausible = length <= SafetensorsHeader.maximumLength && 8 + length <= UInt64(bytes.count)
            if !plausible || (kind != nil && kind != FileKind.text && kind != FileKind.json) {
                throw TensorFileError(.notSafetensors, path: path, FileKind.refusal(kind))
            }
        }
        guard length <= SafetensorsHeader.maximumLength else {
            throw TensorFileError(
                .headerTooLarge, path: path,
                "header length \(length) exceeds the limit of \(SafetensorsHeader.maximumLength) bytes")
        }
        guard 8 + Int(length) <= bytes.count else {
            throw TensorFileError(
                .headerPastEnd, path: path,
                "header length \(length) runs past the end of the file (\(bytes.count) bytes in all)")
        }
        let json = Array(bytes[8..<(8 + Int(length))])
        header = try SafetensorsHeader.parse(
            json: json, availableData: UInt64(bytes.count - 8 - Int(length)), path: path)
    }

    /// The tensor's bytes, a view into the mapping, valid while `self` is alive.
    ///
    /// - Precondition: `tensor` comes from this file's header (validated ranges); anything else traps.
    public func bytes(of tensor: SafetensorsTensor) -> UnsafeRawBufferPointer {
        let start = dataStart + Int(tensor.begin)
        let end = dataStart + Int(tensor.end)
        precondition(end <= mapping.count && start <= end, "tensor range outside \(path)")
        return UnsafeRawBufferPointer(rebasing: mapping.unsafeBytes[start..<end])
    }

    /// Drops this process's resident pages of `bytes`, a view from `bytes(of:)` read to the end (`MappedFile.evict`).
    public func evict(_ bytes: UnsafeRawBufferPointer) { mapping.evict(bytes) }

    /// The whole data section, a view into the mapping.
    public var dataSection: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapping.unsafeBytes[dataStart..<mapping.count])
    }

    /// Tells the kernel the file will be read front to back.
    public func adviseSequential() { mapping.adviseSequential() }
}
