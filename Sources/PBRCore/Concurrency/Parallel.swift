import Dispatch
import Foundation
import Synchronization

/// Data parallelism over all cores for synchronous, CPU- or I/O-bound work items (hashing files, encoding tensors,
/// simulating sweep cases): the project's one parallel-for.
public enum Parallel {
    private static let workerLimit = Mutex(0)

    /// How many threads parallel work uses: `-j/--jobs` (`setWorkers`), else every core.
    public static var workers: Int {
        let limit = workerLimit.withLock { $0 }
        return limit > 0 ? limit : max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Limits parallel work to `count` threads from now on (at least 1).
    public static func setWorkers(_ count: Int) { workerLimit.withLock { $0 = max(1, count) } }

    /// `body(i)` for every i in 0..<count on `workers` threads; the results in index order.
    ///
    /// Every item runs even when one fails; then the error of the failed item with the lowest index is thrown, so a
    /// run's error does not depend on thread timing.
    ///
    /// - Parameters:
    ///   - order: the order in which items start (a permutation of 0..<count), e.g. largest first so that no core
    ///     waits on a late big item; nil starts them in index order.
    ///   - completed: called after each item with the number of items done so far, from any thread.
    public static func map<Value: Sendable>(
        count: Int, order: [Int]? = nil, completed: (@Sendable (Int) -> Void)? = nil,
        _ body: @Sendable (Int) throws -> Value
    ) throws -> [Value] {
        precondition(order == nil || order!.count == count, "order must list every item once")
        let state = Mutex((results: [Result<Value, any Error>?](repeating: nil, count: count), done: 0, next: 0))
        // Each thread takes the next item in schedule order until none is left.
        DispatchQueue.concurrentPerform(iterations: min(count, workers)) { _ in
            while true {
                let turn = state.withLock { state -> Int? in
                    guard state.next < count else { return nil }
                    state.next += 1
                    return state.next - 1
                }
                guard let turn else { return }
                let index = order?[turn] ?? turn
                let result = Result { try body(index) }
                let done = state.withLock { state -> Int in
                    state.results[index] = result
                    state.done += 1
                    return state.done
                }
                completed?(done)
            }
        }
        return try state.withLock { state in try state.results.map { try $0!.get() } }
    }

    /// Indices 0..<count ordered by decreasing `size`, ties by index (the "largest first" schedule).
    public static func largestFirst(_ sizes: [UInt64]) -> [Int] {
        sizes.indices.sorted { sizes[$0] != sizes[$1] ? sizes[$0] > sizes[$1] : $0 < $1 }
    }
}

/// Values computed once per key and shared between threads: look up, compute outside the lock, insert.
///
/// Two threads that miss the same key at once both compute it and the first insert wins; callers use it only
/// for pure functions of the key, where that costs time, never correctness. With a capacity, values are kept
/// while their total cost fits, oldest evicted first, and a value costing more than a quarter of the capacity is
/// returned without being kept.
public final class Memo<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct State {
        var values: [Key: Value] = [:]
        var order: [Key] = []
        var cost = 0
    }

    private let state = Mutex(State())
    private let capacity: Int?
    private let cost: (@Sendable (Value) -> Int)?

    /// A memo that keeps everything.
    public init() {
        capacity = nil
        cost = nil
    }

    /// A memo that keeps values while their total `cost` stays within `capacity`.
    public init(capacity: Int, cost: @escaping @Sendable (Value) -> Int) {
        self.capacity = capacity
        self.cost = cost
    }

    /// How many values are kept.
    public var count: Int { state.withLock { $0.values.count } }

    /// The kept value of `key`, or `compute()`'s result (kept if it fits).
    public func value<E: Error>(for key: Key, compute: () throws(E) -> Value) throws(E) -> Value {
        if let known = state.withLock({ $0.values[key] }) { return known }
        let value = try compute()
        let valueCost = cost?(value) ?? 0
        if let capacity, valueCost > capacity / 4 { return value }
        state.withLock { state in
            guard state.values[key] == nil else { return }
            state.values[key] = value
            guard let capacity else { return }
            state.order.append(key)
            state.cost += valueCost
            while state.cost > capacity, !state.order.isEmpty {
                let oldest = state.order.removeFirst()
                if let evicted = state.values.removeValue(forKey: oldest) { state.cost -= cost?(evicted) ?? 0 }
            }
        }
        return value
    }
}
