import ComplexModule
import EdgeSim
import Foundation
import TestSupport
import Testing

@Suite struct SchemeTests {
    static let repository = ModelCatalog(
        blockIDs: (0..<8).map { "b\($0)" }, blockBytes: [4e8, 3e8, 3e8, 2e8, 2e8, 1e8, 1e8, 5e7],
        models: [
            .init(id: "m0", family: "f", blocks: [0, 1, 3]), .init(id: "m1", family: "f", blocks: [0, 1, 4]),
            .init(id: "m2", family: "f", blocks: [0, 2, 5]), .init(id: "m3", family: "g", blocks: [6, 7]),
        ])

    static func scenario() -> Scenario {
        var scenario = Scenario()
        scenario.nodes = 4
        scenario.users = 10
        scenario.antennas = 4
        scenario.capacityBytes = [9e8]
        scenario.qosBps = [1e9, 2e9]
        return scenario
    }

    /// Every scheme that scales past tiny scenarios (`exact` has its own tests).
    static let scalable = SchemeRegistry.scalable

    @Test(arguments: scalable.map(\.name))
    func plansRespectCapacityMigrationAndPower(name: String) throws {
        let scheme = try #require(SchemeRegistry.scheme(named: name))
        for seed in [UInt64(1), 2, 3] {
            let report = try SimulationReport.run(
                scheme: scheme, scenario: Self.scenario(), repository: Self.repository, seed: seed)
            #expect(report.plan.violation(scenario: Self.scenario(), repository: Self.repository) == nil)
            for n in 0..<4 { #expect(report.plan.storedBytes(node: n, repository: Self.repository) <= 9e8) }
            // Participation follows (3); a PB nobody requests costs no broadcast.
            for block in report.outcome.blocks {
                #expect(block.participants == report.plan.participants(block: block.block))
                if block.requestingUsers.isEmpty {
                    #expect(block.delaySeconds == block.migrations.reduce(0) { $0 + $1.seconds })
                }
            }
        }
    }

    @Test func sameSeedSameOutput() throws {
        for scheme in Self.scalable {
            let a = try SimulationReport.run(
                scheme: scheme, scenario: Self.scenario(), repository: Self.repository, seed: 42)
            let b = try SimulationReport.run(
                scheme: scheme, scenario: Self.scenario(), repository: Self.repository, seed: 42)
            #expect(a.jsonText == b.jsonText, "\(scheme.name)")
        }
    }

    @Test func theHeuristicIsNeverCostlierThanTrimCaching() throws {
        for seed in [UInt64(1), 2, 3] {
            for capacity in [3e8, 9e8] {
                var scenario = Self.scenario()
                scenario.capacityBytes = [capacity]
                let heuristic = try SimulationReport.run(
                    scheme: .heuristic, scenario: scenario, repository: Self.repository, seed: seed)
                let trim = try SimulationReport.run(
                    scheme: .trimcaching, scenario: scenario, repository: Self.repository, seed: seed)
                let (a, b) = (
                    heuristic.outcome.cost(r1: scenario.r1, r2: scenario.r2),
                    trim.outcome.cost(r1: scenario.r1, r2: scenario.r2)
                )
                #expect(a <= b * (1 + 1e-9), "seed \(seed), capacity \(capacity): heuristic \(a), trimcaching \(b)")
            }
        }
    }

    /// What the heuristic's spare-capacity fill relies on: another holder can only join the broadcast, never slow it.
    @Test func anExtraHolderNeverLengthensABroadcast() throws {
        for seed in [UInt64(1), 2, 3] {
            let network = EdgeNetwork(scenario: Self.scenario(), repository: Self.repository, seed: seed)
            let simulator = Simulator(network: network)
            for k in 0..<Self.repository.blockCount where !network.requesters[k].isEmpty {
                for holders in 1..<(1 << 4) {
                    var plan = CachePlan(nodes: 4, blocks: Self.repository.blockCount)
                    for n in 0..<4 where holders & (1 << n) != 0 { plan.cached[n][k] = true }
                    let before = simulator.outcome(of: plan, block: k)
                    for extra in 0..<4 where holders & (1 << extra) == 0 {
                        var more = plan
                        more.cached[extra][k] = true
                        let after = simulator.outcome(of: more, block: k)
                        #expect(
                            after.delaySeconds <= before.delaySeconds * (1 + 1e-6),
                            "seed \(seed), PB \(k), holders \(holders) + node \(extra)")
                        #expect(
                            after.feasible || !before.feasible,
                            "seed \(seed), PB \(k): node \(extra) lost the QoS guarantee")
                    }
                }
            }
        }
    }

    /// When every requested PB fits at every node, holding each of them everywhere is optimal (by the test above,
    /// with no migrations since every node already holds the PB); the heuristic must do no worse than that plan.
    @Test func theHeuristicUsesSpareCapacity() throws {
        var scenario = Self.scenario()
        scenario.antennas = 16
        scenario.capacityBytes = [Self.repository.blockBytes.reduce(0, +)]
        for seed in [UInt64(1), 2, 3] {
            let report = try SimulationReport.run(
                scheme: .heuristic, scenario: scenario, repository: Self.repository, seed: seed)
            let network = EdgeNetwork(scenario: scenario, repository: Self.repository, seed: seed)
            var everywhere = CachePlan(nodes: 4, blocks: Self.repository.blockCount)
            for k in 0..<Self.repository.blockCount where !network.requesters[k].isEmpty {
                for n in 0..<4 { everywhere.cached[n][k] = true }
            }
            let bound = Simulator(network: network).outcome(of: everywhere).cost(r1: scenario.r1, r2: scenario.r2)
            let heuristic = report.outcome.cost(r1: scenario.r1, r2: scenario.r2)
            #expect(
                heuristic <= bound * (1 + 1e-9),
                "seed \(seed): heuristic \(heuristic), every requested PB everywhere \(bound)")
        }
    }

    @Test func coarseCachingStoresNoMoreModelsThanSharing() throws {
        for seed in [UInt64(5), 6, 7] {
            let coarse = try SimulationReport.run(
                scheme: .coarse, scenario: Self.scenario(), repository: Self.repository, seed: seed)
            let trim = try SimulationReport.run(
                scheme: .trimcaching, scenario: Self.scenario(), repository: Self.repository, seed: seed)
            #expect(trim.outcome.hitRatio >= coarse.outcome.hitRatio)
        }
    }

    @Test func oneUserOneNodeDelayByHand() throws {
        var scenario = Scenario()
        scenario.nodes = 1
        scenario.users = 1
        scenario.antennas = 3
        scenario.errorEps = 0
        let repository = ModelCatalog(
            blockIDs: ["x"], blockBytes: [1e8], models: [.init(id: "m", family: "f", blocks: [0])])
        let network = EdgeNetwork(scenario: scenario, repository: repository, seed: 9)
        var plan = CachePlan(nodes: 1, blocks: 1)
        plan.cached[0][0] = true
        let outcome = Simulator(network: network).outcome(of: plan, block: 0)
        // One node, one user, no error: w = √P h/‖h‖, rate B log2(1 + P‖h‖²/σ²), delay 8S/rate.
        let h = network.channels(block: 0)[0][0]
        let normSquared = h.reduce(0) { $0 + $1.lengthSquared }
        let rate = scenario.bandwidthHz * log2(1 + scenario.pMaxWatts * normSquared / scenario.noiseWatts)
        #expect(abs(outcome.delaySeconds - 8e8 / rate) <= 1e-6 * outcome.delaySeconds)
        #expect(outcome.participants == [0] && !outcome.missed)
        // Not cached anywhere: the user retrieves it from the cloud; missed, reported infeasible.
        let empty = Simulator(network: network).outcome(of: CachePlan(nodes: 1, blocks: 1), block: 0)
        #expect(empty.missed && !empty.feasible)
        #expect(abs(empty.delaySeconds - 8e8 / scenario.cloudBps) <= 1e-9 * empty.delaySeconds)

        // Errors as large as the channel: no edge rate can be guaranteed, so the user is served by the cloud and
        // the PB is infeasible, though cached.
        var hopeless = scenario
        hopeless.errorEps = 1
        let far = EdgeNetwork(scenario: hopeless, repository: repository, seed: 9)
        let unreachable = Simulator(network: far).outcome(of: plan, block: 0)
        #expect(!unreachable.feasible && !unreachable.missed)
        #expect(abs(unreachable.delaySeconds - 8e8 / scenario.cloudBps) <= 1e-9 * unreachable.delaySeconds)
        // With a cloud slower than the edge's guaranteed rate, the edge serves: the cloud only ever shortens T(k).
        var slowCloud = scenario
        slowCloud.cloudBps = rate / 10
        let edge = Simulator(network: EdgeNetwork(scenario: slowCloud, repository: repository, seed: 9)).outcome(
            of: plan, block: 0)
        #expect(abs(edge.delaySeconds - 8e8 / rate) <= 1e-6 * edge.delaySeconds)
    }
}

@Suite struct ExactSchemeTests {
    @Test(arguments: [UInt64(1), 2, 3, 4])
    func exactIsNeverWorseThanAnyScheme(seed: UInt64) throws {
        var scenario = Scenario()
        scenario.nodes = 2
        scenario.users = 4
        scenario.antennas = 2
        scenario.capacityBytes = [5e8]
        scenario.qosBps = [5e8, 1e9]
        let repository = ModelCatalog(
            blockIDs: ["a", "b", "c"], blockBytes: [3e8, 2e8, 2e8],
            models: [.init(id: "m0", family: "f", blocks: [0, 1]), .init(id: "m1", family: "f", blocks: [0, 2])])
        let exact = try SimulationReport.run(scheme: .exact, scenario: scenario, repository: repository, seed: seed)
        let cost = { (outcome: PlanOutcome) in outcome.cost(r1: scenario.r1, r2: scenario.r2) }
        for scheme in SchemeRegistry.all
        where !["exact", "no-cooperation", "tdma-unicast", "hybrid"].contains(scheme.name) {
            // Same delivery model (CoMP broadcast): the exhaustive search must do at least as well on the cost.
            let other = try SimulationReport.run(scheme: scheme, scenario: scenario, repository: repository, seed: seed)
            let (a, b) = (cost(exact.outcome), cost(other.outcome))
            #expect(a <= b * (1 + 1e-9), "\(scheme.name): exact \(a), scheme \(b)")
        }
    }

    @Test func exactRefusesLargeScenarios() {
        let error = #expect(throws: EdgeSimError.self) {
            try SimulationReport.run(scheme: .exact, scenario: Scenario(), repository: SchemeTests.repository, seed: 1)
        }
        #expect(error?.code == .intractable)
    }
}

@Suite struct SweepTests {
    @Test func sweepRunsEveryCaseOnceAndIsDeterministic() throws {
        var scenario = SchemeTests.scenario()
        scenario.users = 6
        let run = {
            try Sweep.run(
                repository: SchemeTests.repository, scenario: scenario, parameter: .capacity, values: [5e8, 9e8],
                schemes: [TrimCaching(), CoarseCaching()], seeds: 2)
        }
        let sweep = try run()
        #expect(sweep.rows.count == 2 * 2 * 2)
        #expect(sweep.csv.split(separator: "\n").count == 9)
        #expect(sweep.csv == (try run()).csv)
        #expect(sweep.summary.count == 4)
        let svg = sweep.svg(title: "test")
        #expect(svg.hasPrefix("<svg") && svg.contains("trimcaching") && svg.contains("polyline"))
    }
}

@Suite struct ReuseSweepTests {
    /// Three models: a and b share blocks 0 and 1, c shares block 1 with them.
    static let repository = ModelCatalog(
        blockIDs: ["x", "y", "a2", "b2", "c0"], blockBytes: [100, 50, 30, 30, 70],
        models: [
            .init(id: "a", family: "f", blocks: [0, 1, 2]), .init(id: "b", family: "f", blocks: [0, 1, 3]),
            .init(id: "c", family: "f", blocks: [4, 1]),
        ])

    @Test func reuseRatioByHand() {
        // a: 150 of 180 bytes shared; b the same; c: 50 of 120.
        let expected = (150.0 / 180 + 150.0 / 180 + 50.0 / 120) / 3
        #expect(abs(Self.repository.meanReuseRatio - expected) < 1e-12)
    }

    @Test func lessSharingKeepsEveryModelsBytesAndDropsReuse() throws {
        #expect(Self.repository.withSharing(fraction: 1) == Self.repository)
        let none = Self.repository.withSharing(fraction: 0)
        #expect(none.meanReuseRatio == 0)
        #expect(none.blockCount == 5 + 3)  // b's copies of x and y, c's copy of y
        for (before, after) in zip(Self.repository.models, none.models) {
            #expect(before.blocks.map { Self.repository.blockBytes[$0] } == after.blocks.map { none.blockBytes[$0] })
        }
        // Intermediate fractions land in between, and the same blocks stay shared every time.
        let paper = try ModelCatalog.load(manifest: Samples.root + "/manifests/paper-cnn60.json")
        let ratios = [0.0, 0.5, 1.0].map { paper.withSharing(fraction: $0).meanReuseRatio }
        #expect(ratios[0] == 0 && ratios[0] < ratios[1] && ratios[1] < ratios[2], "\(ratios)")
        #expect(paper.withSharing(fraction: 0.5) == paper.withSharing(fraction: 0.5))
    }
}
