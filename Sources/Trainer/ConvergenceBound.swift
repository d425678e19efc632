import Foundation

/// Theorem 1: the upper bound (34)–(35) on the Q-value approximation error, and the grid search over (τ0, ξ) of
/// Fig. 6 that picks the data-augmentation hyper-parameters minimising it.
package struct ConvergenceBound: Sendable, Equatable {
    /// Constants of Section V-C (normalised state, action and reward; echo state property).
    package var stateBound = 1.0  // B_s
    package var actionBound = 1.0  // B_d
    package var rewardBound = 1.0  // B_r
    package var esnInputNorm = 0.5  // ψ_in^max
    package var esnRecurrentNorm = 0.5  // ψ_re^max
    package var esnOutputNorm = 0.5  // ψ_out^max
    package var varsigma = 0.1  // ς
    package var drqnInputNorm = 0.5  // φ_in^max
    package var drqnOutputNorm = 10.0  // φ_out^max
    package var upperNumber = 201.0  // U_ς^DRQN
    package var lowerNumber = 46.2  // L_ς^DRQN
    /// ϑ_{Ξ,Ω}: the paper gives no value; 1 leaves the minimiser unchanged (it scales only the statistical term).
    package var concentration = 1.0
    package var gamma = 0.95
    package var episodes = 600.0  // E
    package var steps = 450.0  // K

    package init() {}

    /// K' of (35): training samples per episode, real and synthetic.
    package func samplesPerEpisode(tau0: Double, xi: Double) -> Double {
        let memory = (1 - pow(esnRecurrentNorm, steps)) / (1 - esnRecurrentNorm)
        let spread =
            esnOutputNorm * esnInputNorm * (stateBound * stateBound + actionBound * actionBound).squareRoot() * memory
            + (rewardBound * rewardBound + stateBound * stateBound).squareRoot()
        return steps * (1 + tau0 - tau0 / xi * spread)
    }

    /// The right-hand side of (34), or nil where K' ≤ 0 (the bound is undefined there).
    package func value(tau0: Double, xi: Double) -> Double? {
        let kPrime = samplesPerEpisode(tau0: tau0, xi: xi)
        guard kPrime > 0 else { return nil }
        let v = rewardBound / (1 - gamma)
        let d1 = 8 * (2 * kPrime).squareRoot() + 256 / v
        let d2 = 4 * (2 * kPrime).squareRoot() + 52
        let bias = 4 * pow(max(rewardBound / (1 - gamma) - varsigma * lowerNumber, 0), 2)
        let nu = bias + d1 * v * v * log(upperNumber) / kPrime + d2 * v * v * varsigma
        let algorithmic = 4 * pow(gamma, episodes + 1) / pow(1 - gamma, 2) * rewardBound
        let statistical =
            concentration
            * (2 * gamma / pow(1 - gamma, 2) * nu.squareRoot() + xi * (1 + gamma * drqnOutputNorm * drqnInputNorm))
        return algorithmic + statistical
    }

    /// Every (τ0, ξ) of the grid with its bound, and the minimiser.
    package func gridSearch(
        tau0: [Double] = stride(from: 0.0, through: 1.0, by: 0.05).map { $0 },
        xi: [Double] = stride(from: 0.5, through: 2.0, by: 0.02).map { $0 }
    ) -> (grid: [(tau0: Double, xi: Double, bound: Double)], best: (tau0: Double, xi: Double, bound: Double)?) {
        var grid: [(tau0: Double, xi: Double, bound: Double)] = []
        for t in tau0 {
            for x in xi {
                if let bound = value(tau0: t, xi: x) { grid.append((t, x, bound)) }
            }
        }
        return (grid, grid.min { $0.bound < $1.bound })
    }
}
