import EdgeSim
import Foundation
import NeuralKit
import PBRCore
import TestSupport
import Testing

@testable import Trainer

@Suite struct EchoStateNetworkTests {
    /// y(k) = A v(k) + B v(k−1): a linear system with one step of memory, which the fixed reservoir must carry
    /// and the ridge readout must decode.
    @Test func readoutReproducesAKnownLinearSystem() {
        var generator = SplitMix64(seed: 31)
        var draws = SimulationRandom(seed: 1)
        let esn = EchoStateNetwork(inputSize: 3, reservoir: 64, outputSize: 2, ridge: 1e-6, using: &generator)
        let a: [[Float]] = [[0.5, -0.3, 0.2], [0.1, 0.4, -0.6]]
        let b: [[Float]] = [[-0.2, 0.1, 0.3], [0.3, 0.0, 0.2]]
        func run(_ steps: Int) -> (inputs: [[Float]], previous: [[Float]], targets: [[Float]]) {
            var inputs: [[Float]] = []
            var previous: [[Float]] = []
            var targets: [[Float]] = []
            var last = [Float](repeating: 0, count: 3)
            esn.reset()
            for _ in 0..<steps {
                let v = (0..<3).map { _ in Float(draws.uniform(-0.2, 0.2)) }
                previous.append(esn.currentState)
                esn.step(v)
                inputs.append(v)
                var target = [Float](repeating: 0, count: 2)
                for o in 0..<2 {
                    for i in 0..<3 { target[o] += a[o][i] * v[i] + b[o][i] * last[i] }
                }
                targets.append(target)
                last = v
            }
            return (inputs, previous, targets)
        }
        let training = run(3000)
        esn.learn(
            inputs: training.inputs, previousStates: training.previous, targets: training.targets, generator: &draws)
        let test = run(500)
        var error: Float = 0
        var energy: Float = 0
        for index in test.inputs.indices {
            let prediction = esn.predict(input: test.inputs[index], previous: test.previous[index])
            for o in 0..<2 {
                error += (prediction[o] - test.targets[index][o]) * (prediction[o] - test.targets[index][o])
                energy += test.targets[index][o] * test.targets[index][o]
            }
        }
        #expect(error / energy < 0.01, "relative squared error \(error / energy)")
    }

    @Test func syntheticBudgetFollowsEquationEighteen() {
        let config = TrainingConfig()
        // τ_e = ⌊τ0 K Λ^⌊e/Ē⌋⌋ with τ0 = 0.8, Λ = 0.8, Ē = 10.
        #expect(config.syntheticBudget(episode: 0, blocks: 420) == 336)
        #expect(config.syntheticBudget(episode: 9, blocks: 420) == 336)
        #expect(config.syntheticBudget(episode: 10, blocks: 420) == 268)
        #expect(config.syntheticBudget(episode: 25, blocks: 420) == 215)
    }
}

@Suite(.serialized) struct TrainingSessionTests {
    static func scenario() -> Scenario {
        var scenario = Scenario()
        scenario.nodes = 3
        scenario.users = 6
        scenario.antennas = 4
        scenario.capacityBytes = [6e8]
        scenario.qosBps = [5e8, 1e9]
        return scenario
    }

    static func manifest() throws -> String {
        // Blocks in this order: a 300 MB, b 200 MB, c 200 MB, d 100 MB.
        try Fixtures.writeManifest(
            to: Samples.temporaryDirectory() + "/tiny.json",
            blocks: [("a", 300_000_000), ("b", 200_000_000), ("c", 200_000_000), ("d", 100_000_000)],
            models: [("m0", "f", ["a", "b"]), ("m1", "f", ["a", "c"]), ("m2", "g", ["d"])])
    }

    static func config(_ variant: Variant, episodes: Int) -> TrainingConfig {
        var config = TrainingConfig.defaults(for: variant)
        config.episodes = episodes
        config.evaluateEvery = 1
        config.batchSize = 8
        config.updatesPerEpisode = 3
        config.hidden = 8
        config.embedding = 4
        config.mixerHidden = 4
        config.reservoir = 16
        return config
    }

    /// Training 4 episodes straight and training 2, saving, loading in a new session and training 2 more give the
    /// same curve and the same networks, bit for bit.
    @Test(arguments: [Variant.maasnDA, .qmixDA, .rnnDA])
    func resumingGivesTheSameRunAsNotStopping(variant: Variant) throws {
        let manifest = try Self.manifest()
        let straight = try TrainingSession.start(
            manifest: manifest, scenario: Self.scenario(), config: Self.config(variant, episodes: 4), seed: 3,
            directory: Samples.temporaryDirectory() + "/straight")
        for _ in 0..<4 { straight.trainer.trainEpisode() }
        let directory = Samples.temporaryDirectory() + "/resumed"
        let first = try TrainingSession.start(
            manifest: manifest, scenario: Self.scenario(), config: Self.config(variant, episodes: 4), seed: 3,
            directory: directory)
        for _ in 0..<2 { first.trainer.trainEpisode() }
        try first.save()
        let second = try TrainingSession.start(
            manifest: manifest, scenario: Self.scenario(), config: Self.config(variant, episodes: 4), seed: 3,
            directory: directory)
        #expect(second.trainer.curve.count == 2)
        for _ in 0..<2 { second.trainer.trainEpisode() }
        #expect(second.trainer.curve.map(\.episodeReturn) == straight.trainer.curve.map(\.episodeReturn))
        #expect(
            second.trainer.best?.cost == straight.trainer.best?.cost
                && second.trainer.best?.episode == straight.trainer.best?.episode)
        #expect(zip(second.trainer.allParameters, straight.trainer.allParameters).allSatisfy { $0.value == $1.value })
    }

    @Test func aSavedPolicyPlansExactlyAsTheTrainerDecides() throws {
        let manifest = try Self.manifest()
        let directory = Samples.temporaryDirectory() + "/policy"
        var settings = Self.config(.maasnDA, episodes: 3)
        settings.observeDemand = true  // the planner must rebuild the same observation
        let session = try TrainingSession.start(
            manifest: manifest, scenario: Self.scenario(), config: settings, seed: 5, directory: directory)
        for _ in 0..<3 { session.trainer.trainEpisode() }
        try session.save()
        // `plan` runs the kept best greedy policy.
        #expect(session.trainer.best != nil)
        session.trainer.useBestPolicy()
        let direct = session.trainer.greedyEpisode()
        let report = try TrainedPolicy.plan(directory: directory, manifest: manifest)
        #expect(report.plan == direct.plan)
        #expect(report.schemeName == "maasn-da" && report.seed == 5)
        // The plan is evaluated like any scheme's, and the JSON says so.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(report.jsonText.utf8)) as? [String: Any])
        #expect(json["scheme"] as? String == "maasn-da" && (json["blocks"] as? [Any])?.count == 4)
    }

    @Test func aDirectoryFromOtherSettingsIsRefused() throws {
        let manifest = try Self.manifest()
        let directory = Samples.temporaryDirectory() + "/policy"
        let session = try TrainingSession.start(
            manifest: manifest, scenario: Self.scenario(), config: Self.config(.maasnDA, episodes: 1), seed: 5,
            directory: directory)
        session.trainer.trainEpisode()
        try session.save()
        let otherVariant = #expect(throws: TrainingError.self) {
            try TrainingSession.start(
                manifest: manifest, scenario: Self.scenario(), config: Self.config(.noAS, episodes: 1), seed: 5,
                directory: directory)
        }
        #expect(otherVariant?.code == .settingsMismatch)
        let otherSeed = #expect(throws: TrainingError.self) {
            try TrainingSession.start(
                manifest: manifest, scenario: Self.scenario(), config: Self.config(.maasnDA, episodes: 1), seed: 6,
                directory: directory)
        }
        #expect(otherSeed?.code == .settingsMismatch)
    }
}

@Suite struct ConvergenceBoundTests {
    @Test func boundByHandAtOnePoint() throws {
        let bound = ConvergenceBound()
        // K' = K(1 + τ0 − τ0/ξ · (ψ_out ψ_in √2 (1 − ψ_re^K)/(1 − ψ_re) + √2)) at τ0 = 0.8, ξ = 1.12, K = 450.
        let spread = 0.25 * 2.0.squareRoot() * 2 + 2.0.squareRoot()
        let kPrime = 450 * (1 + 0.8 - 0.8 / 1.12 * spread)
        #expect(abs(bound.samplesPerEpisode(tau0: 0.8, xi: 1.12) - kPrime) < 1e-9)
        let v = 20.0
        let nu =
            4 * pow(20 - 4.62, 2) + (8 * (2 * kPrime).squareRoot() + 256 / v) * v * v * log(201) / kPrime
            + (4 * (2 * kPrime).squareRoot() + 52) * v * v * 0.1
        let expected = 4 * pow(0.95, 601) / 0.0025 + 2 * 0.95 / 0.0025 * nu.squareRoot() + 1.12 * (1 + 0.95 * 10 * 0.5)
        #expect(abs(try #require(bound.value(tau0: 0.8, xi: 1.12)) - expected) < 1e-6 * expected)
        // Where K' ≤ 0 the bound is undefined.
        #expect(bound.value(tau0: 1, xi: 0.5) == nil)
        let best = try #require(bound.gridSearch().best)
        #expect(bound.gridSearch().grid.allSatisfy { $0.bound >= best.bound })
    }
}

@Suite struct LearningCurveTests {
    @Test func meanAndDeviationOverRunsAfterSmoothing() {
        let curves = LearningCurves(runs: [("a", [[1, 3, 5], [3, 5, 7]]), ("b", [[10, 10]])])
        let summary = curves.summary(window: 2)
        // Smoothed: run 1 → 1, 2, 4; run 2 → 3, 4, 6. Mean 2, 3, 5; sample deviation √((1² + 1²) / (2 − 1)) = √2.
        let root2 = Double(2).squareRoot()
        #expect(summary[0].mean == [2, 3, 5] && summary[0].deviation == [root2, root2, root2])
        #expect(summary[1].mean == [10, 10] && summary[1].deviation == [0, 0])
        let svg = curves.svg(title: "t", window: 2)
        #expect(
            svg.contains("polygon") && svg.contains(">a (n = 2, ± 1 sample std)<")
                && svg.contains(">b (n = 1, ± 1 sample std)<"))
    }
}

@Suite struct TrainingConfigTests {
    @Test func overridesReplaceFieldsAndBadValuesAreRefused() throws {
        let changed = try TrainingConfig().applying(overrides: Data(#"{"gamma": 0.99, "batchSize": 16}"#.utf8))
        #expect(changed.gamma == 0.99 && changed.batchSize == 16 && changed.episodes == 600)
        let options = try TrainingConfig().applying(
            overrides: Data(
                #"{"stepOrder": "requested-first", "dropRedundantTransfers": true, "delayWeight": 100, "migrationPrior": -3}"#
                    .utf8))
        #expect(
            options.stepOrder == .requestedFirst && options.dropRedundantTransfers && options.delayWeight == 100
                && options.migrationPrior == -3)
        for bad in [
            #"{"gama": 0.9}"#, #"{"batchSize": 0}"#, #"{"replayCapacity": 10, "batchSize": 64}"#,
            #"{"temperature": 0}"#, #"[1]"#,
            #"{"delayWeight": 0}"#, #"{"stepOrder": "sideways"}"#,
        ] {
            let error = #expect(throws: TrainingError.self, "\(bad)") {
                try TrainingConfig().applying(overrides: Data(bad.utf8))
            }
            #expect(error?.code == .invalidConfig, "\(bad)")
        }
    }
}

@Suite struct MultiStepTests {
    @Test func nStepReturnsByHand() {
        func tuple(_ k: Int, done: Bool = false) -> Experience {
            Experience(
                state: [Float(k)], actions: [], reward: Float(k + 1), nextState: [Float(k + 1)], done: done,
                discount: 0.5,
                allowed: [1], nextAllowed: [Float(k + 1)], previousReservoir: nil)
        }
        let steps = (0..<4).map { tuple($0, done: $0 == 3) }
        let two = MAASNTrainer.multiStep(steps, steps: 2, gamma: 0.5)
        // k = 0: 1 + 0.5·2 = 2, bootstrapped from s(2) with 0.25; k = 3: the last step alone, done.
        #expect(two[0].reward == 2 && two[0].nextState == [2] && two[0].discount == 0.25 && !two[0].done)
        #expect(two[2].reward == 3 + 0.5 * 4 && two[2].done && two[2].nextAllowed == [4])
        #expect(two[3].reward == 4 && two[3].done)
        #expect(MAASNTrainer.multiStep(steps, steps: 1, gamma: 0.5).map(\.reward) == steps.map(\.reward))
    }
}

@Suite struct SavedConfigTests {
    @Test func aConfigurationSavedBeforeAFieldExistedLoadsWithItsDefault() throws {
        var saved = try JSONSerialization.jsonObject(with: JSONEncoder().encode(TrainingConfig())) as! [String: Any]
        saved["gamma"] = 0.9
        saved.removeValue(forKey: "nStep")
        let loaded = try JSONDecoder().decode(TrainingConfig.self, from: JSONSerialization.data(withJSONObject: saved))
        #expect(loaded.gamma == 0.9 && loaded.nStep == 1)
    }
}

/// A tiny network whose optimum the simulator finds by exhaustive search (`exact`): the policy MAASN-DA keeps must
/// beat the heuristic there, and on one of the seeds it reaches the optimum itself.
@Suite(.tags(.slow)) struct TinyScenarioLearningTests {
    @Test func theKeptPolicyBeatsTheHeuristicAndCanReachTheOptimum() throws {
        let directory = Samples.temporaryDirectory()
        let manifest = try Fixtures.writeTinyManifest(to: directory + "/tiny.json")
        var scenario = Scenario()
        scenario.nodes = 2
        scenario.users = 4
        scenario.antennas = 4
        scenario.capacityBytes = [5e8]
        scenario.qosBps = [5e8, 1e9]
        var config = TrainingConfig()
        config.episodes = 250
        config.hidden = 32
        config.embedding = 8
        config.mixerHidden = 16
        config.reservoir = 32
        config.batchSize = 32
        config.updatesPerEpisode = 10
        let repository = try ModelCatalog.load(manifest: manifest)
        var reachedOptimum = false
        for seed in [UInt64(2), 3] {
            let session = try TrainingSession.start(
                manifest: manifest, scenario: scenario, config: config, seed: seed,
                directory: directory + "/policy-\(seed)")
            while session.trainer.curve.count < config.episodes { session.trainer.trainEpisode() }
            let learned = try #require(session.trainer.best).cost
            let cost = { (scheme: any CachingScheme) in
                try SimulationReport.run(scheme: scheme, scenario: scenario, repository: repository, seed: seed).outcome
                    .cost(r1: scenario.r1, r2: scenario.r2)
            }
            let (heuristic, optimum) = (try cost(DemandHeuristic()), try cost(ExhaustiveSearch()))
            #expect(learned < heuristic, "seed \(seed): learned \(learned), heuristic \(heuristic)")
            #expect(learned >= optimum * (1 - 1e-9), "seed \(seed): below the exhaustive optimum \(optimum)?")
            if abs(learned - optimum) <= 1e-9 * optimum { reachedOptimum = true }
        }
        #expect(reachedOptimum, "the kept policy reached the exhaustive optimum on no seed")
    }
}

/// A learner in a sweep trains on each point's own network (the swept value applied, the row's seed) and its row is
/// the kept policy's plan as the simulator evaluates it.
@Suite struct LearnedSweepTests {
    @Test func aLearnerTrainsOnEveryPointAndSeed() throws {
        let repository = try ModelCatalog.load(manifest: try TrainingSessionTests.manifest())
        let config = TrainingSessionTests.config(.maasnDA, episodes: 3)
        let scenario = TrainingSessionTests.scenario()
        let sweep = try Sweep.run(
            repository: repository, scenario: scenario, parameter: .capacity, values: [3e8, 6e8],
            schemes: [TrimCaching(), LearnedScheme(config: config)], seeds: 2)
        #expect(
            sweep.rows.map(\.scheme) == ["trimcaching", "trimcaching", "maasn-da", "maasn-da"] + [
                "trimcaching", "trimcaching", "maasn-da", "maasn-da",
            ])
        for row in sweep.rows where row.scheme == "maasn-da" {
            var parameters = scenario
            parameters.capacityBytes = [row.value]
            let network = EdgeNetwork(scenario: parameters, repository: repository, seed: row.seed)
            let trainer = MAASNTrainer(network: network, config: config, seed: row.seed)
            for _ in 0..<config.episodes { trainer.trainEpisode() }
            trainer.useBestPolicy()
            let plan = trainer.greedyEpisode().plan
            #expect(plan.violation(scenario: parameters, repository: repository) == nil)
            #expect(
                row.totalDelaySeconds == Simulator(network: network).outcome(of: plan).totalDelaySeconds,
                "capacity \(row.value), seed \(row.seed)")
            #expect(row.cost == (try #require(trainer.best)).cost, "the row is the kept policy's plan")
        }
    }
}

@Suite struct MigrationPriorTests {
    /// The prior shifts every migration logit: far below zero an untrained policy migrates nothing, far above it
    /// every caching agent sends the PB to every other node.
    @Test func thePriorDecidesAnUntrainedPolicysMigrations() throws {
        let network = EdgeNetwork(
            scenario: TrainingSessionTests.scenario(),
            repository: try ModelCatalog.load(manifest: try TrainingSessionTests.manifest()), seed: 4)
        for prior: Float in [-100, 100] {
            var config = TrainingSessionTests.config(.maasnDA, episodes: 1)
            config.migrationPrior = prior
            let plan = MAASNTrainer(network: network, config: config, seed: 4).greedyEpisode().plan
            #expect(
                plan.cached.joined().contains(true), "the untrained policy caches nothing: the test would check nothing"
            )
            for k in 0..<network.repository.blockCount {
                let holders = (0..<3).filter { plan.cached[$0][k] }
                let expected = prior < 0 ? 0 : holders.count * 2
                #expect(
                    plan.migrations[k].count == expected,
                    "prior \(prior), PB \(k): holders \(holders), \(plan.migrations[k])")
            }
        }
    }
}
