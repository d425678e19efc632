/// TrimCaching's placement; each requesting user served alone by maximum-ratio transmission from the nearest caching
/// node, one after another.
package struct TDMAUnicast: PlanningScheme {
    package init() {}
    package var name: String { "tdma-unicast" }
    package func simulator(for network: EdgeNetwork) -> Simulator { Simulator(network: network, mode: .unicast) }
    package func plan(with simulator: Simulator) -> CachePlan { ModelGreedy.plan(simulator.network, shareBlocks: true) }
}
