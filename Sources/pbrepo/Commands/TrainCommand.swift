import ArgumentParser
import EdgeSim
import Foundation
import PBRCore
import Trainer

extension Variant: ExpressibleByArgument {}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract:
            "Train MAASN-DA (or an ablation) on a simulated edge network; writes the policy and its learning curve.",
        discussion: "Example: pbrepo train --manifest manifests/paper-cnn60.json --episodes 600 --seed 1 -o policy/")

    @OptionGroup var network: NetworkOptions
    @Option(help: "Learner: \(Variant.allCases.map(\.rawValue).joined(separator: ", ")).") var variant: Variant =
        .maasnDA
    @Option(help: "Episodes E (default: the paper's 600).") var episodes: Int?
    @Option(help: "Seed of the network and of the learner.") var seed: UInt64 = 1
    @Option(
        help: "JSON object overriding training fields (gamma, batchSize, updatesPerEpisode, ...; see docs/maasn-da.md)."
    )
    var config: String?
    @Option(name: .shortAndLong, help: "Policy directory (policy.json, policy.safetensors, curve.csv).") var output:
        String
    @Flag(help: "Print the final record as JSON.") var json = false

    func validate() throws {
        if let episodes, episodes < 1 { throw ValidationError("--episodes must be at least 1") }
    }

    func run() throws {
        let settings = try Console.run {
            try TrainingConfig.settings(for: variant, overridesFile: self.config, episodes: episodes)
        }
        let config = settings
        let progress = ProgressBar(label: "train \(variant.rawValue), episode", counting: true)
        let session = try Console.run {
            try TrainingSession.start(
                manifest: network.manifest, scenario: try network.loadScenario(), config: config,
                seed: seed,
                directory: output)
        }
        let trainer = session.trainer
        // SIGINT/SIGTERM: the running episode is finished and a checkpoint saved, so that the same command resumes.
        Interruption.deferToSafePoints()
        while trainer.curve.count < config.episodes {
            if Interruption.pendingSignal != nil {
                progress.finish()
                try Console.run { try session.save() }
                Interruption.exitAtSafePoint(
                    "train stopped after episode \(trainer.curve.count) of \(config.episodes); checkpoint saved in"
                        + " \(output), the same command resumes it")
            }
            let record = trainer.trainEpisode()
            progress.update(
                done: UInt64(record.episode + 1), total: UInt64(config.episodes),
                note: String(format: "return %.1f, T %.3f s", record.episodeReturn, record.totalDelaySeconds)
                    + (trainer.best.map { String(format: ", best greedy cost %.1f", $0.cost) } ?? ""))
            if (record.episode + 1) % 10 == 0 || record.episode + 1 == config.episodes {
                try Console.run { try session.save() }
            }
        }
        progress.finish()
        let last = trainer.curve.last!
        if json {
            print(
                JSONValue.object([
                    ("variant", .string(variant.rawValue)), ("episodes", .number(trainer.curve.count)),
                    ("final_return", .number(last.episodeReturn)),
                    ("final_total_delay_s", .number(last.totalDelaySeconds)),
                    ("best_greedy_cost", trainer.best.map { .number($0.cost) } ?? .null),
                    ("best_episode", trainer.best.map { .number($0.episode) } ?? .null),
                    ("policy", .string(output)),
                ]).prettyPrinted())
        } else {
            print(
                String(
                    format:
                        "trained %@ for %d episodes: last return %.2f, T %.4f s; kept the greedy policy of episode %d (cost %.2f); wrote %@",
                    variant.rawValue, trainer.curve.count, last.episodeReturn, last.totalDelaySeconds,
                    trainer.best?.episode ?? -1,
                    trainer.best?.cost ?? .nan, output))
        }
    }
}
