/// The caching and migration schemes `pbrepo simulate` compares (Section V-D of the reference paper, and a
/// heuristic of our own).
public enum Scheme: String, Sendable, CaseIterable {
    /// Whole models per node, no PB sharing in storage; the caching nodes broadcast with CoMP, no migration.
    case coarse
    /// TrimCaching (Qu et al., ICDCS 2024): greedy hit-ratio caching of models with shared PBs; no migration.
    case trimcaching
    /// Each node caches for its own users and serves only them, one cell after another; no migration, no CoMP.
    case noCooperation = "no-cooperation"
    /// TrimCaching's placement, then every node takes part in every requested PB (migrated where missing).
    case fullComp = "full-comp"
    /// TrimCaching's placement; each requesting user served alone by maximum-ratio transmission from the nearest
    /// caching node, one after another.
    case tdmaUnicast = "tdma-unicast"
    /// The heuristic's plan, broadcast (CoMP) for PBs requested by more than `hot_threshold` users, unicast for the
    /// others (Fig. 17).
    case hybrid
    /// Delay-aware greedy: PBs placed by demand per byte around each node, then per PB the migrations that shorten
    /// its delay, found by local search on the evaluated delay.
    case heuristic
    /// The best plan by exhaustive search over caching and migration (tiny scenarios only).
    case exact
}

extension Scheme {
    /// The simulator that evaluates this scheme (without edge cooperation, nodes serve only their own cells). The
    /// searching schemes evaluate many plans that share PB outcomes, and the chosen plan once more: they get a cache.
    public func simulator(for network: EdgeNetwork) -> Simulator {
        switch self {
        case .noCooperation: return Simulator(network: network, mode: .ownCells)
        case .tdmaUnicast: return Simulator(network: network, mode: .unicast)
        case .hybrid: return Simulator(network: network, mode: .hybrid(threshold: network.scenario.hotThreshold), cache: SimulationCache())
        case .heuristic, .exact: return Simulator(network: network, cache: SimulationCache())
        default: return Simulator(network: network)
        }
    }
}

public enum Planner {
    /// The plan of `scheme` for the network (schemes see the users' requests, as the paper's agents do).
    public static func plan(_ scheme: Scheme, simulator: Simulator) -> CachePlan {
        let network = simulator.network
        switch scheme {
        case .coarse: return modelGreedy(network, shareBlocks: false)
        case .trimcaching, .tdmaUnicast: return modelGreedy(network, shareBlocks: true)
        case .noCooperation: return localGreedy(network)
        case .hybrid: return heuristic(simulator)
        case .exact: return exact(simulator)
        case .fullComp:
            var plan = modelGreedy(network, shareBlocks: true)
            for k in 0..<network.repository.blockCount where !network.requesters[k].isEmpty {
                let holders = (0..<network.scenario.nodes).filter { plan.cached[$0][k] }
                guard !holders.isEmpty else { continue }
                let rates = network.backhaulRates(block: k)
                for m in 0..<network.scenario.nodes where !plan.cached[m][k] {
                    let source = holders.max { rates[$0][m] < rates[$1][m] } ?? holders[0]
                    plan.migrations[k].append(.init(from: source, to: m))
                }
            }
            return plan
        case .heuristic: return heuristic(simulator)
        }
    }

    /// Users of each model per node (by association).
    static func demand(_ network: EdgeNetwork) -> [[Int]] {
        var counts = [[Int]](repeating: [Int](repeating: 0, count: network.repository.models.count), count: network.scenario.nodes)
        for (user, model) in network.requests.enumerated() { counts[network.association[user]][model] += 1 }
        return counts
    }

    /// Greedy over (node, model): add the model serving the most not-yet-served associated users per added byte,
    /// while it fits. With `shareBlocks`, PBs a node already holds cost nothing (TrimCaching); without, every model
    /// is charged its full size (coarse-grained caching).
    static func modelGreedy(_ network: EdgeNetwork, shareBlocks: Bool) -> CachePlan {
        let repository = network.repository
        var plan = CachePlan(nodes: network.scenario.nodes, blocks: repository.blockCount)
        var used = [Double](repeating: 0, count: network.scenario.nodes)
        var served = demand(network)
        while true {
            var best: (node: Int, model: Int, score: Double, cost: Double)?
            for n in 0..<network.scenario.nodes {
                for (j, model) in repository.models.enumerated() where served[n][j] > 0 {
                    let cost = Set(model.blocks).filter { !shareBlocks || !plan.cached[n][$0] }.reduce(0) { $0 + repository.blockBytes[$1] }
                    guard used[n] + cost <= network.scenario.capacity(of: n) else { continue }
                    let score = Double(served[n][j]) / max(cost, 1)
                    if score > (best?.score ?? 0) { best = (n, j, score, cost) }
                }
            }
            guard let best else { return plan }
            for k in repository.models[best.model].blocks { plan.cached[best.node][k] = true }
            used[best.node] += best.cost
            served[best.node][best.model] = 0
        }
    }

    /// PB-level greedy per node on its own users' demand per byte (no-cooperation).
    static func localGreedy(_ network: EdgeNetwork) -> CachePlan {
        let repository = network.repository
        var plan = CachePlan(nodes: network.scenario.nodes, blocks: repository.blockCount)
        for n in 0..<network.scenario.nodes {
            var weight = [Double](repeating: 0, count: repository.blockCount)
            for (user, model) in network.requests.enumerated() where network.association[user] == n {
                for k in Set(repository.models[model].blocks) { weight[k] += 1 }
            }
            fill(&plan, node: n, weight: weight, repository: repository, capacity: network.scenario.capacity(of: n))
        }
        return plan
    }

    static func fill(_ plan: inout CachePlan, node n: Int, weight: [Double], repository: ModelCatalog, capacity: Double) {
        var used = plan.storedBytes(node: n, repository: repository)
        let order = weight.indices.filter { weight[$0] > 0 }.sorted {
            let (a, b) = (weight[$0] / max(repository.blockBytes[$0], 1), weight[$1] / max(repository.blockBytes[$1], 1))
            return a != b ? a > b : $0 < $1
        }
        for k in order where !plan.cached[n][k] && used + repository.blockBytes[k] <= capacity {
            plan.cached[n][k] = true
            used += repository.blockBytes[k]
        }
    }

    /// Delay-aware heuristic, minimising the same cost as the learning agents (−Σ r(k) of (12)): three placements —
    /// per node, PBs by demand per byte with its own users counting fully and observed neighbours' at half (requested
    /// PBs nobody holds then go to the least loaded node that fits them), the same with the storage left over filled
    /// by every cell's demand (a further holder only joins the broadcast), and TrimCaching's — each improved PB by PB
    /// (delays are independent once caching is fixed) by adding migrations while they lower the PB's cost; the
    /// cheapest plan wins. Including TrimCaching's placement makes it never worse than `trimcaching` on that cost.
    static func heuristic(_ simulator: Simulator) -> CachePlan {
        let network = simulator.network
        let draws = (0..<network.repository.blockCount).map { k in
            network.requesters[k].isEmpty ? nil : simulator.draws(block: k)
        }
        let candidates = [demandPlacement(network, spareCapacity: false), demandPlacement(network, spareCapacity: true), modelGreedy(network, shareBlocks: true)].map { placement in
            addMigrations(to: placement, simulator: simulator, draws: draws)
        }
        return candidates.min { $0.cost < $1.cost }!.plan
    }

    static func demandPlacement(_ network: EdgeNetwork, spareCapacity: Bool) -> CachePlan {
        let repository = network.repository
        var plan = CachePlan(nodes: network.scenario.nodes, blocks: repository.blockCount)
        for n in 0..<network.scenario.nodes {
            var weight = [Double](repeating: 0, count: repository.blockCount)
            for (user, model) in network.requests.enumerated() {
                let owner = network.association[user]
                let share = owner == n ? 1.0 : (network.observes[n][owner] ? 0.5 : 0)
                guard share > 0 else { continue }
                for k in Set(repository.models[model].blocks) { weight[k] += share }
            }
            fill(&plan, node: n, weight: weight, repository: repository, capacity: network.scenario.capacity(of: n))
        }
        if spareCapacity {
            // Storage left over serves farther cells too: every extra holder joins the CoMP broadcast at no cost.
            let everyone = (0..<repository.blockCount).map { Double(network.requesters[$0].count) }
            for n in 0..<network.scenario.nodes {
                fill(&plan, node: n, weight: everyone, repository: repository, capacity: network.scenario.capacity(of: n))
            }
        }
        for k in 0..<repository.blockCount where !network.requesters[k].isEmpty && !(0..<network.scenario.nodes).contains(where: { plan.cached[$0][k] }) {
            let candidates = (0..<network.scenario.nodes).filter {
                plan.storedBytes(node: $0, repository: repository) + repository.blockBytes[k] <= network.scenario.capacity(of: $0)
            }
            if let node = candidates.min(by: { plan.storedBytes(node: $0, repository: repository) < plan.storedBytes(node: $1, repository: repository) }) {
                plan.cached[node][k] = true
            }
        }
        return plan
    }

    /// Per requested PB, greedily adds the migration (from the holder with the fastest backhaul) that lowers the
    /// PB's cost most, until none does. Returns the plan and its total cost over the requested PBs.
    static func addMigrations(
        to placement: CachePlan, simulator: Simulator, draws: [Simulator.BlockDraws?]
    ) -> (plan: CachePlan, cost: Double) {
        let network = simulator.network
        let (r1, r2) = (network.scenario.r1, network.scenario.r2)
        var plan = placement
        var total = 0.0
        for k in 0..<network.repository.blockCount {
            guard let blockDraws = draws[k] else { continue }
            var current = simulator.outcome(of: plan, block: k, draws: blockDraws).cost(r1: r1, r2: r2)
            let rates = blockDraws.backhaul
            let holders = (0..<network.scenario.nodes).filter { plan.cached[$0][k] }
            while !holders.isEmpty {
                let participants = Set(plan.participants(block: k))
                var best: (plan: CachePlan, cost: Double)?
                for m in 0..<network.scenario.nodes where !participants.contains(m) {
                    guard let source = holders.max(by: { rates[$0][m] < rates[$1][m] }) else { continue }
                    var trial = plan
                    trial.migrations[k].append(.init(from: source, to: m))
                    let cost = simulator.outcome(of: trial, block: k, draws: blockDraws).cost(r1: r1, r2: r2)
                    if cost < (best?.cost ?? current) * (1 - 1e-9) { best = (trial, cost) }
                }
                guard let best else { break }
                plan = best.plan
                current = best.cost
            }
            total += current
        }
        return (plan, total)
    }

    /// The largest search `exact` accepts: nodes × requested PBs.
    public static let exactLimit = 12

    /// Whether `exact` can search this network exhaustively.
    public static func exactIsTractable(_ network: EdgeNetwork) -> Bool {
        network.scenario.nodes * network.requesters.filter { !$0.isEmpty }.count <= exactLimit
    }

    /// Exhaustive search: every caching of the requested PBs within capacity, and for each PB every set of nodes
    /// it is migrated to (each from the holder with the fastest backhaul to it, which is never worse). Plans are
    /// ranked by their cost (−Σ r(k) of (12), as for the heuristic and the learning agents). Per PB the outcome
    /// depends only on which nodes hold it, so those are memoised. Beamforming is the same subroutine as for every
    /// scheme.
    static func exact(_ simulator: Simulator) -> CachePlan {
        let network = simulator.network
        let repository = network.repository
        let nodes = network.scenario.nodes
        let requested = (0..<repository.blockCount).filter { !network.requesters[$0].isEmpty }
        let (r1, r2) = (network.scenario.r1, network.scenario.r2)
        typealias Score = Double
        func less(_ a: Score, _ b: Score) -> Bool { a < b }
        // best[k][mask]: the best migrations for PB k when the nodes in `mask` hold it.
        var best = [[(score: Score, moves: [CachePlan.Migration])]]()
        for k in requested {
            let draws = simulator.draws(block: k)
            let rates = draws.backhaul
            var row: [(score: Score, moves: [CachePlan.Migration])] = []
            for mask in 0..<(1 << nodes) {
                let holders = (0..<nodes).filter { mask & (1 << $0) != 0 }
                var plan = CachePlan(nodes: nodes, blocks: repository.blockCount)
                for n in holders { plan.cached[n][k] = true }
                guard !holders.isEmpty else {
                    row.append((simulator.outcome(of: plan, block: k, draws: draws).cost(r1: r1, r2: r2), []))
                    continue
                }
                let others = (0..<nodes).filter { mask & (1 << $0) == 0 }
                var choice: (score: Score, moves: [CachePlan.Migration])?
                for receivers in 0..<(1 << others.count) {
                    let moves = others.indices.filter { receivers & (1 << $0) != 0 }.map { index in
                        CachePlan.Migration(from: holders.max { rates[$0][others[index]] < rates[$1][others[index]] } ?? holders[0], to: others[index])
                    }
                    plan.migrations[k] = moves
                    let outcome = simulator.outcome(of: plan, block: k, draws: draws)
                    let score: Score = outcome.cost(r1: r1, r2: r2)
                    if choice == nil || less(score, choice!.score) { choice = (score, moves) }
                }
                row.append(choice ?? (.infinity, []))
            }
            best.append(row)
        }
        var bestPlan = CachePlan(nodes: nodes, blocks: repository.blockCount)
        var bestScore: Score?
        var masks = [Int](repeating: 0, count: requested.count)
        func search(_ index: Int, _ used: [Double], _ score: Score) {
            // Scores only grow as PBs are added, so a partial plan no better than the best complete one is done.
            if let bestScore, !less(score, bestScore) { return }
            guard index < requested.count else {
                bestScore = score
                var plan = CachePlan(nodes: nodes, blocks: repository.blockCount)
                for (position, k) in requested.enumerated() {
                    for n in 0..<nodes where masks[position] & (1 << n) != 0 { plan.cached[n][k] = true }
                    plan.migrations[k] = best[position][masks[position]].moves
                }
                bestPlan = plan
                return
            }
            let k = requested[index]
            for mask in 0..<(1 << nodes) {
                var next = used
                var fits = true
                for n in 0..<nodes where mask & (1 << n) != 0 {
                    next[n] += repository.blockBytes[k]
                    if next[n] > network.scenario.capacity(of: n) * (1 + 1e-12) { fits = false }
                }
                guard fits else { continue }
                masks[index] = mask
                let part = best[index][mask].score
                search(index + 1, next, score + part)
            }
        }
        search(0, [Double](repeating: 0, count: nodes), 0)
        return bestPlan
    }
}
