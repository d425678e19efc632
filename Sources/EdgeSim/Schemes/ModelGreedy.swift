/// Coarse-grained caching: whole models per node, no PB sharing in storage; the caching nodes broadcast with CoMP,
/// no migration.
package struct CoarseCaching: PlanningScheme {
    package init() {}
    package var name: String { "coarse" }
    package func plan(with simulator: Simulator) -> CachePlan {
        ModelGreedy.plan(simulator.network, shareBlocks: false)
    }
}

/// TrimCaching (Qu et al., ICDCS 2024): greedy hit-ratio caching of models with shared PBs; no migration.
package struct TrimCaching: PlanningScheme {
    package init() {}
    package var name: String { "trimcaching" }
    package func plan(with simulator: Simulator) -> CachePlan { ModelGreedy.plan(simulator.network, shareBlocks: true) }
}

enum ModelGreedy {
    /// Greedy over (node, model): add the model serving the most not-yet-served associated users per added byte,
    /// while it fits. With `shareBlocks`, PBs a node already holds cost nothing (TrimCaching); without, every model
    /// is charged its full size (coarse-grained caching).
    static func plan(_ network: EdgeNetwork, shareBlocks: Bool) -> CachePlan {
        let repository = network.repository
        var plan = CachePlan(nodes: network.scenario.nodes, blocks: repository.blockCount)
        var used = [Double](repeating: 0, count: network.scenario.nodes)
        var served = Placement.demand(network)
        while true {
            var best: (node: Int, model: Int, score: Double, cost: Double)?
            for n in 0..<network.scenario.nodes {
                for (j, model) in repository.models.enumerated() where served[n][j] > 0 {
                    let cost = Set(model.blocks).filter { !shareBlocks || !plan.cached[n][$0] }.reduce(0) {
                        $0 + repository.blockBytes[$1]
                    }
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

}
