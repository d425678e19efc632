import ArgumentParser
import Foundation
import PBRCore
import Trainer

struct BoundCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bound",
        abstract:
            "Theorem 1: the Q-value error bound over a (τ0, ξ) grid (Fig. 6) with the constants of Section V-C, and its minimiser."
    )

    @Option(help: "Write the grid as CSV (tau0,xi,bound).") var csv: String?
    @Option(help: "Steps per episode K.") var steps: Double = 450
    @Option(help: "Episodes E.") var episodes: Double = 600
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard steps.isFinite, steps >= 1, episodes.isFinite, episodes >= 1 else {
            throw ValidationError("--steps and --episodes must be finite numbers of at least 1")
        }
    }

    func run() throws {
        var bound = ConvergenceBound()
        bound.steps = steps
        bound.episodes = episodes
        let search = bound.gridSearch()
        if let csv {
            let text =
                (["tau0,xi,bound"] + search.grid.map { "\($0.tau0),\($0.xi),\($0.bound)" }).joined(separator: "\n")
                + "\n"
            try Console.run { try FileSystem.writeAtomically(text, to: csv) }
        }
        guard let best = search.best else { throw ValidationError("the bound is undefined on the whole grid") }
        let paper = bound.value(tau0: 0.8, xi: 1.12)
        if json {
            print(
                JSONValue.object([
                    ("tau0", .number(best.tau0)), ("xi", .number(best.xi)),
                    ("bound", .number(best.bound)),
                    ("bound_at_paper_choice", paper.map { .number($0) } ?? .null),
                ]).prettyPrinted())
        } else {
            print(
                String(
                    format: "minimum of the bound over the grid: τ0 = %.2f, ξ = %.2f, bound %.2f", best.tau0, best.xi,
                    best.bound))
            if let paper { print(String(format: "at the paper's choice τ0 = 0.8, ξ = 1.12: %.2f", paper)) }
        }
    }
}
