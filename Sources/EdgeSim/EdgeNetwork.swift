package import ComplexModule
import PBRCore
import RealModule

/// One random realisation of the edge network for a scenario, a repository and a seed: node and user positions,
/// associations, model requests and QoS, and (drawn per PB, on demand) backhaul rates and estimated channels.
///
/// Everything is a function of the seed alone; each quantity has its own random stream, so the same seed gives the
/// same users whatever else a caller draws.
package struct EdgeNetwork: Sendable {
    package struct Point: Sendable, Equatable {
        package var x: Double
        package var y: Double
        package func distance(to other: Point) -> Double {
            ((x - other.x) * (x - other.x) + (y - other.y) * (y - other.y)).squareRoot()
        }
    }

    package let scenario: Scenario
    package let repository: ModelCatalog
    package let seed: UInt64
    /// Nodes on a near-square grid over the area, at the centres of its cells.
    package let nodePositions: [Point]
    /// Users uniform over the area.
    package let userPositions: [Point]
    /// The node each user is associated with (the nearest).
    package let association: [Int]
    /// r_u: the model each user requests (Zipf over the repository's models).
    package let requests: [Int]
    /// Q_u, bit/s.
    package let qos: [Double]
    /// ϖ_{n,m}: node n observes node m (closer than the observation radius; never itself).
    package let observes: [[Bool]]
    /// For each PB k, the users whose requested model contains it.
    package let requesters: [[Int]]

    package init(scenario: Scenario, repository: ModelCatalog, seed: UInt64) {
        self.scenario = scenario
        self.repository = repository
        self.seed = seed
        let columns = Int(Double(scenario.nodes).squareRoot().rounded(.up))
        let rows = (scenario.nodes + columns - 1) / columns
        nodePositions = (0..<scenario.nodes).map { n in
            Point(
                x: (Double(n % columns) + 0.5) * scenario.areaMeters / Double(columns),
                y: (Double(n / columns) + 0.5) * scenario.areaMeters / Double(rows))
        }
        var placement = SimulationRandom.stream(seed: seed, "users")
        userPositions = (0..<scenario.users).map { _ in
            Point(x: placement.uniform(0, scenario.areaMeters), y: placement.uniform(0, scenario.areaMeters))
        }
        let nodes = nodePositions
        association = userPositions.map { user in
            nodes.indices.min { nodes[$0].distance(to: user) < nodes[$1].distance(to: user) } ?? 0
        }
        var popularity = SimulationRandom.stream(seed: seed, "requests")
        let weights = (1...repository.models.count).map { Double.pow(Double($0), -scenario.zipf) }
        let total = weights.reduce(0, +)
        requests = (0..<scenario.users).map { _ in
            var draw = popularity.unit() * total
            for (model, weight) in weights.enumerated() {
                draw -= weight
                if draw < 0 { return model }
            }
            return weights.count - 1
        }
        var qosDraws = SimulationRandom.stream(seed: seed, "qos")
        qos = (0..<scenario.users).map { _ in qosDraws.uniform(scenario.qosBps[0], scenario.qosBps[1]) }
        observes = nodes.indices.map { n in
            nodes.indices.map { m in m != n && nodes[n].distance(to: nodes[m]) < scenario.observeRadiusMeters }
        }
        var requesters = [[Int]](repeating: [], count: repository.blockCount)
        for (user, model) in requests.enumerated() {
            for block in Set(repository.models[model].blocks) { requesters[block].append(user) }
        }
        self.requesters = requesters.map { $0.sorted() }
    }

    /// R^bac_{n,m}(k) for every ordered pair, bit/s (diagonal 0).
    package func backhaulRates(block k: Int) -> [[Double]] {
        var draws = SimulationRandom.stream(seed: seed, "backhaul/\(k)")
        return (0..<scenario.nodes).map { n in
            (0..<scenario.nodes).map { m in
                let rate = draws.uniform(scenario.backhaulBps[0], scenario.backhaulBps[1])
                return m == n ? 0 : rate
            }
        }
    }

    /// Estimated channels h̃_{n,u}(k) ∈ ℂ^M for every node n and user u (indexed [u][n][antenna]):
    /// √(v d^(−α)) · h̄, with Rician h̄ = √(K/(K+1)) a(θ) + √(1/(K+1)) g, a(θ) the half-wavelength uniform linear
    /// array response toward the user and g ~ CN(0, I).
    package func channels(block k: Int) -> [[[Complex<Double>]]] {
        var draws = SimulationRandom.stream(seed: seed, "channel/\(k)")
        let m = scenario.antennas
        let los = (scenario.ricianK / (scenario.ricianK + 1)).squareRoot()
        let nlos = (1 / (scenario.ricianK + 1)).squareRoot()
        return userPositions.map { user in
            nodePositions.map { node in
                let distance = max(1, node.distance(to: user))
                let gain = (scenario.refGain * Double.pow(distance, -scenario.pathlossExponent)).squareRoot()
                let angle = Double.atan2(y: user.y - node.y, x: user.x - node.x)
                return (0..<m).map { antenna in
                    let phase = Double.pi * Double(antenna) * Double.sin(angle)
                    let steering = Complex(Double.cos(phase), Double.sin(phase))
                    let scatter = Complex(draws.normal(), draws.normal()).multiplied(by: (0.5).squareRoot())
                    return (steering.multiplied(by: los) + scatter.multiplied(by: nlos)).multiplied(by: gain)
                }
            }
        }
    }
}
