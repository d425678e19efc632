/// TrimCaching's placement; each requesting user served alone by maximum-ratio transmission from the nearest caching
/// node, one after another.
public struct TDMAUnicast: PlanningScheme {
    public init() {}
    public var name: String { "tdma-unicast" }
    public func simulator(for network: EdgeNetwork) -> Simulator { Simulator(network: network, mode: .unicast) }
    public func plan(with simulator: Simulator) -> CachePlan { ModelGreedy.plan(simulator.network, shareBlocks: true) }
}
