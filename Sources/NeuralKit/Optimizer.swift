import RealModule

/// Adam (Kingma & Ba) with optional clipping of the global gradient norm; `step` consumes and zeroes the gradients.
package final class Adam {
    package var learningRate: Float
    package var beta1: Float
    package var beta2: Float
    package var epsilon: Float
    /// Gradients are scaled down together when their global norm exceeds this.
    package var clipNorm: Float?
    /// Updates taken so far (Adam's bias correction depends on it; restored with a checkpoint).
    package var steps = 0
    package let parameters: [Parameter]

    package init(
        parameters: [Parameter], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
        epsilon: Float = 1e-8,
        clipNorm: Float? = 10
    ) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.clipNorm = clipNorm
    }

    /// The global L2 norm of the gradients.
    package var gradientNorm: Float { parameters.reduce(0) { $0 + $1.gradient.squaredNorm }.squareRoot() }

    package func step() {
        steps += 1
        var scale: Float = 1
        if let clipNorm {
            let norm = gradientNorm
            if norm > clipNorm { scale = clipNorm / norm }
        }
        let correction1 = 1 - Float.pow(beta1, Float(steps))
        let correction2 = 1 - Float.pow(beta2, Float(steps))
        for parameter in parameters {
            for i in parameter.value.values.indices {
                let g = parameter.gradient.values[i] * scale
                parameter.firstMoment.values[i] = beta1 * parameter.firstMoment.values[i] + (1 - beta1) * g
                parameter.secondMoment.values[i] = beta2 * parameter.secondMoment.values[i] + (1 - beta2) * g * g
                let m = parameter.firstMoment.values[i] / correction1
                let v = parameter.secondMoment.values[i] / correction2
                parameter.value.values[i] -= learningRate * m / (v.squareRoot() + epsilon)
            }
            parameter.zeroGradient()
        }
    }

    package func zeroGradients() { for parameter in parameters { parameter.zeroGradient() } }
}

/// target ← τ·source + (1 − τ)·target, parameter by parameter (the slow target-network update).
package func softUpdate(target: [Parameter], source: [Parameter], tau: Float) {
    precondition(target.count == source.count, "target and source networks differ")
    for (t, s) in zip(target, source) {
        precondition(t.value.values.count == s.value.values.count, "\(t.name) and \(s.name) differ in shape")
        for i in t.value.values.indices { t.value.values[i] = tau * s.value.values[i] + (1 - tau) * t.value.values[i] }
    }
}
