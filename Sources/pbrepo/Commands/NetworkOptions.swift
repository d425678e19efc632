import ArgumentParser
import EdgeSim

/// `--manifest FILE` and `--scenario FILE`, shared by the commands that build edge networks.
struct NetworkOptions: ParsableArguments {
    @Option(help: "A pbrepo.manifest/v1 file (PB sizes and model compositions).") var manifest: String
    @Option(help: "Scenario file (JSON); defaults are Table II of the paper (docs/simulator.md).") var scenario: String?

    /// The scenario file's, else Table II's.
    func loadScenario() throws -> Scenario { try scenario.map { try Scenario.load($0) } ?? Scenario() }

    /// The manifest's model catalog.
    func loadCatalog() throws -> ModelCatalog { try ModelCatalog.load(manifest: manifest) }
}
