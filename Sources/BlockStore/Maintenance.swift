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
    /// Checks the store: every object file against its digest (decoding it), the index's structure and seals, every
    /// object row against its file, every recipe against the objects its model's rows list, and that every model has
    /// all it needs.
    package func verify(progress: (@Sendable (UInt64, UInt64) -> Void)? = nil) throws -> VerifyResult {
        try examine(progress: progress).result
    }

    /// `verify`'s work, with the index problems as `repair` needs them (which model or object each concerns).
    func examine(progress: (@Sendable (UInt64, UInt64) -> Void)?) throws -> (
        result: VerifyResult, problems: [StoreIndex.Problem]
    ) {
        let files = objects.allObjects()
        let report: @Sendable (Int) -> Void = { progress?(UInt64($0), UInt64(files.count)) }
        let damaged = try Parallel.map(count: files.count, completed: report) { index -> Bool in
            do {
                // The file checksum catches damage decoding would not notice (a stray byte in an unused field).
                _ = try objects.withObject(files[index]) { try StoredObject.checkFile($0, name: "\(files[index])") }
                _ = try objects.content(of: files[index])
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
            if Set(recipe.objects) != references.needs[model] ?? [] {
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
    package func repair(progress: (@Sendable (UInt64, UInt64) -> Void)? = nil) throws -> RepairResult {
        let (found, problems) = try examine(progress: progress)
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
