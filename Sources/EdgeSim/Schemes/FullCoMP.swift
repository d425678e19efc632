/// TrimCaching's placement, then every node takes part in every requested PB (migrated where missing, from the holder
/// with the fastest backhaul).
package struct FullCoMP: PlanningScheme {
    package init() {}
    package var name: String { "full-comp" }

    package func plan(with simulator: Simulator) -> CachePlan {
        let network = simulator.network
        var plan = ModelGreedy.plan(network, shareBlocks: true)
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
    }
}
