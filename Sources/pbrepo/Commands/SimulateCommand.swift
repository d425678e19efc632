import ArgumentParser
import EdgeSim
import Foundation
import Trainer

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Plan PB caching and migration with a scheme on a simulated edge network, and evaluate the delay.",
        discussion:
            "Schemes: \(SchemeRegistry.names.joined(separator: ", ")); a trained policy with --scheme \(Variant.allCases.map(\.rawValue).joined(separator: "|")) --policy DIR. Scenario fields: docs/simulator.md."
    )

    @OptionGroup var network: NetworkOptions
    @Option(help: "Scheme, or the variant of a trained policy (with --policy).") var scheme: SchemeArgument
    @Option(help: "A policy directory written by `pbrepo train`.") var policy: String?
    @Option(help: "Seed of the network realisation (a policy's default: its training seed).") var seed: UInt64?
    @Flag(help: "With --policy: run it even on another manifest or scenario than the one it was trained on.")
    var force = false
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if case .learner = scheme, policy == nil { throw ValidationError("--scheme \(scheme.name) needs --policy DIR") }
    }

    func run() throws {
        let report = try ActivityTicker.countingBeamforming("simulate \(scheme.name)") { try plan() }
        if json { return print(report.jsonText) }
        Self.printSummary(of: report)
    }

    private func plan() throws -> SimulationReport {
        try Console.run {
            let parameters = try network.scenario.map { try Scenario.load($0) }
            if let policy {
                let trained = try TrainedPolicy.variant(of: policy)
                guard trained.rawValue == scheme.name else {
                    throw ValidationError(
                        "--scheme \(scheme.name) contradicts the policy in \(policy), which is a \(trained.rawValue) policy"
                    )
                }
                return try TrainedPolicy.plan(
                    directory: policy, manifest: network.manifest, scenario: parameters, seed: seed, force: force)
            }
            guard case .builtin(let builtin) = scheme else {
                throw ValidationError("--scheme \(scheme.name) needs --policy DIR")
            }
            return try SimulationReport.run(
                scheme: builtin, scenario: parameters ?? Scenario(),
                repository: try network.loadCatalog(),
                seed: seed ?? 1)
        }
    }

    /// The human summary of a simulation (what `simulate` and `plan` print without `--json`).
    static func printSummary(of report: SimulationReport) {
        let requested = report.outcome.blocks.filter { !$0.requestingUsers.isEmpty }
        print(
            "scheme \(report.schemeName), seed \(report.seed): \(report.network.scenario.nodes) nodes, \(report.network.scenario.users) users, "
                + "\(report.network.repository.blockCount) PBs (\(requested.count) requested)")
        print(
            String(
                format: "total delay T = %.4f s, hit ratio %.3f, %d migrations, %@", report.outcome.totalDelaySeconds,
                report.outcome.hitRatio, report.plan.migrations.reduce(0) { $0 + $1.count },
                report.outcome.feasible ? "every constraint met" : "some QoS or delivery NOT met"))
        for n in 0..<report.network.scenario.nodes {
            let stored = report.plan.storedBytes(node: n, repository: report.network.repository)
            print(
                String(
                    format: "node %d caches %d PBs, %.1f of %.1f MB", n, report.plan.cached[n].filter { $0 }.count,
                    stored / 1e6, report.network.scenario.capacity(of: n) / 1e6))
        }
    }
}

extension ActivityTicker {
    /// Runs `body` with the beamforming problems it solves counted on the terminal (every simulation's unit of work).
    static func countingBeamforming<R>(_ label: String, _ body: () throws -> R) rethrows -> R {
        try around(label: label, unit: "beamforming problems solved", count: { RobustBeamformer.solvedCount }, body)
    }
}
