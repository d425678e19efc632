import ComplexModule
import EdgeSim
import PBRCore
import RealModule
import TestSupport
import Testing

@Suite struct RobustBeamformingTests {
    typealias C = Complex<Double>

    func randomInstance(users: Int, nodes: Int, antennas: Int, seed: UInt64, eps: Double = 3e-6) -> BeamformingInstance
    {
        var random = SimulationRandom(seed: seed)
        // Channel magnitudes as in the default scenario: ~1e-5 per antenna at a few hundred metres.
        let channels = (0..<users).map { _ in
            (0..<nodes).map { _ in
                let gain = 1e-5 * (0.3 + random.unit())
                return (0..<antennas).map { _ in
                    C(random.normal(), random.normal()).multiplied(by: gain * (0.5).squareRoot())
                }
            }
        }
        return BeamformingInstance(
            bandwidthHz: 400e6, noiseWatts: 1e-11, pMaxWatts: 19.95, blockBits: 8e8,
            qosBps: [Double](repeating: 1e9, count: users),
            errorEps: [[Double]](repeating: [Double](repeating: eps, count: nodes), count: users), channels: channels)
    }

    func amplitude(_ solution: BeamformingSolution, _ instance: BeamformingInstance, user: Int) -> Double {
        Delivery.worstCaseAmplitude(
            channels: instance.channels[user], beamformers: solution.beamformers, errorRadii: instance.errorEps[user])
    }

    @Test func oneUserOneNodeReachesTheAnalyticOptimum() {
        let instance = randomInstance(users: 1, nodes: 1, antennas: 8, seed: 1)
        let solution = RobustBeamformer.solve(instance)
        // w = √P h/‖h‖ gives √P (‖h‖ − ε), and nothing does better.
        let optimum =
            instance.pMaxWatts.squareRoot() * (Delivery.norm(instance.channels[0][0]) - instance.errorEps[0][0])
        #expect(abs(amplitude(solution, instance, user: 0) - optimum) <= 1e-6 * optimum)
    }

    @Test func twoOrthogonalUsersShareThePowerEqually() {
        // h1 = e1, h2 = e2 (scaled): the max-min beamformer is √P (e1 + e2)/√2, amplitude √P·g/√2 for both.
        let g = 2e-5
        var instance = randomInstance(users: 2, nodes: 1, antennas: 2, seed: 2, eps: 0)
        instance.channels = [[[C(g, 0), .zero]], [[.zero, C(g, 0)]]]
        let solution = RobustBeamformer.solve(instance)
        let expected = instance.pMaxWatts.squareRoot() * g / (2.0).squareRoot()
        #expect(abs(amplitude(solution, instance, user: 0) - expected) <= 0.01 * expected)
        #expect(abs(amplitude(solution, instance, user: 1) - expected) <= 0.01 * expected)
    }

    @Test(arguments: 0..<12)
    func powerBudgetHoldsAndRandomErrorsNeverDoWorse(seed: Int) {
        let instance = randomInstance(
            users: 1 + seed % 5, nodes: 1 + seed % 3, antennas: 4 + seed % 5, seed: UInt64(seed))
        let solution = RobustBeamformer.solve(instance)
        for w in solution.beamformers {
            #expect(Delivery.norm(w) * Delivery.norm(w) <= instance.pMaxWatts * (1 + 1e-9))
        }
        var random = SimulationRandom(seed: 1000 + UInt64(seed))
        for _ in 0..<200 {
            for u in 0..<instance.users {
                let actual = (0..<instance.nodes).map { n -> [C] in
                    let e = (0..<instance.antennas).map { _ in C(random.normal(), random.normal()) }
                    let scale = instance.errorEps[u][n] * random.unit() / Delivery.norm(e)
                    return zip(instance.channels[u][n], e).map { $0 + $1.multiplied(by: scale) }
                }
                let rate = Delivery.rate(
                    amplitude: Delivery.amplitude(channels: actual, beamformers: solution.beamformers),
                    bandwidthHz: instance.bandwidthHz, noiseWatts: instance.noiseWatts)
                #expect(rate >= solution.worstCaseRates[u] * (1 - 1e-9))
            }
        }
    }

    @Test(arguments: 0..<6)
    func beatsTheBestOfManyRandomBeamformers(seed: Int) {
        let instance = randomInstance(users: 3, nodes: 2, antennas: 4, seed: 50 + UInt64(seed))
        let solution = RobustBeamformer.solve(instance)
        var random = SimulationRandom(seed: 77 + UInt64(seed))
        var bestRandom = 0.0
        for _ in 0..<3000 {
            let w = (0..<instance.nodes).map { _ -> [C] in
                let v = (0..<instance.antennas).map { _ in C(random.normal(), random.normal()) }
                return v.map { $0.multiplied(by: instance.pMaxWatts.squareRoot() / Delivery.norm(v)) }
            }
            bestRandom = max(bestRandom, RobustBeamformer.evaluate(instance, beamformers: w).minimumWorstCaseRate)
        }
        #expect(
            solution.minimumWorstCaseRate >= bestRandom,
            "solver \(solution.minimumWorstCaseRate), random search \(bestRandom)")
    }

    @Test func robustDesignGuaranteesMoreThanTheNonRobustOne() {
        var better = 0
        for seed in 0..<10 {
            let instance = randomInstance(users: 4, nodes: 2, antennas: 6, seed: 300 + UInt64(seed), eps: 6e-6)
            let robust = RobustBeamformer.solve(instance)
            let naive = RobustBeamformer.solve(instance, robust: false)
            if robust.minimumWorstCaseRate >= naive.minimumWorstCaseRate { better += 1 }
        }
        #expect(better >= 9)
    }
}

@Suite struct RobustnessStudyTests {
    @Test func achievedRatesNeverFallBelowTheGuaranteeAndFeasibleRobustDesignsKeepTheirQoS() throws {
        var scenario = SchemeTests.scenario()
        scenario.qosBps = [2e8, 4e8]  // low enough for the robust design to be feasible here
        let study = try RobustnessStudy.run(
            scenario: scenario, repository: SchemeTests.repository, seed: 5, errorRadii: [1e-5, 3e-5], blocks: 3,
            draws: 40)
        #expect(!study.samples.isEmpty)
        #expect(study.samples.allSatisfy { $0.rateBps >= $0.worstCaseBps * (1 - 1e-9) })
        #expect(
            study.samples.contains { $0.robust && $0.worstCaseBps >= $0.qosBps }, "no feasible robust design to check")
        for sample in study.samples where sample.robust && sample.worstCaseBps >= sample.qosBps {
            #expect(sample.rateBps >= sample.qosBps)
        }
        let summary = study.summary
        #expect(summary.count == 4 && summary.allSatisfy { $0.belowGuarantee == 0 })
        // The robust design never falls below what it plans for; the non-robust one does under random errors.
        #expect(summary.filter(\.robust).allSatisfy { $0.belowPlan == 0 })
        #expect(summary.filter { !$0.robust }.allSatisfy { $0.belowPlan > 0.1 })
        #expect(study.csv.split(separator: "\n").count == study.samples.count + 1)
        #expect(study.svg(title: "t").contains("non-robust, ε=3e-05"))
    }
}
