/// Delay-aware greedy of our own: PBs placed by demand per byte around each node, then per PB the migrations that
/// shorten its delay, found by local search on the evaluated delay.
package struct DemandHeuristic: PlanningScheme {
    package init() {}
    package var name: String { "heuristic" }
    package func simulator(for network: EdgeNetwork) -> Simulator {
        Simulator(network: network, cache: SimulationCache())
    }
    package func plan(with simulator: Simulator) -> CachePlan { Self.plan(simulator) }

    /// Delay-aware heuristic, minimising the same cost as the learning agents (−Σ r(k) of (12)): three placements —
    /// per node, PBs by demand per byte with its own users counting fully and observed neighbours' at half (requested
    /// PBs nobody holds then go to the least loaded node that fits them), the same with the storage left over filled
    /// by every cell's demand (a further holder only joins the broadcast), and TrimCaching's — each improved PB by PB
    /// (delays are independent once caching is fixed) by adding migrations while they lower the PB's cost; the
    /// cheapest plan wins. Including TrimCaching's placement makes it never worse than `trimcaching` on that cost.
    static func plan(_ simulator: Simulator) -> CachePlan {
        let network = simulator.network
        let draws = (0..<network.repository.blockCount).map { k in
            network.requesters[k].isEmpty ? nil : simulator.draws(block: k)
        }
        let candidates = [
            demandPlacement(network, spareCapacity: false), demandPlacement(network, spareCapacity: true),
            ModelGreedy.plan(network, shareBlocks: true),
        ].map { placement in
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
            Placement.fill(
                &plan, node: n, weight: weight, repository: repository, capacity: network.scenario.capacity(of: n))
        }
        if spareCapacity {
            // Storage left over serves farther cells too: every extra holder joins the CoMP broadcast at no cost.
            let everyone = (0..<repository.blockCount).map { Double(network.requesters[$0].count) }
            for n in 0..<network.scenario.nodes {
                Placement.fill(
                    &plan, node: n, weight: everyone, repository: repository, capacity: network.scenario.capacity(of: n)
                )
            }
        }
        for k in 0..<repository.blockCount
        where !network.requesters[k].isEmpty && !(0..<network.scenario.nodes).contains(where: { plan.cached[$0][k] }) {
            let candidates = (0..<network.scenario.nodes).filter {
                plan.storedBytes(node: $0, repository: repository) + repository.blockBytes[k]
                    <= network.scenario.capacity(of: $0)
            }
            if let node = candidates.min(by: {
                plan.storedBytes(node: $0, repository: repository) < plan.storedBytes(node: $1, repository: repository)
            }) {
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

}
