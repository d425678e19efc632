import BLAS
import Dispatch
package import EdgeSim
package import NeuralKit
import PBRCore
import RealModule

/// What one training episode did.
package struct EpisodeRecord: Sendable, Equatable, Codable {
    package var episode: Int
    /// Σ_k r(k) of (12), unscaled.
    package var episodeReturn: Double
    /// T of the episode's plan.
    package var totalDelaySeconds: Double
    package var qosMetRatio: Double
    package var syntheticSamples: Int
    package var seconds: Double
}

/// Algorithm 1: agents (one per edge node) act on the Dec-POMDP of `EdgeEnvironment` for E episodes of K steps;
/// after each episode the transition predictor is tuned and adds synthetic tuples, then the critics and actors are
/// updated from mini-batches and the target networks follow slowly. Every random draw comes from streams of the
/// seed (`SimulationRandom`), and OpenBLAS runs on one thread: a run is reproducible bit for bit.
package final class MAASNTrainer {
    package let config: TrainingConfig
    package let environment: EdgeEnvironment
    let nodes: Int
    let observationSize: Int
    let seed: UInt64
    let learnerShape: LearnerShape

    /// How the agents decide and learn (actor-critic variants, or QMIX-DA).
    let learner: any Learner
    let predictor: (any TransitionPredictor)?

    package internal(set) var replay: ReplayBuffer
    package private(set) var curve: [EpisodeRecord] = []
    /// The cheapest greedy policy evaluated so far: its cost (−Σ r(k) of a greedy episode), the episode after which
    /// it was found, and its decision networks' values (in `decisionParameters` order).
    package internal(set) var best: (cost: Double, episode: Int, values: [Matrix])?

    /// A trainer on `network`, with the simulator's beamforming cache and the observations `config` asks for.
    package convenience init(network: EdgeNetwork, config: TrainingConfig, seed: UInt64) {
        let simulator = Simulator(network: network, cache: SimulationCache())
        let environment = EdgeEnvironment(
            simulator: simulator, observesDemand: config.observeDemand, stepOrder: config.stepOrder,
            dropsRedundantTransfers: config.dropRedundantTransfers)
        self.init(environment: environment, config: config, seed: seed)
    }

    package init(environment: EdgeEnvironment, config: TrainingConfig, seed: UInt64) {
        BLAS.setThreadCount(1)
        self.config = config
        self.environment = environment.restarted()
        self.seed = seed
        let nodes = environment.nodes
        let observationSize = environment.observationSize
        let features = environment.featuresPerNode
        self.nodes = nodes
        self.observationSize = observationSize
        let stateSize = nodes * observationSize
        var generator = SimulationRandom.stream(seed: seed, "initialisation")
        let shape = LearnerShape(nodes: nodes, observationSize: observationSize, config: config)
        learnerShape = shape
        learner =
            config.variant == .qmixDA
            ? QMIXLearner(shape: shape, generator: &generator)
            : ActorCriticLearner(shape: shape, features: features, generator: &generator)
        let inputSize = stateSize + nodes * nodes
        let outputSize = 1 + stateSize
        switch config.variant {
        case .noDA:
            predictor = nil
        case .rnnDA:
            predictor = TrainedRecurrentPredictor(
                inputSize: inputSize, reservoir: config.reservoir, outputSize: outputSize, using: &generator)
        default:
            predictor = EchoStateNetwork(
                inputSize: inputSize, reservoir: config.reservoir, outputSize: outputSize, ridge: config.ridge,
                using: &generator)
        }
        replay = ReplayBuffer(capacity: config.replayCapacity)
        softUpdate(target: targetParameters, source: onlineParameters, tau: 1)
    }

    var onlineParameters: [Parameter] { learner.onlineParameters }
    var targetParameters: [Parameter] { learner.targetParameters }

    /// Every network's parameters, for checkpoints.
    package var allParameters: [Parameter] { onlineParameters + targetParameters }

    /// What acting needs: the actors (the agents' Q-networks for QMIX-DA).
    package var decisionParameters: [Parameter] { learner.decisionParameters }

    /// Update counts of the learner's optimizers and the predictor's (if trained by gradient).
    var optimizerSteps: [Int] { learner.optimizers.map(\.steps) + (predictor?.optimizerSteps.map { [$0] } ?? []) }

    func restoreCurve(_ records: [EpisodeRecord]) { curve = records }

    // MARK: - Acting

    /// Whether each agent's remaining capacity admits the current PB.
    static func allowed(_ environment: EdgeEnvironment) -> [Float] {
        guard !environment.isFinished else { return [Float](repeating: 0, count: environment.nodes) }
        let bytes = environment.simulator.network.repository.blockBytes[environment.block]
        return environment.remaining.map { $0 >= bytes ? 1 : 0 }
    }

    /// r(k) as the agents learn it: (12), or with `delayWeight` ≠ 1, −(w·T(k) + r1·Λ(k) + r2·[missed]) — T(k) then
    /// counts for a missed PB too (its users' cloud retrieval), or a heavy weight would teach the agents to leave
    /// large PBs uncached for the flat r2.
    func learningReward(_ transition: EdgeEnvironment.Transition) -> Double {
        guard config.delayWeight != 1 else { return transition.reward }
        let scenario = environment.simulator.network.scenario
        let outcome = transition.outcome
        let penalty =
            outcome.requestingUsers.isEmpty
            ? 0 : outcome.participants.isEmpty ? scenario.r2 : outcome.feasible ? 0 : scenario.r1
        return -(config.delayWeight * outcome.delaySeconds + penalty)
    }

    /// Adds the fixed prior to every migration logit (columns 1…): a constant, so gradients pass through unchanged.
    static func withPriors(_ logits: Matrix, migrationPrior: Float) -> Matrix {
        guard migrationPrior != 0 else { return logits }
        var shifted = logits
        for b in 0..<logits.rows { for i in 1..<logits.columns { shifted[b, i] += migrationPrior } }
        return shifted
    }

    /// Node index of agent n's j-th migration output.
    static func target(of j: Int, agent n: Int) -> Int { j < n ? j : j + 1 }

    static func action(from binary: ArraySlice<Float>, agent n: Int, nodes: Int) -> EdgeEnvironment.Action {
        var migrate = [Bool](repeating: false, count: nodes)
        for j in 0..<(nodes - 1) where binary[binary.startIndex + 1 + j] > 0.5 {
            migrate[target(of: j, agent: n)] = true
        }
        return EdgeEnvironment.Action(cache: binary[binary.startIndex] > 0.5, migrateTo: migrate)
    }

    /// Binary decisions for every agent at the environment's current step: greedy (logit > 0, or the best Q-value),
    /// or sampled (Gumbel noise, ε-greedy for QMIX-DA) while training. Forced-zero rules applied.
    func decide(state: [Float], allowed: [Float], explore: Bool, epsilon: Double, generator: inout SimulationRandom)
        -> [Float]
    {
        var decisions = [Float](repeating: 0, count: nodes * nodes)
        for n in 0..<nodes {
            let observation = Matrix(
                rows: 1, columns: observationSize, values: learnerShape.observation(state, agent: n))
            var binary = learner.decide(
                agent: n, observation: observation, allowed: allowed[n] > 0, explore: explore, epsilon: epsilon,
                generator: &generator)
            if allowed[n] == 0 { binary[0] = 0 }
            if binary[0] == 0 { for i in 1..<nodes { binary[i] = 0 } }
            for i in 0..<nodes { decisions[n * nodes + i] = binary[i] }
        }
        return decisions
    }

    /// Every agent's action from the decisions `decide` returns.
    func actions(from decisions: [Float]) -> [EdgeEnvironment.Action] {
        (0..<nodes).map { Self.action(from: decisions[($0 * nodes)..<(($0 + 1) * nodes)], agent: $0, nodes: nodes) }
    }

    /// Seconds the agents take to decide one step (every agent's actor or Q-network on its observation, the
    /// forced-zero rules), median over the steps of a greedy episode; the environment's evaluation is not counted.
    package func decisionSeconds() -> Double {
        var environment = self.environment.restarted()
        var generator = SimulationRandom(seed: 0)
        var times: [Double] = []
        while !environment.isFinished {
            let state = environment.state.map(Float.init)
            let allowed = Self.allowed(environment)
            let start = DispatchTime.now().uptimeNanoseconds
            let decisions = decide(state: state, allowed: allowed, explore: false, epsilon: 0, generator: &generator)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            _ = environment.step(actions(from: decisions))
        }
        return times.sorted()[times.count / 2]
    }

    /// Runs one greedy episode and returns the plan it builds.
    package func greedyEpisode() -> EdgeEnvironment {
        var environment = self.environment.restarted()
        var generator = SimulationRandom(seed: 0)
        while !environment.isFinished {
            let decisions = decide(
                state: environment.state.map(Float.init), allowed: Self.allowed(environment), explore: false,
                epsilon: 0,
                generator: &generator)
            _ = environment.step(actions(from: decisions))
        }
        return environment
    }

    // MARK: - Training

    /// One episode of Algorithm 1: collect K real tuples, tune the predictor and add synthetic tuples, then update.
    @discardableResult
    package func trainEpisode() -> EpisodeRecord {
        let start = DispatchTime.now().uptimeNanoseconds
        let episode = curve.count
        var generator = SimulationRandom.stream(seed: seed, "episode/\(episode)")
        var environment = self.environment.restarted()
        predictor?.reset()
        let progress = Double(episode) / Double(max(1, config.episodes / 2))
        let epsilon = max(
            config.epsilonFinal, config.epsilonStart - (config.epsilonStart - config.epsilonFinal) * progress)
        var state = environment.state.map(Float.init)
        var allowed = Self.allowed(environment)
        var episodeReturn = 0.0
        var collected: [Experience] = []
        while !environment.isFinished {
            let decisions = decide(
                state: state, allowed: allowed, explore: true, epsilon: epsilon, generator: &generator)
            let transition = environment.step(actions(from: decisions))
            episodeReturn += transition.reward
            let nextState = environment.isFinished ? state : environment.state.map(Float.init)
            let nextAllowed = Self.allowed(environment)
            var experience = Experience(
                state: state, actions: decisions, reward: Float(learningReward(transition) * config.rewardScale),
                nextState: nextState,
                done: environment.isFinished, discount: Float(config.gamma), allowed: allowed, nextAllowed: nextAllowed,
                previousReservoir: nil)
            if let predictor {
                experience.previousReservoir = predictor.currentState
                predictor.step(state + decisions)
            }
            collected.append(experience)
            state = nextState
            allowed = nextAllowed
        }
        for experience in Self.multiStep(collected, steps: config.nStep, gamma: Float(config.gamma)) {
            replay.append(experience)
        }
        let synthetic = config.usesAugmentation ? augment(with: collected, episode: episode, generator: &generator) : 0
        if replay.count >= config.batchSize {
            for _ in 0..<config.updatesPerEpisode { update(generator: &generator) }
        }
        let outcome = environment.planOutcome
        let record = EpisodeRecord(
            episode: episode, episodeReturn: episodeReturn, totalDelaySeconds: outcome.totalDelaySeconds,
            qosMetRatio: outcome.qosMetRatio, syntheticSamples: synthetic,
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        curve.append(record)
        if (episode + 1) % config.evaluateEvery == 0 || episode + 1 == config.episodes {
            evaluateGreedy(after: episode)
        }
        return record
    }

    /// Plays the greedy policy once and keeps it if it is the cheapest so far.
    func evaluateGreedy(after episode: Int) {
        let scenario = environment.simulator.network.scenario
        let cost = greedyEpisode().planOutcome.cost(r1: scenario.r1, r2: scenario.r2)
        if best == nil || cost < best!.cost { best = (cost, episode, decisionParameters.map(\.value)) }
    }

    /// Loads the kept best policy into the decision networks (no-op when nothing was evaluated).
    package func useBestPolicy() {
        guard let best else { return }
        for (parameter, value) in zip(decisionParameters, best.values) { parameter.value = value }
    }

    /// The episode's one-step tuples as n-step ones: Σ_{i<n} γ^i r(k+i), bootstrapped from s(k+n) with γ^n (or not at
    /// all when the episode ends first).
    static func multiStep(_ steps: [Experience], steps n: Int, gamma: Float) -> [Experience] {
        guard n > 1 else { return steps }
        return steps.indices.map { k in
            var tuple = steps[k]
            let last = min(k + n - 1, steps.count - 1)
            var total: Float = 0
            var factor: Float = 1
            for i in k...last {
                total += factor * steps[i].reward
                factor *= gamma
            }
            tuple.reward = total
            tuple.nextState = steps[last].nextState
            tuple.nextAllowed = steps[last].nextAllowed
            tuple.done = steps[last].done
            tuple.discount = factor
            return tuple
        }
    }

    /// Lines 10–19 of Algorithm 1: tune the predictor on this episode's real tuples, then draw this episode's real
    /// tuples and keep each prediction within ξ of the truth — (17) — as a synthetic one-step tuple, up to τ_e of
    /// (18). (Algorithm 1 draws from the whole buffer; the episode's own tuples are drawn so that n-step targets in
    /// the buffer never meet the predictor's one-step ones.)
    func augment(with collected: [Experience], episode: Int, generator: inout SimulationRandom) -> Int {
        guard let predictor, !collected.isEmpty else { return 0 }
        let realCollected = collected.filter { $0.previousReservoir != nil }
        predictor.learn(
            inputs: realCollected.map { $0.state + $0.actions },
            previousStates: realCollected.map { $0.previousReservoir! },
            targets: realCollected.map { [$0.reward] + $0.nextState }, generator: &generator)
        let budget = config.syntheticBudget(episode: episode, blocks: environment.blockCount)
        var added = 0
        var attempts = 0
        while added < budget && attempts < 4 * budget && !realCollected.isEmpty {
            attempts += 1
            let source = realCollected[Int(generator.next() % UInt64(realCollected.count))]
            let prediction = predictor.predict(
                input: source.state + source.actions, previous: source.previousReservoir!)
            let truth = [source.reward] + source.nextState
            let distance = zip(prediction, truth).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
            guard Double(distance) <= config.xi else { continue }
            var synthetic = source
            synthetic.reward = prediction[0]
            synthetic.nextState = Array(prediction[1...])
            synthetic.previousReservoir = nil
            replay.append(synthetic)
            added += 1
        }
        return added
    }

    /// Lines 20–24: one mini-batch update of the critics (21) and the actors (22) — the learner's — then the soft
    /// target update.
    func update(generator: inout SimulationRandom) {
        let batch = replay.sample(config.batchSize, using: &generator)
        learner.update(batch, generator: &generator)
        softUpdate(target: targetParameters, source: onlineParameters, tau: config.targetRate)
    }
}
