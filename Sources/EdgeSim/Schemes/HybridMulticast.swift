/// The heuristic's plan, broadcast (CoMP) for PBs requested by more than `hot_threshold` users, unicast for the
/// others (Fig. 17).
package struct HybridMulticast: PlanningScheme {
    package init() {}
    package var name: String { "hybrid" }

    package func simulator(for network: EdgeNetwork) -> Simulator {
        Simulator(network: network, mode: .hybrid(threshold: network.scenario.hotThreshold), cache: SimulationCache())
    }

    package func plan(with simulator: Simulator) -> CachePlan { DemandHeuristic.plan(simulator) }
}
