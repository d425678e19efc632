import RealModule

/// Elementwise nonlinearities, with derivatives from the pre-activation z and the output y.
package enum Activation: String, Sendable, Codable, CaseIterable {
    case identity, relu, tanh, sigmoid, elu, abs

    package func apply(_ z: Float) -> Float {
        switch self {
        case .identity: return z
        case .relu: return max(0, z)
        case .tanh: return Float.tanh(z)
        case .sigmoid: return 1 / (1 + Float.exp(-z))
        case .elu: return z > 0 ? z : Float.exp(z) - 1
        case .abs: return Swift.abs(z)
        }
    }

    package func derivative(z: Float, y: Float) -> Float {
        switch self {
        case .identity: return 1
        case .relu: return z > 0 ? 1 : 0
        case .tanh: return 1 - y * y
        case .sigmoid: return y * (1 - y)
        case .elu: return z > 0 ? 1 : y + 1
        case .abs: return z > 0 ? 1 : (z < 0 ? -1 : 0)
        }
    }
}

/// y = x·W + b: W is inputs × outputs, b is 1 × outputs.
package final class Dense {
    package let weight: Parameter
    package let bias: Parameter

    /// Glorot-uniform weights (±√(6/(in+out))), zero bias.
    package init(inputs: Int, outputs: Int, name: String, using generator: inout some RandomNumberGenerator) {
        let limit = (6 / Float(inputs + outputs)).squareRoot()
        let values = (0..<(inputs * outputs)).map { _ in (2 * unitFloat(using: &generator) - 1) * limit }
        weight = Parameter(name: name + ".weight", value: Matrix(rows: inputs, columns: outputs, values: values))
        bias = Parameter(name: name + ".bias", value: Matrix(rows: 1, columns: outputs))
    }

    package var inputs: Int { weight.value.rows }
    package var outputs: Int { weight.value.columns }

    package func forward(_ x: Matrix) -> Matrix { Matrix.product(x, weight.value).addingRow(bias.value) }

    /// Accumulates dL/dW = xᵀ·dy and dL/db = Σ_rows dy; returns dL/dx = dy·Wᵀ.
    package func backward(input x: Matrix, gradient dy: Matrix) -> Matrix {
        weight.accumulate(Matrix.product(x, dy, transposeA: true))
        bias.accumulate(dy.columnSums())
        return Matrix.product(dy, weight.value, transposeB: true)
    }
}

/// A stack of dense layers, each followed by its activation.
package final class MLP {
    package let layers: [Dense]
    package let activations: [Activation]

    /// What backward needs from one forward pass.
    package struct Tape {
        var inputs: [Matrix]
        var preActivations: [Matrix]
        var outputs: [Matrix]
    }

    /// `sizes` = [inputs, hidden..., outputs]; hidden layers use `hidden`, the last one `output`.
    package init(
        sizes: [Int], hidden: Activation = .relu, output: Activation = .identity, name: String,
        using generator: inout some RandomNumberGenerator
    ) {
        precondition(sizes.count >= 2, "an MLP needs at least an input and an output size")
        var layers: [Dense] = []
        for index in 0..<(sizes.count - 1) {
            layers.append(
                Dense(inputs: sizes[index], outputs: sizes[index + 1], name: "\(name).\(index)", using: &generator))
        }
        self.layers = layers
        activations = (0..<layers.count).map { $0 == layers.count - 1 ? output : hidden }
    }

    package var parameters: [Parameter] { layers.flatMap { [$0.weight, $0.bias] } }
    package var inputSize: Int { layers[0].inputs }
    package var outputSize: Int { layers[layers.count - 1].outputs }

    package func callAsFunction(_ x: Matrix) -> Matrix { forward(x).output }

    package func forward(_ x: Matrix) -> (output: Matrix, tape: Tape) {
        var tape = Tape(inputs: [], preActivations: [], outputs: [])
        var current = x
        for (layer, activation) in zip(layers, activations) {
            tape.inputs.append(current)
            let z = layer.forward(current)
            current = activation == .identity ? z : z.map(activation.apply)
            tape.preActivations.append(z)
            tape.outputs.append(current)
        }
        return (current, tape)
    }

    /// Accumulates every parameter's gradient for dL/d(output) = `gradient`; returns dL/d(input).
    @discardableResult
    package func backward(_ tape: Tape, gradient: Matrix) -> Matrix {
        var current = gradient
        for index in stride(from: layers.count - 1, through: 0, by: -1) {
            let activation = activations[index]
            if activation != .identity {
                let z = tape.preActivations[index]
                let y = tape.outputs[index]
                for i in current.values.indices {
                    current.values[i] *= activation.derivative(z: z.values[i], y: y.values[i])
                }
            }
            current = layers[index].backward(input: tape.inputs[index], gradient: current)
        }
        return current
    }
}
