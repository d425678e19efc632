import Foundation
import PBRCore
import RealModule

/// The parameters of a simulated edge network. Every field is optional in a scenario file; the defaults are those of
/// Table II of the reference paper (docs/simulator.md lists them with units).
@dynamicMemberLookup
package struct Scenario: Sendable, Equatable, Codable {
    /// The fields, as a scenario file names them (`CodingKeys`); `Scenario` gives them as its own members.
    package struct Fields: Sendable, Equatable, Codable {
        /// N: edge nodes.
        package var nodes: Int = 6
        /// U: users.
        package var users: Int = 30
        /// M: antennas per edge node.
        package var antennas: Int = 20
        /// Side of the square area, metres (1 km² by default).
        package var areaMeters: Double = 1000
        /// C_n: storage per node, bytes (one value for all nodes, or one per node).
        package var capacityBytes: [Double] = [1.25e9]
        /// B: bandwidth shared by all nodes, Hz.
        package var bandwidthHz: Double = 400e6
        /// σ²_u: noise power, dBm.
        package var noiseDBm: Double = -80
        /// P^max: per-node transmit power budget, dBm.
        package var pMaxDBm: Double = 43
        /// v: channel gain at the 1 m reference distance, dB.
        package var refGainDB: Double = -30
        /// α: path-loss exponent.
        package var pathlossExponent: Double = 3
        /// Rician K-factor of the small-scale fading (linear).
        package var ricianK: Double = 3
        /// R^bac_{n,m}(k): backhaul rate range, bit/s, drawn uniformly per (k, n, m).
        package var backhaulBps: [Double] = [8e9, 12e9]
        /// Q_u: QoS range, bit/s, drawn uniformly per user.
        package var qosBps: [Double] = [5e9, 7e9]
        /// ε_{n,u}: radius of the channel-error ball (C_{n,u} = I/ε²; the paper's 10¹⁰·I is ε = 10⁻⁵).
        package var errorEps: Double = 1e-5
        /// ι: Zipf exponent of model popularity (request probability of model j ∝ j^(−ι)).
        package var zipf: Double = 0.5
        /// Nodes closer than this observe each other (ϖ_{n,m} = 1), metres.
        package var observeRadiusMeters: Double = 500
        /// r1, r2: reward weights of (12).
        package var r1: Double = 10
        package var r2: Double = 10
        /// ε^hot of hybrid multicasting: PBs requested by more users than this are broadcast, the others unicast.
        package var hotThreshold: Int = 2
        /// Rate at which a user retrieves a PB directly from the cloud, bit/s, when no edge node holds it or the edge
        /// cannot guarantee a faster rate. Not in the paper, which leaves such users to "retrieve the models from the
        /// cloud" (its footnote 8); it makes a scheme that leaves requested PBs uncached pay for them in T instead of
        /// getting them for free, and bounds T(k) where no edge rate can be guaranteed.
        package var cloudBps: Double = 1e9

        package init() {}

        enum CodingKeys: String, CodingKey {
            case nodes, users, antennas
            case areaMeters = "area_m"
            case capacityBytes = "capacity_bytes"
            case bandwidthHz = "bandwidth_hz"
            case noiseDBm = "noise_dbm"
            case pMaxDBm = "p_max_dbm"
            case refGainDB = "ref_gain_db"
            case pathlossExponent = "pathloss_exponent"
            case ricianK = "rician_k"
            case backhaulBps = "backhaul_bps"
            case qosBps = "qos_bps"
            case errorEps = "error_eps"
            case zipf
            case observeRadiusMeters = "observe_radius_m"
            case r1, r2
            case hotThreshold = "hot_threshold"
            case cloudBps = "cloud_bps"
        }
    }

    package var fields = Fields()

    package init() {}

    package subscript<Value>(dynamicMember field: WritableKeyPath<Fields, Value>) -> Value {
        get { fields[keyPath: field] }
        set { fields[keyPath: field] = newValue }
    }

    /// The fields a file names over Table II's; `capacity_bytes` may be one number for all nodes.
    package init(from decoder: any Decoder) throws {
        var input = try JSONValue(from: decoder)
        if case .object(var members) = input, let index = members.firstIndex(where: { $0.key == "capacity_bytes" }),
            case .number = members[index].value
        {
            members[index].value = .array([members[index].value])
            input = .object(members)
        }
        fields = try PartialSettings.decode(input, over: Fields()) { unknown, known in
            EdgeSimError(
                .invalidScenario, field: unknown,
                "unknown field \"\(unknown)\"\(Suggestion.clause(for: unknown, among: known)) (fields: \(known.joined(separator: ", ")))"
            )
        }
        try validate()
    }

    package func encode(to encoder: any Encoder) throws { try fields.encode(to: encoder) }

    /// Reads a scenario file; refuses unknown fields and invalid values with a message naming the field.
    package static func load(_ path: String) throws(EdgeSimError) -> Scenario {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.read(path)
        } catch {
            throw EdgeSimError(.unreadable, path: path, "cannot read scenario file")
        }
        do {
            // Strictly (duplicate keys and numbers no double holds are refused), with errors naming the field.
            return try JSONValueDecoder().decode(Scenario.self, from: bytes)
        } catch let error as EdgeSimError {
            throw error.at(path)
        } catch {
            throw EdgeSimError(
                .invalidScenario, path: path, "not a valid scenario: \(describe(error))", underlying: error)
        }
    }

    /// Checks every field; throws naming the first invalid one.
    package func validate() throws(EdgeSimError) {
        func require(_ condition: Bool, _ message: String) throws(EdgeSimError) {
            // Every message starts with the field it is about.
            let field = String(message.prefix { $0 != " " && $0 != "," })
            if !condition { throw EdgeSimError(.invalidScenario, field: field, message) }
        }
        try require(fields.nodes >= 1, "nodes must be at least 1, not \(fields.nodes)")
        try require(fields.users >= 1, "users must be at least 1, not \(fields.users)")
        try require(fields.antennas >= 1, "antennas must be at least 1, not \(fields.antennas)")
        try require(Limit.nodes.allows(fields.nodes), "nodes must be \(Limit.nodes.phrase), not \(fields.nodes)")
        try require(Limit.users.allows(fields.users), "users must be \(Limit.users.phrase), not \(fields.users)")
        try require(
            Limit.antennas.allows(fields.antennas), "antennas must be \(Limit.antennas.phrase), not \(fields.antennas)")
        try require(
            Limit.channelEntries.allows(Double(fields.nodes) * Double(fields.users) * Double(fields.antennas)),
            "nodes × users × antennas (the channel entries) must be \(Limit.channelEntries.phrase)")
        try require(fields.areaMeters > 0 && fields.areaMeters.isFinite, "area_m must be positive")
        try require(
            fields.capacityBytes.count == 1 || fields.capacityBytes.count == fields.nodes,
            "capacity_bytes must be one number or one per node (\(fields.nodes)), not \(fields.capacityBytes.count) values"
        )
        try require(fields.capacityBytes.allSatisfy { $0 >= 0 && $0.isFinite }, "capacity_bytes must be non-negative")
        try require(fields.bandwidthHz > 0 && fields.bandwidthHz.isFinite, "bandwidth_hz must be positive")
        try require(
            fields.noiseDBm.isFinite && fields.pMaxDBm.isFinite && fields.refGainDB.isFinite,
            "noise_dbm, p_max_dbm and ref_gain_db must be finite")
        try require(fields.pathlossExponent > 0, "pathloss_exponent must be positive")
        try require(fields.ricianK >= 0 && fields.ricianK.isFinite, "rician_k must be non-negative")
        for (name, range) in [("backhaul_bps", fields.backhaulBps), ("qos_bps", fields.qosBps)] {
            try require(
                range.count == 2 && range[0] > 0 && range[0] <= range[1] && range[1].isFinite,
                "\(name) must be [low, high] with 0 < low <= high")
        }
        try require(fields.errorEps >= 0 && fields.errorEps.isFinite, "error_eps must be non-negative")
        try require(fields.zipf >= 0 && fields.zipf.isFinite, "zipf must be non-negative")
        try require(fields.observeRadiusMeters >= 0, "observe_radius_m must be non-negative")
        try require(fields.r1 >= 0 && fields.r2 >= 0, "r1 and r2 must be non-negative")
        try require(fields.hotThreshold >= 0, "hot_threshold must be non-negative")
        try require(fields.cloudBps > 0 && fields.cloudBps.isFinite, "cloud_bps must be positive")
    }

    /// C_n of node `n`, bytes.
    package func capacity(of node: Int) -> Double {
        fields.capacityBytes.count == 1 ? fields.capacityBytes[0] : fields.capacityBytes[node]
    }

    /// σ², watts.
    package var noiseWatts: Double { Self.watts(dBm: fields.noiseDBm) }
    /// P^max, watts.
    package var pMaxWatts: Double { Self.watts(dBm: fields.pMaxDBm) }
    /// v, linear.
    package var refGain: Double { Double.pow(10, fields.refGainDB / 10) }

    package static func watts(dBm: Double) -> Double { Double.pow(10, (dBm - 30) / 10) }
}
