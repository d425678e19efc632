/// The heuristic's plan, broadcast (CoMP) for PBs requested by more than `hot_threshold` users, unicast for the
/// others (Fig. 17).
public struct HybridMulticast: PlanningScheme {
    public init() {}
    public var name: String { "hybrid" }

    public func simulator(for network: EdgeNetwork) -> Simulator {
        Simulator(network: network, mode: .hybrid(threshold: network.scenario.hotThreshold), cache: SimulationCache())
    }

    public func plan(with simulator: Simulator) -> CachePlan { DemandHeuristic.plan(simulator) }
}
