public import PBRCore
import Synchronization
public import XXHash

/// One tensor of an inspected checkpoint with the XXH3-128 digest of its bytes.
public struct InspectedTensor: Sendable, Equatable {
    public var descriptor: TensorDescriptor
    public var digest: XXH3Digest
    /// XXH3-128 of each consecutive chunk of the tensor's bytes, when the inspection was asked for chunks of a size
    /// the tensor exceeds; empty otherwise.
    public var chunkDigests: [XXH3Digest] = []

    public init(descriptor: TensorDescriptor, digest: XXH3Digest, chunkDigests: [XXH3Digest] = []) {
        self.descriptor = descriptor
        self.digest = digest
        self.chunkDigests = chunkDigests
    }
}

/// What `pbrepo inspect` reports: the checkpoint's tensors with their digests.
public struct Inspection: Sendable {
    public var path: String
    public var format: CheckpointFormat
    public var metadata: [(key: String, value: String)]
    /// In storage order.
    public var tensors: [InspectedTensor]
    /// The opened checkpoint (its files stay mapped while the inspection is kept).
    public var checkpoint: Checkpoint

    public var totalBytes: UInt64 { tensors.reduce(0) { $0 + $1.descriptor.byteCount } }

    /// Opens `path` (file or directory), validates it completely and hashes every tensor.
    ///
    /// Tensors are hashed in parallel on all cores, each straight from the mapped file (safetensors) or from one
    /// read through libhdf5 (HDF5).
    ///
    /// - Parameter progress: called with (bytes hashed so far, total bytes), from any thread.
    public static func run(
        path: String, progress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) throws -> Inspection {
        try run(checkpoint: try Checkpoint.open(path), path: path, progress: progress)
    }

    /// Validates and hashes an opened checkpoint (reported as `path`), as `run(path:progress:)` does.
    ///
    /// - Parameter chunkBytes: also digest each chunk of this size of every tensor larger than it, in the same pass
    ///   (the store keeps such tensors as chunks).
    public static func run(
        checkpoint: Checkpoint, path: String, chunkBytes: Int? = nil,
        progress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) throws -> Inspection {
        let descriptors = try checkpoint.tensors()
        if case .safetensors(let model) = checkpoint { for shard in model.shards { shard.adviseSequential() } }
        let tensors = try hashAll(checkpoint, descriptors: descriptors, chunkBytes: chunkBytes, progress: progress)
        return Inspection(
            path: path, format: checkpoint.format, metadata: checkpoint.metadata, tensors: tensors,
            checkpoint: checkpoint)
    }

    static func hashAll(
        _ checkpoint: Checkpoint, descriptors: [TensorDescriptor], chunkBytes: Int?,
        progress: (@Sendable (UInt64, UInt64) -> Void)?
    ) throws -> [InspectedTensor] {
        let total = descriptors.reduce(0) { $0 + $1.byteCount }
        let hashed = Mutex<UInt64>(0)
        // Largest first, so the two cores finish together instead of one waiting on a late big tensor.
        return try Parallel.map(count: descriptors.count, order: Parallel.largestFirst(descriptors.map(\.byteCount))) {
            index in
            let tensor: InspectedTensor
            if let chunkBytes, descriptors[index].byteCount > UInt64(chunkBytes) {
                var hasher = XXH3ChunkedHasher(chunkBytes: chunkBytes)
                try checkpoint.forEachPiece(ofTensor: index) { hasher.update($0) }
                let digests = hasher.finalize()
                tensor = InspectedTensor(
                    descriptor: descriptors[index], digest: digests.whole, chunkDigests: digests.chunks)
            } else {
                var hasher = XXH3Hasher()
                try checkpoint.forEachPiece(ofTensor: index) { hasher.update($0) }
                tensor = InspectedTensor(descriptor: descriptors[index], digest: hasher.finalize())
            }
            let done = hashed.withLock { done in
                done += descriptors[index].byteCount
                return done
            }
            progress?(done, total)
            return tensor
        }
    }
}

extension Inspection {
    /// The report as JSON: `{"path", "format", "metadata": {...}, "tensors": [{"name", "dtype", "shape", "bytes",
    /// "xxh3_128"}]}`.
    public var json: JSONValue {
        Self.json(path: path, format: format.rawValue, metadata: metadata, tensors: tensors)
    }

    /// The same form for tensors gathered from several checkpoints (a model folder tree).
    public static func json(
        path: String, format: String, metadata: [(key: String, value: String)], tensors: [InspectedTensor]
    ) -> JSONValue {
        .object([
            ("path", .string(path)),
            ("format", .string(format)),
            ("metadata", .object(metadata.map { ($0.key, JSONValue.string($0.value)) })),
            (
                "tensors",
                .array(
                    tensors.map { tensor in
                        .object([
                            ("name", .string(tensor.descriptor.name)),
                            ("dtype", .string(tensor.descriptor.dtype)),
                            ("shape", .array(tensor.descriptor.shape.map { JSONValue.number($0) })),
                            ("bytes", .number(tensor.descriptor.byteCount)),
                            ("xxh3_128", .string(tensor.digest.description)),
                        ])
                    })
            ),
        ])
    }
}
