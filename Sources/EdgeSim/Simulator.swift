package import ComplexModule
import PBRCore
import RealModule
import Synchronization

/// A caching and migration plan: a_n(k) for every node and PB, b_{n,m}(k) as (from, to) pairs per PB.
package struct CachePlan: Sendable, Equatable {
    /// cached[n][k] = a_n(k).
    package var cached: [[Bool]]
    /// migrations[k] = the (from, to) pairs with b_{from,to}(k) = 1.
    package var migrations: [[Migration]]

    package struct Migration: Sendable, Equatable, Hashable {
        package var from: Int
        package var to: Int
        package init(from: Int, to: Int) {
            self.from = from
            self.to = to
        }
    }

    package init(nodes: Int, blocks: Int) {
        cached = [[Bool]](repeating: [Bool](repeating: false, count: blocks), count: nodes)
        migrations = [[Migration]](repeating: [], count: blocks)
    }

    /// Bytes node n stores under this plan.
    package func storedBytes(node n: Int, repository: ModelCatalog) -> Double {
        cached[n].enumerated().reduce(0) { $0 + ($1.element ? repository.blockBytes[$1.offset] : 0) }
    }

    /// λ_n(k) — (3).
    package func participants(block k: Int) -> [Int] {
        let nodes = cached.count
        let receivers = Set(migrations[k].map(\.to))
        return (0..<nodes).filter { cached[$0][k] || receivers.contains($0) }
    }

    /// The first violated constraint among (1) capacity and (2) migrate-only-what-you-cache, or nil.
    package func violation(scenario: Scenario, repository: ModelCatalog) -> String? {
        for n in cached.indices
        where storedBytes(node: n, repository: repository) > scenario.capacity(of: n) * (1 + 1e-12) {
            return
                "node \(n) stores \(storedBytes(node: n, repository: repository)) bytes, over its capacity \(scenario.capacity(of: n)) (1)"
        }
        for (k, moves) in migrations.enumerated() {
            for move in moves where move.from == move.to || !cached[move.from][k] {
                return "PB \(k) is migrated from node \(move.from), which does not cache it (2)"
            }
        }
        return nil
    }
}

/// The outcome of one PB under a plan.
package struct BlockOutcome: Sendable, Equatable {
    package var block: Int
    package var bytes: Double
    package var requestingUsers: [Int]
    package var participants: [Int]
    /// T(k): migrations then delivery (after a cloud fetch for a missed PB); the migrations alone for an unrequested
    /// PB.
    package var delaySeconds: Double
    /// Every requesting user gets its QoS for every error, and an edge node held the PB.
    package var feasible: Bool
    package var missed: Bool
    package var migrations: [(from: Int, to: Int, seconds: Double)]

    /// −r(k) of (12): r2 for a requested PB no edge node holds; T(k) + r1 for one delivered without the QoS of (9b)
    /// guaranteed; T(k) otherwise (for an unrequested PB, the migrations ordered for it). The objective every
    /// searching scheme minimises, and the learning agents' negative reward.
    package func cost(r1: Double, r2: Double) -> Double {
        if requestingUsers.isEmpty { return delaySeconds }
        if missed && participants.isEmpty { return r2 }
        return delaySeconds + (feasible ? 0 : r1)
    }

    package static func == (a: BlockOutcome, b: BlockOutcome) -> Bool {
        a.block == b.block && a.bytes == b.bytes && a.requestingUsers == b.requestingUsers
            && a.participants == b.participants
            && a.delaySeconds == b.delaySeconds && a.feasible == b.feasible && a.missed == b.missed
            && a.migrations.map(\.seconds) == b.migrations.map(\.seconds)
    }
}

/// The outcome of a plan over all PBs.
package struct PlanOutcome: Sendable, Equatable {
    package var blocks: [BlockOutcome]
    /// T — (8), over the PBs delivered.
    package var totalDelaySeconds: Double { blocks.reduce(0) { $0 + $1.delaySeconds } }
    package var feasible: Bool { blocks.allSatisfy(\.feasible) }
    /// Σ_k of `BlockOutcome.cost`: the negative of an episode's return under (12).
    package func cost(r1: Double, r2: Double) -> Double { blocks.reduce(0) { $0 + $1.cost(r1: r1, r2: r2) } }
    /// Share of the requested PBs delivered from the edge with every requesting user's QoS met for every error.
    package var qosMetRatio: Double {
        let requested = blocks.filter { !$0.requestingUsers.isEmpty }
        return requested.isEmpty ? 1 : Double(requested.filter(\.feasible).count) / Double(requested.count)
    }
    /// Requested PBs that had to come from the cloud.
    package var missedBlocks: Int { blocks.filter(\.missed).count }
    /// Share of the (user, requested PB) pairs whose PB some edge node holds.
    package var hitRatio: Double {
        let requests = blocks.reduce(0) { $0 + $1.requestingUsers.count }
        let hits = blocks.filter { !$0.missed }.reduce(0) { $0 + $1.requestingUsers.count }
        return requests == 0 ? 1 : Double(hits) / Double(requests)
    }
}

/// Evaluates plans on a network: participation (3), robust beamforming for each requested PB, delay (7) and (8).
package struct Simulator: Sendable {
    package let network: EdgeNetwork
    package let robust: Bool
    package let mode: DeliveryMode

    /// How a requested PB reaches its users.
    package enum DeliveryMode: Sendable, Equatable {
        /// One CoMP broadcast by all participating nodes (the paper's system).
        case broadcast
        /// Without edge cooperation: each node serves only its own users, cells one after another.
        case ownCells
        /// TDMA unicasting: one user after another, each by maximum-ratio transmission from the participating node
        /// nearest to it.
        case unicast
        /// Hybrid multicasting: broadcast when more than `threshold` users request the PB, else unicast.
        case hybrid(threshold: Int)
    }

    /// Beamforming solutions and random draws already computed for this network, when a caller evaluates many
    /// plans on it (a learning agent's episodes); nil computes everything afresh. Fixed at creation with the
    /// network, `robust` and `mode`, so a warm cache never answers for another delivery setting.
    package let cache: SimulationCache?

    package init(
        network: EdgeNetwork, robust: Bool = true, mode: DeliveryMode = .broadcast, cache: SimulationCache? = nil
    ) {
        self.network = network
        self.robust = robust
        self.mode = mode
        self.cache = cache
    }

    /// Unicast with maximum-ratio transmission from one node: w = √P h̃/‖h̃‖, worst-case rate by the closed form.
    func unicastRate(user u: Int, node n: Int, channels: [[[Complex<Double>]]]) -> Double {
        let scenario = network.scenario
        let h = channels[u][n]
        let size = Delivery.norm(h)
        guard size > 0 else { return 0 }
        let w = h.map { $0.multiplied(by: scenario.pMaxWatts.squareRoot() / size) }
        return Delivery.rate(
            amplitude: Delivery.worstCaseAmplitude(channels: [h], beamformers: [w], errorRadii: [scenario.errorEps]),
            bandwidthHz: scenario.bandwidthHz, noiseWatts: scenario.noiseWatts)
    }

    /// Solves P2(k) for `users` served by `nodes`.
    package func broadcast(block k: Int, users: [Int], nodes: [Int], channels: [[[Complex<Double>]]])
        -> BeamformingSolution
    {
        if let cache {
            return cache.solution(block: k, users: users, nodes: nodes) {
                solveBroadcast(block: k, users: users, nodes: nodes, channels: channels)
            }
        }
        return solveBroadcast(block: k, users: users, nodes: nodes, channels: channels)
    }

    func solveBroadcast(block k: Int, users: [Int], nodes: [Int], channels: [[[Complex<Double>]]])
        -> BeamformingSolution
    {
        let scenario = network.scenario
        let instance = BeamformingInstance(
            bandwidthHz: scenario.bandwidthHz, noiseWatts: scenario.noiseWatts, pMaxWatts: scenario.pMaxWatts,
            blockBits: 8 * network.repository.blockBytes[k], qosBps: users.map { network.qos[$0] },
            errorEps: users.map { _ in nodes.map { _ in scenario.errorEps } },
            channels: users.map { u in nodes.map { channels[u][$0] } })
        return RobustBeamformer.solve(instance, robust: robust)
    }

    /// The random draws of one PB (backhaul rates, estimated channels), which no plan changes.
    package struct BlockDraws: Sendable {
        package var backhaul: [[Double]]
        package var channels: [[[Complex<Double>]]]
    }

    package func draws(block k: Int) -> BlockDraws {
        guard let cache else {
            return BlockDraws(backhaul: network.backhaulRates(block: k), channels: network.channels(block: k))
        }
        return cache.draws(block: k) {
            BlockDraws(backhaul: network.backhaulRates(block: k), channels: network.channels(block: k))
        }
    }

    /// One PB under a plan.
    package func outcome(of plan: CachePlan, block k: Int) -> BlockOutcome {
        outcome(of: plan, block: k, draws: draws(block: k))
    }

    /// One PB under a plan, with its draws made once by the caller (searches that try many plans per PB).
    ///
    /// Every requesting user can also retrieve the PB directly from the cloud at `cloud_bps` (the paper's footnote 8),
    /// in parallel with the edge's transmissions; a user gets it by whichever way is faster for its guaranteed
    /// (worst-case) rate. So a requested PB that no edge node holds takes 8·S(k)/`cloud_bps` and counts as missed,
    /// and a user whose worst-case edge rate is 0 (its error balls reach zero amplitude) is served by the cloud
    /// instead of making T(k) infinite. Any user served by the cloud makes the PB infeasible.
    package func outcome(of plan: CachePlan, block k: Int, draws: BlockDraws) -> BlockOutcome {
        let scenario = network.scenario
        let bytes = network.repository.blockBytes[k]
        let bits = 8 * bytes
        let backhaul = draws.backhaul
        let moves = plan.migrations[k].map { (from: $0.from, to: $0.to, seconds: bits / backhaul[$0.from][$0.to]) }
        let migration = moves.reduce(0) { $0 + $1.seconds }
        let users = network.requesters[k]
        let participants = plan.participants(block: k)
        guard !users.isEmpty else {
            return BlockOutcome(
                block: k, bytes: bytes, requestingUsers: [], participants: participants, delaySeconds: migration,
                feasible: true, missed: false, migrations: moves)
        }
        let cloudSeconds = bits / scenario.cloudBps
        guard !participants.isEmpty else {
            return BlockOutcome(
                block: k, bytes: bytes, requestingUsers: users, participants: [],
                delaySeconds: migration + cloudSeconds,
                feasible: false, missed: true, migrations: moves)
        }
        let channels = draws.channels
        let unicast: Bool
        switch mode {
        case .unicast: unicast = true
        case .hybrid(let threshold): unicast = users.count <= threshold
        case .broadcast, .ownCells: unicast = false
        }
        // Edge transmissions one after another (each until its slowest user, who is served by the cloud instead
        // when that is faster); cloud retrievals run beside them.
        var edgeSeconds = 0.0
        var cloudUsed = false
        var feasible = true
        var missed = false
        func transmit(rates: [Double], qos: [Double]) {
            var slowest = 0.0
            for (rate, required) in zip(rates, qos) {
                let seconds = rate > 0 ? bits / rate : .infinity
                if seconds > cloudSeconds {
                    cloudUsed = true
                } else {
                    slowest = max(slowest, seconds)
                }
                feasible = feasible && rate >= required
            }
            edgeSeconds += slowest
        }
        if unicast {
            for u in users {
                let node =
                    participants.min {
                        network.nodePositions[$0].distance(to: network.userPositions[u])
                            < network.nodePositions[$1].distance(to: network.userPositions[u])
                    } ?? participants[0]
                transmit(rates: [unicastRate(user: u, node: node, channels: channels)], qos: [network.qos[u]])
            }
        } else if mode == .ownCells {
            // Each node serves its own users, cells one after another; users of a node without the PB use the cloud.
            for n in Set(users.map { network.association[$0] }).sorted() {
                let own = users.filter { network.association[$0] == n }
                guard plan.cached[n][k] else {
                    cloudUsed = true
                    missed = true
                    feasible = false
                    continue
                }
                let solution = broadcast(block: k, users: own, nodes: [n], channels: channels)
                transmit(rates: solution.worstCaseRates, qos: own.map { network.qos[$0] })
            }
        } else {
            let solution = broadcast(block: k, users: users, nodes: participants, channels: channels)
            transmit(rates: solution.worstCaseRates, qos: users.map { network.qos[$0] })
        }
        return BlockOutcome(
            block: k, bytes: bytes, requestingUsers: users, participants: participants,
            delaySeconds: migration + max(edgeSeconds, cloudUsed ? cloudSeconds : 0), feasible: feasible && !cloudUsed,
            missed: missed, migrations: moves)
    }

    /// Every PB under a plan.
    package func outcome(of plan: CachePlan) -> PlanOutcome {
        PlanOutcome(blocks: (0..<network.repository.blockCount).map { outcome(of: plan, block: $0) })
    }
}

/// Memoised beamforming solutions (by PB, requesting users and participating nodes) and per-PB draws, for one
/// network and one delivery setting (robust or not); shared between threads.
package final class SimulationCache: Sendable {
    struct Key: Hashable {
        var block: Int
        var users: [Int]
        var nodes: [Int]
    }

    private let solutions = Memo<Key, BeamformingSolution>()
    private let blockDraws = Memo<Int, Simulator.BlockDraws>()

    package init() {}

    package var solutionCount: Int { solutions.count }

    func solution(block: Int, users: [Int], nodes: [Int], compute: () -> BeamformingSolution) -> BeamformingSolution {
        solutions.value(for: Key(block: block, users: users, nodes: nodes), compute: compute)
    }

    func draws(block: Int, compute: () -> Simulator.BlockDraws) -> Simulator.BlockDraws {
        blockDraws.value(for: block, compute: compute)
    }
}
