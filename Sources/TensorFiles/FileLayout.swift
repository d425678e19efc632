import HDF5

/// Where one tensor's bytes sit, unchanged, in one file of a checkpoint.
public struct TensorExtent: Sendable, Equatable {
    /// Byte offset in the file.
    public var offset: Int
    public var length: Int
    /// The tensor's index in `Checkpoint.tensors()`.
    public var tensor: Int

    public init(offset: Int, length: Int, tensor: Int) {
        self.offset = offset
        self.length = length
        self.tensor = tensor
    }
}

/// How one file of a checkpoint is made of tensor bytes: what a store needs to keep the tensors apart from the
/// rest of the file and splice them back later, without knowing the format.
public enum CheckpointFileLayout: Sendable, Equatable {
    /// A safetensors file: the header (its 8-byte length and JSON, verbatim), then every tensor in data order and
    /// nothing else.
    case safetensors(header: [UInt8], tensors: [TensorExtent])
    /// A file whose tensors are byte ranges inside other bytes (HDF5 contiguous datasets stored as is): everything
    /// outside the extents is format structure. The extents are candidates, sorted by offset and inside the file,
    /// whose bytes are the tensor's bytes if the file's metadata tells the truth, and they may overlap in a hostile
    /// file; a store compares each range's digest with the tensor's before it relies on one.
    case embedded([TensorExtent])
    /// A file that holds none of the checkpoint's tensors (configs, tokenizers, anything else).
    case other
}

extension Checkpoint {
    /// The layout of the checkpoint's file `name` (the last path component) of `length` bytes.
    ///
    /// HDF5 datasets are candidates only when contiguous, stored as the tensor's bytes (no filter, no byte swap:
    /// storage size equals the tensor's size and the type is not big-endian) and inside the file; chunked and
    /// compressed datasets stay in the file's structure.
    public func layout(ofFile name: String, length: Int) -> CheckpointFileLayout {
        switch self {
        case .safetensors(let model):
            guard let shardIndex = model.shards.firstIndex(where: { Self.lastComponent($0.path) == name }) else {
                return .other
            }
            let shard = model.shards[shardIndex]
            var position: [String: Int] = [:]
            for (index, entry) in model.tensors.enumerated() where entry.shard == shardIndex {
                position[entry.tensor.name] = index
            }
            let tensors = shard.header.tensorsInDataOrder.map { tensor in
                TensorExtent(
                    offset: shard.dataStart + Int(tensor.begin), length: Int(tensor.byteCount),
                    tensor: position[tensor.name] ?? 0)
            }
            return .safetensors(header: shard.header.prefixBytes, tensors: tensors)
        case .hdf5(let checkpoint):
            guard Self.lastComponent(checkpoint.path) == name else { return .other }
            var extents: [TensorExtent] = []
            for (index, info) in checkpoint.datasets.enumerated() {
                guard let offset = info.fileOffset.map(Int.init), info.storageSize > 0,
                    info.storageSize == info.byteCount,
                    info.datatype.byteOrder != .bigEndian, offset + Int(info.storageSize) <= length
                else { continue }
                extents.append(TensorExtent(offset: offset, length: Int(info.storageSize), tensor: index))
            }
            return .embedded(extents.sorted { $0.offset < $1.offset })
        }
    }

    public static func lastComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}
