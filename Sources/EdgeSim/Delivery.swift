import ComplexModule
import RealModule

/// The delivery formulas of the system model (Section II of the reference paper), for one PB k.
public enum Delivery {
    /// λ_n(k) = min{a_n(k) + Σ_{m≠n} b_{m,n}(k), 1} — (3): a node takes part if it caches the PB or receives it.
    ///
    /// - Parameters:
    ///   - cached: a_n(k) per node.
    ///   - migrations: b[n][m] = PB k goes from node n to node m.
    public static func participation(cached: [Bool], migrations: [[Bool]]) -> [Bool] {
        cached.indices.map { n in cached[n] || cached.indices.contains { m in m != n && migrations[m][n] } }
    }

    /// Whether (2) holds: a node migrates only what it caches.
    public static func migrationsRespectCache(cached: [Bool], migrations: [[Bool]]) -> Bool {
        cached.indices.allSatisfy { n in cached[n] || !migrations[n].enumerated().contains { $0.offset != n && $0.element } }
    }

    /// The received amplitude |Σ_n (h̃_n + e_n)^H w_n| in the worst case over independent errors ‖e_n‖ ≤ ε_n:
    /// max(0, |Σ_n h̃_n^H w_n| − Σ_n ε_n ‖w_n‖). Exact: by the triangle inequality no error does worse, and errors
    /// e_n = −ε_n (w_n/‖w_n‖) e^{−jφ}, φ the phase of the sum, attain it.
    ///
    /// - Parameters: per participating node, the estimated channel h̃_n, the beamformer w_n and the error radius ε_n.
    public static func worstCaseAmplitude(
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
    public static func amplitude(channels: [[Complex<Double>]], beamformers: [[Complex<Double>]]) -> Double {
        channels.indices.reduce(Complex<Double>.zero) { $0 + innerProduct(channels[$1], beamformers[$1]) }.length
    }

    /// R = B log2(1 + amplitude²/σ²) — (6), bit/s.
    public static func rate(amplitude: Double, bandwidthHz: Double, noiseWatts: Double) -> Double {
        bandwidthHz * Double.log(onePlus: amplitude * amplitude / noiseWatts) / Double.log(2)
    }

    /// T(k) — (7): the migrations one after another over their backhaul links, then the broadcast, which lasts until
    /// the slowest requesting user has the PB. Infinite when a requesting user gets rate 0.
    ///
    /// - Parameters:
    ///   - bytes: S(k).
    ///   - migrations: (from, to) pairs.
    ///   - backhaulBps: R^bac_{n,m}(k).
    ///   - userRates: the worst-case rates of the requesting users (empty when nobody requests k).
    public static func delay(bytes: Double, migrations: [(from: Int, to: Int)], backhaulBps: [[Double]], userRates: [Double]) -> Double {
        let bits = 8 * bytes
        let migration = migrations.reduce(0.0) { $0 + bits / backhaulBps[$1.from][$1.to] }
        let broadcast = userRates.map { $0 > 0 ? bits / $0 : .infinity }.max() ?? 0
        return migration + broadcast
    }

    /// h^H w.
    @inlinable public static func innerProduct(_ h: [Complex<Double>], _ w: [Complex<Double>]) -> Complex<Double> {
        var sum = Complex<Double>.zero
        for index in h.indices { sum = sum + h[index].conjugate * w[index] }
        return sum
    }

    /// ‖w‖.
    @inlinable public static func norm(_ w: [Complex<Double>]) -> Double {
        w.reduce(0) { $0 + $1.lengthSquared }.squareRoot()
    }
}
