import PBRCore
import ParameterBlocks
import XXHash

/// What ingesting models would add to a store, computed without writing anything (`scan-cache`): every object is
/// hashed and encoded in memory, and counted once however many models hold it.
///
/// Objects are encoded on their own (byte planes + zstd); the XOR deltas a store also takes against a family's
/// base are not tried, so a real store is as small or smaller.
package struct StorageEstimate: Sendable {
    /// Objects counted so far, by digest: the dedup across everything estimated with this value.
    private var seen = Set<XXH3Digest>()
    package private(set) var rawBytes: UInt64 = 0
    package private(set) var storedBytes: UInt64 = 0

    package init() {}

    /// What one model adds.
    package struct Added: Sendable, Equatable {
        /// Bytes of the model's files.
        package var fileBytes: UInt64
        /// Content bytes of the objects it adds, and their encoded size.
        package var newRawBytes: UInt64
        package var newStoredBytes: UInt64
        package var newObjects: Int

        package init(fileBytes: UInt64 = 0, newRawBytes: UInt64 = 0, newStoredBytes: UInt64 = 0, newObjects: Int = 0) {
            self.fileBytes = fileBytes
            self.newRawBytes = newRawBytes
            self.newStoredBytes = newStoredBytes
            self.newObjects = newObjects
        }
    }

    /// Adds the model `source` found (its files checked already) and says what it would add to the store.
    package mutating func add(
        _ source: ModelSource, level: Int = 1, progress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) throws -> Added {
        let partition = try ModelPartition.run(
            try source.open(), chunkBytes: StoredObject.chunkBytes, progress: progress)
        let plan = try ModelPlan(partition: partition, source: source, model: source.defaultName)
        let fresh = plan.objects.filter { seen.insert($0.digest).inserted }
        let sizes = try Parallel.map(count: fresh.count, order: Parallel.largestFirst(fresh.map(\.rawBytes))) {
            index -> UInt64 in
            let object = fresh[index]
            if case .chunks(let chunks) = object.source {
                return UInt64(
                    StoredObject.encodeChunkList(chunks, digest: object.digest, elementSize: object.elementSize).count)
            }
            return try plan.withContent(of: object) { content in
                UInt64(
                    try StoredObject.encodeBuffer(
                        content, digest: object.digest, elementSize: object.elementSize, base: nil, level: level
                    ).object.count)
            }
        }
        let added = Added(
            fileBytes: plan.files.reduce(0) { $0 + UInt64($1.count) },
            newRawBytes: fresh.reduce(0) { $0 + ($1.isChunkList ? 0 : $1.rawBytes) },
            newStoredBytes: sizes.reduce(0, +),
            newObjects: fresh.count)
        rawBytes += added.newRawBytes
        storedBytes += added.newStoredBytes
        return added
    }
}
