package import PBRCore

/// A scheme's plan and its outcome on one network, ready for printing.
package struct SimulationReport: Sendable {
    /// The scheme's name (a `Scheme`, or a learned policy's variant such as `maasn-da`).
    package var schemeName: String
    package var seed: UInt64
    package var network: EdgeNetwork
    package var plan: CachePlan
    package var outcome: PlanOutcome

    /// Builds the network for the seed, plans with the scheme and evaluates the plan.
    package static func run(
        scheme: some CachingScheme, scenario: Scenario, repository: ModelCatalog, seed: UInt64
    ) throws -> SimulationReport {
        try scenario.validate()
        return try scheme.report(on: EdgeNetwork(scenario: scenario, repository: repository, seed: seed))
    }

    /// Evaluates a plan made elsewhere (a learned policy) exactly as the schemes' plans are: checked against (1) and
    /// (2), then (3)–(8) with CoMP broadcast.
    package static func evaluate(plan: CachePlan, schemeName: String, network: EdgeNetwork, seed: UInt64) throws
        -> SimulationReport
    {
        if let violation = plan.violation(scenario: network.scenario, repository: network.repository) {
            throw EdgeSimError(.invalidPlan, "\(schemeName) produced an invalid plan: \(violation)")
        }
        return SimulationReport(
            schemeName: schemeName, seed: seed, network: network, plan: plan,
            outcome: Simulator(network: network).outcome(of: plan))
    }

    /// `{"scheme", "seed", "total_delay_s", "cost", "feasible", "hit_ratio", "qos_met_ratio", "missed_blocks",
    /// "capacity_bytes", "cache", "migrations", "blocks"}` — node indices from 0, block ids as in the manifest;
    /// non-finite numbers are `null`.
    package var json: JSONValue {
        let ids = network.repository.blockIDs
        let cache = plan.cached.map { row in JSONValue.array(row.indices.filter { row[$0] }.map { .string(ids[$0]) }) }
        let migrations = outcome.blocks.flatMap { block in
            block.migrations.map { migration in
                JSONValue.object([
                    ("block", .string(ids[block.block])), ("from", .number(migration.from)),
                    ("to", .number(migration.to)),
                    ("delay_s", .number(migration.seconds)),
                ])
            }
        }
        let blocks = outcome.blocks.map { block in
            JSONValue.object([
                ("id", .string(ids[block.block])), ("bytes", .integral(block.bytes)),
                ("requesting_users", .array(block.requestingUsers.map { .number($0) })),
                ("participants", .array(block.participants.map { .number($0) })),
                ("delay_s", .number(block.delaySeconds)), ("feasible", .bool(block.feasible)),
                ("missed", .bool(block.missed)),
            ])
        }
        return .object([
            ("scheme", .string(schemeName)), ("seed", .number(seed)),
            ("total_delay_s", .number(outcome.totalDelaySeconds)),
            ("cost", .number(outcome.cost(r1: network.scenario.r1, r2: network.scenario.r2))),
            ("feasible", .bool(outcome.feasible)), ("hit_ratio", .number(outcome.hitRatio)),
            ("qos_met_ratio", .number(outcome.qosMetRatio)), ("missed_blocks", .number(outcome.missedBlocks)),
            (
                "capacity_bytes",
                .array((0..<network.scenario.nodes).map { .integral(network.scenario.capacity(of: $0)) })
            ),
            ("cache", .array(cache)), ("migrations", .array(migrations)), ("blocks", .array(blocks)),
        ])
    }

    /// `json` as text: one member per line, each cache row, migration and block on a line of its own.
    package var jsonText: String { json.prettyPrinted(expandedDepth: 2) }
}
