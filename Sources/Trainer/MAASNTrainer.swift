import BLAS
import Dispatch
import EdgeSim
import NeuralKit
import RealModule
import TensorFiles

/// What one training episode did.
public struct EpisodeRecord: Sendable, Equatable, Codable {
    public var episode: Int
    /// Σ_k r(k) of (12), unscaled.
    public var episodeReturn: Double
    /// T of the episode's plan.
    public var totalDelaySeconds: Double
    public var qosMetRatio: Double
    public var syntheticSamples: Int
    public var seconds: Double
}

/// Algorithm 1: agents (one per edge node) act on the Dec-POMDP of `EdgeEnvironment` for E episodes of K steps;
/// after each episode the transition predictor is tuned and adds synthetic tuples, then the critics and actors are
/// updated from mini-batches and the target networks follow slowly. Every random draw comes from streams of the
/// seed (`SimulationRandom`), and OpenBLAS runs on one thread: a run is reproducible bit for bit.
public final class MAASNTrainer {
    public let config: TrainingConfig
    public let environment: EdgeEnvironment
    let nodes: Int
    let observationSize: Int
    let seed: UInt64

    let actors: [any AgentActor]
    let targetActors: [any AgentActor]
    let critics: [MLP]
    let targetCritics: [MLP]
    /// QMIX-DA: per-agent Q-values over the 2^N joint cache/migration choices.
    let qNetworks: [MLP]
    let targetQNetworks: [MLP]
    let mixer: MixingNetwork?
    let targetMixer: MixingNetwork?
    let actorOptimizers: [Adam]
    let criticOptimizer: Adam
    let predictor: (any TransitionPredictor)?

    public private(set) var replay: ReplayBuffer
    public private(set) var curve: [EpisodeRecord] = []
    /// The cheapest greedy policy evaluated so far: its cost (−Σ r(k) of a greedy episode), the episode after which
    /// it was found, and its decision networks' values (in `decisionParameters` order).
    public internal(set) var best: (cost: Double, episode: Int, values: [Matrix])?

    /// A trainer on `network`, with the simulator's beamforming cache and the observations `config` asks for.
    public convenience init(network: EdgeNetwork, config: TrainingConfig, seed: UInt64) {
        let simulator = Simulator(network: network, cache: SimulationCache())
        let environment = EdgeEnvironment(
            simulator: simulator, observesDemand: config.observeDemand, stepOrder: config.stepOrder,
            dropsRedundantTransfers: config.dropRedundantTransfers)
        self.init(environment: environment, config: config, seed: seed)
    }

    public init(environment: EdgeEnvironment, config: TrainingConfig, seed: UInt64) {
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
        func makeActor(_ name: String) -> any AgentActor {
            config.variant == .noAS
                ? PlainActor(nodes: nodes, features: features, name: name, using: &generator)
                : ActionSemanticsActor(
                    nodes: nodes, features: features, hidden: config.hidden, embedding: config.embedding, name: name, using: &generator)
        }
        let qmix = config.variant == .qmixDA
        actors = qmix ? [] : (0..<nodes).map { makeActor("actor\($0)") }
        targetActors = qmix ? [] : (0..<nodes).map { makeActor("target_actor\($0)") }
        let criticSizes = [observationSize + nodes, config.hidden, config.hidden, 1]
        critics = qmix ? [] : (0..<nodes).map { MLP(sizes: criticSizes, name: "critic\($0)", using: &generator) }
        targetCritics = qmix ? [] : (0..<nodes).map { MLP(sizes: criticSizes, name: "target_critic\($0)", using: &generator) }
        let qSizes = [observationSize, config.hidden, config.hidden, 1 << nodes]
        qNetworks = qmix ? (0..<nodes).map { MLP(sizes: qSizes, name: "q\($0)", using: &generator) } : []
        targetQNetworks = qmix ? (0..<nodes).map { MLP(sizes: qSizes, name: "target_q\($0)", using: &generator) } : []
        let mixes = config.variant != .noVD
        mixer = mixes ? MixingNetwork(agents: nodes, stateSize: stateSize, hidden: config.mixerHidden, name: "mixer", using: &generator) : nil
        targetMixer = mixes ? MixingNetwork(agents: nodes, stateSize: stateSize, hidden: config.mixerHidden, name: "target_mixer", using: &generator) : nil
        actorOptimizers = actors.map { Adam(parameters: $0.parameters, learningRate: config.actorLearningRate, clipNorm: config.gradientClip) }
        let criticParameters = critics.flatMap(\.parameters) + qNetworks.flatMap(\.parameters) + (mixer?.parameters ?? [])
        criticOptimizer = Adam(parameters: criticParameters, learningRate: config.criticLearningRate, clipNorm: config.gradientClip)
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
                inputSize: inputSize, reservoir: config.reservoir, outputSize: outputSize, ridge: config.ridge, using: &generator)
        }
        replay = ReplayBuffer(capacity: config.replayCapacity)
        softUpdate(target: targetParameters, source: onlineParameters, tau: 1)
    }

    var onlineParameters: [Parameter] {
        actors.flatMap(\.parameters) + critics.flatMap(\.parameters) + qNetworks.flatMap(\.parameters) + (mixer?.parameters ?? [])
    }

    var targetParameters: [Parameter] {
        targetActors.flatMap(\.parameters) + targetCritics.flatMap(\.parameters) + targetQNetworks.flatMap(\.parameters)
            + (targetMixer?.parameters ?? [])
    }

    /// Every network's parameters, for checkpoints.
    public var allParameters: [Parameter] { onlineParameters + targetParameters }

    /// What acting needs: the actors (the agents' Q-networks for QMIX-DA).
    public var decisionParameters: [Parameter] { actors.flatMap(\.parameters) + qNetworks.flatMap(\.parameters) }

    /// Update counts of the actor optimizers, the critic optimizer and the predictor's (if trained by gradient).
    var optimizerSteps: [Int] {
        actorOptimizers.map(\.steps) + [criticOptimizer.steps] + (predictor?.optimizerSteps.map { [$0] } ?? [])
    }

    func restoreCurve(_ records: [EpisodeRecord]) { curve = records }

    /// Adam moments, replay buffer and predictor state, as safetensors tensors (F32, the predictor's F64).
    func stateTensors() -> [(name: String, dtype: DType, shape: [UInt64], bytes: [UInt8])] {
        func f32(_ name: String, _ rows: Int, _ columns: Int, _ values: [Float]) -> (name: String, dtype: DType, shape: [UInt64], bytes: [UInt8]) {
            (name, .F32, [UInt64(rows), UInt64(columns)], values.withUnsafeBytes { Array($0) })
        }
        var tensors: [(name: String, dtype: DType, shape: [UInt64], bytes: [UInt8])] = []
        for p in onlineParameters {
            tensors.append(f32("adam.m." + p.name, p.value.rows, p.value.columns, p.adamMoments.first.values))
            tensors.append(f32("adam.v." + p.name, p.value.rows, p.value.columns, p.adamMoments.second.values))
        }
        for (name, rows, columns, values) in predictor?.savedState() ?? [] {
            tensors.append(("predictor." + name, .F64, [UInt64(rows), UInt64(columns)], values.withUnsafeBytes { Array($0) }))
        }
        let items = replay.items
        let stateSize = nodes * observationSize
        let reservoir = predictor?.stateSize ?? 0
        tensors.append(f32("replay.state", items.count, stateSize, items.flatMap(\.state)))
        tensors.append(f32("replay.actions", items.count, nodes * nodes, items.flatMap(\.actions)))
        tensors.append(f32("replay.reward", items.count, 1, items.map(\.reward)))
        tensors.append(f32("replay.next_state", items.count, stateSize, items.flatMap(\.nextState)))
        tensors.append(f32("replay.done", items.count, 1, items.map { $0.done ? 1 : 0 }))
        tensors.append(f32("replay.discount", items.count, 1, items.map(\.discount)))
        tensors.append(f32("replay.allowed", items.count, nodes, items.flatMap(\.allowed)))
        tensors.append(f32("replay.next_allowed", items.count, nodes, items.flatMap(\.nextAllowed)))
        tensors.append(f32("replay.synthetic", items.count, 1, items.map { $0.isSynthetic ? 1 : 0 }))
        tensors.append(
            f32("replay.reservoir", items.count, reservoir, items.flatMap { $0.previousReservoir ?? [Float](repeating: 0, count: reservoir) }))
        tensors.append(f32("replay.next", 1, 1, [Float(replay.next)]))
        return tensors
    }

    /// The inverse of `stateTensors`.
    func restoreState(from file: SafetensorsFile, optimizerSteps: [Int]) throws {
        var byName: [String: SafetensorsTensor] = [:]
        for tensor in file.header.tensors { byName[tensor.name] = tensor }
        func floats(_ name: String) throws -> [Float] {
            guard let tensor = byName[name], tensor.dtype == .F32 else { throw TrainingError(.invalidPolicy, "\(file.path) lacks \(name)") }
            let bytes = file.bytes(of: tensor)
            return (0..<(bytes.count / 4)).map { bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
        }
        for p in onlineParameters {
            let (first, second) = (try floats("adam.m." + p.name), try floats("adam.v." + p.name))
            guard first.count == p.value.values.count, second.count == first.count else {
                throw TrainingError(.invalidPolicy, "\(file.path): moments of \(p.name) have the wrong size")
            }
            p.adamMoments = (
                Matrix(rows: p.value.rows, columns: p.value.columns, values: first),
                Matrix(rows: p.value.rows, columns: p.value.columns, values: second)
            )
        }
        if let predictor {
            var doubles: [String: [Double]] = [:]
            for tensor in file.header.tensors where tensor.name.hasPrefix("predictor.") && tensor.dtype == .F64 {
                let bytes = file.bytes(of: tensor)
                doubles[String(tensor.name.dropFirst("predictor.".count))] =
                    (0..<(bytes.count / 8)).map { bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self) }
            }
            try predictor.restore(doubles)
        }
        let steps = optimizerSteps
        guard steps.count == actorOptimizers.count + 1 + (predictor?.optimizerSteps == nil ? 0 : 1) else {
            throw TrainingError(.invalidPolicy, "\(file.path): optimizer counts do not fit this learner")
        }
        for (optimizer, count) in zip(actorOptimizers, steps) { optimizer.steps = count }
        criticOptimizer.steps = steps[actorOptimizers.count]
        if predictor?.optimizerSteps != nil { predictor?.optimizerSteps = steps.last }
        let stateSize = nodes * observationSize
        let reservoir = predictor?.stateSize ?? 0
        let (states, actions, rewards) = (try floats("replay.state"), try floats("replay.actions"), try floats("replay.reward"))
        let (nextStates, done, discounts) = (try floats("replay.next_state"), try floats("replay.done"), try floats("replay.discount"))
        let (allowed, nextAllowed) = (try floats("replay.allowed"), try floats("replay.next_allowed"))
        let (synthetic, reservoirs, next) = (try floats("replay.synthetic"), try floats("replay.reservoir"), try floats("replay.next"))
        let count = rewards.count
        guard states.count == count * stateSize, actions.count == count * nodes * nodes, nextStates.count == states.count,
            allowed.count == count * nodes, reservoirs.count == count * reservoir, next.count == 1, discounts.count == count
        else { throw TrainingError(.invalidPolicy, "\(file.path): the replay buffer's tensors disagree in size") }
        let items = (0..<count).map { i in
            Experience(
                state: Array(states[(i * stateSize)..<((i + 1) * stateSize)]),
                actions: Array(actions[(i * nodes * nodes)..<((i + 1) * nodes * nodes)]), reward: rewards[i],
                nextState: Array(nextStates[(i * stateSize)..<((i + 1) * stateSize)]), done: done[i] > 0, discount: discounts[i],
                allowed: Array(allowed[(i * nodes)..<((i + 1) * nodes)]), nextAllowed: Array(nextAllowed[(i * nodes)..<((i + 1) * nodes)]),
                previousReservoir: synthetic[i] > 0 ? nil : Array(reservoirs[(i * reservoir)..<((i + 1) * reservoir)]))
        }
        replay = ReplayBuffer(capacity: config.replayCapacity, items: items, next: Int(next[0]))
    }

    // MARK: - Acting

    /// Agent n's observation, cut from the state.
    func observation(_ state: [Float], agent n: Int) -> [Float] {
        Array(state[(n * observationSize)..<((n + 1) * observationSize)])
    }

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
        let penalty = outcome.requestingUsers.isEmpty ? 0 : outcome.participants.isEmpty ? scenario.r2 : outcome.feasible ? 0 : scenario.r1
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
        for j in 0..<(nodes - 1) where binary[binary.startIndex + 1 + j] > 0.5 { migrate[target(of: j, agent: n)] = true }
        return EdgeEnvironment.Action(cache: binary[binary.startIndex] > 0.5, migrateTo: migrate)
    }

    /// Binary decisions for every agent at the environment's current step: greedy (logit > 0, or the best Q-value),
    /// or sampled (Gumbel noise, ε-greedy for QMIX-DA) while training. Forced-zero rules applied.
    func decide(state: [Float], allowed: [Float], explore: Bool, epsilon: Double, generator: inout SimulationRandom) -> [Float] {
        var decisions = [Float](repeating: 0, count: nodes * nodes)
        for n in 0..<nodes {
            let observation = Matrix(rows: 1, columns: observationSize, values: self.observation(state, agent: n))
            var binary = [Float](repeating: 0, count: nodes)
            if config.variant == .qmixDA {
                let values = qNetworks[n](observation).values
                let choices = Self.validActions(allowed: allowed[n] > 0, nodes: nodes)
                let choice = explore && generator.unit() < epsilon
                    ? choices[Int(generator.next() % UInt64(choices.count))]
                    : choices.max { values[$0] < values[$1] }!
                for bit in 0..<nodes { binary[bit] = Float((choice >> bit) & 1) }
            } else {
                let logits = Self.withPriors(actors[n].forward(observation).logits, migrationPrior: config.migrationPrior).values
                for i in 0..<nodes {
                    binary[i] = explore
                        ? (gumbelSigmoid(logits[i], temperature: config.temperature, uniform: Float(generator.unit())).value > 0.5 ? 1 : 0)
                        : (logits[i] > 0 ? 1 : 0)
                }
            }
            if allowed[n] == 0 { binary[0] = 0 }
            if binary[0] == 0 { for i in 1..<nodes { binary[i] = 0 } }
            for i in 0..<nodes { decisions[n * nodes + i] = binary[i] }
        }
        return decisions
    }

    /// QMIX-DA's admissible discrete actions: idle, or cache with any set of migrations.
    static func validActions(allowed: Bool, nodes: Int) -> [Int] {
        allowed ? [0] + (0..<(1 << (nodes - 1))).map { ($0 << 1) | 1 } : [0]
    }

    /// Seconds the agents take to decide one step (every agent's actor or Q-network on its observation, the
    /// forced-zero rules), median over the steps of a greedy episode; the environment's evaluation is not counted.
    public func decisionSeconds() -> Double {
        var environment = self.environment.restarted()
        var generator = SimulationRandom(seed: 0)
        var times: [Double] = []
        while !environment.isFinished {
            let state = environment.state.map(Float.init)
            let allowed = Self.allowed(environment)
            let start = DispatchTime.now().uptimeNanoseconds
            let decisions = decide(state: state, allowed: allowed, explore: false, epsilon: 0, generator: &generator)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            _ = environment.step((0..<nodes).map { Self.action(from: decisions[($0 * nodes)..<(($0 + 1) * nodes)], agent: $0, nodes: nodes) })
        }
        return times.sorted()[times.count / 2]
    }

    /// Runs one greedy episode and returns the plan it builds.
    public func greedyEpisode() -> EdgeEnvironment {
        var environment = self.environment.restarted()
        var generator = SimulationRandom(seed: 0)
        while !environment.isFinished {
            let decisions = decide(
                state: environment.state.map(Float.init), allowed: Self.allowed(environment), explore: false, epsilon: 0,
                generator: &generator)
            _ = environment.step((0..<nodes).map { Self.action(from: decisions[($0 * nodes)..<(($0 + 1) * nodes)], agent: $0, nodes: nodes) })
        }
        return environment
    }

    // MARK: - Training

    /// One episode of Algorithm 1: collect K real tuples, tune the predictor and add synthetic tuples, then update.
    @discardableResult
    public func trainEpisode() -> EpisodeRecord {
        let start = DispatchTime.now().uptimeNanoseconds
        let episode = curve.count
        var generator = SimulationRandom.stream(seed: seed, "episode/\(episode)")
        var environment = self.environment.restarted()
        predictor?.reset()
        let progress = Double(episode) / Double(max(1, config.episodes / 2))
        let epsilon = max(config.epsilonFinal, config.epsilonStart - (config.epsilonStart - config.epsilonFinal) * progress)
        var state = environment.state.map(Float.init)
        var allowed = Self.allowed(environment)
        var episodeReturn = 0.0
        var collected: [Experience] = []
        while !environment.isFinished {
            let decisions = decide(state: state, allowed: allowed, explore: true, epsilon: epsilon, generator: &generator)
            let transition = environment.step(
                (0..<nodes).map { Self.action(from: decisions[($0 * nodes)..<(($0 + 1) * nodes)], agent: $0, nodes: nodes) })
            episodeReturn += transition.reward
            let nextState = environment.isFinished ? state : environment.state.map(Float.init)
            let nextAllowed = Self.allowed(environment)
            var experience = Experience(
                state: state, actions: decisions, reward: Float(learningReward(transition) * config.rewardScale), nextState: nextState,
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
        for experience in Self.multiStep(collected, steps: config.nStep, gamma: Float(config.gamma)) { replay.append(experience) }
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
        if (episode + 1) % config.evaluateEvery == 0 || episode + 1 == config.episodes { evaluateGreedy(after: episode) }
        return record
    }

    /// Plays the greedy policy once and keeps it if it is the cheapest so far.
    func evaluateGreedy(after episode: Int) {
        let scenario = environment.simulator.network.scenario
        let cost = greedyEpisode().planOutcome.cost(r1: scenario.r1, r2: scenario.r2)
        if best == nil || cost < best!.cost { best = (cost, episode, decisionParameters.map(\.value)) }
    }

    /// Loads the kept best policy into the decision networks (no-op when nothing was evaluated).
    public func useBestPolicy() {
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
            var total: Float = 0, factor: Float = 1
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
            inputs: realCollected.map { $0.state + $0.actions }, previousStates: realCollected.map { $0.previousReservoir! },
            targets: realCollected.map { [$0.reward] + $0.nextState }, generator: &generator)
        let budget = config.syntheticBudget(episode: episode, blocks: environment.blockCount)
        var added = 0
        var attempts = 0
        while added < budget && attempts < 4 * budget && !realCollected.isEmpty {
            attempts += 1
            let source = realCollected[Int(generator.next() % UInt64(realCollected.count))]
            let prediction = predictor.predict(input: source.state + source.actions, previous: source.previousReservoir!)
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

    /// Lines 20–24: one mini-batch update of the critics (21) and the actors (22), then the soft target update.
    func update(generator: inout SimulationRandom) {
        let batch = replay.sample(config.batchSize, using: &generator)
        if config.variant == .qmixDA {
            updateQMIX(batch)
        } else {
            updateCritics(batch)
            updateActors(batch, generator: &generator)
        }
        softUpdate(target: targetParameters, source: onlineParameters, tau: config.targetRate)
    }

    func observations(_ batch: [Experience], agent n: Int, next: Bool) -> Matrix {
        Matrix(stacking: batch.map { observation(next ? $0.nextState : $0.state, agent: n) })
    }

    func agentActions(_ batch: [Experience], agent n: Int) -> Matrix {
        Matrix(stacking: batch.map { Array($0.actions[(n * nodes)..<((n + 1) * nodes)]) })
    }

    /// The target actors' greedy binary actions at s(k+1), forced-zero rules applied.
    func targetActions(_ batch: [Experience], agent n: Int, observations: Matrix) -> Matrix {
        var logits = Self.withPriors(targetActors[n].forward(observations).logits, migrationPrior: config.migrationPrior)
        for b in 0..<batch.count {
            let cache: Float = batch[b].nextAllowed[n] > 0 && logits[b, 0] > 0 ? 1 : 0
            logits[b, 0] = cache
            for i in 1..<nodes { logits[b, i] = cache > 0 && logits[b, i] > 0 ? 1 : 0 }
        }
        return logits
    }

    func updateCritics(_ batch: [Experience]) {
        let rows = batch.count
        var values = Matrix(rows: rows, columns: nodes)
        var nextValues = Matrix(rows: rows, columns: nodes)
        var tapes: [MLP.Tape] = []
        for n in 0..<nodes {
            let (q, tape) = critics[n].forward(.concatenated([observations(batch, agent: n, next: false), agentActions(batch, agent: n)]))
            tapes.append(tape)
            let nextObservations = observations(batch, agent: n, next: true)
            let nextQ = targetCritics[n](.concatenated([nextObservations, targetActions(batch, agent: n, observations: nextObservations)]))
            for b in 0..<rows {
                values[b, n] = q[b, 0]
                nextValues[b, n] = nextQ[b, 0]
            }
        }
        if let agentGradient = mixedTDGradient(batch, values: values, nextValues: nextValues) {
            for n in 0..<nodes { critics[n].backward(tapes[n], gradient: agentGradient.columns(n..<(n + 1))) }
        } else {
            for n in 0..<nodes {
                var gradient = Matrix(rows: rows, columns: 1)
                for b in 0..<rows {
                    let target = batch[b].reward + (batch[b].done ? 0 : batch[b].discount * nextValues[b, n])
                    gradient[b, 0] = 2 * (values[b, n] - target) / Float(rows)
                }
                critics[n].backward(tapes[n], gradient: gradient)
            }
        }
        criticOptimizer.step()
    }

    /// dL/dQ_n for the squared TD error (21) of Q_tot: `values` are the agents' Q for the taken actions, `nextValues`
    /// the target networks' at s(k+n); nil without a mixing network.
    func mixedTDGradient(_ batch: [Experience], values: Matrix, nextValues: Matrix) -> Matrix? {
        guard let mixer, let targetMixer else { return nil }
        let rows = batch.count
        let (total, backward) = mixer.forward(agentValues: values, states: Matrix(stacking: batch.map(\.state)))
        let nextTotal = targetMixer.forward(agentValues: nextValues, states: Matrix(stacking: batch.map(\.nextState))).total
        var gradient = Matrix(rows: rows, columns: 1)
        for b in 0..<rows {
            let target = batch[b].reward + (batch[b].done ? 0 : batch[b].discount * nextTotal[b, 0])
            gradient[b, 0] = 2 * (total[b, 0] - target) / Float(rows)
        }
        return backward(gradient)
    }

    /// (22): each actor ascends its own local critic, through the Gumbel-Softmax relaxation (13)–(14) and the
    /// forced-zero rules (a_n masked by the capacity, b_{n,m} multiplied by a_n).
    func updateActors(_ batch: [Experience], generator: inout SimulationRandom) {
        let rows = batch.count
        for n in 0..<nodes {
            let observations = observations(batch, agent: n, next: false)
            let (rawLogits, actorBackward) = actors[n].forward(observations)
            let logits = Self.withPriors(rawLogits, migrationPrior: config.migrationPrior)
            var relaxed = Matrix(rows: rows, columns: nodes)
            var slope = relaxed
            var effective = relaxed
            for b in 0..<rows {
                for i in 0..<nodes {
                    let sample = gumbelSigmoid(logits[b, i], temperature: config.temperature, uniform: Float(generator.unit()))
                    relaxed[b, i] = sample.value
                    slope[b, i] = sample.derivative
                }
                let cache = relaxed[b, 0] * batch[b].allowed[n]
                effective[b, 0] = cache
                for i in 1..<nodes { effective[b, i] = relaxed[b, i] * cache }
            }
            let (_, tape) = critics[n].forward(.concatenated([observations, effective]))
            let inputGradient = critics[n].backward(tape, gradient: Matrix(rows: rows, columns: 1, repeating: -1 / Float(rows)))
            var logitGradient = Matrix(rows: rows, columns: nodes)
            for b in 0..<rows {
                let dEffective = (0..<nodes).map { inputGradient[b, observationSize + $0] }
                var dCache = dEffective[0]
                for i in 1..<nodes {
                    dCache += dEffective[i] * relaxed[b, i]
                    logitGradient[b, i] = dEffective[i] * effective[b, 0] * slope[b, i]
                }
                logitGradient[b, 0] = dCache * batch[b].allowed[n] * slope[b, 0]
            }
            actorBackward(logitGradient)
            actorOptimizers[n].step()
            for parameter in critics[n].parameters { parameter.zeroGradient() }
        }
    }

    /// QMIX: Q_n of the taken discrete action, mixed; target: the best admissible next action of each target
    /// network, mixed by the target mixer.
    func updateQMIX(_ batch: [Experience]) {
        let rows = batch.count
        var chosen = Matrix(rows: rows, columns: nodes)
        var best = Matrix(rows: rows, columns: nodes)
        var forwards: [(output: Matrix, tape: MLP.Tape)] = []
        var taken = [[Int]](repeating: [Int](repeating: 0, count: nodes), count: rows)
        for n in 0..<nodes {
            let forward = qNetworks[n].forward(observations(batch, agent: n, next: false))
            forwards.append(forward)
            let nextValues = targetQNetworks[n](observations(batch, agent: n, next: true))
            for b in 0..<rows {
                var index = 0
                for bit in 0..<nodes where batch[b].actions[n * nodes + bit] > 0.5 { index |= 1 << bit }
                taken[b][n] = index
                chosen[b, n] = forward.output[b, index]
                let choices = Self.validActions(allowed: batch[b].nextAllowed[n] > 0, nodes: nodes)
                best[b, n] = choices.map { nextValues[b, $0] }.max()!
            }
        }
        guard let agentGradient = mixedTDGradient(batch, values: chosen, nextValues: best) else { return }
        for n in 0..<nodes {
            var outputGradient = Matrix(rows: rows, columns: 1 << nodes)
            for b in 0..<rows { outputGradient[b, taken[b][n]] = agentGradient[b, n] }
            qNetworks[n].backward(forwards[n].tape, gradient: outputGradient)
        }
        criticOptimizer.step()
    }
}
