/// A trainable matrix with its gradient and Adam's moment estimates. Networks hold parameters by reference, so an
/// optimizer and a target-network update see the same storage.
public final class Parameter {
    public let name: String
    public var value: Matrix
    public var gradient: Matrix
    var firstMoment: Matrix
    var secondMoment: Matrix

    public init(name: String, value: Matrix) {
        self.name = name
        self.value = value
        gradient = Matrix(rows: value.rows, columns: value.columns)
        firstMoment = gradient
        secondMoment = gradient
    }

    public func zeroGradient() {
        for index in gradient.values.indices { gradient.values[index] = 0 }
    }

    func accumulate(_ delta: Matrix) {
        precondition(delta.rows == gradient.rows && delta.columns == gradient.columns, "gradient of \(name) has the wrong shape")
        for index in gradient.values.indices { gradient.values[index] += delta.values[index] }
    }
}

/// Uniform Float in [0, 1) from any generator (24 bits), so that initialisation is deterministic for a seeded one.
@inlinable public func unitFloat(using generator: inout some RandomNumberGenerator) -> Float {
    Float(generator.next() >> 40) * 0x1.0p-24
}
