import ComplexModule
import RealModule

/// A caching and migration plan: a_n(k) for every node and PB, b_{n,m}(k) as (from, to) pairs per PB.
public struct CachePlan: Sendable, Equatable {
    /// cached[n][k] = a_n(k).
    public var cached: [[Bool]]
    /// migrations[k] = the (from, to) pairs with b_{from,to}(k) = 1.
    public var migrations: [[Migration]]

    public struct Migration: Sendable, Equatable, Hashable {
        public var from: Int
        public var to: Int
        public init(from: Int, to: Int) {
            self.from = from
            self.to = to
        }
    }

    public init(nodes: Int, blocks: Int) {
        cached = [[Bool]](repeating: [Bool](repeating: false, count: blocks), count: nodes)
        migrations = [[Migration]](repeating: [], count: blocks)
    }

    /// Bytes node n stores under this plan.
    public func storedBytes(node n: Int, repository: Repository) -> Double {
        cached[n].enumerated().reduce(0) { $0 + ($1.element ? repository.blockBytes[$1.offset] : 0) }
    }

    /// λ_n(k) — (3).
    public func participants(block k: Int) -> [Int] {
        let nodes = cached.count
        let receivers = Set(migrations[k].map(\.to))
        return (0..<nodes).filter { cached[$0][k] || receivers.contains($0) }
    }

    /// The first violated constraint among (1) capacity and (2) migrate-only-what-you-cache, or nil.
    public func violation(scenario: Scenario, repository: Repository) -> String? {
        for n in cached.indices where storedBytes(node: n, repository: repository) > scenario.capacity(of: n) * (1 + 1e-12) {
            return "node \(n) stores \(storedBytes(node: n, repository: repository)) bytes, over its capacity \(scenario.capacity(of: n)) (1)"
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
public struct BlockOutcome: Sendable, Equatable {
    public var block: Int
    public var bytes: Double
    public var requestingUsers: [Int]
    public var participants: [Int]
    /// T(k): migrations then delivery (after a cloud fetch for a missed PB); the migrations alone for an unrequested
    /// PB.
    public var delaySeconds: Double
    /// Every requesting user gets its QoS for every error, and an edge node held the PB.
    public var feasible: Bool
    public var missed: Bool
    public var migrations: [(from: Int, to: Int, seconds: Double)]

    public static func == (a: BlockOutcome, b: BlockOutcome) -> Bool {
        a.block == b.block && a.bytes == b.bytes && a.requestingUsers == b.requestingUsers && a.participants == b.participants
            && a.delaySeconds == b.delaySeconds && a.feasible == b.feasible && a.missed == b.missed
            && a.migrations.map(\.seconds) == b.migrations.map(\.seconds)
    }
}

/// The outcome of a plan over all PBs.
public struct PlanOutcome: Sendable, Equatable {
    public var blocks: [BlockOutcome]
    /// T — (8), over the PBs delivered.
    public var totalDelaySeconds: Double { blocks.reduce(0) { $0 + $1.delaySeconds } }
    public var feasible: Bool { blocks.allSatisfy(\.feasible) }
    /// Share of the requested PBs delivered from the edge with every requesting user's QoS met for every error.
    public var qosMetRatio: Double {
        let requested = blocks.filter { !$0.requestingUsers.isEmpty }
        return requested.isEmpty ? 1 : Double(requested.filter(\.feasible).count) / Double(requested.count)
    }
    /// Requested PBs that had to come from the cloud.
    public var missedBlocks: Int { blocks.filter(\.missed).count }
    /// Share of the (user, requested PB) pairs whose PB some edge node holds.
    public var hitRatio: Double {
        let requests = blocks.reduce(0) { $0 + $1.requestingUsers.count }
        let hits = blocks.filter { !$0.missed }.reduce(0) { $0 + $1.requestingUsers.count }
        return requests == 0 ? 1 : Double(hits) / Double(requests)
    }
}

/// Evaluates plans on a network: participation (3), robust beamforming for each requested PB, delay (7) and (8).
public struct Simulator: Sendable {
    public let network: Network
    public var robust: Bool
    public var mode: DeliveryMode

    /// How a requested PB reaches its users.
    public enum DeliveryMode: Sendable, Equatable {
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

    public init(network: Network, robust: Bool = true, mode: DeliveryMode = .broadcast) {
        self.network = network
        self.robust = robust
        self.mode = mode
    }

    /// Unicast with maximum-ratio transmission from one node: w = √P h̃/‖h̃‖; the worst-case rate by the closed
    /// form, and the rate at the estimated channel.
    func unicastRates(user u: Int, node n: Int, channels: [[[Complex<Double>]]]) -> (worstCase: Double, nominal: Double) {
        let scenario = network.scenario
        let h = channels[u][n]
        let size = Delivery.norm(h)
        guard size > 0 else { return (0, 0) }
        let w = h.map { $0.multiplied(by: scenario.pMaxWatts.squareRoot() / size) }
        let worst = Delivery.worstCaseAmplitude(channels: [h], beamformers: [w], errorRadii: [scenario.errorEps])
        return (
            Delivery.rate(amplitude: worst, bandwidthHz: scenario.bandwidthHz, noiseWatts: scenario.noiseWatts),
            Delivery.rate(amplitude: size * scenario.pMaxWatts.squareRoot(), bandwidthHz: scenario.bandwidthHz, noiseWatts: scenario.noiseWatts)
        )
    }

    /// Seconds to deliver `bits` at the slowest user's worst-case rate — (7)'s second term. When the error balls
    /// reach zero amplitude for some user, no rate can be guaranteed to it at all (the PB is infeasible either way);
    /// the delay then uses the rates at the estimated channels, so that T stays a finite, comparable number rather
    /// than infinity.
    static func deliverySeconds(bits: Double, worstCase: [Double], nominal: [Double]) -> Double {
        let slowest = worstCase.min() ?? 0
        if slowest > 0 { return bits / slowest }
        let nominalSlowest = nominal.min() ?? 0
        return nominalSlowest > 0 ? bits / nominalSlowest : .infinity
    }

    /// Solves P2(k) for `users` served by `nodes`.
    public func broadcast(block k: Int, users: [Int], nodes: [Int], channels: [[[Complex<Double>]]]) -> BeamformingSolution {
        let scenario = network.scenario
        let instance = BeamformingInstance(
            bandwidthHz: scenario.bandwidthHz, noiseWatts: scenario.noiseWatts, pMaxWatts: scenario.pMaxWatts,
            blockBits: 8 * network.repository.blockBytes[k], qosBps: users.map { network.qos[$0] },
            errorEps: users.map { _ in nodes.map { _ in scenario.errorEps } },
            channels: users.map { u in nodes.map { channels[u][$0] } })
        return RobustBeamformer.solve(instance, robust: robust)
    }

    /// The random draws of one PB (backhaul rates, estimated channels), which no plan changes.
    public struct BlockDraws: Sendable {
        public var backhaul: [[Double]]
        public var channels: [[[Complex<Double>]]]
    }

    public func draws(block k: Int) -> BlockDraws {
        BlockDraws(backhaul: network.backhaulRates(block: k), channels: network.channels(block: k))
    }

    /// One PB under a plan.
    public func outcome(of plan: CachePlan, block k: Int) -> BlockOutcome {
        outcome(of: plan, block: k, draws: draws(block: k))
    }

    /// One PB under a plan, with its draws made once by the caller (searches that try many plans per PB).
    ///
    /// A requested PB that no edge node holds is fetched from the cloud by the nodes of its requesting users, in
    /// parallel over their backhaul links (8·S(k)/`cloud_bps`), and then delivered by those nodes like a cached one;
    /// it counts as a miss and as infeasible (the paper's r2 case).
    public func outcome(of plan: CachePlan, block k: Int, draws: BlockDraws) -> BlockOutcome {
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
        let ownNodes = Set(users.map { network.association[$0] }).sorted()
        let missed = participants.isEmpty
        let senders = missed ? ownNodes : participants
        let channels = draws.channels
        let unicast: Bool
        switch mode {
        case .unicast: unicast = true
        case .hybrid(let threshold): unicast = users.count <= threshold
        case .broadcast, .ownCells: unicast = false
        }
        var delay = migration + (missed ? cloudSeconds : 0)
        var feasible = !missed
        if unicast {
            for u in users {
                let node = senders.min {
                    network.nodePositions[$0].distance(to: network.userPositions[u])
                        < network.nodePositions[$1].distance(to: network.userPositions[u])
                } ?? senders[0]
                let rates = unicastRates(user: u, node: node, channels: channels)
                delay += Self.deliverySeconds(bits: bits, worstCase: [rates.worstCase], nominal: [rates.nominal])
                feasible = feasible && rates.worstCase >= network.qos[u]
            }
        } else if mode == .ownCells {
            // Each node serves its own users, one cell after another; a node without the PB fetches it first
            // (all such fetches in parallel).
            var fetched = false
            for n in ownNodes {
                let own = users.filter { network.association[$0] == n }
                if !plan.cached[n][k] { fetched = true }
                let solution = broadcast(block: k, users: own, nodes: [n], channels: channels)
                delay += Self.deliverySeconds(bits: bits, worstCase: solution.worstCaseRates, nominal: solution.nominalRates)
                feasible = feasible && solution.feasible && plan.cached[n][k]
            }
            if fetched && !missed { delay += cloudSeconds }
            return BlockOutcome(
                block: k, bytes: bytes, requestingUsers: users, participants: participants, delaySeconds: delay,
                feasible: feasible, missed: missed || fetched, migrations: moves)
        } else {
            let solution = broadcast(block: k, users: users, nodes: senders, channels: channels)
            delay += Self.deliverySeconds(bits: bits, worstCase: solution.worstCaseRates, nominal: solution.nominalRates)
            feasible = feasible && solution.feasible
        }
        return BlockOutcome(
            block: k, bytes: bytes, requestingUsers: users, participants: participants, delaySeconds: delay,
            feasible: feasible, missed: missed, migrations: moves)
    }

    /// Every PB under a plan.
    public func outcome(of plan: CachePlan) -> PlanOutcome {
        PlanOutcome(blocks: (0..<network.repository.blockCount).map { outcome(of: plan, block: $0) })
    }
}
