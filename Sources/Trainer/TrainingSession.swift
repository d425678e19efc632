package import EdgeSim
import Foundation
import NeuralKit
package import PBRCore
import TensorFiles

/// A training run tied to a policy directory, resumable after an interruption:
///
///     policy.json                  what was trained and how far: config, scenario, manifest, seed, curve, checkpoint
///     policy.safetensors           every network (actors, critics, mixer, targets), F32, named by parameter
///     best.safetensors             the decision networks of the cheapest greedy policy evaluated (what `plan` uses)
///     training-state.safetensors   Adam moments, replay buffer, predictor state (only for resuming)
///     curve.csv                    episode,return,total_delay_s,qos_met_ratio,synthetic_samples,seconds
///
/// Each file is written atomically; both safetensors files carry the checkpoint's episode count in their metadata,
/// and a resume refuses files that disagree with policy.json.
package final class TrainingSession {
    package static let schemaID = "pbrepo.policy/v1"

    package let trainer: MAASNTrainer
    package let directory: String
    let manifest: String
    let scenario: Scenario
    let inputs: TrainingInputs

    init(trainer: MAASNTrainer, directory: String, manifest: String, scenario: Scenario) throws {
        self.trainer = trainer
        self.directory = directory
        self.manifest = manifest
        self.scenario = scenario
        self.inputs = try TrainingInputs(manifest: manifest, scenario: scenario)
    }

    /// Starts a run in `directory`, or resumes the one there when it was made with the same variant, seed, manifest
    /// and scenario (its episode count may grow).
    package static func start(
        manifest: String, scenario: Scenario, config: TrainingConfig, seed: UInt64, directory: String
    ) throws -> TrainingSession {
        try config.validate()
        try scenario.validate()
        let repository = try ModelCatalog.load(manifest: manifest)
        let trainer = MAASNTrainer(
            network: EdgeNetwork(scenario: scenario, repository: repository, seed: seed), config: config, seed: seed)
        let session = try TrainingSession(
            trainer: trainer, directory: directory, manifest: manifest, scenario: scenario)
        let record = directory + "/policy.json"
        if FileManager.default.fileExists(atPath: record) {
            let saved = try PolicyRecord.read(record)
            var comparable = saved.config
            comparable.episodes = config.episodes
            guard comparable == config, saved.seed == seed, saved.scenario == scenario,
                saved.catalogFingerprint.map({ $0 == repository.fingerprint })
                    ?? ((manifest as NSString).lastPathComponent == (saved.manifest as NSString).lastPathComponent)
            else {
                throw TrainingError(
                    .settingsMismatch,
                    "\(directory) holds a policy trained with other settings (variant \(saved.config.variant.rawValue), seed \(saved.seed)); choose another -o"
                )
            }
            try session.restore(saved)
        } else {
            try FileSystem.makeDirectories(directory)
        }
        return session
    }

    /// Writes the checkpoint (see the type's description).
    package func save() throws {
        let episodes = trainer.curve.count
        let tag = [("checkpoint_episodes", String(episodes)), ("variant", trainer.config.variant.rawValue)]
        try NetworkCheckpoint.save(trainer.allParameters, metadata: tag, to: directory + "/policy.safetensors")
        if let best = trainer.best {
            let snapshot = zip(trainer.decisionParameters, best.values).map { Parameter(name: $0.name, value: $1) }
            try NetworkCheckpoint.save(snapshot, metadata: tag, to: directory + "/best.safetensors")
        }
        try SafetensorsWriter.write(
            path: directory + "/training-state.safetensors", tensors: trainer.stateTensors(), metadata: tag)
        try FileSystem.writeAtomically(curveCSV(trainer.curve), to: directory + "/curve.csv")
        let record = PolicyRecord(
            schema: Self.schemaID, config: trainer.config, seed: trainer.seed, scenario: scenario, manifest: manifest,
            episodesDone: episodes, optimizerSteps: trainer.optimizerSteps, curve: trainer.curve,
            bestCost: trainer.best?.cost, bestEpisode: trainer.best?.episode,
            catalogFingerprint: trainer.environment.simulator.network.repository.fingerprint,
            manifestSHA256: inputs.manifestSHA256, scenarioSHA256: inputs.scenarioSHA256)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileSystem.writeAtomically(
            String(decoding: try encoder.encode(record), as: UTF8.self) + "\n", to: directory + "/policy.json")
    }

    func restore(_ record: PolicyRecord) throws {
        let expected = String(record.episodesDone)
        for name in ["policy.safetensors", "training-state.safetensors"] {
            let metadata = try SafetensorsFile(path: directory + "/" + name).header.metadata ?? []
            guard metadata.first(where: { $0.key == "checkpoint_episodes" })?.value == expected else {
                throw TrainingError(
                    .invalidPolicy,
                    "\(directory)/\(name) is not from the checkpoint policy.json describes (episode \(expected)); the last save was interrupted"
                )
            }
        }
        try NetworkCheckpoint.load(trainer.allParameters, from: directory + "/policy.safetensors")
        try trainer.restoreState(
            from: SafetensorsFile(path: directory + "/training-state.safetensors"),
            optimizerSteps: record.optimizerSteps)
        trainer.restoreCurve(record.curve)
        if let cost = record.bestCost, let episode = record.bestEpisode {
            let snapshot = trainer.decisionParameters.map { Parameter(name: $0.name, value: $0.value) }
            try NetworkCheckpoint.load(snapshot, from: directory + "/best.safetensors")
            trainer.best = (cost, episode, snapshot.map(\.value))
        }
    }
}

/// The learning curve as CSV, one row per episode.
package func curveCSV(_ curve: [EpisodeRecord]) -> String {
    (["episode,return,total_delay_s,qos_met_ratio,synthetic_samples,seconds"]
        + curve.map {
            "\($0.episode),\($0.episodeReturn),\($0.totalDelaySeconds),\($0.qosMetRatio),\($0.syntheticSamples),\($0.seconds)"
        })
        .joined(separator: "\n") + "\n"
}

/// policy.json.
struct PolicyRecord: Codable {
    var schema: String
    var config: TrainingConfig
    var seed: UInt64
    var scenario: Scenario
    var manifest: String
    var episodesDone: Int
    var optimizerSteps: [Int]
    var curve: [EpisodeRecord]
    /// Cost and episode of the kept best greedy policy (best.safetensors); absent before the first evaluation.
    var bestCost: Double?
    var bestEpisode: Int?
    /// `ModelCatalog.fingerprint` of the manifest trained on (absent in records of earlier builds).
    var catalogFingerprint: String?
    /// `TrainingInputs`: SHA-256 of the manifest file and of the scenario (absent in records of earlier builds).
    var manifestSHA256: String?
    var scenarioSHA256: String?

    /// Reads policy.json strictly and checks what it says before anything is built from it (network sizes, the
    /// scenario).
    static func read(_ path: String) throws -> PolicyRecord {
        let record: PolicyRecord
        do {
            record = try FileSystem.readJSON(PolicyRecord.self, from: path)
        } catch {
            throw TrainingError(.invalidPolicy, "\(path) is not a valid policy record: \(error)", underlying: error)
        }
        guard record.schema == TrainingSession.schemaID else {
            throw TrainingError(.invalidPolicy, "\(path) is not a \(TrainingSession.schemaID) file")
        }
        do {
            try record.config.validate()
            try record.scenario.validate()
        } catch {
            throw TrainingError(.invalidPolicy, "\(path): \(error)", underlying: error)
        }
        guard record.episodesDone >= 0, record.episodesDone <= record.config.episodes else {
            throw TrainingError(.invalidPolicy, "\(path): episodesDone \(record.episodesDone) is not within the run")
        }
        return record
    }
}

/// A trained policy loaded for planning (`pbrepo plan`, `simulate --scheme maasn-da --policy`).
package enum TrainedPolicy {
    /// The learner variant the policy in `directory` was trained as.
    package static func variant(of directory: String) throws -> Variant {
        try PolicyRecord.read(directory + "/policy.json").config.variant
    }

    /// The policy's trainer on the network of `scenario`/`seed` (defaults: those it was trained on), networks loaded.
    /// A manifest with other blocks or models than the one trained on, or a scenario with other values, is refused
    /// unless `force` (a policy's decisions mean nothing on a repository it has not seen; on another scenario they
    /// are a generalisation experiment, which has to be asked for). The number of nodes must match even then: it
    /// fixes the networks' shapes.
    package static func load(
        directory: String, manifest: String, scenario: Scenario? = nil, seed: UInt64? = nil, force: Bool = false
    ) throws -> MAASNTrainer {
        let record = try PolicyRecord.read(directory + "/policy.json")
        let catalog = try ModelCatalog.load(manifest: manifest)
        if !force {
            let given = try TrainingInputs(manifest: manifest, scenario: scenario ?? record.scenario)
            // The same blocks and models in another file (moved, reformatted) are the same repository.
            let sameRepository =
                record.catalogFingerprint.map { $0 == catalog.fingerprint }
                ?? record.manifestSHA256.map { $0 == given.manifestSHA256 } ?? true
            guard sameRepository else {
                let digest = record.manifestSHA256.map { " (sha256 \($0.prefix(12))…)" } ?? ""
                throw TrainingError(
                    .settingsMismatch,
                    "the policy in \(directory) was trained on another manifest, \(record.manifest)\(digest); "
                        + "\(manifest) (sha256 \(given.manifestSHA256.prefix(12))…) has other blocks or models. Plan "
                        + "with the manifest it was trained on, or pass --force")
            }
            if let scenario, scenario != record.scenario {
                let fields = TrainingInputs.differingFields(record.scenario, scenario)
                throw TrainingError(
                    .settingsMismatch,
                    "the scenario differs from the one the policy in \(directory) was trained on (in "
                        + "\(fields.joined(separator: ", "))); pass --force to evaluate the policy on it anyway")
            }
        }
        let network = EdgeNetwork(
            scenario: scenario ?? record.scenario, repository: catalog, seed: seed ?? record.seed)
        guard network.scenario.nodes == record.scenario.nodes else {
            throw TrainingError(
                .settingsMismatch,
                "the policy was trained for \(record.scenario.nodes) nodes; the scenario has \(network.scenario.nodes)")
        }
        let trainer = MAASNTrainer(network: network, config: record.config, seed: record.seed)
        // The kept best greedy policy when there is one, else the last networks.
        let best = directory + "/best.safetensors"
        try NetworkCheckpoint.load(
            trainer.decisionParameters,
            from: FileManager.default.fileExists(atPath: best) ? best : directory + "/policy.safetensors")
        return trainer
    }

    /// Runs the policy greedily on the network of `scenario` (default: the one it was trained on) and `seed`
    /// (default: its training seed), and evaluates the plan like any scheme's.
    package static func plan(
        directory: String, manifest: String, scenario: Scenario? = nil, seed: UInt64? = nil, force: Bool = false
    ) throws -> SimulationReport {
        let trainer = try load(directory: directory, manifest: manifest, scenario: scenario, seed: seed, force: force)
        let episode = trainer.greedyEpisode()
        let network = trainer.environment.simulator.network
        return try SimulationReport.evaluate(
            plan: episode.plan, schemeName: trainer.config.variant.rawValue, network: network, seed: network.seed)
    }
}

/// A training run that cannot start or resume, or a policy that cannot be loaded; the message says why.
package struct TrainingError: Error, Sendable, CustomStringConvertible {
    package typealias Code = ErrorCode<TrainingError>

    package var code: Code
    package var message: String
    package var underlying: (any Error)?

    package init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    package var description: String { message }
}

extension ErrorCode where Domain == TrainingError {

    /// A file (overrides, policy record) cannot be read.
    package static let unreadable = ErrorCode(rawValue: "unreadable")
    /// A training setting is unknown, of the wrong type or out of its range.
    package static let invalidConfig = ErrorCode(rawValue: "invalid_config")
    /// A saved policy or checkpoint is damaged, incomplete or does not fit the learner.
    package static let invalidPolicy = ErrorCode(rawValue: "invalid_policy")
    /// A saved policy was trained with other settings than those asked for.
    package static let settingsMismatch = ErrorCode(rawValue: "settings_mismatch")
}
