package import EdgeSim
package import Foundation
import PBRCore

/// Which learner, as in Fig. 7.
package enum Variant: String, Sendable, Codable, CaseIterable {
    /// Action-semantics actors, value-decomposition (QMIX-style) critic, ESN data augmentation.
    case maasnDA = "maasn-da"
    /// Per-agent Q-networks over the 2^N discrete actions, mixed as in QMIX, with the same data augmentation.
    case qmixDA = "qmix-da"
    /// Actors replaced by plain MLPs with two hidden layers of 256.
    case noAS = "no-as"
    /// Independent local critics, no mixing network.
    case noVD = "no-vd"
    /// No synthetic samples.
    case noDA = "no-da"
    /// The ESN replaced by a recurrent network of the same shape whose every weight is trained.
    case rnnDA = "rnn-da"
    /// MAASN-DA with (τ0, ξ) = (0.9, 1.2) instead of the bound-minimising (0.8, 1.12).
    case nonOptimal = "non-optimal"
}

/// Hyper-parameters (docs/maasn-da.md says where each default comes from).
@dynamicMemberLookup
package struct TrainingConfig: Sendable, Codable, Equatable {
    /// The fields, named as in policy.json and `--config` files; `TrainingConfig` gives them as its own members.
    package struct Fields: Sendable, Codable, Equatable {
        package var variant: Variant = .maasnDA
        /// E: episodes (Table II).
        package var episodes = 600
        /// Ē: episodes between decays of the synthetic-sample budget (Table II).
        package var decayEvery = 10
        /// τ0: initial share of K synthetic samples per episode (Table II, from the Theorem 1 grid search).
        package var tau0 = 0.8
        /// ξ: data selection threshold of (17) (Table II).
        package var xi = 1.12
        /// Λ: attenuation of the synthetic budget (18) (Table II).
        package var attenuation = 0.8
        /// γ: discount (Table II).
        package var gamma = 0.95
        /// Steps of real reward in each critic target before bootstrapping (1 = the paper's one-step target (21)).
        package var nStep = 1
        /// Every this many episodes the greedy policy is evaluated; the cheapest one so far is kept as the policy.
        package var evaluateEvery = 10
        /// Agents also observe each node's demand still ahead (`EdgeEnvironment(observesDemand:)`; not in (10a)).
        package var observeDemand = false
        /// The order in which episodes visit the PBs (`EdgeEnvironment.StepOrder`; the paper's k = 1…K is `index`).
        package var stepOrder: EdgeEnvironment.StepOrder = .index
        /// Migrations to a node that caches the PB, and all but one per receiving node, are dropped
        /// (`EdgeEnvironment(dropsRedundantTransfers:)`; the paper keeps them).
        package var dropRedundantTransfers = false
        /// Rewards are multiplied by this before learning (the paper normalises so that |r| ≤ B_r = 1).
        package var rewardScale = 0.1
        /// Weight of T(k) against r1 and r2 in the reward the agents learn from (1 in (12)). Curves, the kept policy and
        /// every evaluation use (12) as it is.
        package var delayWeight = 1.0
        package var batchSize = 64
        /// Mini-batch updates after each episode (Algorithm 1 lists one; one per episode learns too slowly at E = 600).
        package var updatesPerEpisode = 25
        package var actorLearningRate: Float = 5e-4
        package var criticLearningRate: Float = 1e-3
        /// Soft target update τ.
        package var targetRate: Float = 0.01
        /// s_temp of the Gumbel-Softmax (13).
        package var temperature: Float = 0.5
        /// Added to every migration logit b̃_{n,m} before (13) (0 in the paper). At 0 an untrained actor migrates each PB
        /// it caches to every other node with probability ½; a negative prior starts from rare migrations instead.
        package var migrationPrior: Float = 0
        package var hidden = 64
        /// Size of the action-semantics embeddings e_n, e_{n,m}.
        package var embedding = 16
        package var mixerHidden = 32
        package var reservoir = 128
        /// Ridge penalty of the ESN readout.
        package var ridge = 1e-2
        package var replayCapacity = 100_000
        package var gradientClip: Float = 10
        /// ε-greedy exploration of the QMIX-DA agents, decayed linearly to `epsilonFinal` over the first half.
        package var epsilonStart = 1.0
        package var epsilonFinal = 0.05

        package init() {}
    }

    package var fields = Fields()

    package init() {}

    package subscript<Value>(dynamicMember field: WritableKeyPath<Fields, Value>) -> Value {
        get { fields[keyPath: field] }
        set { fields[keyPath: field] = newValue }
    }

    /// Fields missing from a saved configuration (written before they existed) keep their defaults.
    package init(from decoder: any Decoder) throws {
        fields = try Self.overlay(try JSONValue(from: decoder), on: Fields())
    }

    package func encode(to encoder: any Encoder) throws { try fields.encode(to: encoder) }

    /// `changes` (a JSON object of fields) over `base`; unknown fields are refused.
    static func overlay(_ changes: JSONValue, on base: Fields) throws -> Fields {
        try PartialSettings.decode(changes, over: base) { unknown, known in
            TrainingError(
                .invalidConfig,
                "unknown training field \"\(unknown)\"\(Suggestion.clause(for: unknown, among: known)) (fields: \(known.sorted().joined(separator: ", ")))"
            )
        }
    }

    /// The variant's own (τ0, ξ), data augmentation on or off.
    package static func defaults(for variant: Variant) -> TrainingConfig {
        var config = TrainingConfig()
        config.variant = variant
        if variant == .nonOptimal {
            config.tau0 = 0.9
            config.xi = 1.2
        }
        return config
    }

    package var usesAugmentation: Bool { fields.variant != .noDA }

    /// Refuses values no run can use, naming the field.
    package func validate() throws {
        func require(_ condition: Bool, _ message: String) throws {
            if !condition { throw TrainingError(.invalidConfig, message) }
        }
        try require(fields.nStep >= 1 && fields.evaluateEvery >= 1, "nStep and evaluateEvery must be at least 1")
        try require(
            fields.episodes >= 1 && fields.decayEvery >= 1 && fields.updatesPerEpisode >= 0,
            "episodes and decayEvery must be at least 1, updatesPerEpisode at least 0")
        try require(
            fields.batchSize >= 1 && fields.replayCapacity >= fields.batchSize,
            "batchSize must be at least 1 and replayCapacity at least batchSize")
        try require(
            fields.hidden >= 1 && fields.embedding >= 1 && fields.mixerHidden >= 1 && fields.reservoir >= 1,
            "network sizes must be at least 1")
        let widest = [fields.hidden, fields.embedding, fields.mixerHidden, fields.reservoir].max() ?? 0
        try require(
            Limit.hiddenUnits.allows(widest),
            "network sizes (hidden, embedding, mixerHidden, reservoir) must be \(Limit.hiddenUnits.phrase), not \(widest)"
        )
        try require(
            Limit.replayCapacity.allows(fields.replayCapacity),
            "replayCapacity must be \(Limit.replayCapacity.phrase)")
        try require(Limit.episodes.allows(fields.episodes), "episodes must be \(Limit.episodes.phrase)")
        try require(
            (0...1).contains(fields.tau0) && fields.xi > 0 && fields.attenuation > 0 && fields.attenuation <= 1,
            "need 0 ≤ tau0 ≤ 1, xi > 0, 0 < attenuation ≤ 1")
        try require(
            (0...1).contains(fields.gamma) && fields.rewardScale > 0 && fields.ridge > 0,
            "need 0 ≤ gamma ≤ 1, rewardScale > 0, ridge > 0")
        try require(fields.delayWeight > 0 && fields.delayWeight.isFinite, "need delayWeight > 0")
        try require(
            fields.actorLearningRate > 0 && fields.criticLearningRate > 0 && fields.gradientClip > 0,
            "learning rates and gradientClip must be positive")
        try require(
            fields.targetRate > 0 && fields.targetRate <= 1 && fields.temperature > 0,
            "need 0 < targetRate ≤ 1 and temperature > 0")
        try require(
            (0...1).contains(fields.epsilonStart) && (0...1).contains(fields.epsilonFinal),
            "epsilonStart and epsilonFinal must lie in [0, 1]")
    }

    /// The defaults of `variant`, then the fields of the JSON object in `overridesFile` (if any), then `episodes` (if
    /// given): what `pbrepo train` and `pbrepo sweep` build from their options.
    package static func settings(for variant: Variant, overridesFile: String? = nil, episodes: Int? = nil) throws
        -> TrainingConfig
    {
        var settings = defaults(for: variant)
        if let overridesFile {
            guard let data = FileManager.default.contents(atPath: overridesFile) else {
                throw TrainingError(.unreadable, "cannot read \(overridesFile)")
            }
            settings = try settings.applying(overrides: data)
        }
        if let episodes { settings.episodes = episodes }
        return settings
    }

    /// This configuration with the fields of a JSON object replaced (the same names as in policy.json); unknown
    /// fields are refused.
    package func applying(overrides data: Data) throws -> TrainingConfig {
        let changes: JSONValue
        do {
            changes = try StrictJSONParser.parse([UInt8](data))
        } catch {
            throw TrainingError(.invalidConfig, "training overrides are not valid JSON: \(error)", underlying: error)
        }
        guard case .object = changes else {
            throw TrainingError(.invalidConfig, "training overrides must be a JSON object")
        }
        var config = self
        do {
            config.fields = try Self.overlay(changes, on: fields)
        } catch let error as TrainingError {
            throw error
        } catch {
            throw TrainingError(.invalidConfig, "invalid training overrides: \(describe(error))", underlying: error)
        }
        try config.validate()
        return config
    }

    /// τ_e of (18): the most synthetic samples episode `episode` (from 0) may add.
    package func syntheticBudget(episode: Int, blocks: Int) -> Int {
        Int(
            (fields.tau0 * Double(blocks) * pow(fields.attenuation, Double(episode / max(1, fields.decayEvery))))
                .rounded(.down))
    }
}
