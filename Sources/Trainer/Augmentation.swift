import EdgeSim
import NeuralKit
package import PBRCore
import RealModule

/// Predicts (r(k), s(k+1)) from the sequence v(1), …, v(k), v = (s, d) — Section III-D. `step` advances the recurrent
/// state through an episode; `learn` tunes the predictor on real tuples; `predict` gives the output for one input and
/// the state that preceded it.
package protocol TransitionPredictor: AnyObject {
    var stateSize: Int { get }
    /// q(k−1): the state the next `step` starts from.
    var currentState: [Float] { get }
    func reset()
    /// q(k) from v(k) and the current state q(k−1); becomes the current state.
    @discardableResult func step(_ input: [Float]) -> [Float]
    /// q(k) for v(k) after `previous` = q(k−1), without changing the current state.
    func state(after previous: [Float], input: [Float]) -> [Float]
    func learn(inputs: [[Float]], previousStates: [[Float]], targets: [[Float]], generator: inout SimulationRandom)
    func predict(input: [Float], previous: [Float]) -> [Float]
    /// What training changed, for checkpoints: name → (shape, values as F64).
    func savedState() -> [(name: String, rows: Int, columns: Int, values: [Double])]
    func restore(_ tensors: [String: [Double]]) throws
    /// Adam's update count, for predictors trained by gradient (nil otherwise).
    var optimizerSteps: Int? { get set }
}

/// The echo state network of (15)–(16): η_in and η_re random and fixed, scaled to spectral norms ψ_in and ψ_re < 1
/// (the echo state property, Assumption 2); only η_out is tuned, by ridge regression on every real tuple seen so far
/// (the normal equations accumulate, so tuning costs O(R²) per tuple and one R × R Cholesky solve).
package final class EchoStateNetwork: TransitionPredictor {
    let inputWeights: Matrix  // R × |v|
    let recurrentWeights: Matrix  // R × R
    var readout: Matrix  // |y| × R
    var current: [Float]
    let ridge: Double
    var gram: [Double]  // Σ q qᵀ, R × R
    var cross: [Double]  // Σ y qᵀ, |y| × R
    package let stateSize: Int
    let outputSize: Int

    package init(
        inputSize: Int, reservoir: Int, outputSize: Int, inputNorm: Double = 0.5, recurrentNorm: Double = 0.5,
        ridge: Double,
        using generator: inout some RandomNumberGenerator
    ) {
        func random(_ rows: Int, _ columns: Int, norm target: Double) -> Matrix {
            let m = Matrix(
                rows: rows, columns: columns,
                values: (0..<(rows * columns)).map { _ in 2 * unitFloat(using: &generator) - 1 })
            let norm = spectralNorm(m)
            return Float(target / max(norm, 1e-12)) * m
        }
        inputWeights = random(reservoir, inputSize, norm: inputNorm)
        recurrentWeights = random(reservoir, reservoir, norm: recurrentNorm)
        readout = Matrix(rows: outputSize, columns: reservoir)
        current = [Float](repeating: 0, count: reservoir)
        self.ridge = ridge
        gram = [Double](repeating: 0, count: reservoir * reservoir)
        cross = [Double](repeating: 0, count: outputSize * reservoir)
        stateSize = reservoir
        self.outputSize = outputSize
    }

    package func reset() { current = [Float](repeating: 0, count: stateSize) }
    package var currentState: [Float] { current }

    package func state(after previous: [Float], input: [Float]) -> [Float] {
        let drive =
            Matrix.product(inputWeights, Matrix(rows: input.count, columns: 1, values: input))
            + Matrix.product(recurrentWeights, Matrix(rows: stateSize, columns: 1, values: previous))
        return drive.values.map { Float.tanh($0) }
    }

    @discardableResult package func step(_ input: [Float]) -> [Float] {
        current = state(after: current, input: input)
        return current
    }

    package func learn(
        inputs: [[Float]], previousStates: [[Float]], targets: [[Float]], generator: inout SimulationRandom
    ) {
        let r = stateSize
        for (index, input) in inputs.enumerated() {
            let q = state(after: previousStates[index], input: input).map(Double.init)
            let y = targets[index]
            for i in 0..<r {
                for j in 0..<r { gram[i * r + j] += q[i] * q[j] }
            }
            for o in 0..<outputSize {
                for j in 0..<r { cross[o * r + j] += Double(y[o]) * q[j] }
            }
        }
        // η_out = Y Qᵀ (Q Qᵀ + λI)⁻¹: solve (Q Qᵀ + λI) X = (Y Qᵀ)ᵀ, X = η_outᵀ.
        var system = gram
        for i in 0..<r { system[i * r + i] += ridge }
        guard let factor = choleskyFactor(system, size: r) else { return }
        for o in 0..<outputSize {
            let solution = choleskySolve(factor, size: r, rightHandSide: Array(cross[(o * r)..<((o + 1) * r)]))
            for j in 0..<r { readout[o, j] = Float(solution[j]) }
        }
    }

    package func predict(input: [Float], previous: [Float]) -> [Float] {
        let q = state(after: previous, input: input)
        return Matrix.product(readout, Matrix(rows: stateSize, columns: 1, values: q)).values
    }

    package func savedState() -> [(name: String, rows: Int, columns: Int, values: [Double])] {
        [
            ("esn.gram", stateSize, stateSize, gram), ("esn.cross", outputSize, stateSize, cross),
            ("esn.readout", outputSize, stateSize, readout.values.map(Double.init)),
        ]
    }

    package func restore(_ tensors: [String: [Double]]) throws {
        guard let gram = tensors["esn.gram"], gram.count == self.gram.count, let cross = tensors["esn.cross"],
            cross.count == self.cross.count, let readout = tensors["esn.readout"],
            readout.count == self.readout.values.count
        else { throw TrainingError(.invalidPolicy, "the checkpoint's ESN state does not fit this network") }
        self.gram = gram
        self.cross = cross
        self.readout.values = readout.map(Float.init)
    }

    package var optimizerSteps: Int? {
        get { nil }
        set {}
    }
}

/// The "RNN-based data augmentation" ablation: the same shapes, but η_in, η_re and η_out are all trained by
/// gradient descent on (16) (Adam, back-propagation truncated to one step: q(k−1) is taken as given).
package final class TrainedRecurrentPredictor: TransitionPredictor {
    let input: Dense
    let recurrent: Dense
    let output: Dense
    let optimizer: Adam
    var current: [Float]
    package let stateSize: Int

    package init(inputSize: Int, reservoir: Int, outputSize: Int, using generator: inout some RandomNumberGenerator) {
        input = Dense(inputs: inputSize, outputs: reservoir, name: "rnn.input", using: &generator)
        recurrent = Dense(inputs: reservoir, outputs: reservoir, name: "rnn.recurrent", using: &generator)
        output = Dense(inputs: reservoir, outputs: outputSize, name: "rnn.output", using: &generator)
        optimizer = Adam(
            parameters: [input.weight, input.bias, recurrent.weight, recurrent.bias, output.weight, output.bias],
            learningRate: 1e-3)
        current = [Float](repeating: 0, count: reservoir)
        stateSize = reservoir
    }

    package func reset() { current = [Float](repeating: 0, count: stateSize) }
    package var currentState: [Float] { current }

    func preActivation(_ previous: Matrix, _ inputs: Matrix) -> Matrix {
        input.forward(inputs) + recurrent.forward(previous)
    }

    package func state(after previous: [Float], input values: [Float]) -> [Float] {
        preActivation(
            Matrix(rows: 1, columns: stateSize, values: previous),
            Matrix(rows: 1, columns: values.count, values: values)
        )
        .values.map { Float.tanh($0) }
    }

    @discardableResult package func step(_ input: [Float]) -> [Float] {
        current = state(after: current, input: input)
        return current
    }

    package func learn(
        inputs: [[Float]], previousStates: [[Float]], targets: [[Float]], generator: inout SimulationRandom
    ) {
        guard !inputs.isEmpty else { return }
        for _ in 0..<20 {
            let batch = (0..<min(64, inputs.count)).map { _ in Int(generator.next() % UInt64(inputs.count)) }
            let x = Matrix(stacking: batch.map { inputs[$0] })
            let previous = Matrix(stacking: batch.map { previousStates[$0] })
            let y = Matrix(stacking: batch.map { targets[$0] })
            let z = preActivation(previous, x)
            let q = z.map { Float.tanh($0) }
            let prediction = output.forward(q)
            let dOut = (2 / Float(batch.count)) * (prediction - y)
            var dq = output.backward(input: q, gradient: dOut)
            for i in dq.values.indices { dq.values[i] *= 1 - q.values[i] * q.values[i] }
            _ = input.backward(input: x, gradient: dq)
            _ = recurrent.backward(input: previous, gradient: dq)
            optimizer.step()
        }
    }

    package func predict(input values: [Float], previous: [Float]) -> [Float] {
        output.forward(Matrix(rows: 1, columns: stateSize, values: state(after: previous, input: values))).values
    }

    package func savedState() -> [(name: String, rows: Int, columns: Int, values: [Double])] {
        optimizer.parameters.flatMap { p -> [(name: String, rows: Int, columns: Int, values: [Double])] in
            [
                (p.name, p.value.rows, p.value.columns, p.value.values.map(Double.init)),
                ("adam.m." + p.name, p.value.rows, p.value.columns, p.adamMoments.first.values.map(Double.init)),
                ("adam.v." + p.name, p.value.rows, p.value.columns, p.adamMoments.second.values.map(Double.init)),
            ]
        }
    }

    package func restore(_ tensors: [String: [Double]]) throws {
        for p in optimizer.parameters {
            guard let value = tensors[p.name], let first = tensors["adam.m." + p.name],
                let second = tensors["adam.v." + p.name],
                value.count == p.value.values.count
            else { throw TrainingError(.invalidPolicy, "the checkpoint lacks \(p.name) or its moments") }
            p.value.values = value.map(Float.init)
            p.adamMoments = (
                Matrix(rows: p.value.rows, columns: p.value.columns, values: first.map(Float.init)),
                Matrix(rows: p.value.rows, columns: p.value.columns, values: second.map(Float.init))
            )
        }
    }

    package var optimizerSteps: Int? {
        get { optimizer.steps }
        set { optimizer.steps = newValue ?? 0 }
    }
}

/// ‖M‖₂ by power iteration on MᵀM.
func spectralNorm(_ m: Matrix, iterations: Int = 60) -> Double {
    var v = Matrix(rows: m.columns, columns: 1, repeating: 1)
    var norm = 0.0
    for _ in 0..<iterations {
        let mv = Matrix.product(m, v)
        let mtmv = Matrix.product(m, mv, transposeA: true)
        let length = Double(mtmv.squaredNorm).squareRoot()
        guard length > 0 else { return 0 }
        v = Float(1 / length) * mtmv
        norm = Double(Matrix.product(m, v).squaredNorm).squareRoot()
    }
    return norm
}

/// The lower-triangular L with A = L Lᵀ (row-major), or nil when A is not positive definite.
func choleskyFactor(_ a: [Double], size n: Int) -> [Double]? {
    var l = [Double](repeating: 0, count: n * n)
    for i in 0..<n {
        for j in 0...i {
            var sum = a[i * n + j]
            for k in 0..<j { sum -= l[i * n + k] * l[j * n + k] }
            if i == j {
                guard sum > 0 else { return nil }
                l[i * n + i] = sum.squareRoot()
            } else {
                l[i * n + j] = sum / l[j * n + j]
            }
        }
    }
    return l
}

/// x with L Lᵀ x = b.
func choleskySolve(_ l: [Double], size n: Int, rightHandSide b: [Double]) -> [Double] {
    var y = b
    for i in 0..<n {
        for k in 0..<i { y[i] -= l[i * n + k] * y[k] }
        y[i] /= l[i * n + i]
    }
    var x = y
    for i in stride(from: n - 1, through: 0, by: -1) {
        for k in (i + 1)..<n { x[i] -= l[k * n + i] * x[k] }
        x[i] /= l[i * n + i]
    }
    return x
}
