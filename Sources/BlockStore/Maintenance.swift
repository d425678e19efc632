import Dispatch
import Foundation
import Glibc
import PBRCore
import Synchronization
import TensorFiles
import XXHash

/// What `verify` found.
package struct VerifyResult: Sendable, Equatable {
    package var objectsChecked: Int
    package var modelsChecked: Int
    /// Objects whose file does not decode to its digest (or whose delta base is unusable).
    package var corrupt: [String]
    /// Objects a model needs that have no file.
    package var missing: [String]
    /// Models that cannot be assembled (an object they need is missing or corrupt, or their rows are damaged).
    package var incompleteModels: [String]
    /// What is wrong with the index itself, one line each: SQLite's checks, seals, rows that disagree with the
    /// object files or with each other.
    package var indexProblems: [String]
    package var isHealthy: Bool {
        corrupt.isEmpty && missing.isEmpty && incompleteModels.isEmpty && indexProblems.isEmpty
    }
}

/// What `gc` removed.
package struct CollectResult: Sendable, Equatable {
    package var objectsRemoved: Int
    package var bytesFreed: UInt64
    package var temporaryFilesRemoved: Int
    /// Stale temporaries removed beside outputs of assemble and export-blocks (paths).
    package var outputTemporariesRemoved: [String] = []
}

/// What `verify --repair` did.
package struct RepairResult: Sendable, Equatable {
    /// Models whose damaged or missing objects were written again from their recorded source files.
    package var repaired: [String]
    /// Models that could not be repaired, with why (their source is gone or has changed).
    package var unrepairable: [String: String]
    /// Object rows rewritten from their files' headers.
    package var rowsRefreshed: Int
}

extension Store {
    /// Checks the store: every object file against its checksum and its structure (or, with `decode`, by decoding
    /// it to its digest), the index's structure and seals, every object row against its file, every recipe against
    /// the objects its model's rows list, and that every model has all it needs.
    ///
    /// Without `decode` every stored byte is still read and checked — the file checksum covers all of it, so damage
    /// on disk is found at hashing speed; decoding also proves the encoder wrote what it meant, which every assemble
    /// checks again anyway (restic's `check` against `check --read-data`, borg's `check` against `--verify-data`).
    package func verify(decode: Bool = true, progress: (@Sendable (UInt64, UInt64) -> Void)? = nil) throws
        -> VerifyResult
    {
        try examine(decode: decode, progress: progress).result
    }

    /// `verify`'s work, with the index problems as `repair` needs them (which model or object each concerns).
    func examine(decode: Bool, progress: (@Sendable (UInt64, UInt64) -> Void)?) throws -> (
        result: VerifyResult, problems: [StoreIndex.Problem]
    ) {
        let files = objects.allObjects()
        // A list is decoded chunk by chunk in order (its whole digest is checked so); its chunks are not decoded a
        // second time on their own.
        var listed = Set<XXH3Digest>()
        if decode {
            for digest in files {
                if let chunks = try? objects.chunks(of: digest) { listed.formUnion(chunks.map(\.digest)) }
            }
        }
        let decodedWithTheirList = listed
        let report: @Sendable (Int) -> Void = { progress?(UInt64($0), UInt64(files.count)) }
        let damaged = try Parallel.map(count: files.count, completed: report) { index -> Bool in
            let digest = files[index]
            do {
                // The file checksum catches damage decoding would not notice (a stray byte in an unused field).
                let (checked, isList) = try objects.withObject(digest) { object in
                    let checked = try StoredObject.checkFile(object, name: "\(digest)")
                    return (checked, try StoredObject.validated(object, name: "\(digest)").codec == .chunked)
                }
                if isList {
                    if decode { try objects.forEachPiece(of: digest) { _ in } }
                } else if !checked || (decode && !decodedWithTheirList.contains(digest)) {
                    _ = try objects.decoded(digest)
                }
                return false
            } catch {
                return true
            }
        }
        let corrupt = Set(files.indices.filter { damaged[$0] }.map { files[$0].description })
        let present = Set(files.map(\.description))
        let (problems, incomplete, missing, models) = try checkIndex(present: present, corrupt: corrupt)
        let result = VerifyResult(
            objectsChecked: files.count, modelsChecked: models, corrupt: corrupt.sorted(), missing: missing.sorted(),
            incompleteModels: incomplete.sorted(), indexProblems: problems.map(\.message))
        return (result, problems)
    }

    /// The index against itself and against the object files.
    func checkIndex(present: Set<String>, corrupt: Set<String>) throws -> (
        problems: [StoreIndex.Problem], incomplete: Set<String>, missing: Set<String>, models: Int
    ) {
        var problems = try index.problems()
        let references = try index.references()
        for row in references.objects where present.contains(row.digest) {
            guard let digest = XXH3Digest(hex: row.digest), let file = objects.facts(of: digest) else { continue }
            let onDisk = (
                file.header.codec.name, Int64(exactly: file.header.rawLength) ?? -1, Int64(exactly: file.size) ?? -1
            )
            if onDisk != (row.codec, row.rawBytes, row.storedBytes) || file.header.base?.description != row.base {
                problems.append(
                    StoreIndex.Problem(
                        object: row.digest,
                        message:
                            "object \(row.digest): the index says \(row.codec), \(row.rawBytes) bytes (\(row.storedBytes) stored), "
                            + "base \(row.base ?? "none"); the file says \(onDisk.0), \(onDisk.1) bytes (\(onDisk.2) stored), "
                            + "base \(file.header.base?.description ?? "none") (verify --repair rewrites the row)"))
            }
        }
        var missing = Set<String>()
        var incomplete = Set<String>()
        for (model, text) in references.recipes {
            guard let recipe = try? JSONValueDecoder().decode(Recipe.self, from: Array(text.utf8)) else {
                problems.append(
                    StoreIndex.Problem(model: model, message: "model \(model): its recipe in the index is unreadable"))
                continue
            }
            // The rows list a list's chunks too (the model needs them directly); while a list cannot be read, its
            // chunks are unknown and only the recipe's own objects are compared (the model is incomplete anyway).
            var expected = Set(recipe.objects)
            var unreadable = false
            for name in recipe.objects {
                guard let digest = XXH3Digest(hex: name) else { continue }
                do {
                    if let chunks = try objects.chunks(of: digest) {
                        expected.formUnion(chunks.map(\.digest.description))
                    }
                } catch {
                    unreadable = true
                }
            }
            let needed = references.needs[model] ?? []
            if unreadable ? !Set(recipe.objects).isSubset(of: needed) : expected != needed {
                problems.append(
                    StoreIndex.Problem(
                        model: model, message: "model \(model): its recipe and its object rows name different objects"))
            }
            let required = Assembler.requiredObjects(recipe, in: objects)
            if !required.missing.isEmpty || required.present.contains(where: { corrupt.contains($0.description) }) {
                incomplete.insert(model)
                missing.formUnion(required.missing)
            }
        }
        incomplete.formUnion(problems.compactMap(\.model))
        return (problems, incomplete, missing, references.recipes.count)
    }

    /// Heals what `verify` found where the data still exists: each incomplete model is ingested again from the
    /// source it was recorded from, when those files still have the recorded checksums (which writes its damaged
    /// and missing objects again), and object rows that disagree with their files are rewritten from the files.
    package func repair(decode: Bool = true, progress: (@Sendable (UInt64, UInt64) -> Void)? = nil) throws
        -> RepairResult
    {
        let (found, problems) = try examine(decode: decode, progress: progress)
        var result = RepairResult(repaired: [], unrepairable: [:], rowsRefreshed: 0)
        let mismatched = problems.compactMap { $0.object.flatMap(XXH3Digest.init(hex:)) }
        if !mismatched.isEmpty {
            try index.refresh(mismatched, model: "(repair)", facts: objects.facts)
            result.rowsRefreshed = mismatched.count
        }
        let damagedRows = Set(problems.compactMap(\.model))
        for model in found.incompleteModels {
            guard let recorded = try index.source(of: model) else { continue }
            do {
                // Damaged rows are recorded again from scratch; damaged objects are healed by ingesting the same files.
                if damagedRows.contains(model) {
                    _ = try ModelSource.find(recorded.path)
                    try remove(model)
                }
                _ = try ingest(recorded.path, options: IngestOptions(name: model, family: recorded.family))
                result.repaired.append(model)
            } catch {
                result.unrepairable[model] = "\(error)"
            }
        }
        return result
    }

    /// Removes a model from the index (its objects stay until `gc`).
    package func remove(_ model: String) throws { try remove([model]) }

    /// Deletes objects no model needs (directly or as the base of a delta it needs) and no running ingest holds,
    /// blocks no model has, and temporary files left by processes that are gone.
    ///
    /// Two steps, so that a gc killed at any point leaves nothing wrong: one transaction records which objects die
    /// (and deletes their rows), then their files are deleted, a thousand per short transaction; an ingest that
    /// needs a doomed object takes it back meanwhile, and the next gc finishes what a killed one left.
    package func collectGarbage() throws -> CollectResult {
        try index.requireSound(seals: true)
        let present = objects.allObjects().map(\.description)
        _ = try index.doomUnreferenced(present: present, leased: Lease.held(in: root)) { hex in
            XXH3Digest(hex: hex).flatMap { objects.facts(of: $0)?.header.base?.description }
        }
        let (removed, freed) = try index.deleteDoomed { hex -> UInt64? in
            guard let digest = XXH3Digest(hex: hex) else { return nil }
            let size = objects.size(of: digest)
            return unlink(objects.path(of: digest)) == 0 ? size ?? 0 : nil
        }
        return CollectResult(
            objectsRemoved: removed, bytesFreed: freed, temporaryFilesRemoved: removeStaleTemporaryFiles(),
            outputTemporariesRemoved: removeStaleOutputTemporaries())
    }

    /// `.pbrepo-tmp-<pid>-...` files under objects/ whose process no longer exists.
    func removeStaleTemporaryFiles() -> Int {
        var removed = 0
        for fan in (try? FileSystem.listDirectory(root + "/objects")) ?? [] {
            removed += AtomicFile.removeStaleTemporaries(in: root + "/objects/" + fan, quietSeconds: 0).count
        }
        return removed
    }
}

extension Store {
    /// The file listing the directories assemble and export-blocks wrote into, one absolute path per line, so that
    /// gc can remove what a killed one left there.
    var outputsFile: String { root + "/outputs" }

    /// Adds `directory` to the outputs gc looks after (best effort: a read-only store just does not remember).
    func rememberOutputDirectory(_ directory: String) {
        let absolute = URL(fileURLWithPath: directory).standardizedFileURL.path
        guard !knownOutputDirectories().contains(absolute) else { return }
        let descriptor = open(outputsFile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        let line = Array((absolute + "\n").utf8)
        _ = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    }

    func knownOutputDirectories() -> [String] {
        guard let bytes = try? FileSystem.read(outputsFile) else { return [] }
        var seen = Set<String>()
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init).filter {
            $0.hasPrefix("/") && seen.insert($0).inserted
        }
    }

    /// `.pbrepo-tmp-*` files and directories that killed assembles and exports left in the directories they wrote
    /// into (and in an export's object folders), by the rule of `AtomicFile.removeStaleTemporaries`.
    func removeStaleOutputTemporaries() -> [String] {
        var removed: [String] = []
        for directory in knownOutputDirectories() where FileSystem.isDirectory(directory) {
            removed += AtomicFile.removeStaleTemporaries(in: directory, quietSeconds: 0)
            for fan in (try? FileSystem.listDirectory(directory + "/objects")) ?? [] where fan.utf8.count == 2 {
                removed += AtomicFile.removeStaleTemporaries(in: directory + "/objects/" + fan, quietSeconds: 0)
            }
        }
        return removed
    }
}
