package import ComplexModule
import RealModule

/// The delivery formulas of the system model (Section II of the reference paper) that the simulator and the
/// beamformer evaluate: worst-case amplitude under bounded channel errors, and rate (6). Participation (3),
/// constraint (2) and delay (7) are `CachePlan.participants`, `CachePlan.violation` and `Simulator.outcome`.
package enum Delivery {
    /// The received amplitude |Σ_n (h̃_n + e_n)^H w_n| in the worst case over independent errors ‖e_n‖ ≤ ε_n:
    /// max(0, |Σ_n h̃_n^H w_n| − Σ_n ε_n ‖w_n‖). Exact: by the triangle inequality no error does worse, and errors
    /// e_n = −ε_n (w_n/‖w_n‖) e^{−jφ}, φ the phase of the sum, attain it.
    ///
    /// - Parameters: per participating node, the estimated channel h̃_n, the beamformer w_n and the error radius ε_n.
    package static func worstCaseAmplitude(
        channels: [[Complex<Double>]], beamformers: [[Complex<Double>]], errorRadii: [Double]
    ) -> Double {
        var sum = Complex<Double>.zero
        var margin = 0.0
        for n in channels.indices {
            sum = sum + innerProduct(channels[n], beamformers[n])
            margin += errorRadii[n] * norm(beamformers[n])
        }
        return max(0, sum.length - margin)
    }

    /// |Σ_n h_n^H w_n| for given (actual or estimated) channels.
    package static func amplitude(channels: [[Complex<Double>]], beamformers: [[Complex<Double>]]) -> Double {
        channels.indices.reduce(Complex<Double>.zero) { $0 + innerProduct(channels[$1], beamformers[$1]) }.length
    }

    /// R = B log2(1 + amplitude²/σ²) — (6), bit/s.
    package static func rate(amplitude: Double, bandwidthHz: Double, noiseWatts: Double) -> Double {
        bandwidthHz * Double.log(onePlus: amplitude * amplitude / noiseWatts) / Double.log(2)
    }

    /// h^H w.
    @inlinable package static func innerProduct(_ h: [Complex<Double>], _ w: [Complex<Double>]) -> Complex<Double> {
        var sum = Complex<Double>.zero
        for index in h.indices { sum = sum + h[index].conjugate * w[index] }
        return sum
    }

    /// ‖w‖.
    @inlinable package static func norm(_ w: [Complex<Double>]) -> Double {
        w.reduce(0) { $0 + $1.lengthSquared }.squareRoot()
    }
}
