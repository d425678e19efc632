import EdgeSim
import PBRCore
import TestSupport
import Testing

@Suite struct EnvironmentTests {
    static func environment(
        seed: UInt64 = 3, capacity: Double = 9e8, observeRadius: Double = 500, order: EdgeEnvironment.StepOrder = .index
    ) -> EdgeEnvironment {
        var scenario = SchemeTests.scenario()
        scenario.capacityBytes = [capacity]
        scenario.observeRadiusMeters = observeRadius
        let network = EdgeNetwork(scenario: scenario, repository: SchemeTests.repository, seed: seed)
        return EdgeEnvironment(simulator: Simulator(network: network), stepOrder: order)
    }

    @Test func forcedZeroRulesKeepConstraintsOneAndTwo() {
        let environment = Self.environment(capacity: 3.5e8)  // PB 0 has 4e8 bytes: nobody can cache it
        let everything = (0..<environment.nodes).map { _ in
            EdgeEnvironment.Action(cache: true, migrateTo: [true, true, true, true])
        }
        let taken = environment.admissible(everything)
        #expect(taken.allSatisfy { !$0.cache && !$0.migrateTo.contains(true) })
        var roomy = Self.environment()
        let mixed = [
            // Migrates what it does not cache.
            EdgeEnvironment.Action(cache: false, migrateTo: [false, true, false, false]),
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

    @Test func transfersThatDeliverNothingAreDroppedWhenAsked() {
        // Nodes 0 and 1 cache and send to each other and both to node 2; node 3 sends without caching.
        let actions = [
            EdgeEnvironment.Action(cache: true, migrateTo: [false, true, true, false]),
            EdgeEnvironment.Action(cache: true, migrateTo: [true, false, true, false]),
            .idle(nodes: 4),
            EdgeEnvironment.Action(cache: false, migrateTo: [false, false, true, false]),
        ]
        for seed in [UInt64(1), 2, 3] {
            let literal = Self.environment(seed: seed).admissible(actions)
            #expect(
                literal[0].migrateTo == [false, true, true, false]
                    && literal[1].migrateTo == [true, false, true, false])
            let base = Self.environment(seed: seed)
            let environment = EdgeEnvironment(simulator: base.simulator, dropsRedundantTransfers: true)
            let taken = environment.admissible(actions)
            #expect(!taken[0].migrateTo[1] && !taken[1].migrateTo[0], "seed \(seed): a caching node received a copy")
            #expect(taken[3] == .idle(nodes: 4))
            let rates = environment.simulator.network.backhaulRates(block: environment.block)
            let sender = rates[0][2] >= rates[1][2] ? 0 : 1
            #expect(
                taken[sender].migrateTo[2] && !taken[1 - sender].migrateTo[2],
                "seed \(seed): node 2 gets one copy, from the faster link")
            // Dropping them changes no participant and shortens T(k).
            var kept = CachePlan(nodes: 4, blocks: SchemeTests.repository.blockCount)
            var all = kept
            for n in 0..<2 {
                kept.cached[n][0] = true
                all.cached[n][0] = true
                for m in 0..<4 where taken[n].migrateTo[m] { kept.migrations[0].append(.init(from: n, to: m)) }
                for m in 0..<4 where literal[n].migrateTo[m] { all.migrations[0].append(.init(from: n, to: m)) }
            }
            let (a, b) = (
                environment.simulator.outcome(of: kept, block: 0), environment.simulator.outcome(of: all, block: 0)
            )
            #expect(a.participants == b.participants && a.delaySeconds < b.delaySeconds)
        }
    }

    @Test(arguments: EdgeEnvironment.StepOrder.allCases)
    func randomPoliciesNeverViolateAnythingAndAgreeWithTheWholePlanEvaluation(order: EdgeEnvironment.StepOrder) {
        var generator = SplitMix64(seed: 17)
        for seed in [UInt64(1), 2, 3] {
            var environment = Self.environment(seed: seed, capacity: 6e8, order: order)
            while !environment.isFinished {
                let actions = (0..<environment.nodes).map { _ in
                    EdgeEnvironment.Action(
                        cache: generator.next() % 2 == 0,
                        migrateTo: (0..<environment.nodes).map { _ in generator.next() % 3 == 0 })
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
        let served = everyone.step(
            (0..<probe.nodes).map { _ in EdgeEnvironment.Action(cache: true, migrateTo: [false, false, false, false]) })
        #expect(!served.outcome.participants.isEmpty)
        #expect(served.reward == -served.outcome.delaySeconds - (served.outcome.feasible ? 0 : scenario.r1))
        // An unrequested PB (one user requests one model, so other models' own blocks are unrequested) costs only
        // the migrations ordered for it.
        var lone = scenario
        lone.users = 1
        var idle = EdgeEnvironment(
            simulator: Simulator(network: EdgeNetwork(scenario: lone, repository: SchemeTests.repository, seed: 3)))
        let unrequested = try #require((0..<idle.blockCount).first { idle.simulator.network.requesters[$0].isEmpty })
        for _ in 0..<unrequested { _ = idle.step((0..<idle.nodes).map { _ in .idle(nodes: idle.nodes) }) }
        var migrating = idle
        #expect(idle.step((0..<idle.nodes).map { _ in .idle(nodes: idle.nodes) }).reward == 0)
        let wasted = migrating.step(
            [EdgeEnvironment.Action(cache: true, migrateTo: [false, true, false, false])]
                + (1..<4).map { _ in .idle(nodes: 4) })
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

    @Test func requestedFirstVisitsEveryPBOnceByDemandPerByte() {
        for seed in [UInt64(1), 2, 3] {
            var environment = Self.environment(seed: seed, order: .requestedFirst)
            let requesters = environment.simulator.network.requesters
            var visited: [Int] = []
            while !environment.isFinished {
                visited.append(environment.block)
                _ = environment.step((0..<environment.nodes).map { _ in .idle(nodes: environment.nodes) })
            }
            #expect(visited.sorted() == Array(0..<SchemeTests.repository.blockCount))
            let bytes = SchemeTests.repository.blockBytes
            for (a, b) in zip(visited, visited.dropFirst()) {
                let (first, second) = (Double(requesters[a].count) / bytes[a], Double(requesters[b].count) / bytes[b])
                #expect(first >= second, "seed \(seed): PB \(a) before \(b), which has more requesting users per byte")
                if first == second { #expect(a < b) }
            }
            #expect(visited.prefix { !requesters[$0].isEmpty }.count == requesters.filter { !$0.isEmpty }.count)
            #expect(environment.outcomes.map(\.block) == visited)
        }
    }

    @Test(arguments: EdgeEnvironment.StepOrder.allCases)
    func demandAheadIsWhatEachCellStillNeedsOverItsCapacity(order: EdgeEnvironment.StepOrder) {
        var scenario = SchemeTests.scenario()
        scenario.observeRadiusMeters = 2000
        let network = EdgeNetwork(scenario: scenario, repository: SchemeTests.repository, seed: 3)
        var environment = EdgeEnvironment(
            simulator: Simulator(network: network), observesDemand: true, stepOrder: order)
        #expect(environment.observationSize == 4 * environment.nodes)
        var visited: [Int] = []
        for _ in 0..<3 {
            visited.append(environment.block)
            for n in 0..<environment.nodes {
                let observation = environment.observation(agent: n)
                // Independently: bytes of the PBs not yet visited that some user of n's cell asks for (through its model).
                var expected = 0.0
                for later in 0..<SchemeTests.repository.blockCount where !visited.contains(later) {
                    let wanted = network.requests.indices.contains { user in
                        network.association[user] == n
                            && SchemeTests.repository.models[network.requests[user]].blocks.contains(later)
                    }
                    if wanted { expected += SchemeTests.repository.blockBytes[later] }
                }
                #expect(
                    abs(observation[3] - expected / scenario.capacity(of: n)) < 1e-12,
                    "\(order), PB \(visited.last!), node \(n)")
            }
            _ = environment.step((0..<environment.nodes).map { _ in .idle(nodes: environment.nodes) })
        }
    }
}
