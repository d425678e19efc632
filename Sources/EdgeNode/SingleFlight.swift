import Synchronization

/// At most one fetch per key at a time, whatever the number of callers: a caller that asks for keys being fetched
/// waits for those fetches; the keys nobody is fetching become one new fetch of its own. A key is let go when its
/// fetch ends, so a failed fetch is tried again by the next caller.
package final class SingleFlight<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let inFlight = Mutex<[Key: Task<[Key: Value], any Error>]>([:])
    private let isDone: @Sendable (Key) -> Value?

    /// - Parameter isDone: the value of a key that needs no fetch (held already), asked under the lock, so that a
    ///   key whose fetch ended between a caller's own check and its call is not fetched twice.
    package init(isDone: @escaping @Sendable (Key) -> Value? = { _ in nil }) {
        self.isDone = isDone
    }

    /// The value of every key of `keys`, fetched by `fetch` (called with the keys nobody else is fetching) or
    /// awaited from the fetch already under way.
    package func values(
        for keys: [Key], fetch: @escaping @Sendable ([Key]) async throws -> [Key: Value]
    ) async throws -> [Key: Value] {
        var result: [Key: Value] = [:]
        let tasks: [Task<[Key: Value], any Error>] = inFlight.withLock { flights in
            var waits: [Task<[Key: Value], any Error>] = []
            var mine: [Key] = []
            for key in Set(keys) {
                if let task = flights[key] {
                    waits.append(task)
                } else if let value = isDone(key) {
                    result[key] = value
                } else {
                    mine.append(key)
                }
            }
            if !mine.isEmpty {
                let claimed = mine
                let task = Task<[Key: Value], any Error> { [weak self] in
                    defer { self?.release(claimed) }
                    return try await fetch(claimed)
                }
                for key in mine { flights[key] = task }
                waits.append(task)
            }
            return waits
        }
        let wanted = Set(keys)
        // Several keys share one task: each is awaited once.
        for task in Set(tasks) {
            for (key, value) in try await task.value where wanted.contains(key) { result[key] = value }
        }
        return result
    }

    private func release(_ keys: [Key]) {
        inFlight.withLock { flights in for key in keys { flights[key] = nil } }
    }

    /// How many keys are being fetched (for tests and metrics).
    package var count: Int { inFlight.withLock { $0.count } }
}
