import Foundation
import NeuralKit
import PBRCore
import TestSupport
import Testing
import Trainer

/// Finite-difference checks of the trainer's hand-written backward passes.
@Suite struct NetworkGradientTests {
    /// Checks dL/dθ for L = Σ c ⊙ output against central differences, for every parameter.
    func checkParameters(
        _ parameters: [Parameter], step: Float = 1e-2, tolerance: Float = 3e-2, loss: () -> Float, analytic: () -> Void
    ) {
        for parameter in parameters { parameter.zeroGradient() }
        analytic()
        var checked = 0
        for parameter in parameters {
            for index in parameter.value.values.indices where index % 3 == 0 {  // a third of the entries keeps it quick
                let saved = parameter.value.values[index]
                let center = loss()
                parameter.value.values[index] = saved + step
                let up = loss()
                parameter.value.values[index] = saved - step
                let down = loss()
                parameter.value.values[index] = saved
                let value = parameter.gradient.values[index]
                let (forward, backward) = ((up - center) / step, (center - down) / step)
                let slack = tolerance * max(1, abs(value), abs(forward), abs(backward))
                if abs(forward - backward) > slack {
                    // A kink (relu, |·|) within one step: the derivative must lie between the one-sided slopes.
                    #expect(
                        value >= min(forward, backward) - slack && value <= max(forward, backward) + slack,
                        "\(parameter.name)[\(index)] at a kink")
                } else {
                    #expect(
                        abs(value - (up - down) / (2 * step)) <= slack,
                        "\(parameter.name)[\(index)]: \(value) vs \((up - down) / (2 * step))")
                }
                checked += 1
            }
        }
        #expect(checked > 50)
    }

    @Test func actionSemanticsActorBackward() {
        var generator = SplitMix64(seed: 21)
        let nodes = 4
        let actor = ActionSemanticsActor(nodes: nodes, hidden: 8, embedding: 5, name: "a", using: &generator)
        let observations = Matrix(
            rows: 3, columns: 3 * nodes, values: (0..<(9 * nodes)).map { _ in unitFloat(using: &generator) })
        let weights = Matrix(
            rows: 3, columns: nodes, values: (0..<(3 * nodes)).map { _ in 2 * unitFloat(using: &generator) - 1 })
        func loss() -> Float {
            zip(actor.forward(observations).logits.values, weights.values).reduce(0) { $0 + $1.0 * $1.1 }
        }
        checkParameters(actor.parameters, loss: loss) { actor.forward(observations).backward(weights) }
    }

    @Test func mixingNetworkBackwardAndMonotonicity() {
        var generator = SplitMix64(seed: 22)
        let (agents, stateSize) = (3, 7)
        let mixer = MixingNetwork(agents: agents, stateSize: stateSize, hidden: 6, name: "m", using: &generator)
        let values = Matrix(
            rows: 4, columns: agents, values: (0..<12).map { _ in 2 * unitFloat(using: &generator) - 1 })
        let states = Matrix(rows: 4, columns: stateSize, values: (0..<28).map { _ in unitFloat(using: &generator) })
        let weights = Matrix(rows: 4, columns: 1, values: [0.7, -1.2, 0.4, 1.1])
        func loss(_ q: Matrix) -> Float {
            zip(mixer.forward(agentValues: q, states: states).total.values, weights.values).reduce(0) {
                $0 + $1.0 * $1.1
            }
        }
        var inputGradient = Matrix(rows: 0, columns: 0)
        checkParameters(
            mixer.parameters, loss: { loss(values) },
            analytic: { inputGradient = mixer.forward(agentValues: values, states: states).backward(weights) })
        for index in values.values.indices {
            var shifted = values
            shifted.values[index] += 1e-2
            let up = loss(shifted)
            shifted.values[index] -= 2e-2
            let numeric = (up - loss(shifted)) / 2e-2
            #expect(abs(inputGradient.values[index] - numeric) <= 3e-2 * max(1, abs(numeric)), "dQ[\(index)]")
        }
        // (20): Q_tot never decreases when one agent's Q rises.
        for _ in 0..<50 {
            let q = Matrix(
                rows: 1, columns: agents, values: (0..<agents).map { _ in 4 * unitFloat(using: &generator) - 2 })
            let s = Matrix(
                rows: 1, columns: stateSize, values: (0..<stateSize).map { _ in unitFloat(using: &generator) })
            for n in 0..<agents {
                var higher = q
                higher[0, n] += 0.3
                #expect(
                    mixer.forward(agentValues: higher, states: s).total[0, 0]
                        >= mixer.forward(agentValues: q, states: s).total[0, 0])
            }
        }
    }

    @Test func gumbelSigmoidDerivativeAndLimits() {
        for logit: Float in [-2, -0.3, 0, 0.8, 3] {
            for uniform: Float in [0.1, 0.5, 0.9] {
                let (value, derivative) = gumbelSigmoid(logit, temperature: 0.5, uniform: uniform)
                let numeric =
                    (gumbelSigmoid(logit + 1e-3, temperature: 0.5, uniform: uniform).value
                        - gumbelSigmoid(logit - 1e-3, temperature: 0.5, uniform: uniform).value) / 2e-3
                #expect(abs(derivative - numeric) < 1e-2 && value > 0 && value < 1)
            }
        }
        // ς = 1/2 adds no noise: the sample is the tempered sigmoid of the logit.
        #expect(abs(gumbelSigmoid(1, temperature: 0.5, uniform: 0.5).value - 1 / (1 + exp(-2))) < 1e-6)
    }
}
