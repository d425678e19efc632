import ArgumentParser

@main
struct PBRepo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pbrepo",
        abstract: "A repository of AI model checkpoints, deduplicated by parameter block.",
        version: "0.1.0",
        subcommands: [
            Inspect.self, PartitionCommand.self, IngestCommand.self, ListCommand.self, ShowCommand.self, ReportCommand.self,
            ExportManifestCommand.self, ExportBlocksCommand.self, AssembleCommand.self, VerifyCommand.self,
            CollectGarbageCommand.self, RemoveCommand.self, Bench.self, CheckHDF5.self,
        ]
    )
}
