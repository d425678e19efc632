import Foundation

/// Work items 0..<count produced by worker threads in any order and taken by one consumer in order; workers stay at
/// most `window` items ahead of the consumer.
public final class OrderedPipeline<Value: Sendable>: @unchecked Sendable {
    // All mutable state is guarded by `condition`.
    private let condition = NSCondition()
    private let count: Int
    private let window: Int
    private var nextToClaim = 0
    private var nextToTake = 0
    private var ready: [Int: Result<Value, any Error>] = [:]
    private var cancelled = false
    private var running = 0

    public init(count: Int, window: Int) {
        self.count = count
        self.window = window
    }

    public func startWorker(_ produce: @escaping @Sendable (Int) throws -> Value) {
        condition.lock()
        running += 1
        condition.unlock()
        Thread { self.work(produce) }.start()
    }

    private func work(_ produce: @Sendable (Int) throws -> Value) {
        condition.lock()
        while true {
            while !cancelled && nextToClaim < count && nextToClaim - nextToTake >= window { condition.wait() }
            guard !cancelled, nextToClaim < count else { break }
            let index = nextToClaim
            nextToClaim += 1
            condition.unlock()
            let result = Result { try produce(index) }
            condition.lock()
            ready[index] = result
            condition.broadcast()
        }
        running -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for item `index` (taken in order, each once).
    public func take(_ index: Int) throws -> Value {
        condition.lock()
        defer { condition.unlock() }
        while ready[index] == nil { condition.wait() }
        let result = ready.removeValue(forKey: index)!
        nextToTake = index + 1
        condition.broadcast()
        return try result.get()
    }

    /// Stops the workers after their current item and waits for them.
    public func cancelAndJoin() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        ready.removeAll()
        condition.unlock()
    }
}
