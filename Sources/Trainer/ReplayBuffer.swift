import EdgeSim
import PBRCore

/// One experience tuple (s(k), d(k), r(k), s(k+1)) with what the learners need besides: which agents could cache
/// at k and at k+1 (the forced-zero rules after (14)), and for real tuples the predictor's input and prior state.
public struct Experience: Sendable {
    /// s(k): every agent's observation, concatenated.
    public var state: [Float]
    /// d(k): per agent, N binary values (cache, then migrations to the other nodes in index order), as taken.
    public var actions: [Float]
    /// r(k), scaled — or, for an n-step tuple, Σ_{i<n} γ^i r(k+i).
    public var reward: Float
    /// s(k+1), or s(k+n) for an n-step tuple.
    public var nextState: [Float]
    /// The episode ended before `nextState` could be bootstrapped from.
    public var done: Bool
    /// What the bootstrapped value is multiplied by: γ for a one-step tuple, γ^n for an n-step one.
    public var discount: Float
    /// 1 where the agent's remaining capacity admits PB k (at k+1 for `nextAllowed`).
    public var allowed: [Float]
    public var nextAllowed: [Float]
    /// q(k−1) of the transition predictor when this real tuple was collected; nil for synthetic tuples.
    public var previousReservoir: [Float]?

    public var isSynthetic: Bool { previousReservoir == nil }
}

/// A ring buffer of experience with uniform sampling.
public struct ReplayBuffer: Sendable {
    public let capacity: Int
    public private(set) var items: [Experience] = []
    /// Where the next tuple goes once the buffer is full.
    public private(set) var next = 0

    public init(capacity: Int) {
        precondition(capacity > 0, "replay capacity must be positive")
        self.capacity = capacity
    }

    /// A buffer as saved by a checkpoint.
    public init(capacity: Int, items: [Experience], next: Int) {
        precondition(capacity > 0 && items.count <= capacity && next >= 0 && next < capacity, "inconsistent replay buffer")
        self.capacity = capacity
        self.items = items
        self.next = next
    }

    public var count: Int { items.count }

    public mutating func append(_ experience: Experience) {
        if items.count < capacity {
            items.append(experience)
        } else {
            items[next] = experience
        }
        next = (next + 1) % capacity
    }

    public func sample(_ size: Int, using generator: inout SimulationRandom) -> [Experience] {
        (0..<size).map { _ in items[Int(generator.next() % UInt64(items.count))] }
    }
}
