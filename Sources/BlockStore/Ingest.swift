import Crypto
import Dispatch
import Foundation
import PBRCore
package import ParameterBlocks
import Synchronization
import TensorFiles
import XXHash

/// What `ingest` is told about a model beyond its files.
package struct IngestOptions: Sendable {
    /// Defaults to the file name without `.safetensors` (or the directory's name).
    package var name: String?
    /// Defaults to the name of the directory that holds the file or model directory.
    package var family: String?
    /// The model deltas are computed against; defaults to the family's first model.
    package var base: String?
    package var rules: PartitionRules?
    /// zstd level for objects.
    package var level: Int

    package init(
        name: String? = nil, family: String? = nil, base: String? = nil, rules: PartitionRules? = nil, level: Int = 1
    ) {
        self.name = name
        self.family = family
        self.base = base
        self.rules = rules
        self.level = level
    }
}

/// What one ingest did.
package struct IngestResult: Sendable, Equatable {
    package enum Status: String, Sendable { case added, unchanged }
    package var model: String
    package var family: String
    package var status: Status
    package var tensors: Int
    package var tensorBytes: UInt64
    package var blocks: Int
    /// Blocks of this model that the store already had.
    package var reusedBlocks: Int
    package var newObjects: Int
    /// Content bytes of the objects written, and their size on disk.
    package var newObjectBytes: UInt64
    package var newStoredBytes: UInt64
}

extension Store {
    /// Adds the model at `path` (a file, a sharded checkpoint's directory or index, a model directory) to the store.
    ///
    /// The model's files are validated and hashed, split into parameter blocks, every tensor not yet stored is
    /// written as a compressed object (choosing per object the smallest of byte-grouped zstd and XOR against the
    /// base model's corresponding tensor), and then one transaction records the model. Ingesting the same files
    /// again changes nothing; a different model under an existing name is refused.
    package func ingest(
        _ path: String, options: IngestOptions = IngestOptions(), progress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) throws -> IngestResult {
        let report = try PartitionReport.run(path: path, rules: options.rules, progress: progress)
        let source = try SourceFiles.find(path)
        let name = options.name ?? source.defaultName
        let family = options.family ?? source.defaultFamily
        guard !name.isEmpty, !name.contains("/") else {
            throw StoreError(.invalidArgument, "model name \"\(name)\" must be non-empty and contain no \"/\"")
        }
        func fingerprint(_ checksums: [FileChecksum]) -> [String] {
            zip(source.relativePaths, checksums).map { "\($0.0)=\($0.1.sha256)" }
        }
        func unchanged(_ written: (count: Int, raw: UInt64, stored: UInt64)) -> IngestResult {
            IngestResult(
                model: name, family: family, status: .unchanged, tensors: report.inspection.tensors.count,
                tensorBytes: report.inspection.totalBytes, blocks: report.blocks.count,
                reusedBlocks: report.blocks.count,
                newObjects: written.count, newObjectBytes: written.raw, newStoredBytes: written.stored)
        }
        if let existing = try index.sourceFingerprint(of: name) {
            guard existing == fingerprint(try source.checksums()) else {
                throw StoreError(
                    .conflict,
                    "a different model named \"\(name)\" is already in the store; rm it first or choose another --name")
            }
            return unchanged((0, 0, 0))
        }
        var plan = try ModelPlan(report: report, source: source, model: name)
        let base = try index.baseTensors(family: family, explicit: options.base, excluding: name)
        // The whole-file checksums take one core for a while: they run beside the encoders rather than before them.
        let checksums = BackgroundWork { try source.checksums() }
        let written: (count: Int, raw: UInt64, stored: UInt64)
        do {
            written = try writeObjects(&plan, report: report, base: base, level: options.level)
        } catch {
            _ = try? checksums.wait()
            throw error
        }
        let fileChecksums = try checksums.wait()
        plan.setChecksums(fileChecksums)
        let reused: Int
        do {
            reused = try index.record(
                StoreIndex.ModelEntry(
                    plan: plan, report: report, name: name, family: family, baseModel: base?.model,
                    rules: options.rules,
                    source: path),
                exists: objects.contains)
        } catch let error as StoreError where error.code == .conflict {
            // Another ingest of the same files won the race: the model is there, as asked.
            guard try index.sourceFingerprint(of: name) == fingerprint(fileChecksums) else { throw error }
            return unchanged(written)
        }
        return IngestResult(
            model: name, family: family, status: .added, tensors: report.inspection.tensors.count,
            tensorBytes: report.inspection.totalBytes, blocks: report.blocks.count, reusedBlocks: reused,
            newObjects: written.count, newObjectBytes: written.raw, newStoredBytes: written.stored)
    }

    /// Encodes and writes every object of the plan the store does not have, in parallel.
    func writeObjects(
        _ plan: inout ModelPlan, report: PartitionReport, base: BaseTensors?, level: Int
    ) throws -> (count: Int, raw: UInt64, stored: UInt64) {
        let known = try index.objectDigests()
        let pending = plan.objects.indices.filter { index in
            let digest = plan.objects[index].digest
            return !(known.contains(digest.description) && objects.contains(digest))
        }
        struct Outcome {
            var codec: ObjectCodec
            var stored: UInt64
            var base: XXH3Digest?
        }
        let planned = plan
        // Largest first, so that the last object to finish is a small one and no core waits at the end.
        let order = Parallel.largestFirst(pending.map { plan.objects[$0].rawBytes })
        let outcomes = try Parallel.map(count: pending.count, order: order) { position -> Outcome in
            let object = planned.objects[pending[position]]
            if let size = objects.size(of: object.digest) {
                // Left by an earlier, interrupted ingest: complete and durable (written atomically); reuse it.
                let header = try objects.withObject(object.digest) {
                    try StoredObject.header(of: $0, name: "\(object.digest)")
                }
                return Outcome(codec: header.codec, stored: size, base: header.base)
            }
            var baseCandidate: (digest: XXH3Digest, content: [UInt8])?
            if let key = object.baseKey, let tensor = base?.tensors[key], tensor.dtype == object.dtype,
                tensor.shape == object.shape, tensor.object != object.digest
            {
                baseCandidate = (
                    tensor.object, try baseCache.value(for: tensor.object) { try objects.content(of: tensor.object) }
                )
            }
            let encoded = try planned.withContent(of: object) { content in
                if let baseCandidate {
                    return try baseCandidate.content.withUnsafeBytes { baseBytes in
                        try StoredObject.encode(
                            content, digest: object.digest, elementSize: object.elementSize,
                            base: (baseCandidate.digest, baseBytes), level: level)
                    }
                }
                return try StoredObject.encode(
                    content, digest: object.digest, elementSize: object.elementSize, base: nil, level: level)
            }
            try objects.write(encoded.object, digest: object.digest, syncDirectory: false)
            let baseUsed = encoded.codec == .xorPlanes ? baseCandidate?.digest : nil
            return Outcome(codec: encoded.codec, stored: UInt64(encoded.object.count), base: baseUsed)
        }
        objects.syncDirectories(of: pending.map { plan.objects[$0].digest })
        var raw: UInt64 = 0
        var stored: UInt64 = 0
        var count = 0
        let results = Dictionary(uniqueKeysWithValues: zip(pending, outcomes))
        for index in plan.objects.indices {
            if let outcome = results[index] {
                plan.objects[index].codec = outcome.codec
                plan.objects[index].storedBytes = outcome.stored
                plan.objects[index].base = outcome.base
                plan.objects[index].isNew = true
                count += 1
                raw += plan.objects[index].rawBytes
                stored += outcome.stored
            }
        }
        return (count, raw, stored)
    }
}

/// The base model's tensors that deltas may be taken against.
struct BaseTensors: Sendable {
    struct Key: Hashable, Sendable {
        var block: Int
        var index: Int
    }

    struct Tensor: Sendable {
        var dtype: String
        var shape: String
        var object: XXH3Digest
    }

    var model: String
    var tensors: [Key: Tensor]
}
