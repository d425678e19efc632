import HDF5
import PBRCore

public enum CheckpointFormat: String, Sendable, Codable {
    case safetensors, hdf5
}

/// A checkpoint of any supported format, read as a list of named tensors.
public enum Checkpoint: Sendable {
    case safetensors(SafetensorsModel)
    case hdf5(HDF5Checkpoint)

    /// The eight bytes every HDF5 file without a user block starts with.
    static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Opens a file or directory, recognising the format by content: the HDF5 signature means HDF5, a directory or
    /// an `.index.json` means a (sharded) safetensors model, anything else is read as safetensors.
    public static func open(_ path: String) throws(TensorFileError) -> Checkpoint {
        if FileSystem.isDirectory(path) || path.hasSuffix(".index.json") {
            return .safetensors(try SafetensorsModel.open(path))
        }
        let file = try fileOperation { () throws(FileError) in try MappedFile(path: path) }
        if file.withUnsafeBytes({ Array($0.prefix(8)) }) == hdf5Signature {
            return .hdf5(try HDF5Checkpoint.open(path))
        }
        do {
            return .safetensors(try SafetensorsModel.open(path))
        } catch {
            // An HDF5 file with a user block starts with something else; let libhdf5 have the last word.
            if HDF5File.isHDF5(path) { return .hdf5(try HDF5Checkpoint.open(path)) }
            throw error
        }
    }

    /// Whether `path` is an HDF5 file (signature at offset 0, or after a user block); reads only the signature.
    public static func isHDF5(_ path: String) -> Bool {
        // libhdf5 opens the file blocking: a FIFO would wait forever for a writer.
        FileSystem.isRegularFile(path) && HDF5File.isHDF5(path)
    }

    public var path: String {
        switch self {
        case .safetensors(let model): return model.path
        case .hdf5(let checkpoint): return checkpoint.path
        }
    }

    public var format: CheckpointFormat {
        switch self {
        case .safetensors: return .safetensors
        case .hdf5: return .hdf5
        }
    }

    /// Free-form metadata as text: safetensors `__metadata__` (every shard's, then the index's `metadata`), or the
    /// HDF5 root attributes.
    public var metadata: [(key: String, value: String)] {
        switch self {
        case .safetensors(let model):
            var entries: [(key: String, value: String)] = []
            for shard in model.shards { entries.append(contentsOf: shard.header.metadata ?? []) }
            for member in model.indexMetadata {
                entries.append((member.key, member.value.stringValue ?? member.value.serialized))
            }
            var seen = Set<String>()
            return entries.filter { seen.insert($0.key).inserted }
        case .hdf5(let checkpoint):
            return checkpoint.rootAttributes.map { ($0.name, attributeText($0)) }
        }
    }

    /// Every tensor in storage order (shard by shard, data order within a file; HDF5 tree-walk order).
    public func tensors() throws(TensorFileError) -> [TensorDescriptor] {
        switch self {
        case .safetensors(let model):
            return model.tensors.map(\.tensor.descriptor)
        case .hdf5(let checkpoint):
            return try checkpoint.datasets.map { (info) throws(TensorFileError) in try checkpoint.descriptor(of: info) }
        }
    }

    /// Calls `body` with the bytes of the `index`-th tensor of `tensors()`, in order, in pieces of at most
    /// `pieceBytes`: views into the mapped file for safetensors (each piece's pages let go after `body`); for HDF5,
    /// buffers read through libhdf5 (whole rows). Memory stays bounded whatever the tensor's size.
    public func forEachPiece(
        ofTensor index: Int, pieceBytes: Int = 64 << 20, _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        switch self {
        case .safetensors(let model):
            // Straight from the mapping, piece by piece, each piece's pages let go once it is read: a pass over a
            // large checkpoint keeps a piece per reader resident, not the file.
            let entry = model.tensors[index]
            let shard = model.shards[entry.shard]
            let bytes = shard.bytes(of: entry.tensor)
            var offset = 0
            repeat {
                let piece = UnsafeRawBufferPointer(rebasing: bytes[offset..<min(bytes.count, offset + pieceBytes)])
                try body(piece)
                shard.evict(piece)
                offset += piece.count
            } while offset < bytes.count
        case .hdf5(let checkpoint):
            try checkpoint.readTensor(checkpoint.datasets[index], pieceBytes: pieceBytes, body)
        }
    }
}

/// An attribute's value as text: strings as they are (one element) or as a JSON array; numbers as a JSON array of
/// the values for the common integer and float types; other types by their size.
func attributeText(_ attribute: HDF5Attribute) -> String {
    if let strings = attribute.strings {
        if attribute.dataspace.kind == .scalar, let only = strings.first { return only }
        return JSONValue.array(strings.map(JSONValue.string)).serialized
    }
    guard case .raw(let bytes) = attribute.value else { return "" }
    let type = attribute.datatype
    let littleEndian = type.byteOrder != .bigEndian
    func word(_ start: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<type.size {
            let byte = UInt64(bytes[start + (littleEndian ? index : type.size - 1 - index)])
            value |= byte << (8 * UInt64(index))
        }
        return value
    }
    // Whole elements only; numbers wider than 64 bits (a 128-bit integer attribute) are shown as hex bytes.
    let size = max(1, type.size)
    let elements = stride(from: 0, to: bytes.count - bytes.count % size, by: size).map { start -> String in
        guard size <= 8 else {
            let ordered = littleEndian ? bytes[start..<(start + size)].reversed() : Array(bytes[start..<(start + size)])
            return "\"0x" + ordered.map { String($0 >> 4, radix: 16) + String($0 & 15, radix: 16) }.joined() + "\""
        }
        let raw = word(start)
        switch (type.typeClass, type.size) {
        case (.float, 4): return String(Float(bitPattern: UInt32(truncatingIfNeeded: raw)))
        case (.float, 8): return String(Double(bitPattern: raw))
        case (.integer, _) where type.signed:
            let shift = UInt64(64 - 8 * type.size)
            return String(Int64(bitPattern: raw << shift) >> Int64(shift))
        case (.integer, _): return String(raw)
        default: return "\"0x" + String(raw, radix: 16) + "\""
        }
    }
    if attribute.dataspace.kind == .scalar, let only = elements.first { return only }
    return "[" + elements.joined(separator: ",") + "]"
}
