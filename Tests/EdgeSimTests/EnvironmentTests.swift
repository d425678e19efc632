import EdgeSim
import TestSupport
import Testing

@Suite struct EnvironmentTests {
    static func environment(seed: UInt64 = 3, capacity: Double = 9e8, observeRadius: Double = 500) -> EdgeEnvironment {
        var scenario = SchemeTests.scenario()
        scenario.capacityBytes = [capacity]
        scenario.observeRadiusMeters = observeRadius
        let network = Network(scenario: scenario, repository: SchemeTests.repository, seed: seed)
        return EdgeEnvironment(simulator: Simulator(network: network))
    }

    @Test func forcedZeroRulesKeepConstraintsOneAndTwo() {
        let environment = Self.environment(capacity: 3.5e8)  // PB 0 has 4e8 bytes: nobody can cache it
        let everything = (0..<environment.nodes).map { _ in EdgeEnvironment.Action(cache: true, migrateTo: [true, true, true, true]) }
        let taken = environment.admissible(everything)
        #expect(taken.allSatisfy { !$0.cache && !$0.migrateTo.contains(true) })
        var roomy = Self.environment()
        let mixed = [
            EdgeEnvironment.Action(cache: false, migrateTo: [false, true, false, false]),  // migrates what it does not cache
            EdgeEnvironment.Action(cache: true, migrateTo: [true, true, false, true]),  // includes itself
            .idle(nodes: 4), .idle(nodes: 4),
        ]
        let admitted = roomy.admissible(mixed)
        #expect(admitted[0] == .idle(nodes: 4))
        #expect(admitted[1] == EdgeEnvironment.Action(cache: true, migrateTo: [true, false, false, true]))
        let before = roomy.remaining
        let transition = roomy.step(mixed)
        #expect(transition.actions == admitted)
        #expect(roomy.remaining[1] == before[1] - SchemeTests.repository.blockBytes[0])
        #expect(roomy.remaining[0] == before[0] && roomy.plan.migrations[0].count == 2)
    }

    @Test func randomPoliciesNeverViolateAnythingAndAgreeWithTheWholePlanEvaluation() {
        var generator = SplitMix64(seed: 17)
        for seed in [UInt64(1), 2, 3] {
            var environment = Self.environment(seed: seed, capacity: 6e8)
            while !environment.isFinished {
                let actions = (0..<environment.nodes).map { _ in
                    EdgeEnvironment.Action(
                        cache: generator.next() % 2 == 0, migrateTo: (0..<environment.nodes).map { _ in generator.next() % 3 == 0 })
                }
                _ = environment.step(actions)
                #expect(environment.remaining.allSatisfy { $0 >= 0 })
            }
            let scenario = environment.simulator.network.scenario
            #expect(environment.plan.violation(scenario: scenario, repository: SchemeTests.repository) == nil)
            let whole = environment.simulator.outcome(of: environment.plan)
            #expect(whole == environment.planOutcome, "seed \(seed)")
        }
    }

    @Test func rewardFollowsEquationTwelve() throws {
        let scenario = Self.environment().simulator.network.scenario
        // Pick a requested PB: first with nobody caching it (−r2), then with everyone caching it (−T − r1·Λ).
        var probe = Self.environment()
        let requested = try #require((0..<probe.blockCount).first { !probe.simulator.network.requesters[$0].isEmpty })
        for _ in 0..<requested { _ = probe.step((0..<probe.nodes).map { _ in .idle(nodes: probe.nodes) }) }
        var nobody = probe
        let missed = nobody.step((0..<probe.nodes).map { _ in .idle(nodes: probe.nodes) })
        #expect(missed.reward == -scenario.r2 && missed.outcome.missed)
        var everyone = probe
        let served = everyone.step((0..<probe.nodes).map { _ in EdgeEnvironment.Action(cache: true, migrateTo: [false, false, false, false]) })
        #expect(!served.outcome.participants.isEmpty)
        #expect(served.reward == -served.outcome.delaySeconds - (served.outcome.feasible ? 0 : scenario.r1))
        // An unrequested PB (one user requests one model, so other models' own blocks are unrequested) costs only
        // the migrations ordered for it.
        var lone = scenario
        lone.users = 1
        var idle = EdgeEnvironment(simulator: Simulator(network: Network(scenario: lone, repository: SchemeTests.repository, seed: 3)))
        let unrequested = try #require((0..<idle.blockCount).first { idle.simulator.network.requesters[$0].isEmpty })
        for _ in 0..<unrequested { _ = idle.step((0..<idle.nodes).map { _ in .idle(nodes: idle.nodes) }) }
        var migrating = idle
        #expect(idle.step((0..<idle.nodes).map { _ in .idle(nodes: idle.nodes) }).reward == 0)
        let wasted = migrating.step(
            [EdgeEnvironment.Action(cache: true, migrateTo: [false, true, false, false])] + (1..<4).map { _ in .idle(nodes: 4) })
        #expect(wasted.reward < 0 && wasted.reward == -wasted.outcome.delaySeconds)
    }

    @Test func observationsFollowTenAToTenC() {
        let environment = Self.environment(observeRadius: 1)  // nobody observes anybody
        for n in 0..<environment.nodes {
            let own = environment.observation(agent: n)
            #expect(own.count == environment.observationSize)
            #expect(own[3...].allSatisfy { $0 == 0 })
            #expect(own[0] == SchemeTests.repository.blockBytes[0] / 4e8 && own[2] == 1)
        }
        let seeing = Self.environment(observeRadius: 2000)
        let first = seeing.observation(agent: 0)
        #expect(first[3...].contains { $0 != 0 })
        #expect(seeing.state.count == seeing.nodes * first.count)
        // The cell counts add up to the PB's requesters.
        let network = seeing.simulator.network
        let cells = (0..<seeing.nodes).map { seeing.observation(agent: $0)[1] * Double(network.scenario.users) }
        #expect(abs(cells.reduce(0, +) - Double(network.requesters[0].count)) < 1e-9)
    }

    @Test func demandAheadIsWhatEachCellStillNeedsOverItsCapacity() {
        var scenario = SchemeTests.scenario()
        scenario.observeRadiusMeters = 2000
        let network = Network(scenario: scenario, repository: SchemeTests.repository, seed: 3)
        var environment = EdgeEnvironment(simulator: Simulator(network: network), observesDemand: true)
        #expect(environment.observationSize == 4 * environment.nodes)
        for k in 0..<2 {
            for n in 0..<environment.nodes {
                let observation = environment.observation(agent: n)
                // Independently: bytes of the later PBs some user of n's cell asks for (through its model).
                var expected = 0.0
                for later in (k + 1)..<SchemeTests.repository.blockCount {
                    let wanted = network.requests.indices.contains { user in
                        network.association[user] == n && SchemeTests.repository.models[network.requests[user]].blocks.contains(later)
                    }
                    if wanted { expected += SchemeTests.repository.blockBytes[later] }
                }
                #expect(abs(observation[3] - expected / scenario.capacity(of: n)) < 1e-12, "k \(k), node \(n)")
            }
            _ = environment.step((0..<environment.nodes).map { _ in .idle(nodes: environment.nodes) })
        }
    }
}
