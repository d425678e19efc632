import EdgeSim
package import PBRCore

/// One experience tuple (s(k), d(k), r(k), s(k+1)) with what the learners need besides: which agents could cache
/// at k and at k+1 (the forced-zero rules after (14)), and for real tuples the predictor's input and prior state.
package struct Experience: Sendable {
    /// s(k): every agent's observation, concatenated.
    package var state: [Float]
    /// d(k): per agent, N binary values (cache, then migrations to the other nodes in index order), as taken.
    package var actions: [Float]
    /// r(k), scaled — or, for an n-step tuple, Σ_{i<n} γ^i r(k+i).
    package var reward: Float
    /// s(k+1), or s(k+n) for an n-step tuple.
    package var nextState: [Float]
    /// The episode ended before `nextState` could be bootstrapped from.
    package var done: Bool
    /// What the bootstrapped value is multiplied by: γ for a one-step tuple, γ^n for an n-step one.
    package var discount: Float
    /// 1 where the agent's remaining capacity admits PB k (at k+1 for `nextAllowed`).
    package var allowed: [Float]
    package var nextAllowed: [Float]
    /// q(k−1) of the transition predictor when this real tuple was collected; nil for synthetic tuples.
    package var previousReservoir: [Float]?

    package var isSynthetic: Bool { previousReservoir == nil }
}

/// A ring buffer of experience with uniform sampling.
package struct ReplayBuffer: Sendable {
    package let capacity: Int
    package private(set) var items: [Experience] = []
    /// Where the next tuple goes once the buffer is full.
    package private(set) var next = 0

    package init(capacity: Int) {
        precondition(capacity > 0, "replay capacity must be positive")
        self.capacity = capacity
    }

    /// A buffer as saved by a checkpoint.
    package init(capacity: Int, items: [Experience], next: Int) {
        precondition(
            capacity > 0 && items.count <= capacity && next >= 0 && next < capacity, "inconsistent replay buffer")
        self.capacity = capacity
        self.items = items
        self.next = next
    }

    package var count: Int { items.count }

    package mutating func append(_ experience: Experience) {
        if items.count < capacity {
            items.append(experience)
        } else {
            items[next] = experience
        }
        next = (next + 1) % capacity
    }

    package func sample(_ size: Int, using generator: inout SimulationRandom) -> [Experience] {
        (0..<size).map { _ in items[Int(generator.next() % UInt64(items.count))] }
    }
}
