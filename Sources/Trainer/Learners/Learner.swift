import BLAS
import EdgeSim
import NeuralKit
import PBRCore

/// A family of learners: how the agents decide from their observations and how one mini-batch updates their
/// networks. `MAASNTrainer` drives a learner through Algorithm 1 (episodes, replay, augmentation, soft target
/// updates, checkpoints); a new learner is a new type conforming to this protocol.
protocol Learner: AnyObject {
    /// The networks the optimizers update, in checkpoint order.
    var onlineParameters: [Parameter] { get }
    /// Their slowly following copies, in the same order (`softUpdate` pairs them up).
    var targetParameters: [Parameter] { get }
    /// What acting needs (actors, or the agents' Q-networks): the kept policy and `policy.safetensors` for planning.
    var decisionParameters: [Parameter] { get }
    /// Every optimizer, in checkpoint order (their step counts are saved with the run).
    var optimizers: [Adam] { get }

    /// Agent n's binary decisions [a_n(k), b_{n,m}(k) for m ≠ n] on its observation: greedy, or explored while
    /// training. The caller applies the forced-zero rules.
    func decide(
        agent n: Int, observation: Matrix, allowed: Bool, explore: Bool, epsilon: Double,
        generator: inout SimulationRandom
    ) -> [Float]

    /// One mini-batch update of the online networks (Algorithm 1, lines 20–23; the caller does the soft update).
    func update(_ batch: [Experience], generator: inout SimulationRandom)
}

/// What every learner knows of the problem: the agents, their observations and the training settings.
struct LearnerShape {
    let nodes: Int
    let observationSize: Int
    let config: TrainingConfig

    var stateSize: Int { nodes * observationSize }

    /// Agent n's observation, cut from the state.
    func observation(_ state: [Float], agent n: Int) -> [Float] {
        Array(state[(n * observationSize)..<((n + 1) * observationSize)])
    }

    func observations(_ batch: [Experience], agent n: Int, next: Bool) -> Matrix {
        Matrix(stacking: batch.map { observation(next ? $0.nextState : $0.state, agent: n) })
    }

    func agentActions(_ batch: [Experience], agent n: Int) -> Matrix {
        Matrix(stacking: batch.map { Array($0.actions[(n * nodes)..<((n + 1) * nodes)]) })
    }
}

/// Value decomposition (19)–(20): the mixing network that combines the agents' values into Q_tot, and its target.
final class ValueMixing {
    let mixer: MixingNetwork
    let targetMixer: MixingNetwork

    init(shape: LearnerShape, generator: inout SimulationRandom) {
        mixer = MixingNetwork(
            agents: shape.nodes, stateSize: shape.stateSize, hidden: shape.config.mixerHidden, name: "mixer",
            using: &generator)
        targetMixer = MixingNetwork(
            agents: shape.nodes, stateSize: shape.stateSize, hidden: shape.config.mixerHidden, name: "target_mixer",
            using: &generator)
    }

    /// dL/dQ_n for the squared TD error (21) of Q_tot: `values` are the agents' Q for the taken actions, `nextValues`
    /// the target networks' at s(k+n).
    func tdGradient(_ batch: [Experience], values: Matrix, nextValues: Matrix) -> Matrix {
        let rows = batch.count
        let (total, backward) = mixer.forward(agentValues: values, states: Matrix(stacking: batch.map(\.state)))
        let nextTotal = targetMixer.forward(agentValues: nextValues, states: Matrix(stacking: batch.map(\.nextState)))
            .total
        var gradient = Matrix(rows: rows, columns: 1)
        for b in 0..<rows {
            let target = batch[b].reward + (batch[b].done ? 0 : batch[b].discount * nextTotal[b, 0])
            gradient[b, 0] = 2 * (total[b, 0] - target) / Float(rows)
        }
        return backward(gradient)
    }

}
