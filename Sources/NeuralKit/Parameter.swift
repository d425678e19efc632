/// A trainable matrix with its gradient and Adam's moment estimates. Networks hold parameters by reference, so an
/// optimizer and a target-network update see the same storage.
package final class Parameter {
    package let name: String
    package var value: Matrix
    package var gradient: Matrix
    var firstMoment: Matrix
    var secondMoment: Matrix

    package init(name: String, value: Matrix) {
        self.name = name
        self.value = value
        gradient = Matrix(rows: value.rows, columns: value.columns)
        firstMoment = gradient
        secondMoment = gradient
    }

    /// Adam's first and second moment estimates (saved with a checkpoint so that training resumes exactly).
    package var adamMoments: (first: Matrix, second: Matrix) {
        get { (firstMoment, secondMoment) }
        set {
            precondition(
                newValue.first.values.count == value.values.count && newValue.second.values.count == value.values.count)
            firstMoment = newValue.first
            secondMoment = newValue.second
        }
    }

    package func zeroGradient() {
        for index in gradient.values.indices { gradient.values[index] = 0 }
    }

    func accumulate(_ delta: Matrix) {
        precondition(
            delta.rows == gradient.rows && delta.columns == gradient.columns, "gradient of \(name) has the wrong shape")
        for index in gradient.values.indices { gradient.values[index] += delta.values[index] }
    }
}

/// Uniform Float in [0, 1) from any generator (24 bits), so that initialisation is deterministic for a seeded one.
@inlinable package func unitFloat(using generator: inout some RandomNumberGenerator) -> Float {
    Float(generator.next() >> 40) * 0x1.0p-24
}
