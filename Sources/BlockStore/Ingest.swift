import Crypto
import Dispatch
import Foundation
package import PBRCore
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
    package enum Status: String, Sendable {
        case added, unchanged
        /// Already in the store, but some of its objects were damaged or missing and were written again.
        case repaired
    }
    package var model: String
    package var family: String
    package var status: Status
    package var tensors: Int
    package var tensorBytes: UInt64
    package var blocks: Int
    /// Blocks of this model that the store already had, and their bytes.
    package var reusedBlocks: Int
    package var reusedBytes: UInt64
    package var newObjects: Int
    /// Content bytes of the objects written, and their size on disk.
    package var newObjectBytes: UInt64
    package var newStoredBytes: UInt64
    /// Objects that were damaged and were written again from the model's files.
    package var repairedObjects: Int
    /// Files of the model, and checkpoints among them.
    package var files: Int
    package var checkpoints: Int
    /// What was left out of the model's folder on purpose (`.git`), relative to it.
    package var skipped: [String]
    /// Seconds per stage (`partition`: validating and hashing the tensors; `plan`; `encode` and `write_objects`,
    /// summed over the encoding threads; `wait_for_checksums`: the whole-file SHA-256 and XXH3 beside them;
    /// `record`: the index transaction) and `total`.
    package var stages: [StageTime] = []
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
        try ingest(try ModelSource.find(path), from: path, options: options, progress: progress)
    }

    /// Adds the model whose files `source` found at `path` (see `ingest(_:options:progress:)`); the files have been
    /// checked (links, kinds) before anything reads them.
    package func ingest(
        _ source: ModelSource, from path: String, options: IngestOptions = IngestOptions(),
        progress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) throws -> IngestResult {
        let name = options.name ?? source.defaultName
        let family = options.family ?? source.defaultFamily
        try ModelName.check(name)
        let clock = StageClock()
        // One bar over the whole work: hashing the tensors, then encoding and writing the objects (as many bytes as
        // the files, near enough; reused objects count as done).
        let fileBytes = try source.relativePaths.reduce(UInt64(0)) { total, path in
            total + UInt64(try MappedFile(path: source.absolutePath(path)).count)
        }
        let hashed = Mutex<UInt64>(0)
        let report = try clock.measure("partition") {
            try ModelPartition.run(try source.open(), rules: options.rules, chunkBytes: chunkBytes) { done, total in
                hashed.withLock { $0 = total }
                progress?(done, total + fileBytes)
            }
        }
        let hashTotal = hashed.withLock { $0 }
        let encodeProgress: @Sendable (UInt64, UInt64) -> Void = { done, total in
            let scaled = total == 0 ? fileBytes : UInt64(Double(done) / Double(total) * Double(fileBytes))
            progress?(hashTotal + scaled, hashTotal + fileBytes)
        }
        try index.requireSound()
        func fingerprint(_ checksums: [FileChecksum]) -> [String] {
            zip(source.relativePaths, checksums).map { "\($0.0)=\($0.1.sha256)" }
        }
        func result(_ status: IngestResult.Status, _ written: WrittenObjects, reused: (blocks: Int, bytes: UInt64))
            -> IngestResult
        {
            IngestResult(
                model: name, family: family, status: status, tensors: report.tensors.count,
                tensorBytes: report.totalBytes, blocks: report.blocks.count, reusedBlocks: reused.blocks,
                reusedBytes: reused.bytes,
                newObjects: written.count, newObjectBytes: written.raw, newStoredBytes: written.stored,
                repairedObjects: written.repaired.count, files: source.relativePaths.count,
                checkpoints: source.checkpoints.count, skipped: source.skipped, stages: clock.stages)
        }
        var plan = try clock.measure("plan") {
            try ModelPlan(partition: report, source: source, model: name, chunkBytes: chunkBytes)
        }
        if let existing = try index.sourceFingerprint(of: name) {
            guard existing == fingerprint(try source.checksums()) else {
                throw StoreError(
                    .conflict,
                    "a different model named \"\(name)\" is already in the store; rm it first or choose another --name")
            }
            // The same files again: nothing to record, but every object the model needs is checked, and any that is
            // damaged or missing is written again from these files.
            let lease = try Lease(store: root, digests: plan.objects.map(\.digest))
            defer { lease.release() }
            try index.claim(plan.objects.map(\.digest))
            let written = try writeObjects(
                &plan, base: nil, level: options.level, clock: clock, progress: encodeProgress)
            if !written.repaired.isEmpty || written.count > 0 {
                try index.refresh(plan.objects.filter(\.isNew).map(\.digest), model: name, facts: objects.facts)
            }
            return result(
                written.count > 0 ? .repaired : .unchanged, written, reused: (report.blocks.count, report.totalBytes))
        }
        let base = try index.baseTensors(
            family: family, explicit: options.base, parent: source.provenance.parent, excluding: name)
        let leased = plan.objects.map(\.digest) + (base?.tensors.values.map(\.object) ?? [])
        let lease = try Lease(store: root, digests: leased)
        defer { lease.release() }
        // The whole-file checksums take one core for a while: they run beside the encoders rather than before them.
        let checksums = BackgroundWork { try source.checksums() }
        var written = WrittenObjects()
        var fileChecksums: [FileChecksum]?
        // A gc that started before this ingest's lease existed may delete objects it relies on; the transaction that
        // records the model notices, and the ingest writes them again (its lease now protects them).
        var attempt = 0
        while true {
            attempt += 1
            do {
                try index.claim(leased)
                written.add(
                    try writeObjects(&plan, base: base, level: options.level, clock: clock, progress: encodeProgress))
                if fileChecksums == nil {
                    let computed = try clock.measure("wait_for_checksums") { try checksums.wait() }
                    fileChecksums = computed
                    plan.setChecksums(computed)
                }
                let reused = try clock.measure("record") {
                    try index.record(
                        StoreIndex.ModelEntry(
                            plan: plan, partition: report, name: name, family: family, baseModel: base?.model,
                            rules: options.rules, source: source.root),
                        facts: objects.facts)
                }
                return result(.added, written, reused: reused)
            } catch let error as StoreError where error.code == .missingObject && attempt < 4 {
                continue
            } catch let error as StoreError where error.code == .conflict {
                // Another ingest of the same files won the race: the model is there, as asked.
                guard try index.sourceFingerprint(of: name) == fingerprint(fileChecksums ?? []) else { throw error }
                return result(.unchanged, written, reused: (report.blocks.count, report.totalBytes))
            } catch {
                if fileChecksums == nil { _ = try? checksums.wait() }  // not left running behind the error
                throw error
            }
        }
    }

    /// What `writeObjects` wrote.
    struct WrittenObjects {
        var count = 0
        var raw: UInt64 = 0
        var stored: UInt64 = 0
        /// Objects whose file was damaged (or whose delta base was) and was written again.
        var repaired: [XXH3Digest] = []

        mutating func add(_ other: WrittenObjects) {
            count += other.count
            raw += other.raw
            stored += other.stored
            repaired += other.repaired
        }
    }

    /// Makes every object of the plan present and intact, in parallel: an object file already there is checked
    /// (its file checksum, and its delta base's) and reused; a missing or damaged one is encoded from the model's
    /// files and written.
    func writeObjects(
        _ plan: inout ModelPlan, base: BaseTensors?, level: Int, clock: StageClock = StageClock(),
        progress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) throws -> WrittenObjects {
        struct Outcome: Sendable {
            var codec: ObjectCodec
            var stored: UInt64
            var base: XXH3Digest?
            var written: Bool
            var repaired: Bool
        }
        let planned = plan
        let total = plan.objects.reduce(0) { $0 + ($1.isChunkList ? 0 : $1.rawBytes) }
        let done = Mutex<UInt64>(0)
        // Lists after their chunks: a list is checked (or written) once every chunk it names is intact on disk.
        let contents = plan.objects.indices.filter { !plan.objects[$0].isChunkList }
        let lists = plan.objects.indices.filter { plan.objects[$0].isChunkList }
        @Sendable func outcome(_ position: Int) throws -> Outcome {
            let object = planned.objects[position]
            defer {
                if !object.isChunkList {
                    let sum = done.withLock { done in
                        done += object.rawBytes
                        return done
                    }
                    progress?(sum, total)
                }
            }
            var damaged = false
            if let size = objects.size(of: object.digest) {
                // Written earlier (by another model, or by an interrupted ingest: complete and durable, since objects
                // are written atomically): reused when intact.
                if let header = try? objects.checkIntact(object.digest, followingChunks: false) {
                    return Outcome(
                        codec: header.codec, stored: size, base: header.base, written: false, repaired: false)
                }
                damaged = true
            }
            let encoded = try clock.measure("encode") { try encode(object, of: planned, base: base, level: level) }
            let stored = try clock.measure("write_objects") {
                try encoded.object.withBytes {
                    try objects.write($0, digest: object.digest, syncDirectory: false, replacing: damaged)
                }
            }
            if !stored {
                // Another ingest wrote it meanwhile: its file stands, if it is intact.
                if let header = try? objects.checkIntact(object.digest), let size = objects.size(of: object.digest) {
                    return Outcome(
                        codec: header.codec, stored: size, base: header.base, written: false, repaired: false)
                }
                try encoded.object.withBytes {
                    try objects.write($0, digest: object.digest, syncDirectory: false, replacing: true)
                }
                damaged = true
            }
            return Outcome(
                codec: encoded.codec, stored: UInt64(encoded.object.count), base: encoded.base, written: true,
                repaired: damaged)
        }
        var found = [Outcome?](repeating: nil, count: plan.objects.count)
        for phase in [contents, lists] {
            // Largest first, so that the last object to finish is a small one and no core waits at the end.
            let order = Parallel.largestFirst(phase.map { plan.objects[$0].rawBytes })
            let results = try Parallel.map(count: phase.count, order: order) { try outcome(phase[$0]) }
            for (position, result) in zip(phase, results) { found[position] = result }
        }
        let outcomes = found.map { $0! }
        objects.syncDirectories(
            of: plan.objects.indices.filter { outcomes[$0].written }.map { plan.objects[$0].digest })
        var written = WrittenObjects()
        for (index, outcome) in outcomes.enumerated() {
            plan.objects[index].codec = outcome.codec
            plan.objects[index].storedBytes = outcome.stored
            plan.objects[index].base = outcome.base
            plan.objects[index].isNew = outcome.written
            guard outcome.written else { continue }
            written.count += 1
            if !plan.objects[index].isChunkList { written.raw += plan.objects[index].rawBytes }
            written.stored += outcome.stored
            if outcome.repaired { written.repaired.append(plan.objects[index].digest) }
        }
        return written
    }

    /// Encodes one object: as a delta against the base model's corresponding tensor when that one is intact and
    /// self-contained (chains stay one link long) and the delta is smaller, else on its own.
    func encode(_ object: PlannedObject, of plan: ModelPlan, base: BaseTensors?, level: Int) throws -> (
        object: ScratchBuffer, codec: ObjectCodec, base: XXH3Digest?
    ) {
        if case .chunks(let chunks) = object.source {
            let list = StoredObject.encodeChunkList(chunks, digest: object.digest, elementSize: object.elementSize)
            let buffer = ScratchPool.shared.take(list.count)
            list.withUnsafeBytes { buffer.space.copyMemory(from: $0) }
            return (buffer, .chunked, nil)
        }
        var baseCandidate: (digest: XXH3Digest, content: ScratchBuffer)?
        if let key = object.baseKey, let tensor = base?.tensors[key], tensor.dtype == object.dtype,
            tensor.shape == object.shape, let candidate = baseObject(of: object, tensor: tensor.object),
            candidate != object.digest,
            let content = try? baseCache.value(
                for: candidate,
                compute: { () throws -> ScratchBuffer in
                    let header = try objects.checkIntact(candidate)
                    guard header.base == nil, header.codec != .chunked, header.rawLength == object.rawBytes else {
                        throw StoreError(.corruptObject, "object \(candidate) is not a self-contained base")
                    }
                    return try objects.decoded(candidate)
                })
        {
            baseCandidate = (candidate, content)
        }
        func encoded(against base: (digest: XXH3Digest, content: UnsafeRawBufferPointer)?) throws -> (
            object: ScratchBuffer, codec: ObjectCodec
        ) {
            try plan.withContent(of: object) { content in
                try StoredObject.encodeBuffer(
                    content, digest: object.digest, elementSize: object.elementSize, base: base, level: level)
            }
        }
        let encoded =
            try baseCandidate.map { candidate in
                try candidate.content.withBytes { try encoded(against: (candidate.digest, $0)) }
            } ?? encoded(against: nil)
        return (encoded.object, encoded.codec, encoded.codec == .xorPlanes ? baseCandidate?.digest : nil)
    }

    /// The base tensor's object a delta of `object` is taken against: the tensor's own object, or for a chunk the
    /// same chunk of the base tensor's list (tensors of one shape are chunked alike); nil when there is none.
    func baseObject(of object: PlannedObject, tensor: XXH3Digest) -> XXH3Digest? {
        let chunks = try? objects.chunks(of: tensor)
        guard let chunkIndex = object.chunkIndex else { return chunks == nil ? tensor : nil }
        guard let chunks, chunkIndex < chunks.count, chunks[chunkIndex].length == object.rawBytes
        else { return nil }
        return chunks[chunkIndex].digest
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
