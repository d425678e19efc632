import Synchronization

/// What an edge holds, by bytes and last use, so that it can stay within a capacity: the least recently used
/// entries that are not pinned go first. Entries are the store's object files (the parameter blocks) and the blobs
/// kept whole; pinned ones (a caching plan's blocks, the model indexes the catalog is built from) are never evicted,
/// even when they alone exceed the capacity. Entries found at start count as the least recently used, in the
/// order found.
package final class EdgeCache: Sendable {
    package enum Key: Hashable, Sendable {
        case object(String)
        case blob(String)
    }

    package struct Entry: Sendable, Equatable {
        package var key: Key
        package var bytes: UInt64
    }

    private struct State {
        var bytes: [Key: UInt64] = [:]
        var lastUse: [Key: UInt64] = [:]
        var pinned: Set<Key> = []
        /// Entries a fetch under way needs (a delta's base until the delta is checked): not evicted meanwhile.
        var busy: [Key: Int] = [:]
        var clock: UInt64 = 0
        var total: UInt64 = 0
    }

    /// The most bytes held after an eviction; nil: no limit.
    package let capacity: UInt64?
    private let state = Mutex(State())

    package init(capacity: UInt64?) {
        self.capacity = capacity
    }

    /// Records entries found at start, oldest first (their order is their recency).
    package func seed(_ entries: [Entry]) {
        state.withLock { state in
            for entry in entries { Self.add(entry, to: &state) }
        }
    }

    /// Records an entry that was stored (or replaced), as just used.
    package func stored(_ key: Key, bytes: UInt64) {
        state.withLock { Self.add(Entry(key: key, bytes: bytes), to: &$0) }
    }

    /// Marks entries as just used (served).
    package func used(_ keys: some Sequence<Key>) {
        state.withLock { state in
            for key in keys where state.bytes[key] != nil {
                state.clock += 1
                state.lastUse[key] = state.clock
            }
        }
    }

    package func pin(_ keys: some Sequence<Key>) {
        state.withLock { $0.pinned.formUnion(keys) }
    }

    package func isPinned(_ key: Key) -> Bool { state.withLock { $0.pinned.contains(key) } }

    /// Keeps entries from eviction until `release` (counted: nested holds of one key are fine).
    package func hold(_ keys: [Key]) {
        state.withLock { state in for key in keys { state.busy[key, default: 0] += 1 } }
    }

    package func release(_ keys: [Key]) {
        state.withLock { state in
            for key in keys {
                let count = state.busy[key, default: 0] - 1
                state.busy[key] = count > 0 ? count : nil
            }
        }
    }

    /// Bytes held, and of them pinned.
    package var heldBytes: UInt64 { state.withLock { $0.total } }
    package var pinnedBytes: UInt64 {
        state.withLock { state in state.pinned.reduce(0) { $0 + (state.bytes[$1] ?? 0) } }
    }

    /// Takes out and returns the least recently used unpinned entries, as many as it takes to bring the bytes held
    /// within the capacity (none when there is no capacity or it holds); the caller deletes their files.
    package func takeEvictions() -> [Entry] {
        guard let capacity else { return [] }
        return state.withLock { state in
            guard state.total > capacity else { return [] }
            let candidates = state.bytes.keys.filter { !state.pinned.contains($0) && state.busy[$0] == nil }
                .sorted { state.lastUse[$0, default: 0] < state.lastUse[$1, default: 0] }
            var taken: [Entry] = []
            for key in candidates where state.total > capacity {
                let bytes = state.bytes.removeValue(forKey: key) ?? 0
                state.lastUse[key] = nil
                state.total -= bytes
                taken.append(Entry(key: key, bytes: bytes))
            }
            return taken
        }
    }

    private static func add(_ entry: Entry, to state: inout State) {
        state.total -= state.bytes[entry.key] ?? 0
        state.bytes[entry.key] = entry.bytes
        state.total += entry.bytes
        state.clock += 1
        state.lastUse[entry.key] = state.clock
    }
}
