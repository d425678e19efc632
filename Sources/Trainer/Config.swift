package import EdgeSim
package import Foundation

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
package struct TrainingConfig: Sendable, Codable, Equatable {
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

    enum CodingKeys: String, CodingKey, CaseIterable {
        case variant, episodes, decayEvery, tau0, xi, attenuation, gamma, nStep, evaluateEvery, observeDemand,
            stepOrder, dropRedundantTransfers, rewardScale, delayWeight, batchSize, updatesPerEpisode,
            actorLearningRate, criticLearningRate, targetRate, temperature, migrationPrior, hidden, embedding,
            mixerHidden, reservoir, ridge, replayCapacity, gradientClip, epsilonStart, epsilonFinal
    }

    /// Fields missing from a saved configuration (written before they existed) keep their defaults.
    package init(from decoder: any Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        var config = TrainingConfig()
        func read<T: Decodable>(_ key: CodingKeys, _ target: inout T) throws {
            if let value = try values.decodeIfPresent(T.self, forKey: key) { target = value }
        }
        try read(.variant, &config.variant)
        try read(.episodes, &config.episodes)
        try read(.decayEvery, &config.decayEvery)
        try read(.tau0, &config.tau0)
        try read(.xi, &config.xi)
        try read(.attenuation, &config.attenuation)
        try read(.gamma, &config.gamma)
        try read(.nStep, &config.nStep)
        try read(.evaluateEvery, &config.evaluateEvery)
        try read(.observeDemand, &config.observeDemand)
        try read(.stepOrder, &config.stepOrder)
        try read(.dropRedundantTransfers, &config.dropRedundantTransfers)
        try read(.rewardScale, &config.rewardScale)
        try read(.delayWeight, &config.delayWeight)
        try read(.batchSize, &config.batchSize)
        try read(.updatesPerEpisode, &config.updatesPerEpisode)
        try read(.actorLearningRate, &config.actorLearningRate)
        try read(.criticLearningRate, &config.criticLearningRate)
        try read(.targetRate, &config.targetRate)
        try read(.temperature, &config.temperature)
        try read(.migrationPrior, &config.migrationPrior)
        try read(.hidden, &config.hidden)
        try read(.embedding, &config.embedding)
        try read(.mixerHidden, &config.mixerHidden)
        try read(.reservoir, &config.reservoir)
        try read(.ridge, &config.ridge)
        try read(.replayCapacity, &config.replayCapacity)
        try read(.gradientClip, &config.gradientClip)
        try read(.epsilonStart, &config.epsilonStart)
        try read(.epsilonFinal, &config.epsilonFinal)
        self = config
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

    package var usesAugmentation: Bool { variant != .noDA }

    /// Refuses values no run can use, naming the field.
    package func validate() throws {
        func require(_ condition: Bool, _ message: String) throws {
            if !condition { throw TrainingError(.invalidConfig, message) }
        }
        try require(nStep >= 1 && evaluateEvery >= 1, "nStep and evaluateEvery must be at least 1")
        try require(
            episodes >= 1 && decayEvery >= 1 && updatesPerEpisode >= 0,
            "episodes and decayEvery must be at least 1, updatesPerEpisode at least 0")
        try require(
            batchSize >= 1 && replayCapacity >= batchSize,
            "batchSize must be at least 1 and replayCapacity at least batchSize")
        try require(
            hidden >= 1 && embedding >= 1 && mixerHidden >= 1 && reservoir >= 1, "network sizes must be at least 1")
        try require(
            (0...1).contains(tau0) && xi > 0 && attenuation > 0 && attenuation <= 1,
            "need 0 ≤ tau0 ≤ 1, xi > 0, 0 < attenuation ≤ 1")
        try require(
            (0...1).contains(gamma) && rewardScale > 0 && ridge > 0, "need 0 ≤ gamma ≤ 1, rewardScale > 0, ridge > 0")
        try require(delayWeight > 0 && delayWeight.isFinite, "need delayWeight > 0")
        try require(
            actorLearningRate > 0 && criticLearningRate > 0 && gradientClip > 0,
            "learning rates and gradientClip must be positive")
        try require(targetRate > 0 && targetRate <= 1 && temperature > 0, "need 0 < targetRate ≤ 1 and temperature > 0")
        try require(
            (0...1).contains(epsilonStart) && (0...1).contains(epsilonFinal),
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
        guard var fields = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(self)) as? [String: Any],
            let changes = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { throw TrainingError(.invalidConfig, "training overrides must be a JSON object") }
        for (key, value) in changes {
            guard fields[key] != nil else {
                throw TrainingError(
                    .invalidConfig,
                    "unknown training field \"\(key)\" (fields: \(fields.keys.sorted().joined(separator: ", ")))")
            }
            fields[key] = value
        }
        let config: TrainingConfig
        do {
            config = try JSONDecoder().decode(
                TrainingConfig.self, from: try JSONSerialization.data(withJSONObject: fields))
        } catch {
            throw TrainingError(.invalidConfig, "invalid training overrides: \(error)", underlying: error)
        }
        try config.validate()
        return config
    }

    /// τ_e of (18): the most synthetic samples episode `episode` (from 0) may add.
    package func syntheticBudget(episode: Int, blocks: Int) -> Int {
        Int((tau0 * Double(blocks) * pow(attenuation, Double(episode / max(1, decayEvery)))).rounded(.down))
    }
}
