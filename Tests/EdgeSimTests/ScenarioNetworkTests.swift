import EdgeSim
import Foundation
import TestSupport
import Testing

@Suite struct ScenarioTests {
    func decode(_ json: String) throws -> Scenario { try JSONDecoder().decode(Scenario.self, from: Data(json.utf8)) }

    @Test func defaultsAreTableII() throws {
        let scenario = try decode("{}")
        #expect(scenario.nodes == 6 && scenario.users == 30 && scenario.antennas == 20)
        #expect(scenario.capacity(of: 5) == 1.25e9)
        #expect(scenario.qosBps == [5e9, 7e9] && scenario.backhaulBps == [8e9, 12e9])
        #expect(scenario.bandwidthHz == 400e6 && scenario.pathlossExponent == 3 && scenario.ricianK == 3)
        #expect(abs(scenario.noiseWatts - 1e-11) < 1e-24)  // −80 dBm
        #expect(abs(scenario.pMaxWatts - 19.952623149688797) < 1e-9)  // 43 dBm
        #expect(abs(scenario.refGain - 1e-3) < 1e-18)  // −30 dB
        #expect(scenario.errorEps == 1e-5 && scenario.zipf == 0.5 && scenario.r1 == 10 && scenario.r2 == 10)
    }

    @Test func fieldsOverrideAndCapacityMayBePerNode() throws {
        let scenario = try decode(#"{"nodes": 2, "capacity_bytes": [1e9, 2e9], "zipf": 1.2}"#)
        #expect(scenario.nodes == 2 && scenario.capacity(of: 1) == 2e9 && scenario.zipf == 1.2)
        #expect(try decode(#"{"capacity_bytes": 5e8}"#).capacity(of: 3) == 5e8)
    }

    @Test(arguments: [
        (#"{"nodes": 0}"#, "nodes"), (#"{"users": -1}"#, "users"), (#"{"capacity_bytes": -5}"#, "capacity_bytes"),
        (#"{"nodes": 3, "capacity_bytes": [1, 2]}"#, "capacity_bytes"), (#"{"qos_bps": [7e9, 5e9]}"#, "qos_bps"),
        (#"{"speed_of_light": 3e8}"#, "speed_of_light"), (#"{"zipf": -1}"#, "zipf"),
    ])
    func invalidScenariosAreRefusedNamingTheField(json: String, field: String) {
        let error = #expect(throws: EdgeSimError.self, "\(json)") { try decode(json) }
        #expect(error?.code == .invalidScenario, "\(json)")
        #expect(error?.field == field, "\(String(describing: error))")
    }

    @Test func aScenarioFileNamesItsPathAndField() throws {
        try Samples.withTemporaryDirectory { directory in
            let path = directory + "/scenario.json"
            try #"{"zipf": -1}"#.write(toFile: path, atomically: true, encoding: .utf8)
            let error = #expect(throws: EdgeSimError.self) { try Scenario.load(path) }
            #expect(error?.path == path && error?.field == "zipf" && error?.code == .invalidScenario)
            #expect(error?.description.hasPrefix(path + ": zipf") == true)
            let missing = #expect(throws: EdgeSimError.self) { try Scenario.load(directory + "/none.json") }
            #expect(missing?.code == .unreadable)
        }
    }
}

/// F-34 and F-28: a scenario file is read as strictly as every other input, and a number that does not fit says which
/// field it is (it used to be "The given data was not valid JSON").
@Suite struct ScenarioFileStrictnessTests {
    @Test(arguments: [
        (#"{"nodes": 6.5}"#, "nodes"), (#"{"nodes": 1e300}"#, "nodes"), (#"{"users": "6"}"#, "users"),
        (#"{"zipf": 1e400}"#, "number out of range"), (#"{"nodes": 3, "nodes": 4}"#, "duplicate key \"nodes\""),
    ])
    func refusedNamingTheFieldOrTheProblem(json: String, named: String) throws {
        try Samples.withTemporaryDirectory { directory in
            let path = directory + "/scenario.json"
            try json.write(toFile: path, atomically: true, encoding: .utf8)
            let error = #expect(throws: EdgeSimError.self, "\(json)") { try Scenario.load(path) }
            #expect(error?.code == .invalidScenario, "\(json)")
            #expect(error?.description.contains(named) == true, "\(json): \(String(describing: error))")
            #expect(error?.description.contains("not valid JSON") == false, "\(String(describing: error))")
        }
    }

    @Test func aBeamformingInstanceWithAnUnknownFieldIsRefused() throws {
        try Samples.withTemporaryDirectory { directory in
            let example = try String(
                contentsOfFile: Samples.root + "/docs/examples/beamform-instance.json", encoding: .utf8)
            let path = directory + "/instance.json"
            try example.replacingOccurrences(of: "\"bandwidth_hz\"", with: "\"bandwith_hz\"")
                .write(toFile: path, atomically: true, encoding: .utf8)
            let error = #expect(throws: EdgeSimError.self) { try BeamformingInstance.load(path) }
            #expect(error?.field == "bandwith_hz", "\(String(describing: error))")
            #expect(
                try BeamformingInstance.load(Samples.root + "/docs/examples/beamform-instance.json").channels.count > 0)
        }
    }
}

@Suite struct NetworkTests {
    static let repository = ModelCatalog(
        blockIDs: ["a", "b", "c", "d"], blockBytes: [10, 20, 30, 40],
        models: [
            .init(id: "m0", family: "f", blocks: [0, 1]), .init(id: "m1", family: "f", blocks: [0, 2]),
            .init(id: "m2", family: "f", blocks: [3]),
        ])

    @Test func sameSeedSameNetworkAndChannels() throws {
        let scenario = Scenario()
        let a = EdgeNetwork(scenario: scenario, repository: Self.repository, seed: 7)
        let b = EdgeNetwork(scenario: scenario, repository: Self.repository, seed: 7)
        let c = EdgeNetwork(scenario: scenario, repository: Self.repository, seed: 8)
        #expect(a.userPositions == b.userPositions)
        #expect(a.requests == b.requests)
        #expect(a.qos == b.qos)
        #expect(a.channels(block: 2) == b.channels(block: 2))
        #expect(a.backhaulRates(block: 1) == b.backhaulRates(block: 1))
        #expect(a.userPositions != c.userPositions)
        #expect(a.channels(block: 2) != a.channels(block: 3))
    }

    @Test func structureFollowsTheScenario() {
        var scenario = Scenario()
        scenario.users = 500
        let network = EdgeNetwork(scenario: scenario, repository: Self.repository, seed: 1)
        #expect(network.nodePositions.count == 6 && network.userPositions.count == 500)
        for (user, node) in network.association.enumerated() {
            let distance = network.nodePositions[node].distance(to: network.userPositions[user])
            #expect(network.nodePositions.allSatisfy { $0.distance(to: network.userPositions[user]) >= distance })
        }
        #expect(network.qos.allSatisfy { $0 >= 5e9 && $0 < 7e9 })
        // Zipf with ι = 0.5 over 3 models: probabilities ∝ 1, 0.707, 0.577 → 0.437, 0.309, 0.252.
        let share = (0..<3).map { model in Double(network.requests.filter { $0 == model }.count) / 500 }
        #expect(abs(share[0] - 0.437) < 0.07 && abs(share[2] - 0.252) < 0.07)
        // Block 0 is in models 0 and 1: its requesters are exactly their users.
        #expect(network.requesters[0] == network.requests.indices.filter { network.requests[$0] != 2 })
        let channels = network.channels(block: 0)
        #expect(channels.count == 500 && channels[0].count == 6 && channels[0][0].count == 20)
        let rates = network.backhaulRates(block: 0)
        #expect(rates[2][2] == 0 && rates[0][1] >= 8e9 && rates[0][1] < 12e9)
        // Nodes on a 3×2 grid over 1 km: neighbours are 333 m or 500 m apart; ϖ needs < 500 m.
        #expect(network.observes[0][1] && !network.observes[0][0])
    }

    @Test func readsTheSamplesManifest() throws {
        let repository = try ModelCatalog.load(manifest: Samples.root + "/manifests/samples.json")
        #expect(repository.models.count == 22)
        #expect(repository.blockCount == repository.blockBytes.count)
        #expect(repository.models.allSatisfy { !$0.blocks.isEmpty })
    }
}
