import EdgeSim
import NeuralKit
import PBRCore

/// MAASN-DA and its ablations but QMIX-DA (`maasn-da`, `no-as`, `no-vd`, `no-da`, `rnn-da`, `non-optimal`): one
/// actor per agent (action-semantics, or plain for `no-as`) and one local critic Q(o_n, d_n) each, mixed into Q_tot
/// by a QMIX-style network (none for `no-vd`); actors ascend their critics through the Gumbel-Softmax relaxation.
final class ActorCriticLearner: Learner {
    let shape: LearnerShape
    let actors: [any AgentActor]
    let targetActors: [any AgentActor]
    let critics: [MLP]
    let targetCritics: [MLP]
    let mixing: ValueMixing?
    let actorOptimizers: [Adam]
    let criticOptimizer: Adam

    /// Draws the networks' initial weights from `generator` in a fixed order: actors, target actors, critics,
    /// target critics, mixer, target mixer.
    init(shape: LearnerShape, features: Int, generator: inout SimulationRandom) {
        self.shape = shape
        let (nodes, config) = (shape.nodes, shape.config)
        func makeActor(_ name: String) -> any AgentActor {
            config.variant == .noAS
                ? PlainActor(nodes: nodes, features: features, name: name, using: &generator)
                : ActionSemanticsActor(
                    nodes: nodes, features: features, hidden: config.hidden, embedding: config.embedding, name: name,
                    using: &generator)
        }
        actors = (0..<nodes).map { makeActor("actor\($0)") }
        targetActors = (0..<nodes).map { makeActor("target_actor\($0)") }
        let criticSizes = [shape.observationSize + nodes, config.hidden, config.hidden, 1]
        critics = (0..<nodes).map { MLP(sizes: criticSizes, name: "critic\($0)", using: &generator) }
        targetCritics = (0..<nodes).map { MLP(sizes: criticSizes, name: "target_critic\($0)", using: &generator) }
        mixing = config.variant != .noVD ? ValueMixing(shape: shape, generator: &generator) : nil
        actorOptimizers = actors.map {
            Adam(parameters: $0.parameters, learningRate: config.actorLearningRate, clipNorm: config.gradientClip)
        }
        criticOptimizer = Adam(
            parameters: critics.flatMap(\.parameters) + (mixing?.mixer.parameters ?? []),
            learningRate: config.criticLearningRate, clipNorm: config.gradientClip)
    }

    var onlineParameters: [Parameter] {
        actors.flatMap(\.parameters) + critics.flatMap(\.parameters) + (mixing?.mixer.parameters ?? [])
    }

    var targetParameters: [Parameter] {
        targetActors.flatMap(\.parameters) + targetCritics.flatMap(\.parameters)
            + (mixing?.targetMixer.parameters ?? [])
    }

    var decisionParameters: [Parameter] { actors.flatMap(\.parameters) }

    var optimizers: [Adam] { actorOptimizers + [criticOptimizer] }

    /// Greedy: logit > 0; exploring: a Gumbel-sigmoid sample > 0.5.
    func decide(
        agent n: Int, observation: Matrix, allowed: Bool, explore: Bool, epsilon: Double,
        generator: inout SimulationRandom
    ) -> [Float] {
        let config = shape.config
        let logits = MAASNTrainer.withPriors(
            actors[n].forward(observation).logits, migrationPrior: config.migrationPrior
        ).values
        return (0..<shape.nodes).map { i in
            explore
                ? (gumbelSigmoid(logits[i], temperature: config.temperature, uniform: Float(generator.unit())).value
                    > 0.5 ? 1 : 0)
                : (logits[i] > 0 ? 1 : 0)
        }
    }

    /// The critics (21), then the actors (22).
    func update(_ batch: [Experience], generator: inout SimulationRandom) {
        updateCritics(batch)
        updateActors(batch, generator: &generator)
    }

    /// The target actors' greedy binary actions at s(k+1), forced-zero rules applied.
    private func targetActions(_ batch: [Experience], agent n: Int, observations: Matrix) -> Matrix {
        var logits = MAASNTrainer.withPriors(
            targetActors[n].forward(observations).logits, migrationPrior: shape.config.migrationPrior)
        for b in 0..<batch.count {
            let cache: Float = batch[b].nextAllowed[n] > 0 && logits[b, 0] > 0 ? 1 : 0
            logits[b, 0] = cache
            for i in 1..<shape.nodes { logits[b, i] = cache > 0 && logits[b, i] > 0 ? 1 : 0 }
        }
        return logits
    }

    private func updateCritics(_ batch: [Experience]) {
        let (rows, nodes) = (batch.count, shape.nodes)
        var values = Matrix(rows: rows, columns: nodes)
        var nextValues = Matrix(rows: rows, columns: nodes)
        var tapes: [MLP.Tape] = []
        for n in 0..<nodes {
            let (q, tape) = critics[n].forward(
                .concatenated([shape.observations(batch, agent: n, next: false), shape.agentActions(batch, agent: n)]))
            tapes.append(tape)
            let nextObservations = shape.observations(batch, agent: n, next: true)
            let nextQ = targetCritics[n](
                .concatenated([nextObservations, targetActions(batch, agent: n, observations: nextObservations)]))
            for b in 0..<rows {
                values[b, n] = q[b, 0]
                nextValues[b, n] = nextQ[b, 0]
            }
        }
        if let agentGradient = mixing?.tdGradient(batch, values: values, nextValues: nextValues) {
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

    /// (22): each actor ascends its own local critic, through the Gumbel-Softmax relaxation (13)–(14) and the
    /// forced-zero rules (a_n masked by the capacity, b_{n,m} multiplied by a_n).
    private func updateActors(_ batch: [Experience], generator: inout SimulationRandom) {
        let (rows, nodes) = (batch.count, shape.nodes)
        for n in 0..<nodes {
            let observations = shape.observations(batch, agent: n, next: false)
            let (rawLogits, actorBackward) = actors[n].forward(observations)
            let logits = MAASNTrainer.withPriors(rawLogits, migrationPrior: shape.config.migrationPrior)
            var relaxed = Matrix(rows: rows, columns: nodes)
            var slope = relaxed
            var effective = relaxed
            for b in 0..<rows {
                for i in 0..<nodes {
                    let sample = gumbelSigmoid(
                        logits[b, i], temperature: shape.config.temperature, uniform: Float(generator.unit()))
                    relaxed[b, i] = sample.value
                    slope[b, i] = sample.derivative
                }
                let cache = relaxed[b, 0] * batch[b].allowed[n]
                effective[b, 0] = cache
                for i in 1..<nodes { effective[b, i] = relaxed[b, i] * cache }
            }
            let (_, tape) = critics[n].forward(.concatenated([observations, effective]))
            let inputGradient = critics[n].backward(
                tape, gradient: Matrix(rows: rows, columns: 1, repeating: -1 / Float(rows)))
            var logitGradient = Matrix(rows: rows, columns: nodes)
            for b in 0..<rows {
                let dEffective = (0..<nodes).map { inputGradient[b, shape.observationSize + $0] }
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

}
