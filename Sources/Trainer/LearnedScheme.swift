import EdgeSim

extension SweepScheme {
    /// A learner as a sweep scheme: on each network it trains `config.episodes` episodes with the network's seed,
    /// then runs the kept (cheapest greedy) policy and evaluates its plan like any scheme's. Named by the variant.
    public static func learned(_ config: TrainingConfig) -> SweepScheme {
        SweepScheme(name: config.variant.rawValue, isSlow: true) { network in
            let trainer = MAASNTrainer(network: network, config: config, seed: network.seed)
            while trainer.curve.count < config.episodes { trainer.trainEpisode() }
            trainer.useBestPolicy()
            return try SimulationReport.evaluate(
                plan: trainer.greedyEpisode().plan, schemeName: config.variant.rawValue, network: network, seed: network.seed)
        }
    }
}
