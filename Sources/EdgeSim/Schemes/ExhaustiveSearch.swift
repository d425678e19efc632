/// The best plan by exhaustive search over caching and migration (tiny scenarios only): the oracle the other
/// schemes and the learners are checked against.
package struct ExhaustiveSearch: PlanningScheme {
    package init() {}
    package var name: String { "exact" }
    package func simulator(for network: EdgeNetwork) -> Simulator {
        Simulator(network: network, cache: SimulationCache())
    }

    package func plan(with simulator: Simulator) throws -> CachePlan {
        let network = simulator.network
        guard Self.isTractable(network) else {
            let requested = network.requesters.filter { !$0.isEmpty }.count
            throw EdgeSimError(
                .intractable,
                "exact searches every plan: nodes × requested PBs must be at most \(Self.limit), here \(network.scenario.nodes) × \(requested)"
            )
        }
        return Self.search(simulator)
    }

    /// The largest search `exact` accepts: nodes × requested PBs.
    package static let limit = 12

    /// Whether `exact` can search this network exhaustively.
    package static func isTractable(_ network: EdgeNetwork) -> Bool {
        network.scenario.nodes * network.requesters.filter { !$0.isEmpty }.count <= limit
    }

    /// Exhaustive search: every caching of the requested PBs within capacity, and for each PB every set of nodes
    /// it is migrated to (each from the holder with the fastest backhaul to it, which is never worse). Plans are
    /// ranked by their cost (−Σ r(k) of (12), as for the heuristic and the learning agents). Per PB the outcome
    /// depends only on which nodes hold it, so those are memoised. Beamforming is the same subroutine as for every
    /// scheme.
    static func search(_ simulator: Simulator) -> CachePlan {
        let network = simulator.network
        let repository = network.repository
        let nodes = network.scenario.nodes
        let requested = (0..<repository.blockCount).filter { !network.requesters[$0].isEmpty }
        let (r1, r2) = (network.scenario.r1, network.scenario.r2)
        // best[k][mask]: the best migrations for PB k when the nodes in `mask` hold it.
        var best = [[(score: Double, moves: [CachePlan.Migration])]]()
        for k in requested {
            let draws = simulator.draws(block: k)
            let rates = draws.backhaul
            var row: [(score: Double, moves: [CachePlan.Migration])] = []
            for mask in 0..<(1 << nodes) {
                let holders = (0..<nodes).filter { mask & (1 << $0) != 0 }
                var plan = CachePlan(nodes: nodes, blocks: repository.blockCount)
                for n in holders { plan.cached[n][k] = true }
                guard !holders.isEmpty else {
                    row.append((simulator.outcome(of: plan, block: k, draws: draws).cost(r1: r1, r2: r2), []))
                    continue
                }
                let others = (0..<nodes).filter { mask & (1 << $0) == 0 }
                var choice: (score: Double, moves: [CachePlan.Migration])?
                for receivers in 0..<(1 << others.count) {
                    let moves = others.indices.filter { receivers & (1 << $0) != 0 }.map { index in
                        CachePlan.Migration(
                            from: holders.max { rates[$0][others[index]] < rates[$1][others[index]] } ?? holders[0],
                            to: others[index])
                    }
                    plan.migrations[k] = moves
                    let outcome = simulator.outcome(of: plan, block: k, draws: draws)
                    let score: Double = outcome.cost(r1: r1, r2: r2)
                    if choice == nil || score < choice!.score { choice = (score, moves) }
                }
                row.append(choice ?? (.infinity, []))
            }
            best.append(row)
        }
        var bestPlan = CachePlan(nodes: nodes, blocks: repository.blockCount)
        var bestScore: Double?
        var masks = [Int](repeating: 0, count: requested.count)
        func explore(_ index: Int, _ used: [Double], _ score: Double) {
            // Doubles only grow as PBs are added, so a partial plan no better than the best complete one is done.
            if let bestScore, score >= bestScore { return }
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
                explore(index + 1, next, score + part)
            }
        }
        explore(0, [Double](repeating: 0, count: nodes), 0)
        return bestPlan
    }
}
