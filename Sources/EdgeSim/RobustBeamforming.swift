package import ComplexModule
import RealModule
import Synchronization

/// One instance of the robust CoMP broadcast beamforming problem P2(k): the participating nodes, the requesting
/// users, their estimated channels and error radii.
package struct BeamformingInstance: Sendable, Equatable {
    package var bandwidthHz: Double
    package var noiseWatts: Double
    package var pMaxWatts: Double
    /// S(k) in bits (for the delay).
    package var blockBits: Double
    /// Q_u per requesting user, bit/s.
    package var qosBps: [Double]
    /// ε_{n,u}, indexed [user][node].
    package var errorEps: [[Double]]
    /// h̃_{n,u}, indexed [user][node][antenna].
    package var channels: [[[Complex<Double>]]]

    package init(
        bandwidthHz: Double, noiseWatts: Double, pMaxWatts: Double, blockBits: Double, qosBps: [Double],
        errorEps: [[Double]], channels: [[[Complex<Double>]]]
    ) {
        self.bandwidthHz = bandwidthHz
        self.noiseWatts = noiseWatts
        self.pMaxWatts = pMaxWatts
        self.blockBits = blockBits
        self.qosBps = qosBps
        self.errorEps = errorEps
        self.channels = channels
    }

    package var users: Int { channels.count }
    package var nodes: Int { channels.first?.count ?? 0 }
    package var antennas: Int { channels.first?.first?.count ?? 0 }

    /// Checks shapes and values; throws naming what is wrong.
    package func validate() throws(EdgeSimError) {
        guard users > 0, nodes > 0, antennas > 0 else {
            throw EdgeSimError(.invalidInstance, "the instance needs at least one user, node and antenna")
        }
        guard channels.allSatisfy({ $0.count == nodes && $0.allSatisfy { $0.count == antennas } }) else {
            throw EdgeSimError(
                .invalidInstance, "channels must be [user][node][antenna] with the same counts throughout")
        }
        guard qosBps.count == users, errorEps.count == users, errorEps.allSatisfy({ $0.count == nodes }) else {
            throw EdgeSimError(
                .invalidInstance,
                "qos_bps must have one value per user and error_eps one row per user with one value per node")
        }
        guard bandwidthHz > 0, noiseWatts > 0, pMaxWatts >= 0, blockBits >= 0,
            errorEps.joined().allSatisfy({ $0 >= 0 && $0.isFinite }), qosBps.allSatisfy({ $0 >= 0 && $0.isFinite }),
            channels.joined().joined().allSatisfy({ $0.real.isFinite && $0.imaginary.isFinite })
        else {
            throw EdgeSimError(.invalidInstance, "bandwidth, noise and power must be positive and all values finite")
        }
    }
}

/// A solution of P2(k) with its guaranteed (worst-case) rates.
package struct BeamformingSolution: Sendable, Equatable {
    /// w_n per participating node, ‖w_n‖² ≤ P^max.
    package var beamformers: [[Complex<Double>]]
    /// The rate each user gets for every error in its balls.
    package var worstCaseRates: [Double]
    package var minimumWorstCaseRate: Double { worstCaseRates.min() ?? 0 }
    /// (9b) holds for every user and every possible error.
    package var feasible: Bool
    /// S(k) / min rate (infinite when a user gets nothing).
    package var delaySeconds: Double
}

/// Robust max-min beamforming: maximise min_u of the worst-case received amplitude
/// max(0, |Σ_n h̃_{n,u}ᴴ w_n| − Σ_n ε_{n,u}‖w_n‖) under ‖w_n‖² ≤ P^max.
///
/// The worst case over each error ball has a closed form (see `Delivery.worstCaseAmplitude`), so instead of the
/// paper's S-procedure SDP with a DC rank-one iteration, the solver works on the beamformers directly: a primal-dual
/// (saddle-point) iteration — projected gradient ascent for the beamformers, multiplicative weights toward the
/// currently worst users — from several starts, keeping the best max-min point, then a greedy choice of which nodes
/// stay silent. `robust: false` designs for the estimated channels only (the Fig. 15 comparison); the reported
/// rates are always the worst case.
/// Channels and radii are rescaled by the largest channel norm first: the problem is homogeneous in (h̃, ε), and
/// physical magnitudes around 10⁻⁵ would otherwise sit near the floating-point noise of the steps.
package enum RobustBeamformer {
    /// Problems solved in this process so far: the unit of work of every simulation, which a command polls to show
    /// that a long planning run moves (the searching schemes do not know their total in advance).
    package static var solvedCount: Int { solved.load(ordering: .relaxed) }
    private static let solved = Atomic<Int>(0)

    package static func solve(_ instance: BeamformingInstance, iterations: Int = 300, robust: Bool = true)
        -> BeamformingSolution
    {
        solved.add(1, ordering: .relaxed)
        let users = instance.users
        let nodes = instance.nodes
        let power = instance.pMaxWatts.squareRoot()
        let scale = instance.channels.joined().map(Delivery.norm).max() ?? 0
        guard scale > 0, power > 0 else { return evaluate(instance, beamformers: zeroBeamformers(instance)) }
        let h = instance.channels.map { $0.map { $0.map { $0.divided(by: scale) } } }
        let eps = instance.errorEps.map { $0.map { $0 / scale } }

        // With every active node at full power the error margin Σ ε‖w_n‖ is fixed, so the directions are found by
        // the max-min ascent alone; what robustness adds is choosing which nodes transmit at all (a node whose
        // margin outweighs what it adds for the worst user is better silent). Greedy: switch off the node whose
        // silence helps most, while one does.
        var active = [Bool](repeating: true, count: nodes)
        var (best, bestValue) = directions(h, eps: eps, active: active, users: users, iterations: iterations)
        while robust && active.filter({ $0 }).count > 1 {
            var candidate: (node: Int, w: [[Complex<Double>]], value: Double)?
            // Only a node that takes more from some user than it gives (its margin ε exceeds its in-phase
            // contribution) can be worth silencing; the others would lower every user's value.
            let sums = (0..<users).map { u in
                (0..<nodes).reduce(Complex<Double>.zero) { $0 + Delivery.innerProduct(h[u][$1], best[$1]) }
            }
            let doubtful = (0..<nodes).filter { n in
                active[n]
                    && (0..<users).contains { u in
                        let phase = sums[u].length > 0 ? sums[u].divided(by: sums[u].length) : Complex(1, 0)
                        return (Delivery.innerProduct(h[u][n], best[n]) * phase.conjugate).real < eps[u][n]
                    }
            }
            for n in doubtful {
                var trial = active
                trial[n] = false
                let (w, value) = directions(h, eps: eps, active: trial, users: users, iterations: iterations / 2)
                if value > bestValue * (1 + 1e-9) + 1e-15, value > (candidate?.value ?? -.infinity) {
                    candidate = (n, w, value)
                }
            }
            guard let candidate else { break }
            active[candidate.node] = false
            best = candidate.w
            bestValue = candidate.value
        }
        return evaluate(instance, beamformers: best.map { $0.map { $0.multiplied(by: power) } })
    }

    /// Max-min ascent over unit-norm beamformers of the active nodes (others silent): projected gradient steps on
    /// Σ_u q_u |s_u| with multiplicative weights q toward the worst users; keeps the point with the best worst-case
    /// value (which subtracts the active nodes' fixed margins).
    static func directions(
        _ h: [[[Complex<Double>]]], eps: [[Double]], active: [Bool], users: Int, iterations: Int
    ) -> ([[Complex<Double>]], Double) {
        let nodes = active.count
        let antennas = h[0][0].count
        let margins = (0..<users).map { u in (0..<nodes).reduce(0.0) { $0 + (active[$1] ? eps[u][$1] : 0) } }
        // Flat real/imaginary arrays: the inner loops run over contiguous doubles without nested-array traffic.
        let count = users * nodes * antennas
        var hr = [Double](repeating: 0, count: count)
        var hi = [Double](repeating: 0, count: count)
        for u in 0..<users {
            for n in 0..<nodes {
                for a in 0..<antennas {
                    let index = (u * nodes + n) * antennas + a
                    hr[index] = h[u][n][a].real
                    hi[index] = h[u][n][a].imaginary
                }
            }
        }
        let activeNodes = (0..<nodes).filter { active[$0] }
        var best = [Double](repeating: 0, count: 2 * nodes * antennas)
        var bestValue = -Double.infinity
        var wr = [Double](repeating: 0, count: nodes * antennas)
        var wi = wr
        var gr = [Double](repeating: 0, count: antennas)
        var gi = gr
        var sr = [Double](repeating: 0, count: users)
        var si = sr
        var values = sr
        var q = sr
        for start in startingPoints(h) {
            for n in 0..<nodes {
                for a in 0..<antennas {
                    wr[n * antennas + a] = active[n] ? start[n][a].real : 0
                    wi[n * antennas + a] = active[n] ? start[n][a].imaginary : 0
                }
            }
            for u in 0..<users { q[u] = 1 / Double(users) }
            var lastImprovement = 0
            for iteration in 0..<iterations {
                var worst = Double.infinity
                var highest = -Double.infinity
                for u in 0..<users {
                    var re = 0.0
                    var im = 0.0
                    for n in activeNodes {
                        let hBase = (u * nodes + n) * antennas
                        let wBase = n * antennas
                        for a in 0..<antennas {
                            // conj(h)·w
                            re += hr[hBase + a] * wr[wBase + a] + hi[hBase + a] * wi[wBase + a]
                            im += hr[hBase + a] * wi[wBase + a] - hi[hBase + a] * wr[wBase + a]
                        }
                    }
                    sr[u] = re
                    si[u] = im
                    values[u] = (re * re + im * im).squareRoot() - margins[u]
                    worst = min(worst, values[u])
                    highest = max(highest, values[u])
                }
                if worst > bestValue {
                    if worst > bestValue + 1e-7 * abs(bestValue) { lastImprovement = iteration }
                    bestValue = worst
                    for index in 0..<(nodes * antennas) {
                        best[2 * index] = wr[index]
                        best[2 * index + 1] = wi[index]
                    }
                }
                // Converged: no real progress for a while (the step has shrunk below what the max-min can gain).
                if iteration - lastImprovement > 80 { break }
                let spread = max(1e-12, highest - worst)
                var total = 0.0
                for u in 0..<users {
                    q[u] *= Double.exp(-2 * (values[u] - worst) / spread)
                    total += q[u]
                }
                for u in 0..<users { q[u] /= total }
                let step = 0.5 / Double(iteration + 1).squareRoot()
                for n in activeNodes {
                    for a in 0..<antennas {
                        gr[a] = 0
                        gi[a] = 0
                    }
                    for u in 0..<users where q[u] > 1e-9 {
                        let length = (sr[u] * sr[u] + si[u] * si[u]).squareRoot()
                        let (pr, pi) = length > 0 ? (sr[u] / length * q[u], si[u] / length * q[u]) : (q[u], 0)
                        let hBase = (u * nodes + n) * antennas
                        for a in 0..<antennas {
                            // h·phase, weighted
                            gr[a] += hr[hBase + a] * pr - hi[hBase + a] * pi
                            gi[a] += hr[hBase + a] * pi + hi[hBase + a] * pr
                        }
                    }
                    var length = 0.0
                    for a in 0..<antennas { length += gr[a] * gr[a] + gi[a] * gi[a] }
                    length = length.squareRoot()
                    guard length > 0 else { continue }
                    let scale = step / length
                    var size = 0.0
                    let wBase = n * antennas
                    for a in 0..<antennas {
                        wr[wBase + a] += gr[a] * scale
                        wi[wBase + a] += gi[a] * scale
                        size += wr[wBase + a] * wr[wBase + a] + wi[wBase + a] * wi[wBase + a]
                    }
                    size = size.squareRoot()
                    if size > 0 {
                        for a in 0..<antennas {
                            wr[wBase + a] /= size
                            wi[wBase + a] /= size
                        }
                    }
                }
            }
        }
        let beamformers = (0..<nodes).map { n in
            (0..<antennas).map { a in Complex(best[2 * (n * antennas + a)], best[2 * (n * antennas + a) + 1]) }
        }
        return (beamformers, bestValue)
    }

    /// Starts: each node's maximum-ratio transmission toward the sum of the users' channels, and toward each of the
    /// (up to four) weakest users alone (unit norm, i.e. full power after rescaling).
    static func startingPoints(_ h: [[[Complex<Double>]]]) -> [[[Complex<Double>]]] {
        let users = h.count
        let nodes = h[0].count
        func normalised(_ v: [Complex<Double>]) -> [Complex<Double>] {
            let size = Delivery.norm(v)
            return size > 0 ? v.map { $0.divided(by: size) } : v
        }
        var starts = [
            (0..<nodes).map { n in
                normalised(
                    (0..<users).reduce([Complex<Double>](repeating: .zero, count: h[0][0].count)) { sum, u in
                        zip(sum, h[u][n]).map { $0 + $1 }
                    })
            }
        ]
        if users > 1 {
            // Toward each user alone, weakest channels first (the likely bottlenecks of the max-min), at most four.
            let byStrength = (0..<users).sorted { a, b in
                h[a].reduce(0) { $0 + Delivery.norm($1) } < h[b].reduce(0) { $0 + Delivery.norm($1) }
            }
            starts += byStrength.prefix(4).map { u in (0..<nodes).map { n in normalised(h[u][n]) } }
        }
        return starts
    }

    static func zeroBeamformers(_ instance: BeamformingInstance) -> [[Complex<Double>]] {
        [[Complex<Double>]](
            repeating: [Complex<Double>](repeating: .zero, count: instance.antennas), count: instance.nodes)
    }

    /// Worst-case rates, feasibility and delay of given beamformers (in physical units).
    package static func evaluate(_ instance: BeamformingInstance, beamformers: [[Complex<Double>]])
        -> BeamformingSolution
    {
        let rates = (0..<instance.users).map { u in
            Delivery.rate(
                amplitude: Delivery.worstCaseAmplitude(
                    channels: instance.channels[u], beamformers: beamformers, errorRadii: instance.errorEps[u]),
                bandwidthHz: instance.bandwidthHz, noiseWatts: instance.noiseWatts)
        }
        let minimum = rates.min() ?? 0
        return BeamformingSolution(
            beamformers: beamformers, worstCaseRates: rates,
            feasible: zip(rates, instance.qosBps).allSatisfy { $0 >= $1 },
            delaySeconds: minimum > 0 ? instance.blockBits / minimum : .infinity)
    }
}
