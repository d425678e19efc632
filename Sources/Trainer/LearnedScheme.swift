package import EdgeSim

/// A learner as a caching scheme: on each network it trains `config.episodes` episodes with the network's seed,
/// then runs the kept (cheapest greedy) policy and evaluates its plan like any scheme's. Named by the variant.
package struct LearnedScheme: CachingScheme {
    package var config: TrainingConfig

    package init(config: TrainingConfig) { self.config = config }

    package var name: String { config.variant.rawValue }
    package var isSlow: Bool { true }

    package func report(on network: EdgeNetwork) throws -> SimulationReport {
        let trainer = MAASNTrainer(network: network, config: config, seed: network.seed)
        while trainer.curve.count < config.episodes { trainer.trainEpisode() }
        trainer.useBestPolicy()
        return try SimulationReport.evaluate(
            plan: trainer.greedyEpisode().plan, schemeName: name, network: network, seed: network.seed)
    }
}
