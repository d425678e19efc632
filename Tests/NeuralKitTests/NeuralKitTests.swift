import Foundation
import NeuralKit
import PBRCore
import TestSupport
import Testing

/// Finite-difference checks of every gradient the networks compute by hand.
@Suite struct GradientCheckTests {
    /// L = Σ c ⊙ f(x) for a fixed random c: dL/df = c. Compares each parameter's analytic gradient (and dL/dx) with
    /// central differences.
    func check(_ network: MLP, input: Matrix, tolerance: Float = 2e-2, _ generator: inout SplitMix64) {
        let coefficients = Matrix(
            rows: input.rows, columns: network.outputSize,
            values: (0..<(input.rows * network.outputSize)).map { _ in 2 * unitFloat(using: &generator) - 1 })
        func loss(_ x: Matrix) -> Float { zip(network(x).values, coefficients.values).reduce(0) { $0 + $1.0 * $1.1 } }
        for parameter in network.parameters { parameter.zeroGradient() }
        let (_, tape) = network.forward(input)
        let inputGradient = network.backward(tape, gradient: coefficients)
        let step: Float = 1e-2
        func agree(_ analytic: Float, _ numeric: Float, _ what: String) {
            let scale = max(1, abs(analytic), abs(numeric))
            #expect(abs(analytic - numeric) <= tolerance * scale, "\(what): analytic \(analytic), numeric \(numeric)")
        }
        for parameter in network.parameters {
            for index in parameter.value.values.indices {
                let saved = parameter.value.values[index]
                parameter.value.values[index] = saved + step
                let up = loss(input)
                parameter.value.values[index] = saved - step
                let down = loss(input)
                parameter.value.values[index] = saved
                agree(parameter.gradient.values[index], (up - down) / (2 * step), "\(parameter.name)[\(index)]")
            }
        }
        for index in input.values.indices {
            var shifted = input
            shifted.values[index] += step
            let up = loss(shifted)
            shifted.values[index] -= 2 * step
            agree(inputGradient.values[index], (up - loss(shifted)) / (2 * step), "input[\(index)]")
        }
    }

    @Test(arguments: Activation.allCases)
    func mlpGradientsMatchFiniteDifferences(activation: Activation) {
        var generator = SplitMix64(seed: 7)
        let network = MLP(
            sizes: [5, 7, 6, 3], hidden: activation, output: activation == .relu ? .tanh : activation, name: "net",
            using: &generator)
        // Inputs away from the kinks of relu/abs, where a difference quotient straddles two slopes.
        let input = Matrix(
            rows: 4, columns: 5,
            values: (0..<20).map { index in
                let value = 2 * unitFloat(using: &generator) - 1
                return value + (value >= 0 ? 0.2 : -0.2) * Float(index % 2)
            })
        check(network, input: input, &generator)
    }
}

@Suite struct OptimizerTests {
    @Test func adamFitsALinearMap() {
        // y = x·A + b for a known A, b: one linear layer must find them.
        var generator = SplitMix64(seed: 3)
        let truth = Matrix(rows: 3, columns: 2, values: [0.5, -1, 2, 0.25, -0.75, 1.5])
        let bias = Matrix(rows: 1, columns: 2, values: [0.3, -0.2])
        let network = MLP(sizes: [3, 2], name: "linear", using: &generator)
        let adam = Adam(parameters: network.parameters, learningRate: 0.05)
        for _ in 0..<600 {
            let x = Matrix(rows: 16, columns: 3, values: (0..<48).map { _ in 2 * unitFloat(using: &generator) - 1 })
            let y = Matrix.product(x, truth).addingRow(bias)
            let (prediction, tape) = network.forward(x)
            network.backward(tape, gradient: (2 / Float(x.rows)) * (prediction - y))
            adam.step()
        }
        let layer = network.layers[0]
        for (learned, expected) in zip(layer.weight.value.values + layer.bias.value.values, truth.values + bias.values)
        {
            #expect(abs(learned - expected) < 1e-2, "\(learned) vs \(expected)")
        }
    }

    @Test func clippingBoundsTheStepAndSoftUpdateInterpolates() {
        let parameter = Parameter(name: "p", value: Matrix(rows: 1, columns: 2, values: [0, 0]))
        parameter.gradient = Matrix(rows: 1, columns: 2, values: [300, 400])
        let adam = Adam(parameters: [parameter], learningRate: 0.1, clipNorm: 5)
        #expect(adam.gradientNorm == 500)
        adam.step()
        // Adam's first step moves each coordinate by about the learning rate, whatever the scale.
        #expect(parameter.value.values.allSatisfy { abs($0 + 0.1) < 1e-3 })
        #expect(parameter.gradient.values == [0, 0])
        let target = Parameter(name: "t", value: Matrix(rows: 1, columns: 2, values: [1, 1]))
        let source = Parameter(name: "s", value: Matrix(rows: 1, columns: 2, values: [3, -1]))
        softUpdate(target: [target], source: [source], tau: 0.25)
        #expect(target.value.values == [1.5, 0.5])
    }

    @Test func sameSeedSameNetwork() {
        var a = SplitMix64(seed: 11)
        var b = SplitMix64(seed: 11)
        let first = MLP(sizes: [4, 8, 2], name: "n", using: &a)
        let second = MLP(sizes: [4, 8, 2], name: "n", using: &b)
        #expect(zip(first.parameters, second.parameters).allSatisfy { $0.value == $1.value })
    }
}
