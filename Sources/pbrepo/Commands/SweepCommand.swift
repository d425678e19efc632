import ArgumentParser
import EdgeSim
import Foundation
import PBRCore
import Trainer

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Simulate schemes over a range of one parameter and several seeds; write CSV and an SVG plot.",
        discussion: """
            Example: pbrepo sweep --manifest manifests/paper-cnn60.json --vary capacity=2e8,5e8,1.25e9 --schemes trimcaching,heuristic --seeds 5 -o out/

            A learner among the schemes (\(Variant.allCases.map(\.rawValue).joined(separator: ", "))) is trained on every point and seed \
            (--train-episodes, --train-config), then its kept policy planned and evaluated like the other schemes.
            """)

    @OptionGroup var network: NetworkOptions
    @Option(
        help:
            "PARAMETER=v1,v2,... with PARAMETER one of \(Sweep.Parameter.allCases.map(\.rawValue).joined(separator: ", "))."
    )
    var vary: String
    @Option(help: "Comma-separated schemes.")
    var schemes = SchemeList(argument: "coarse,trimcaching,no-cooperation,tdma-unicast,full-comp,heuristic")!
    @Option(
        help:
            "Seeds of each point: a count n (seeds 1...n), a range (6-10, to extend an earlier sweep) or a list (1,4,9)."
    )
    var seeds: SeedList = SeedList(argument: "5")!
    @Option(help: "Episodes a learner trains on each network (default: its configuration's, the paper's 600).")
    var trainEpisodes: Int?
    @Option(help: "JSON object overriding a learner's training fields (as `pbrepo train --config`).") var trainConfig:
        String?
    @Option(name: .shortAndLong, help: "Output directory (sweep.csv, sweep.svg).") var output: String
    @Flag(help: "Plot the swept values on a logarithmic axis (every value must be positive).") var logX = false

    func validate() throws {
        guard vary.contains("=") else { throw ValidationError("--vary takes PARAMETER=v1,v2,...") }
        if let trainEpisodes, trainEpisodes < 1 { throw ValidationError("--train-episodes must be at least 1") }
        if trainEpisodes != nil || trainConfig != nil, schemes.learners.isEmpty {
            throw ValidationError("--train-episodes and --train-config apply to learners; --schemes names none")
        }
    }

    func run() throws {
        let parts = vary.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let parameter = Sweep.Parameter(rawValue: parts[0]) else {
            throw ValidationError(
                "unknown parameter \(parts[0]); choose one of \(Sweep.Parameter.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        let values = try parts[1].split(separator: ",", omittingEmptySubsequences: false).map { text -> Double in
            guard let value = Double(text) else {
                throw ValidationError("--vary \(parameter.rawValue): \"\(text)\" is not a number")
            }
            try Console.run { try parameter.check(value) }
            return value
        }
        let chosen = try schemes.schemes.map { choice -> any CachingScheme in
            switch choice {
            case .builtin(let scheme):
                guard !(scheme is ExhaustiveSearch) else {
                    throw ValidationError("exact cannot be swept (tiny scenarios only)")
                }
                return scheme
            case .learner(let variant):
                return LearnedScheme(
                    config: try Console.run {
                        try TrainingConfig.settings(for: variant, overridesFile: trainConfig, episodes: trainEpisodes)
                    })
            }
        }
        let progress = ProgressBar(label: "sweep, runs", counting: true)
        let sweep = try Console.run {
            let base = try network.loadScenario()
            return try Sweep.run(
                repository: try network.loadCatalog(), scenario: base, parameter: parameter,
                values: values,
                schemes: chosen, seedList: seeds.values
            ) { done, total in progress.update(done: UInt64(done), total: UInt64(total)) }
        }
        progress.finish()
        try Console.run {
            try FileSystem.makeDirectories(output)
            try FileSystem.writeAtomically(sweep.csv, to: output + "/sweep.csv")
            let title = "Total delay vs \(parameter.rawValue)"
            try FileSystem.writeAtomically(sweep.svg(title: title, logX: logX), to: output + "/sweep.svg")
        }
        for point in sweep.summary {
            print(
                String(format: "%-15@ %-10g T = %.4f ± %.4f s", point.scheme, point.value, point.mean, point.deviation))
        }
        print("wrote \(output)/sweep.csv and \(output)/sweep.svg")
    }
}

/// `--seeds`: `5` (1...5), `6-10`, or `1,4,9`; at least one seed, each once.
struct SeedList: ExpressibleByArgument {
    var values: [UInt64]

    init?(argument: String) {
        var values: [UInt64] = []
        if let count = UInt64(argument) {
            guard count >= 1, count <= 100_000 else { return nil }
            values = Array(1...count)
        } else if let dash = argument.firstIndex(of: "-"), let low = UInt64(argument[..<dash]),
            let high = UInt64(argument[argument.index(after: dash)...]), low <= high, high - low < 100_000
        {
            values = Array(low...high)
        } else {
            for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
                guard let seed = UInt64(part) else { return nil }
                values.append(seed)
            }
        }
        guard !values.isEmpty, Set(values).count == values.count else { return nil }
        self.values = values
    }

    var defaultValueDescription: String { values.count == 1 ? "\(values[0])" : "1-\(values.count)" }
}
