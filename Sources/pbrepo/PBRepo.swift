import ArgumentParser

@main
struct PBRepo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pbrepo",
        abstract: "A repository of AI model checkpoints, deduplicated by parameter block.",
        version: "0.1.0",
        subcommands: [Inspect.self, PartitionCommand.self, Bench.self, CheckHDF5.self]
    )
}
