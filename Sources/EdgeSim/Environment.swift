import Synchronization

/// The Dec-POMDP of Section III-B that a learning agent drives, one step per PB k: every edge node is an agent that
/// observes (10a)–(10c), acts (11) and receives the shared reward (12); the next state follows from the remaining
/// capacities C̃_n(k+1) = {C̃_n(k) − a_n(k) S(k)}⁺.
///
/// Actions are made admissible before they take effect, as after (14): a node whose remaining capacity is below S(k)
/// does not cache the PB, and a node that does not cache it migrates it nowhere — so (1), (2) and (9c) always hold.
/// The plan built step by step is evaluated by the same `Simulator` as every other scheme.
public struct EdgeEnvironment: Sendable {
    public let simulator: Simulator
    /// Outcomes already evaluated for this network, shared by every copy and every episode on it: an outcome depends
    /// only on the PB, who holds it and where it migrates, so an agent that repeats a decision costs no beamforming.
    public let memo: OutcomeMemo
    /// The PB of the next step (k, from 0); `blockCount` when the episode is over.
    public private(set) var step = 0
    /// C̃_n(k), bytes.
    public private(set) var remaining: [Double]
    /// The decisions taken so far.
    public private(set) var plan: CachePlan
    /// The outcome of every step taken so far.
    public private(set) var outcomes: [BlockOutcome] = []

    /// One agent's decision: a_n(k) and b_{n,m}(k) for every m (entry n ignored).
    public struct Action: Sendable, Equatable {
        public var cache: Bool
        public var migrateTo: [Bool]

        public init(cache: Bool, migrateTo: [Bool]) {
            self.cache = cache
            self.migrateTo = migrateTo
        }

        public static func idle(nodes: Int) -> Action { Action(cache: false, migrateTo: [Bool](repeating: false, count: nodes)) }
    }

    /// What one step did.
    public struct Transition: Sendable {
        /// The actions as they took effect (after the forced-zero rules).
        public var actions: [Action]
        /// r(k) — (12).
        public var reward: Double
        public var outcome: BlockOutcome
    }

    /// Whether observations carry each node's remaining demand (an extension of (10a)–(10b), off by default).
    public let observesDemand: Bool
    /// demandAfter[n][k]: bytes of the PBs after k that some user of n's cell requests.
    let demandAfter: [[Double]]

    /// - Parameter observesDemand: add to every node's part of the observation the bytes its own users still need
    ///   in PBs after the current one, over its capacity — what a node knows from its users' requests, and what a
    ///   learner needs to see the value of storage it has not used yet.
    public init(simulator: Simulator, memo: OutcomeMemo = OutcomeMemo(), observesDemand: Bool = false) {
        self.simulator = simulator
        self.memo = memo
        self.observesDemand = observesDemand
        let network = simulator.network
        let blocks = network.repository.blockCount
        demandAfter = (0..<network.scenario.nodes).map { n in
            var after = [Double](repeating: 0, count: blocks)
            var total = 0.0
            for k in stride(from: blocks - 1, through: 0, by: -1) {
                after[k] = total
                if network.requesters[k].contains(where: { network.association[$0] == n }) { total += network.repository.blockBytes[k] }
            }
            return after
        }
        let scenario = simulator.network.scenario
        remaining = (0..<scenario.nodes).map { scenario.capacity(of: $0) }
        plan = CachePlan(nodes: scenario.nodes, blocks: simulator.network.repository.blockCount)
    }

    public var nodes: Int { simulator.network.scenario.nodes }
    public var blockCount: Int { simulator.network.repository.blockCount }
    public var isFinished: Bool { step >= blockCount }

    /// Features per observed node: backhaul rate (own: PB size), requesting users in its cell, remaining capacity,
    /// and with `observesDemand` the demand still ahead.
    public var featuresPerNode: Int { observesDemand ? 4 : 3 }

    /// Length of one agent's observation vector: own part, then one part per other node.
    public var observationSize: Int { featuresPerNode * nodes }

    /// o_n(k) — (10a)–(10c), as numbers a network can take: the own part [S(k)/max S, requesting users of the own
    /// cell / U, C̃_n/C_n], then for every other node m (in index order, skipping n) ϖ_{n,m}·[R^bac_{n,m}(k) /
    /// max backhaul, requesting users of m's cell / U, C̃_m/C_m]. The paper's per-user request indicators are summed
    /// per cell: which of a cell's users asks matters to no decision here, how many do, and a count keeps the vector's
    /// length fixed when users move between cells.
    public func observation(agent n: Int) -> [Double] {
        observation(agent: n, block: min(step, blockCount - 1), backhaul: simulator.network.backhaulRates(block: min(step, blockCount - 1)))
    }

    func observation(agent n: Int, block k: Int, backhaul: [[Double]]) -> [Double] {
        let network = simulator.network
        let scenario = network.scenario
        let largest = network.repository.blockBytes.max() ?? 1
        let users = Double(scenario.users)
        var requesting = [Double](repeating: 0, count: nodes)
        for u in network.requesters[k] { requesting[network.association[u]] += 1 }
        func capacityShare(_ m: Int) -> Double {
            let capacity = scenario.capacity(of: m)
            return capacity > 0 ? remaining[m] / capacity : 0
        }
        func demand(_ m: Int) -> [Double] {
            guard observesDemand else { return [] }
            let capacity = scenario.capacity(of: m)
            return [capacity > 0 ? demandAfter[m][k] / capacity : 0]
        }
        var features = [network.repository.blockBytes[k] / max(largest, 1), requesting[n] / users, capacityShare(n)] + demand(n)
        for m in 0..<nodes where m != n {
            guard network.observes[n][m] else {
                features += [Double](repeating: 0, count: featuresPerNode)
                continue
            }
            features += [backhaul[n][m] / scenario.backhaulBps[1], requesting[m] / users, capacityShare(m)] + demand(m)
        }
        return features
    }

    /// s(k): every agent's observation, concatenated.
    public var state: [Double] {
        let k = min(step, blockCount - 1)
        let backhaul = simulator.network.backhaulRates(block: k)
        return (0..<nodes).flatMap { observation(agent: $0, block: k, backhaul: backhaul) }
    }

    /// The actions as they would take effect at this step: no caching beyond the remaining capacity, no migration
    /// from a node that does not cache, none to itself.
    public func admissible(_ actions: [Action]) -> [Action] {
        precondition(actions.count == nodes, "one action per node")
        let bytes = simulator.network.repository.blockBytes[step]
        return actions.enumerated().map { n, action in
            let cache = action.cache && remaining[n] >= bytes
            return Action(
                cache: cache,
                migrateTo: (0..<nodes).map { m in cache && m != n && m < action.migrateTo.count && action.migrateTo[m] })
        }
    }

    /// Takes one step: applies the admissible actions for PB k, evaluates it and moves to k + 1.
    ///
    /// r(k) — (12): −T(k) − r1·Λ(k) when users request the PB and some node delivers it (Λ = 1 when the QoS of
    /// (9b) cannot be guaranteed); −r2 when users request it and no node holds it; otherwise −T(k), which is the
    /// time of any migrations the agents ordered for nothing (0 when there are none; the paper's 0).
    public mutating func step(_ actions: [Action]) -> Transition {
        precondition(!isFinished, "the episode is over")
        let k = step
        let taken = admissible(actions)
        let bytes = simulator.network.repository.blockBytes[k]
        for (n, action) in taken.enumerated() {
            plan.cached[n][k] = action.cache
            if action.cache { remaining[n] = max(0, remaining[n] - bytes) }
            for m in 0..<nodes where action.migrateTo[m] { plan.migrations[k].append(.init(from: n, to: m)) }
        }
        let outcome = memo.outcome(of: plan, block: k, simulator: simulator)
        let scenario = simulator.network.scenario
        let reward = -outcome.cost(r1: scenario.r1, r2: scenario.r2)
        outcomes.append(outcome)
        step += 1
        return Transition(actions: taken, reward: reward, outcome: outcome)
    }

    /// The outcome of the whole episode so far (T, hit ratio, ...), as for any plan.
    public var planOutcome: PlanOutcome { PlanOutcome(blocks: outcomes) }

    /// A fresh episode on the same network (and the same memo).
    public func restarted() -> EdgeEnvironment { EdgeEnvironment(simulator: simulator, memo: memo, observesDemand: observesDemand) }
}

/// Block outcomes by (PB, holders, migrations), for one network.
public final class OutcomeMemo: Sendable {
    struct Key: Hashable {
        var block: Int
        var holders: [Bool]
        var migrations: [CachePlan.Migration]
    }

    private let outcomes = Mutex<[Key: BlockOutcome]>([:])

    public init() {}

    public var count: Int { outcomes.withLock { $0.count } }

    func outcome(of plan: CachePlan, block k: Int, simulator: Simulator) -> BlockOutcome {
        let key = Key(block: k, holders: plan.cached.map { $0[k] }, migrations: plan.migrations[k])
        if let known = outcomes.withLock({ $0[key] }) { return known }
        let outcome = simulator.outcome(of: plan, block: k)
        outcomes.withLock { $0[key] = outcome }
        return outcome
    }
}
