import PBRCore
import XXHash

/// Disk space an operation would give back, counted as gc counts it: object files no remaining model needs,
/// directly or as the delta base of an object it needs.
package struct Reclaimable: Sendable, Equatable {
    package var objects: Int
    /// Bytes of the object files on disk.
    package var bytes: UInt64
}

/// One model's share of the store, like borg's unique chunks.
package struct ModelUsage: Sendable, Equatable {
    package var model: String
    /// The object files the model needs (with delta bases), as stored.
    package var storedBytes: UInt64
    /// The part of `storedBytes` no other model needs: what `rm` and then `gc` would free.
    package var uniqueBytes: UInt64
    package var objects: Int
    package var uniqueObjects: Int
}

extension Store {
    /// What `gc` would free after removing `models` (none: what it would free now), without changing anything.
    package func reclaimable(removing models: [String] = []) throws -> Reclaimable {
        let needs = try index.needs()
        let unknown = models.filter { needs.byModel[$0] == nil }
        if !unknown.isEmpty { throw unknownModels(unknown) }
        let leaving = Set(models)
        var live = Set<String>()
        for (model, objects) in needs.byModel where !leaving.contains(model) {
            live.formUnion(closure(of: objects, needs: needs))
        }
        var result = Reclaimable(objects: 0, bytes: 0)
        let present = Set(objects.allObjects().map(\.description))
        for digest in present.union(needs.indexed) where !live.contains(digest) {
            result.objects += 1
            result.bytes += XXH3Digest(hex: digest).flatMap { objects.size(of: $0) } ?? 0
        }
        return result
    }

    /// Every model's stored and unique bytes, by name.
    package func usage() throws -> [ModelUsage] {
        let needs = try index.needs()
        let closures = needs.byModel.mapValues { closure(of: $0, needs: needs) }
        var owners: [String: Int] = [:]
        for objects in closures.values {
            for digest in objects { owners[digest, default: 0] += 1 }
        }
        var size: [String: UInt64] = [:]
        for digest in owners.keys {
            size[digest] = XXH3Digest(hex: digest).flatMap { objects.size(of: $0) } ?? 0
        }
        return closures.keys.sorted().map { model in
            var usage = ModelUsage(model: model, storedBytes: 0, uniqueBytes: 0, objects: 0, uniqueObjects: 0)
            for digest in closures[model] ?? [] {
                let bytes = size[digest] ?? 0
                usage.objects += 1
                usage.storedBytes += bytes
                if owners[digest] == 1 {
                    usage.uniqueObjects += 1
                    usage.uniqueBytes += bytes
                }
            }
            return usage
        }
    }

    /// Removes several models in one transaction: all of them, or none when one is not in the store.
    package func remove(_ models: [String]) throws {
        try index.requireSound()
        do {
            _ = try index.removeModels(models)
        } catch let error as StoreIndex.RollbackUnknown {
            throw unknownModels(error.names)
        }
    }

    /// As `unknownModel` says it, for every name that is not there, and that nothing was removed.
    private func unknownModels(_ names: [String]) -> StoreError {
        let message =
            names.count == 1
            ? unknownModel(names[0]).message
            : "no model named \(names.map { "\"\($0)\"" }.joined(separator: ", ")) in store \(root)"
        return StoreError(.unknownModel, message + "; nothing removed")
    }

    /// The objects with the delta bases their rows name, transitively (chains are one link long, but a damaged
    /// index could say otherwise).
    private func closure(of objects: Set<String>, needs: StoreIndex.Needs) -> Set<String> {
        var result = objects
        var queue = Array(objects)
        while let next = queue.popLast() {
            if let base = needs.base[next], result.insert(base).inserted { queue.append(base) }
        }
        return result
    }
}
