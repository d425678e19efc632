import ArgumentParser
import EdgeSim
import Foundation
import PBRCore

struct RobustnessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "robustness",
        abstract:
            "Fig. 15: achieved rates of robust and non-robust beamforming under random channel errors (CSV, SVG CDF).",
        discussion:
            "Example: pbrepo robustness --manifest manifests/paper-cnn60.json --eps 1e-5,2e-5 --draws 200 -o out/")

    @OptionGroup var network: NetworkOptions
    @Option(help: "Comma-separated error radii ε (C = I/ε²).") var eps: String = "1e-5,2e-5"
    @Option(help: "Requested PBs to broadcast (the first ones with a participating node).") var blocks: Int = 20
    @Option(help: "Error realisations per PB.") var draws: Int = 200
    @Option(help: "Seed of the network.") var seed: UInt64 = 1
    @Option(name: .shortAndLong, help: "Output directory (robustness.csv, robustness.svg).") var output: String
    @Flag(help: "Print the summary as JSON.") var json = false

    func validate() throws {
        guard blocks >= 1, draws >= 1 else { throw ValidationError("--blocks and --draws must be at least 1") }
        guard Limit.draws.allows(Double(blocks) * Double(draws)) else {
            throw ValidationError("--blocks × --draws must be \(Limit.draws.phrase)")
        }
    }

    func run() throws {
        let radii = try eps.split(separator: ",").map { text -> Double in
            guard let value = Double(text), value >= 0, value.isFinite else {
                throw ValidationError("--eps: \(text) is not a finite, non-negative number")
            }
            return value
        }
        let progress = ProgressBar(label: "robustness, PBs", counting: true)
        let study = try Console.run {
            try RobustnessStudy.run(
                scenario: try network.loadScenario(),
                repository: try network.loadCatalog(),
                seed: seed, errorRadii: radii, blocks: blocks, draws: draws
            ) { progress.update(done: UInt64($0), total: UInt64($1)) }
        }
        progress.finish()
        try Console.run {
            try FileSystem.makeDirectories(output)
            try FileSystem.writeAtomically(study.csv, to: output + "/robustness.csv")
            let title =
                "Achieved rate / Q_u over \(draws) error draws (\((network.manifest as NSString).lastPathComponent), seed \(seed))"
            try FileSystem.writeAtomically(study.svg(title: title), to: output + "/robustness.svg")
        }
        if json {
            print(
                JSONValue.array(
                    study.summary.map { entry in
                        .object([
                            ("error_eps", .number(entry.errorEps)),
                            ("design", .string(entry.robust ? "robust" : "non-robust")),
                            ("samples", .number(entry.samples)), ("below_qos", .number(entry.belowQoS)),
                            ("below_guarantee", .number(entry.belowGuarantee)),
                            ("below_plan", .number(entry.belowPlan)),
                            ("median_rate_over_qos", .number(entry.medianRatio)),
                        ])
                    }
                ).prettyPrinted())
        } else {
            for entry in study.summary {
                print(
                    String(
                        format:
                            "ε = %-8g %-11@ %6d samples: %5.1f %% below Q_u, %5.1f %% below its guarantee, %5.1f %% below its plan, median rate/Q_u %.3f",
                        entry.errorEps,
                        (entry.robust ? "robust" : "non-robust").padding(toLength: 11, withPad: " ", startingAt: 0),
                        entry.samples, 100 * entry.belowQoS, 100 * entry.belowGuarantee, 100 * entry.belowPlan,
                        entry.medianRatio))
            }
            print("wrote \(output)/robustness.csv and \(output)/robustness.svg")
        }
    }
}
