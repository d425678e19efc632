import ArgumentParser
import EdgeSim
import Trainer

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract:
            "Run a trained policy on a network: a summary, or with --json per-node caching, migrations and per-PB delays."
    )

    @Option(help: "A policy directory written by `pbrepo train`.") var policy: String
    @Option(help: "A pbrepo.manifest/v1 file (the one the policy was trained on).") var manifest: String
    @Option(help: "Scenario (JSON); default: the one the policy was trained on.") var scenario: String?
    @Option(help: "Seed of the network; default: the training seed.") var seed: UInt64?
    @Flag(help: "Run the policy even on another manifest or scenario than the one it was trained on.") var force = false
    @Flag(help: "Print JSON (as simulate --json): per-node caching, migrations, per-PB delays.") var json = false

    func run() throws {
        let report = try ActivityTicker.countingBeamforming("plan") {
            try Console.run {
                try TrainedPolicy.plan(
                    directory: policy, manifest: manifest, scenario: try scenario.map { try Scenario.load($0) },
                    seed: seed, force: force)
            }
        }
        if json { return print(report.jsonText) }
        SimulateCommand.printSummary(of: report)
    }
}
