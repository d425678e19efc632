package import TensorFiles
package import XXHash

/// A parameter block with its content digest and size.
package struct DigestedBlock: Sendable, Equatable {
    package var block: ParameterBlock
    /// XXH3-128 over, for each tensor in block order: its 16-byte digest, its dtype name and a NUL, its rank and
    /// dimensions as little-endian u64. Names do not enter: the same unit of two models is the same block even when
    /// a wrapper scope differs (`sequential_2/dense_7` vs `sequential/dense`).
    package var digest: XXH3Digest
    /// Sum of the block's tensor bytes.
    package var bytes: UInt64
}

extension Partition {
    /// Digests and sizes of the blocks of an inspected checkpoint (tensor indices refer to `inspection.tensors`).
    package func digested(_ inspection: Inspection) -> [DigestedBlock] {
        blocks.map { block in
            var hasher = XXH3Hasher()
            var bytes: UInt64 = 0
            for index in block.tensors {
                let tensor = inspection.tensors[index]
                hasher.update(tensor.digest.bytes)
                hasher.update(Array(tensor.descriptor.dtype.utf8) + [0])
                var dimensions: [UInt64] = [UInt64(tensor.descriptor.shape.count)] + tensor.descriptor.shape
                for index in dimensions.indices { dimensions[index] = dimensions[index].littleEndian }
                dimensions.withUnsafeBytes { hasher.update($0) }
                bytes += tensor.descriptor.byteCount
            }
            return DigestedBlock(block: block, digest: hasher.finalize(), bytes: bytes)
        }
    }
}
