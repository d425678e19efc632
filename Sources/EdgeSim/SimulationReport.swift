/// A scheme's plan and its outcome on one network, ready for printing.
public struct SimulationReport: Sendable {
    /// The scheme's name (a `Scheme`, or a learned policy's variant such as `maasn-da`).
    public var schemeName: String
    public var seed: UInt64
    public var network: Network
    public var plan: CachePlan
    public var outcome: PlanOutcome

    /// Builds the network for the seed, plans with the scheme and evaluates the plan.
    public static func run(scheme: Scheme, scenario: Scenario, repository: Repository, seed: UInt64) throws -> SimulationReport {
        try scenario.validate()
        return try run(scheme: scheme, network: Network(scenario: scenario, repository: repository, seed: seed))
    }

    /// Plans with the scheme on a network built from a validated scenario and evaluates the plan.
    public static func run(scheme: Scheme, network: Network) throws -> SimulationReport {
        let (scenario, repository, seed) = (network.scenario, network.repository, network.seed)
        if scheme == .exact && !Planner.exactIsTractable(network) {
            let requested = network.requesters.filter { !$0.isEmpty }.count
            throw ScenarioError(
                "exact searches every plan: nodes × requested PBs must be at most \(Planner.exactLimit), here \(scenario.nodes) × \(requested)")
        }
        let simulator = scheme.simulator(for: network)
        let plan = Planner.plan(scheme, simulator: simulator)
        if let violation = plan.violation(scenario: scenario, repository: repository) {
            throw ScenarioError("scheme \(scheme.rawValue) produced an invalid plan: \(violation)")
        }
        return SimulationReport(schemeName: scheme.rawValue, seed: seed, network: network, plan: plan, outcome: simulator.outcome(of: plan))
    }

    /// Evaluates a plan made elsewhere (a learned policy) exactly as the schemes' plans are: checked against (1) and
    /// (2), then (3)–(8) with CoMP broadcast.
    public static func evaluate(plan: CachePlan, schemeName: String, network: Network, seed: UInt64) throws -> SimulationReport {
        if let violation = plan.violation(scenario: network.scenario, repository: network.repository) {
            throw ScenarioError("\(schemeName) produced an invalid plan: \(violation)")
        }
        return SimulationReport(
            schemeName: schemeName, seed: seed, network: network, plan: plan, outcome: Simulator(network: network).outcome(of: plan))
    }

    /// `{"scheme", "seed", "total_delay_s", "cost", "feasible", "hit_ratio", "qos_met_ratio", "missed_blocks",
    /// "capacity_bytes", "cache", "migrations", "blocks"}` — node indices from 0, block ids as in the manifest.
    public var jsonText: String {
        let ids = network.repository.blockIDs
        func number(_ value: Double) -> String { value.isFinite ? "\(value)" : "null" }
        func quoted(_ text: String) -> String { "\"" + text + "\"" }
        let cache = plan.cached.map { row in "[" + row.indices.filter { row[$0] }.map { quoted(ids[$0]) }.joined(separator: ", ") + "]" }
        let migrations = outcome.blocks.flatMap { block in
            block.migrations.map { "{\"block\": \(quoted(ids[block.block])), \"from\": \($0.from), \"to\": \($0.to), \"delay_s\": \(number($0.seconds))}" }
        }
        let blocks = outcome.blocks.map { block in
            "{\"id\": \(quoted(ids[block.block])), \"bytes\": \(number(block.bytes)), \"requesting_users\": [\(block.requestingUsers.map(String.init).joined(separator: ", "))], "
                + "\"participants\": [\(block.participants.map(String.init).joined(separator: ", "))], \"delay_s\": \(number(block.delaySeconds)), \"feasible\": \(block.feasible), \"missed\": \(block.missed)}"
        }
        let capacities = (0..<network.scenario.nodes).map { number(network.scenario.capacity(of: $0)) }
        return """
            {
              "scheme": \(quoted(schemeName)),
              "seed": \(seed),
              "total_delay_s": \(number(outcome.totalDelaySeconds)),
              "cost": \(number(outcome.cost(r1: network.scenario.r1, r2: network.scenario.r2))),
              "feasible": \(outcome.feasible),
              "hit_ratio": \(number(outcome.hitRatio)),
              "qos_met_ratio": \(number(outcome.qosMetRatio)),
              "missed_blocks": \(outcome.missedBlocks),
              "capacity_bytes": [\(capacities.joined(separator: ", "))],
              "cache": [\(cache.joined(separator: ",\n    "))],
              "migrations": [\(migrations.joined(separator: ",\n    "))],
              "blocks": [\(blocks.joined(separator: ",\n    "))]
            }
            """
    }
}
