/// A caching and migration scheme: plans PB caching a_n(k) and migrations b_{n,m}(k) on a network and reports the
/// plan's outcome under (1)–(8).
///
/// The built-in schemes (`PlanningScheme`) plan in milliseconds to seconds; a learner (`Trainer.LearnedScheme`)
/// trains on each network first. Every scheme is evaluated by the same simulator code, and every plan is checked
/// against (1) and (2) before it is reported.
package protocol CachingScheme: Sendable {
    /// The name on the command line, in reports and in sweep CSVs (`trimcaching`, `maasn-da`).
    var name: String { get }
    /// Takes minutes rather than seconds (a learner trains on each network): a sweep starts these cases first, so
    /// that none ends alone at the tail of the parallel run.
    var isSlow: Bool { get }
    /// Plans on `network` (built from a validated scenario) and evaluates the plan.
    func report(on network: EdgeNetwork) throws -> SimulationReport
}

/// A scheme that plans from the network and the simulator it is evaluated with.
package protocol PlanningScheme: CachingScheme {
    /// The simulator that evaluates this scheme's plans: CoMP broadcast unless the scheme delivers otherwise. The
    /// searching schemes evaluate many plans that share PB outcomes, and the chosen plan once more: they get a cache.
    func simulator(for network: EdgeNetwork) -> Simulator
    /// The plan (schemes see the users' requests, as the paper's agents do).
    func plan(with simulator: Simulator) throws -> CachePlan
}

extension PlanningScheme {
    package var isSlow: Bool { false }

    package func simulator(for network: EdgeNetwork) -> Simulator { Simulator(network: network) }

    package func report(on network: EdgeNetwork) throws -> SimulationReport {
        let simulator = simulator(for: network)
        let plan = try plan(with: simulator)
        if let violation = plan.violation(scenario: network.scenario, repository: network.repository) {
            throw EdgeSimError(.invalidPlan, "scheme \(name) produced an invalid plan: \(violation)")
        }
        return SimulationReport(
            schemeName: name, seed: network.seed, network: network, plan: plan, outcome: simulator.outcome(of: plan))
    }
}

/// The built-in schemes by name (Section V-D of the reference paper, and heuristics of our own). A new scheme is a
/// file with its type and a line in `all`.
package enum SchemeRegistry {
    package static let all: [any PlanningScheme] = [
        CoarseCaching(), TrimCaching(), NoCooperation(), FullCoMP(), TDMAUnicast(), HybridMulticast(),
        DemandHeuristic(),
        ExhaustiveSearch(),
    ]

    package static var names: [String] { all.map(\.name) }

    /// The built-in scheme called `name`, or nil.
    package static func scheme(named name: String) -> (any PlanningScheme)? { all.first { $0.name == name } }

    /// The schemes that scale past tiny scenarios (everything but `exact`), as sweeps run them.
    package static var scalable: [any PlanningScheme] { all.filter { !($0 is ExhaustiveSearch) } }
}

extension CachingScheme where Self == CoarseCaching { package static var coarse: CoarseCaching { CoarseCaching() } }
extension CachingScheme where Self == TrimCaching { package static var trimcaching: TrimCaching { TrimCaching() } }
extension CachingScheme where Self == NoCooperation {
    package static var noCooperation: NoCooperation { NoCooperation() }
}
extension CachingScheme where Self == FullCoMP { package static var fullComp: FullCoMP { FullCoMP() } }
extension CachingScheme where Self == TDMAUnicast { package static var tdmaUnicast: TDMAUnicast { TDMAUnicast() } }
extension CachingScheme where Self == HybridMulticast {
    package static var hybrid: HybridMulticast { HybridMulticast() }
}
extension CachingScheme where Self == DemandHeuristic {
    package static var heuristic: DemandHeuristic { DemandHeuristic() }
}
extension CachingScheme where Self == ExhaustiveSearch {
    package static var exact: ExhaustiveSearch { ExhaustiveSearch() }
}
