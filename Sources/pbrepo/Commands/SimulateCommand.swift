import ArgumentParser
import EdgeSim
import Foundation

extension Scheme: ExpressibleByArgument {}

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Plan PB caching and migration with a scheme on a simulated edge network, and evaluate the delay.",
        discussion: "Schemes: \(Scheme.allCases.map(\.rawValue).joined(separator: ", ")). Scenario fields: docs/simulator.md.")

    @Option(help: "A pbrepo.manifest/v1 file (PB sizes and model compositions).") var manifest: String
    @Option(help: "Scenario file (JSON); defaults are Table II of the paper.") var scenario: String?
    @Option(help: "Scheme.") var scheme: Scheme
    @Option(help: "Seed of the network realisation.") var seed: UInt64 = 1
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let report = try Console.run {
            let parameters = try scenario.map { try Scenario.load($0) } ?? Scenario()
            return try SimulationReport.run(
                scheme: scheme, scenario: parameters, repository: try Repository.load(manifest: manifest), seed: seed)
        }
        if json { return print(report.jsonText) }
        let requested = report.outcome.blocks.filter { !$0.requestingUsers.isEmpty }
        print("scheme \(scheme.rawValue), seed \(seed): \(report.network.scenario.nodes) nodes, \(report.network.scenario.users) users, "
            + "\(report.network.repository.blockCount) PBs (\(requested.count) requested)")
        print(String(format: "total delay T = %.4f s, hit ratio %.3f, %d migrations, %@", report.outcome.totalDelaySeconds,
                     report.outcome.hitRatio, report.plan.migrations.reduce(0) { $0 + $1.count },
                     report.outcome.feasible ? "every constraint met" : "some QoS or delivery NOT met"))
        for n in 0..<report.network.scenario.nodes {
            let stored = report.plan.storedBytes(node: n, repository: report.network.repository)
            print(String(format: "node %d caches %d PBs, %.1f of %.1f MB", n, report.plan.cached[n].filter { $0 }.count,
                         stored / 1e6, report.network.scenario.capacity(of: n) / 1e6))
        }
    }
}
