import ArgumentParser
import Foundation
import PBRCore
import Trainer

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Learning curves of trained policies: mean ± std of the episode return per variant (Fig. 7), as SVG.",
        discussion: "Example: pbrepo plot runs/maasn-da-1 runs/maasn-da-2 runs/maasn-da-3 runs/no-da-1 ... -o fig7.svg")

    @Argument(help: "Policy directories written by `pbrepo train` (runs of one variant are grouped).") var policies:
        [String]
    @Option(name: .shortAndLong, help: "Output SVG.") var output: String
    @Option(help: "Moving-average window, episodes.") var window: Int = 10

    func validate() throws {
        guard !policies.isEmpty else { throw ValidationError("give at least one policy directory") }
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
    }

    func run() throws {
        let curves = try Console.run { try LearningCurves.load(directories: policies) }
        try Console.run {
            try FileSystem.writeAtomically(curves.svg(title: "Episode return", window: window), to: output)
        }
        for line in curves.summary(window: window) {
            let runs = curves.runs.first { $0.variant == line.variant }?.returns.count ?? 0
            print(
                String(
                    format: "%-12@ %d run(s), last mean return %.1f ± %.1f", line.variant, runs, line.mean.last ?? 0,
                    line.deviation.last ?? 0))
        }
        print("wrote \(output)")
    }
}
