import EdgeSim
import NeuralKit
import PBRCore

/// QMIX-DA: each agent's Q-network values the 2^N joint cache/migration choices of its node (idle, or cache with
/// any set of migrations), and a QMIX mixing network combines the chosen values into Q_tot; ε-greedy exploration.
final class QMIXLearner: Learner {
    let shape: LearnerShape
    let qNetworks: [MLP]
    let targetQNetworks: [MLP]
    let mixing: ValueMixing
    let optimizer: Adam

    /// Draws the networks' initial weights from `generator` in a fixed order: Q-networks, targets, mixer, target
    /// mixer.
    init(shape: LearnerShape, generator: inout SimulationRandom) {
        self.shape = shape
        let (nodes, config) = (shape.nodes, shape.config)
        let qSizes = [shape.observationSize, config.hidden, config.hidden, 1 << nodes]
        qNetworks = (0..<nodes).map { MLP(sizes: qSizes, name: "q\($0)", using: &generator) }
        targetQNetworks = (0..<nodes).map { MLP(sizes: qSizes, name: "target_q\($0)", using: &generator) }
        mixing = ValueMixing(shape: shape, generator: &generator)
        optimizer = Adam(
            parameters: qNetworks.flatMap(\.parameters) + mixing.mixer.parameters,
            learningRate: config.criticLearningRate,
            clipNorm: config.gradientClip)
    }

    var onlineParameters: [Parameter] { qNetworks.flatMap(\.parameters) + mixing.mixer.parameters }
    var targetParameters: [Parameter] { targetQNetworks.flatMap(\.parameters) + mixing.targetMixer.parameters }
    var decisionParameters: [Parameter] { qNetworks.flatMap(\.parameters) }
    var optimizers: [Adam] { [optimizer] }

    /// The admissible discrete actions: idle, or cache with any set of migrations (bit 0 caches, bit i migrates).
    static func validActions(allowed: Bool, nodes: Int) -> [Int] {
        allowed ? [0] + (0..<(1 << (nodes - 1))).map { ($0 << 1) | 1 } : [0]
    }

    /// Greedy: the admissible action of largest Q; exploring: with probability ε a uniformly drawn admissible one.
    func decide(
        agent n: Int, observation: Matrix, allowed: Bool, explore: Bool, epsilon: Double,
        generator: inout SimulationRandom
    ) -> [Float] {
        let values = qNetworks[n](observation).values
        let choices = Self.validActions(allowed: allowed, nodes: shape.nodes)
        let choice =
            explore && generator.unit() < epsilon
            ? choices[Int(generator.next() % UInt64(choices.count))]
            : choices.max { values[$0] < values[$1] }!
        return (0..<shape.nodes).map { Float((choice >> $0) & 1) }
    }

    /// Q_n of the taken discrete action, mixed; target: the best admissible next action of each target
    /// network, mixed by the target mixer.
    func update(_ batch: [Experience], generator: inout SimulationRandom) {
        let (rows, nodes) = (batch.count, shape.nodes)
        var chosen = Matrix(rows: rows, columns: nodes)
        var best = Matrix(rows: rows, columns: nodes)
        var forwards: [(output: Matrix, tape: MLP.Tape)] = []
        var taken = [[Int]](repeating: [Int](repeating: 0, count: nodes), count: rows)
        for n in 0..<nodes {
            let forward = qNetworks[n].forward(shape.observations(batch, agent: n, next: false))
            forwards.append(forward)
            let nextValues = targetQNetworks[n](shape.observations(batch, agent: n, next: true))
            for b in 0..<rows {
                var index = 0
                for bit in 0..<nodes where batch[b].actions[n * nodes + bit] > 0.5 { index |= 1 << bit }
                taken[b][n] = index
                chosen[b, n] = forward.output[b, index]
                let choices = Self.validActions(allowed: batch[b].nextAllowed[n] > 0, nodes: nodes)
                best[b, n] = choices.map { nextValues[b, $0] }.max()!
            }
        }
        let agentGradient = mixing.tdGradient(batch, values: chosen, nextValues: best)
        for n in 0..<nodes {
            var outputGradient = Matrix(rows: rows, columns: 1 << nodes)
            for b in 0..<rows { outputGradient[b, taken[b][n]] = agentGradient[b, n] }
            qNetworks[n].backward(forwards[n].tape, gradient: outputGradient)
        }
        optimizer.step()
    }
}
