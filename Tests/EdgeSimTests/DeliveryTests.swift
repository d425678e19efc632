import ComplexModule
import EdgeSim
import PBRCore
import TestSupport
import Testing

@Suite struct DeliveryTests {
    typealias C = Complex<Double>

    @Test func worstCaseAmplitudeByHand() {
        // One antenna: h̃ = 2, w = 1, ε = 0.5 → |2| − 0.5·1 = 1.5.
        #expect(Delivery.worstCaseAmplitude(channels: [[C(2, 0)]], beamformers: [[C(1, 0)]], errorRadii: [0.5]) == 1.5)
        // Two nodes whose contributions add in phase: h̃₁ = 1, w₁ = 1; h̃₂ = i, w₂ = i → conj(i)·i = 1; sum 2, margin 0.2.
        let amplitude = Delivery.worstCaseAmplitude(
            channels: [[C(1, 0)], [C(0, 1)]], beamformers: [[C(1, 0)], [C(0, 1)]], errorRadii: [0.1, 0.1])
        #expect(abs(amplitude - 1.8) < 1e-15)
        // Errors larger than the signal leave nothing.
        #expect(Delivery.worstCaseAmplitude(channels: [[C(1, 0)]], beamformers: [[C(1, 0)]], errorRadii: [2]) == 0)
        // Rate (6) with B = 1 Hz, σ² = 1 W: log2(1 + 1.5²) = log2(3.25).
        #expect(abs(Delivery.rate(amplitude: 1.5, bandwidthHz: 1, noiseWatts: 1) - 1.700439718141092) < 1e-12)
    }

    @Test func worstCaseIsALowerBoundThatIsAttained() {
        var random = SimulationRandom(seed: 9)
        func vector(_ m: Int, _ scale: Double) -> [C] {
            (0..<m).map { _ in C(random.normal() * scale, random.normal() * scale) }
        }
        for _ in 0..<50 {
            let nodes = 3
            let antennas = 4
            let h = (0..<nodes).map { _ in vector(antennas, 1e-5) }
            let w = (0..<nodes).map { _ in vector(antennas, 1) }
            let eps = (0..<nodes).map { _ in 1e-6 * random.unit() }
            let worst = Delivery.worstCaseAmplitude(channels: h, beamformers: w, errorRadii: eps)
            for _ in 0..<200 {
                // A random error inside each ball.
                let actual = (0..<nodes).map { n -> [C] in
                    let e = vector(antennas, 1)
                    let scale = eps[n] * random.unit() / Delivery.norm(e)
                    return zip(h[n], e).map { $0 + $1.multiplied(by: scale) }
                }
                #expect(Delivery.amplitude(channels: actual, beamformers: w) >= worst * (1 - 1e-12))
            }
            // The aligned error attains the bound.
            let sum = (0..<nodes).reduce(C.zero) { $0 + Delivery.innerProduct(h[$1], w[$1]) }
            let phase = sum.length > 0 ? sum.multiplied(by: 1 / sum.length) : C(1, 0)
            let adversarial = (0..<nodes).map { n in
                // e_n = −ε_n (w_n/‖w_n‖) e^{−jφ} makes e_nᴴw_n = −ε_n‖w_n‖ e^{jφ}: every error subtracts along the sum.
                zip(h[n], w[n]).map { hn, wn in hn - wn.multiplied(by: eps[n] / Delivery.norm(w[n])) * phase.conjugate }
            }
            if worst > 0 {
                #expect(abs(Delivery.amplitude(channels: adversarial, beamformers: w) - worst) <= 1e-9 * sum.length)
            }
        }
    }
}
