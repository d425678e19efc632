import PBRCore
import Synchronization

/// The Dec-POMDP of Section III-B that a learning agent drives, one step per PB k: every edge node is an agent that
/// observes (10a)–(10c), acts (11) and receives the shared reward (12); the next state follows from the remaining
/// capacities C̃_n(k+1) = {C̃_n(k) − a_n(k) S(k)}⁺.
///
/// Actions are made admissible before they take effect, as after (14): a node whose remaining capacity is below S(k)
/// does not cache the PB, and a node that does not cache it migrates it nowhere — so (1), (2) and (9c) always hold.
/// The plan built step by step is evaluated by the same `Simulator` as every other scheme.
package struct EdgeEnvironment: Sendable {
    package let simulator: Simulator
    /// Outcomes already evaluated for this network, shared by every copy and every episode on it: an outcome depends
    /// only on the PB, who holds it and where it migrates, so an agent that repeats a decision costs no beamforming.
    package let memo: OutcomeMemo
    /// The number of steps taken (from 0); `blockCount` when the episode is over.
    package private(set) var step = 0
    /// Which PB each step decides: `order[step]`.
    package let order: [Int]
    package let stepOrder: StepOrder
    /// C̃_n(k), bytes.
    package private(set) var remaining: [Double]
    /// The decisions taken so far.
    package private(set) var plan: CachePlan
    /// The outcome of every step taken so far, in step order.
    package private(set) var outcomes: [BlockOutcome] = []

    /// One agent's decision: a_n(k) and b_{n,m}(k) for every m (entry n ignored).
    package struct Action: Sendable, Equatable {
        package var cache: Bool
        package var migrateTo: [Bool]

        package init(cache: Bool, migrateTo: [Bool]) {
            self.cache = cache
            self.migrateTo = migrateTo
        }

        package static func idle(nodes: Int) -> Action {
            Action(cache: false, migrateTo: [Bool](repeating: false, count: nodes))
        }
    }

    /// What one step did.
    package struct Transition: Sendable {
        /// The actions as they took effect (after the forced-zero rules).
        package var actions: [Action]
        /// r(k) — (12).
        package var reward: Double
        package var outcome: BlockOutcome
    }

    /// Whether observations carry each node's remaining demand (an extension of (10a)–(10b), off by default).
    package let observesDemand: Bool
    /// Whether transfers that deliver nothing are dropped (see `admissible`; off by default, as in the paper).
    package let dropsRedundantTransfers: Bool
    /// demandAfter[n][i]: bytes of the PBs decided after step i that some user of n's cell requests.
    let demandAfter: [[Double]]

    /// The sequence in which the episode visits the PBs. The paper steps through k = 1…K and leaves the numbering of
    /// the PBs open; in index order a node that caches early PBs nobody requests finds its storage gone when the
    /// requested ones come, a consequence hundreds of steps away from its cause.
    package enum StepOrder: String, Sendable, Codable, CaseIterable {
        /// k = 0, 1, …, K − 1 (the manifest's order).
        case index
        /// Requested PBs first, by requesting users per byte (the order in which a greedy fills storage; ties by
        /// index), then the others by index.
        case requestedFirst = "requested-first"
    }

    /// - Parameter observesDemand: add to every node's part of the observation the bytes its own users still need
    ///   in PBs after the current one, over its capacity — what a node knows from its users' requests, and what a
    ///   learner needs to see the value of storage it has not used yet.
    /// - Parameter dropsRedundantTransfers: drop migrations to a node that caches the PB at the same step, and keep
    ///   one per receiving node (from the sender with the fastest backhaul link to it, ties to the lower index).
    ///   Agents decide at the same time and cannot see each other's choices; such transfers add delay under (7) and
    ///   change no participant.
    package init(
        simulator: Simulator, memo: OutcomeMemo = OutcomeMemo(), observesDemand: Bool = false,
        stepOrder: StepOrder = .index,
        dropsRedundantTransfers: Bool = false
    ) {
        self.simulator = simulator
        self.memo = memo
        self.observesDemand = observesDemand
        self.dropsRedundantTransfers = dropsRedundantTransfers
        self.stepOrder = stepOrder
        let network = simulator.network
        let blocks = network.repository.blockCount
        switch stepOrder {
        case .index:
            order = Array(0..<blocks)
        case .requestedFirst:
            let bytes = network.repository.blockBytes
            let demand = (0..<blocks).map { Double(network.requesters[$0].count) / max(bytes[$0], 1) }
            order = (0..<blocks).sorted { demand[$0] != demand[$1] ? demand[$0] > demand[$1] : $0 < $1 }
        }
        demandAfter = (0..<network.scenario.nodes).map { [order] n in
            var after = [Double](repeating: 0, count: blocks)
            var total = 0.0
            for i in stride(from: blocks - 1, through: 0, by: -1) {
                after[i] = total
                let k = order[i]
                if network.requesters[k].contains(where: { network.association[$0] == n }) {
                    total += network.repository.blockBytes[k]
                }
            }
            return after
        }
        let scenario = simulator.network.scenario
        remaining = (0..<scenario.nodes).map { scenario.capacity(of: $0) }
        plan = CachePlan(nodes: scenario.nodes, blocks: simulator.network.repository.blockCount)
    }

    package var nodes: Int { simulator.network.scenario.nodes }
    package var blockCount: Int { simulator.network.repository.blockCount }
    package var isFinished: Bool { step >= blockCount }
    /// The PB the current step decides (the last one once the episode is over).
    package var block: Int { order[min(step, blockCount - 1)] }

    /// Features per observed node: backhaul rate (own: PB size), requesting users in its cell, remaining capacity,
    /// and with `observesDemand` the demand still ahead.
    package var featuresPerNode: Int { observesDemand ? 4 : 3 }

    /// Length of one agent's observation vector: own part, then one part per other node.
    package var observationSize: Int { featuresPerNode * nodes }

    /// o_n(k) — (10a)–(10c), as numbers a network can take: the own part [S(k)/max S, requesting users of the own
    /// cell / U, C̃_n/C_n], then for every other node m (in index order, skipping n) ϖ_{n,m}·[R^bac_{n,m}(k) /
    /// max backhaul, requesting users of m's cell / U, C̃_m/C_m]. The paper's per-user request indicators are summed
    /// per cell: which of a cell's users asks matters to no decision here, how many do, and a count keeps the vector's
    /// length fixed when users move between cells.
    package func observation(agent n: Int) -> [Double] {
        observation(agent: n, block: block, backhaul: simulator.network.backhaulRates(block: block))
    }

    func observation(agent n: Int, block k: Int, backhaul: [[Double]]) -> [Double] {
        let position = min(step, blockCount - 1)
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
            return [capacity > 0 ? demandAfter[m][position] / capacity : 0]
        }
        var features =
            [network.repository.blockBytes[k] / max(largest, 1), requesting[n] / users, capacityShare(n)] + demand(n)
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
    package var state: [Double] {
        let backhaul = simulator.network.backhaulRates(block: block)
        return (0..<nodes).flatMap { observation(agent: $0, block: block, backhaul: backhaul) }
    }

    /// The actions as they would take effect at this step: no caching beyond the remaining capacity, no migration
    /// from a node that does not cache, none to itself (the rules after (14)); with `dropsRedundantTransfers`, none to
    /// a node that caches the PB and one per receiving node.
    package func admissible(_ actions: [Action]) -> [Action] {
        precondition(actions.count == nodes, "one action per node")
        let bytes = simulator.network.repository.blockBytes[block]
        let caches = actions.indices.map { actions[$0].cache && remaining[$0] >= bytes }
        var taken = actions.indices.map { n in
            Action(
                cache: caches[n],
                migrateTo: (0..<nodes).map { m in
                    caches[n] && m != n && m < actions[n].migrateTo.count && actions[n].migrateTo[m]
                })
        }
        guard dropsRedundantTransfers else { return taken }
        let rates = simulator.network.backhaulRates(block: block)
        for m in 0..<nodes {
            let senders = (0..<nodes).filter { taken[$0].migrateTo[m] }
            let keep =
                caches[m] ? nil : senders.max { rates[$0][m] != rates[$1][m] ? rates[$0][m] < rates[$1][m] : $0 > $1 }
            for n in senders where n != keep { taken[n].migrateTo[m] = false }
        }
        return taken
    }

    /// Takes one step: applies the admissible actions for the step's PB k, evaluates it and moves to the next.
    ///
    /// r(k) — (12): −T(k) − r1·Λ(k) when users request the PB and some node delivers it (Λ = 1 when the QoS of
    /// (9b) cannot be guaranteed); −r2 when users request it and no node holds it; otherwise −T(k), which is the
    /// time of any migrations the agents ordered for nothing (0 when there are none; the paper's 0).
    package mutating func step(_ actions: [Action]) -> Transition {
        precondition(!isFinished, "the episode is over")
        let k = block
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

    /// The outcome of the whole episode so far (T, hit ratio, ...), as for any plan: PBs in index order, whatever the
    /// step order.
    package var planOutcome: PlanOutcome { PlanOutcome(blocks: outcomes.sorted { $0.block < $1.block }) }

    /// A fresh episode on the same network (and the same memo).
    package func restarted() -> EdgeEnvironment {
        EdgeEnvironment(
            simulator: simulator, memo: memo, observesDemand: observesDemand, stepOrder: stepOrder,
            dropsRedundantTransfers: dropsRedundantTransfers)
    }
}

/// Block outcomes by (PB, holders, migrations), for one network.
package final class OutcomeMemo: Sendable {
    struct Key: Hashable {
        var block: Int
        var holders: [Bool]
        var migrations: [CachePlan.Migration]
    }

    private let outcomes = Memo<Key, BlockOutcome>()

    package init() {}

    package var count: Int { outcomes.count }

    func outcome(of plan: CachePlan, block k: Int, simulator: Simulator) -> BlockOutcome {
        let key = Key(block: k, holders: plan.cached.map { $0[k] }, migrations: plan.migrations[k])
        return outcomes.value(for: key) { simulator.outcome(of: plan, block: k) }
    }
}
