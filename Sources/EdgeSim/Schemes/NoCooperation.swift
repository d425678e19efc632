/// Without edge cooperation: each node caches for its own users by demand per byte and serves only them, one cell
/// after another; no migration, no CoMP.
package struct NoCooperation: PlanningScheme {
    package init() {}
    package var name: String { "no-cooperation" }
    package func simulator(for network: EdgeNetwork) -> Simulator { Simulator(network: network, mode: .ownCells) }
    package func plan(with simulator: Simulator) -> CachePlan { Self.localGreedy(simulator.network) }

    /// PB-level greedy per node on its own users' demand per byte (no-cooperation).
    static func localGreedy(_ network: EdgeNetwork) -> CachePlan {
        let repository = network.repository
        var plan = CachePlan(nodes: network.scenario.nodes, blocks: repository.blockCount)
        for n in 0..<network.scenario.nodes {
            var weight = [Double](repeating: 0, count: repository.blockCount)
            for (user, model) in network.requests.enumerated() where network.association[user] == n {
                for k in Set(repository.models[model].blocks) { weight[k] += 1 }
            }
            Placement.fill(
                &plan, node: n, weight: weight, repository: repository, capacity: network.scenario.capacity(of: n))
        }
        return plan
    }

}
