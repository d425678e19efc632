package import NeuralKit
import RealModule

/// An agent's actor: observations (one row per sample, 3·N features) to N logits — ã_n, then b̃_{n,m} for every other
/// node m in index order. `forward` returns the logits and the function that back-propagates dL/dlogits into the
/// actor's parameter gradients.
package protocol AgentActor: AnyObject {
    var parameters: [Parameter] { get }
    func forward(_ observations: Matrix) -> (logits: Matrix, backward: (Matrix) -> Void)
}

/// Section III-C: N sub-modules. The first reads the whole observation and yields the embedding e_n and ã_n (two
/// networks); the m-th reads only o^oth_{n,m} and yields e_{n,m}; b̃_{n,m} = ⟨e_n, e_{n,m}⟩ / √D (scaled as in
/// attention, so that the logits start near zero whatever the embedding size D).
package final class ActionSemanticsActor: AgentActor {
    let embed: MLP
    let cache: MLP
    let others: [MLP]
    let embedding: Int
    let features: Int

    /// - Parameter features: numbers per node in an observation (the own part first, then one part per other node).
    package init(
        nodes: Int, features: Int = 3, hidden: Int, embedding: Int, name: String,
        using generator: inout some RandomNumberGenerator
    ) {
        let inputs = features * nodes
        embed = MLP(sizes: [inputs, hidden, embedding], name: name + ".embed", using: &generator)
        cache = MLP(sizes: [inputs, hidden, 1], name: name + ".cache", using: &generator)
        others = (0..<(nodes - 1)).map {
            MLP(sizes: [features, hidden, embedding], name: name + ".other\($0)", using: &generator)
        }
        self.embedding = embedding
        self.features = features
    }

    package var parameters: [Parameter] { embed.parameters + cache.parameters + others.flatMap(\.parameters) }

    package func forward(_ observations: Matrix) -> (logits: Matrix, backward: (Matrix) -> Void) {
        let scale = 1 / Float(embedding).squareRoot()
        let (own, ownTape) = embed.forward(observations)
        let (cacheLogit, cacheTape) = cache.forward(observations)
        let parts = others.indices.map { j in
            others[j].forward(observations.columns((features + features * j)..<(2 * features + features * j)))
        }
        let rows = observations.rows
        var logits = Matrix(rows: rows, columns: 1 + others.count)
        for b in 0..<rows {
            logits[b, 0] = cacheLogit[b, 0]
            for (j, part) in parts.enumerated() {
                var dot: Float = 0
                for d in 0..<embedding { dot += own[b, d] * part.output[b, d] }
                logits[b, 1 + j] = dot * scale
            }
        }
        let backward = { [embed, cache, others, embedding] (gradient: Matrix) in
            cache.backward(cacheTape, gradient: gradient.columns(0..<1))
            var ownGradient = Matrix(rows: rows, columns: embedding)
            for (j, part) in parts.enumerated() {
                var partGradient = Matrix(rows: rows, columns: embedding)
                for b in 0..<rows {
                    let g = gradient[b, 1 + j] * scale
                    for d in 0..<embedding {
                        ownGradient[b, d] += g * part.output[b, d]
                        partGradient[b, d] = g * own[b, d]
                    }
                }
                others[j].backward(part.tape, gradient: partGradient)
            }
            embed.backward(ownTape, gradient: ownGradient)
        }
        return (logits, backward)
    }
}

/// The "without action semantics" ablation: one MLP with two hidden layers of 256.
package final class PlainActor: AgentActor {
    let network: MLP

    package init(nodes: Int, features: Int = 3, name: String, using generator: inout some RandomNumberGenerator) {
        network = MLP(sizes: [features * nodes, 256, 256, nodes], name: name + ".mlp", using: &generator)
    }

    package var parameters: [Parameter] { network.parameters }

    package func forward(_ observations: Matrix) -> (logits: Matrix, backward: (Matrix) -> Void) {
        let (logits, tape) = network.forward(observations)
        return (logits, { [network] in network.backward(tape, gradient: $0) })
    }
}

/// Section III-E's mixing network: Q_tot = elu(Q·W1 + b1)·W2 + b2, with W1 = |hyper_W1(s)|, W2 = |hyper_W2(s)|
/// (absolute values, so ∂Q_tot/∂Q_n ≥ 0 — (20)) and b1, b2 from hypernetworks of the state too, as in QMIX.
package final class MixingNetwork {
    let hyperW1: MLP
    let hyperB1: MLP
    let hyperW2: MLP
    let hyperB2: MLP
    let agents: Int
    let hidden: Int

    package init(
        agents: Int, stateSize: Int, hidden: Int, name: String, using generator: inout some RandomNumberGenerator
    ) {
        hyperW1 = MLP(sizes: [stateSize, agents * hidden], output: .abs, name: name + ".hyper_w1", using: &generator)
        hyperB1 = MLP(sizes: [stateSize, hidden], name: name + ".hyper_b1", using: &generator)
        hyperW2 = MLP(sizes: [stateSize, hidden], output: .abs, name: name + ".hyper_w2", using: &generator)
        hyperB2 = MLP(sizes: [stateSize, hidden, 1], name: name + ".hyper_b2", using: &generator)
        self.agents = agents
        self.hidden = hidden
    }

    package var parameters: [Parameter] {
        hyperW1.parameters + hyperB1.parameters + hyperW2.parameters + hyperB2.parameters
    }

    /// Q_tot per sample (B × 1) from the agents' Q-values (B × N) and the states (B × |s|); `backward` takes dL/dQ_tot
    /// and returns dL/dQ_n (B × N), accumulating the hypernetworks' gradients.
    package func forward(agentValues q: Matrix, states: Matrix) -> (total: Matrix, backward: (Matrix) -> Matrix) {
        let (w1, w1Tape) = hyperW1.forward(states)
        let (b1, b1Tape) = hyperB1.forward(states)
        let (w2, w2Tape) = hyperW2.forward(states)
        let (b2, b2Tape) = hyperB2.forward(states)
        let rows = q.rows
        var pre = Matrix(rows: rows, columns: hidden)
        var post = pre
        var total = Matrix(rows: rows, columns: 1)
        for b in 0..<rows {
            for h in 0..<hidden {
                var z = b1[b, h]
                for n in 0..<agents { z += q[b, n] * w1[b, n * hidden + h] }
                pre[b, h] = z
                post[b, h] = Activation.elu.apply(z)
                total[b, 0] += post[b, h] * w2[b, h]
            }
            total[b, 0] += b2[b, 0]
        }
        let backward = { [hyperW1, hyperB1, hyperW2, hyperB2, agents, hidden] (gradient: Matrix) -> Matrix in
            var dW1 = Matrix(rows: rows, columns: agents * hidden)
            var dB1 = Matrix(rows: rows, columns: hidden)
            var dW2 = Matrix(rows: rows, columns: hidden)
            var dQ = Matrix(rows: rows, columns: agents)
            for b in 0..<rows {
                let g = gradient[b, 0]
                for h in 0..<hidden {
                    dW2[b, h] = g * post[b, h]
                    let dz = g * w2[b, h] * Activation.elu.derivative(z: pre[b, h], y: post[b, h])
                    dB1[b, h] = dz
                    for n in 0..<agents {
                        dW1[b, n * hidden + h] = dz * q[b, n]
                        dQ[b, n] += dz * w1[b, n * hidden + h]
                    }
                }
            }
            hyperW1.backward(w1Tape, gradient: dW1)
            hyperB1.backward(b1Tape, gradient: dB1)
            hyperW2.backward(w2Tape, gradient: dW2)
            hyperB2.backward(b2Tape, gradient: gradient)
            return dQ
        }
        return (total, backward)
    }
}

/// The relaxed binary of (13): GS(l) = sigmoid((l + ln ς − ln(1 − ς)) / s_temp), ς ~ U(0, 1); with its derivative
/// with respect to l, for back-propagation.
package func gumbelSigmoid(_ logit: Float, temperature: Float, uniform: Float) -> (value: Float, derivative: Float) {
    let noise = Float.log(max(uniform, 1e-7)) - Float.log(max(1 - uniform, 1e-7))
    let value = Activation.sigmoid.apply((logit + noise) / temperature)
    return (value, value * (1 - value) / temperature)
}
