import Dispatch
import Foundation
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
    /// Objects the index names that have no file.
    package var missing: [String]
    /// Models that cannot be assembled (an object they need is missing or corrupt).
    package var incompleteModels: [String]
    package var isHealthy: Bool { corrupt.isEmpty && missing.isEmpty && incompleteModels.isEmpty }
}

/// What `gc` removed.
package struct CollectResult: Sendable, Equatable {
    package var objectsRemoved: Int
    package var bytesFreed: UInt64
    package var temporaryFilesRemoved: Int
}

extension Store {
    /// Decodes every object file and checks it against its digest, and checks every model has all it needs.
    package func verify(progress: (@Sendable (UInt64, UInt64) -> Void)? = nil) throws -> VerifyResult {
        let files = objects.allObjects()
        let report: @Sendable (Int) -> Void = { progress?(UInt64($0), UInt64(files.count)) }
        let damaged = try Parallel.map(count: files.count, completed: report) { index -> Bool in
            do {
                _ = try objects.content(of: files[index])
                return false
            } catch {
                return true
            }
        }
        let corrupt = Set(files.indices.filter { damaged[$0] }.map { files[$0].description })
        let present = Set(files.map(\.description))
        let (indexed, needs, models) = try index.references()
        let missing = indexed.filter { !present.contains($0) }.sorted()
        var incomplete = Set<String>()
        for (model, object) in needs where !present.contains(object) || corrupt.contains(object) {
            incomplete.insert(model)
        }
        return VerifyResult(
            objectsChecked: files.count, modelsChecked: models.count, corrupt: corrupt.sorted(), missing: missing,
            incompleteModels: incomplete.sorted())
    }

    /// Removes a model from the index (its objects stay until `gc`).
    package func remove(_ model: String) throws {
        guard try index.removeModel(model) else {
            throw StoreError(.unknownModel, "no model named \"\(model)\" in store \(root)")
        }
    }

    /// Deletes objects no model needs (directly or as the base of a delta it needs), blocks no model has, and
    /// temporary files left by processes that are gone. Runs inside a write transaction, so no ingest can commit a
    /// reference to an object while it is being deleted.
    package func collectGarbage() throws -> CollectResult {
        try index.collectGarbage { live -> CollectResult in
            var removed = 0
            var freed: UInt64 = 0
            for digest in objects.allObjects() where !live.contains(digest.description) {
                freed += objects.size(of: digest) ?? 0
                if unlink(objects.path(of: digest)) == 0 { removed += 1 }
            }
            return CollectResult(
                objectsRemoved: removed, bytesFreed: freed, temporaryFilesRemoved: removeStaleTemporaryFiles())
        }
    }

    /// `.pbrepo-tmp-<pid>-...` files under objects/ whose process no longer exists.
    func removeStaleTemporaryFiles() -> Int {
        var removed = 0
        for fan in (try? FileSystem.listDirectory(root + "/objects")) ?? [] {
            let directory = root + "/objects/" + fan
            for name in (try? FileSystem.listDirectory(directory)) ?? [] where name.hasPrefix(".pbrepo-tmp-") {
                let pid = name.dropFirst(".pbrepo-tmp-".count).prefix { $0 != "-" }
                if let pid = Int32(pid), kill(pid, 0) == 0 || errno == EPERM { continue }
                if unlink(directory + "/" + name) == 0 { removed += 1 }
            }
        }
        return removed
    }
}
