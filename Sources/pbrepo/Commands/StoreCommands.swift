import ArgumentParser
import BlockStore
import Foundation
import ManifestSynthesis
import PBManifest
import PBRCore
import ParameterBlocks

/// `--store DIR`, shared by every command that uses the store.
struct StoreOptions: ParsableArguments {
    @Option(
        help: "The store directory (default: $PBREPO_STORE, else $XDG_DATA_HOME/pbrepo, else ~/.local/share/pbrepo).")
    var store: String?

    /// Opens the store for a command that writes it (`create`: make it when it does not exist).
    func open(create: Bool = false) throws -> Store {
        // `PBREPO_CHUNK_BYTES` is for tests, which make chunked objects from small models with it.
        let chunkBytes = ProcessInfo.processInfo.environment["PBREPO_CHUNK_BYTES"].flatMap { Int($0) }
        return try Console.run {
            try Store(root: Store.location(explicit: store), create: create, chunkBytes: chunkBytes)
        }
    }

    /// Opens the store for a command that only reads it: it works on read-only media and other users' stores.
    func openForReading() throws -> Store {
        try Console.run { try Store(root: Store.location(explicit: store), create: false, readOnly: true) }
    }
}

struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Add checkpoints to the store, each distinct tensor once, compressed.",
        discussion: """
            Each PATH (a file, a sharded checkpoint's directory or index, a model folder with all its sub-folders) \
            becomes one model. The name defaults to the file name without .safetensors (for model.safetensors: its \
            folder's name) or the folder's name, the family to the name of the folder holding it, the base to the \
            family's first model. Ingesting the same files again changes nothing.

            Every PATH is checked (files, links, headers, names) before anything is stored: one bad PATH stores \
            nothing, unless --keep-going, which stores the others and ends with a summary. The exit status is 1 \
            when any PATH failed.

            A Hugging Face hub cache folder (models--ORG--NAME, or one of its snapshots) is the model ORG/NAME at \
            the revision refs/main names (others are ORG/NAME@REF), with its revision and commit recorded; its \
            family is the base_model its model card names, else its own repo id.

            Example: pbrepo ingest ~/models/llama-base ~/models/llama-ft-* --keep-going
            Example: pbrepo ingest --hf-cache meta-llama/Llama-3.2-1B --all-revisions
            """
    )

    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "Checkpoint files or model folders.") var paths: [String]
    @Option(help: "Model name (only with one PATH).") var name: String?
    @Option(help: "Family name.") var family: String?
    @Option(help: "Base model for delta compression (default: the family's first model).") var base: String?
    @Option(help: "Partition rules file (JSON).") var rules: String?
    @Option(
        help:
            "zstd level of the objects (1 is fastest; on byte-grouped floats it also compressed best in our measurements)."
    ) var level: Int = 1
    @Flag(help: "Store every PATH that is valid even when others are not, and report the others at the end.")
    var keepGoing = false
    @Flag(
        help: """
            PATHs are Hugging Face repo ids (org/name) in the local hub cache ($HF_HUB_CACHE, else $HF_HOME/hub, else \
            ~/.cache/huggingface/hub).
            """)
    var hfCache = false
    @Flag(help: "For a hub cache repository, ingest every cached revision, not only the one refs/main names.")
    var allRevisions = false
    @Flag(help: "Print JSON: one object per PATH, with its error when it failed.") var json = false

    func validate() throws {
        if name != nil && paths.count > 1 {
            throw ValidationError("--name names one model, and \(paths.count) PATHs were given: ingest them one by one")
        }
        if !(1...19).contains(level) { throw ValidationError("--level must be in 1...19") }
        if name != nil && allRevisions {
            throw ValidationError("--name names one model; --all-revisions makes several")
        }
    }

    /// The PATHs as folders to ingest: repo ids looked up in the hub cache, repositories expanded to their
    /// snapshots; a PATH that names nothing is an outcome of its own.
    func targets() -> (paths: [String], failed: [String: Outcome]) {
        var result: [String] = []
        var failed: [String: Outcome] = [:]
        for path in paths {
            var folder = path
            if hfCache {
                folder = HuggingFaceRepository.folder(of: path)
                guard FileSystem.isDirectory(folder) else {
                    result.append(path)
                    failed[path] = .failed(
                        "\(path) is not in the Hugging Face hub cache (no \(folder)); hf download \(path) fetches it")
                    continue
                }
            }
            if allRevisions, let (repository, commit) = HuggingFaceRepository.locate(folder), commit == nil {
                result += repository.snapshots.map { repository.folder + "/snapshots/" + $0 }
            } else {
                result.append(folder)
            }
        }
        return (result, failed)
    }

    /// One PATH's outcome.
    enum Outcome {
        case ingested(IngestResult)
        case failed(String)
    }

    func run() throws {
        let parsedRules = try Console.run { try rules.map { (path) throws in try PartitionRules.load(path) } }
        // Every PATH is checked before anything is stored.
        var sources: [String: ModelSource] = [:]
        var (paths, outcomes) = targets()
        if !keepGoing && !json {
            for case .failed(let message) in outcomes.values { Console.error(message) }
        }
        var seen = Set<String>()
        paths = paths.filter { seen.insert($0).inserted }
        var owner: [String: String] = [:]
        for path in paths where sources[path] == nil && outcomes[path] == nil {
            do {
                let source = try ModelSource.find(path)
                for file in source.hdf5Files { try HDF5Isolation.check(file) }
                _ = try source.open()
                let model = name ?? source.defaultName
                if let other = owner.updateValue(path, forKey: model) {
                    throw StoreError(
                        .conflict, "\(path) and \(other) would both be the model \"\(model)\"; ingest one with --name")
                }
                sources[path] = source
            } catch {
                outcomes[path] = .failed(String(describing: error))
                if !keepGoing && !json { Console.error(String(describing: error)) }
            }
        }
        let invalid = paths.filter { outcomes[$0] != nil }
        if !invalid.isEmpty && !keepGoing {
            if json { printJSON(outcomes, paths: paths) }
            if !json && paths.count > 1 {
                Console.note("nothing stored: \(invalid.count) of \(paths.count) PATHs are not valid")
            }
            throw ExitCode.failure
        }
        let store = try storeOptions.open(create: true)
        let valid = paths.filter { sources[$0] != nil }
        for (number, path) in valid.enumerated() {
            guard let source = sources[path], outcomes[path] == nil else { continue }
            let label = valid.count > 1 ? "ingest \(number + 1)/\(valid.count) \(path)" : "ingest \(path)"
            let progress = ProgressBar(label: label)
            do {
                let result = try store.ingest(
                    source, from: path,
                    options: IngestOptions(name: name, family: family, base: base, rules: parsedRules, level: level)
                ) { progress.update(done: $0, total: $1) }
                progress.finish()
                outcomes[path] = .ingested(result)
                if !result.skipped.isEmpty {
                    Console.note(
                        "left out of \(result.model): \(result.skipped.joined(separator: ", ")) (version-control and download-cache folders)"
                    )
                }
                if !json { print(Self.summary(of: result)) }
            } catch {
                progress.finish()
                outcomes[path] = .failed(String(describing: error))
                if !json { Console.error(String(describing: error)) }
                if !keepGoing {
                    if json { printJSON(outcomes, paths: paths) }
                    throw ExitCode.failure
                }
            }
        }
        if json { printJSON(outcomes, paths: paths) }
        let failed = paths.filter { if case .failed = outcomes[$0] { return true } else { return false } }
        if paths.count > 1 && !json {
            let added = outcomes.values.filter {
                if case .ingested(let r) = $0 { return r.status == .added } else { return false }
            }.count
            var line =
                "\(added) added, \(paths.count - added - failed.count) already stored or repaired, \(failed.count) failed"
            if !failed.isEmpty { line += ": " + failed.joined(separator: ", ") }
            print(line)
        }
        if !failed.isEmpty { throw ExitCode.failure }
    }

    static func summary(of result: IngestResult) -> String {
        let share = result.tensorBytes == 0 ? 0 : Double(result.reusedBytes) / Double(result.tensorBytes)
        let tensors = "\(result.tensors) tensors, \(result.blocks) blocks, \(formatBytes(result.tensorBytes))"
        return "\(result.status.rawValue) \(result.model) (\(result.family)): \(tensors)"
            + " (\(percent(share)) of the bytes already stored); wrote \(result.newObjects) objects, "
            + "\(formatBytes(result.newObjectBytes)) → \(formatBytes(result.newStoredBytes))"
            + (result.repairedObjects > 0 ? " (\(result.repairedObjects) damaged objects rewritten)" : "")
    }

    func printJSON(_ outcomes: [String: Outcome], paths: [String]) {
        print(
            JSONValue.array(
                paths.compactMap { path -> JSONValue? in
                    switch outcomes[path] {
                    case .ingested(let result):
                        return .object(
                            [
                                ("path", .string(path)),
                                ("model", .string(result.model)), ("family", .string(result.family)),
                                ("status", .string(result.status.rawValue)), ("tensors", .number(result.tensors)),
                                ("bytes", .number(result.tensorBytes)), ("blocks", .number(result.blocks)),
                                ("reused_blocks", .number(result.reusedBlocks)),
                                ("reused_bytes", .number(result.reusedBytes)),
                                ("new_objects", .number(result.newObjects)),
                                ("new_object_bytes", .number(result.newObjectBytes)),
                                ("new_stored_bytes", .number(result.newStoredBytes)),
                                ("repaired_objects", .number(result.repairedObjects)),
                                ("files", .number(result.files)), ("checkpoints", .number(result.checkpoints)),
                                ("skipped", .array(result.skipped.map(JSONValue.string))),
                            ] + resourceMembers(result.stages))
                    case .failed(let message):
                        return .object([
                            ("path", .string(path)), ("status", .string("failed")), ("error", .string(message)),
                        ])
                    case nil:
                        return .object([("path", .string(path)), ("status", .string("not attempted"))])
                    }
                }
            ).prettyPrinted())
    }
}

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the models in the store.",
        discussion: """
            Models are grouped by organisation (the org of an org/name repo id), then by family. base is the model \
            its deltas are taken against; bytes are the model's tensors, stored the object files it needs on disk \
            (shared ones included; pbrepo du shows what only it holds).

            Example: pbrepo list --store /data/pbrepo
            """)
    @OptionGroup var storeOptions: StoreOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        // A new user's first `pbrepo list`: no store yet is an empty list, not an error.
        let root = Store.location(explicit: storeOptions.store)
        let exists = FileSystem.isRegularFile(root + "/index.sqlite3")
        if !exists { Console.note("no store at \(root) yet; pbrepo ingest creates it") }
        let (listed, usage) =
            exists
            ? try Console.run { () throws -> ([ModelSummary], [ModelUsage]) in
                let store = try storeOptions.openForReading()
                return (try store.list(), try store.usage())
            } : ([], [])
        let stored = Dictionary(uniqueKeysWithValues: usage.map { ($0.model, $0.storedBytes) })
        let names = Set(listed.map(\.name))
        let models = listed.sorted {
            (ModelName.organisation(of: $0.name) ?? "", $0.family, $0.name)
                < (ModelName.organisation(of: $1.name) ?? "", $1.family, $1.name)
        }
        if json {
            print(
                JSONValue.array(
                    models.map { model in
                        .object([
                            ("name", .string(model.name)),
                            ("org", ModelName.organisation(of: model.name).map(JSONValue.string) ?? .null),
                            ("family", .string(model.family)),
                            ("base", model.baseModel.map(JSONValue.string) ?? .null),
                            ("base_removed", .bool(model.baseModel.map { !names.contains($0) } ?? false)),
                            ("format", .string(model.format)), ("bytes", .number(model.bytes)),
                            ("stored_bytes", .number(stored[model.name] ?? 0)), ("blocks", .number(model.blocks)),
                            ("tensors", .number(model.tensors)), ("ingested_at", .string(model.ingestedAt)),
                        ])
                    }
                ).prettyPrinted())
            return
        }
        var table = TextTable(
            headers: ["model", "family", "base", "format", "blocks", "bytes", "stored", "ingested"],
            rightAligned: [4, 5, 6])
        var organisation: String??
        for model in models {
            let org = ModelName.organisation(of: model.name)
            if let organisation, organisation != org { table.rows.append(Array(repeating: "", count: 8)) }
            organisation = org
            let base = model.baseModel.map { names.contains($0) ? $0 : $0 + " (removed; blocks kept)" } ?? "-"
            table.rows.append([
                model.name, model.family, base, model.format, String(model.blocks), formatBytes(model.bytes),
                formatBytes(stored[model.name] ?? 0), String(model.ingestedAt.prefix(10)),
            ])
        }
        print(table.render())
        print("\n\(models.count) models")
    }
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show a model: its family, base, source and totals, then its blocks and which models share each.",
        discussion: """
            --json prints {model, family, base, format, source, files, bytes, stored_bytes, unique_bytes, \
            provenance, blocks: [{position, name, kind, digest, bytes, stored_bytes, tensors, shared_with}]}.

            Example: pbrepo show meta-llama/Llama-3.2-1B
            """)
    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "Model name.") var model: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let (blocks, summary, recipe, usage, source) = try Console.run {
            () throws -> ([ModelBlockEntry], ModelSummary?, Recipe, ModelUsage?, String?) in
            let store = try storeOptions.openForReading()
            let blocks = try store.show(model)
            return (
                blocks, try store.list().first { $0.name == model }, try store.recipe(of: model),
                try store.usage().first { $0.model == model }, try store.sourcePath(of: model)
            )
        }
        let provenance = recipe.provenance
        if json {
            var members: [(String, JSONValue)] = [
                ("model", .string(model)), ("family", .string(summary?.family ?? "")),
                ("base", summary?.baseModel.map(JSONValue.string) ?? .null),
                ("format", .string(summary?.format ?? "")), ("source", source.map(JSONValue.string) ?? .null),
                ("files", .number(recipe.files.count)), ("bytes", .number(summary?.bytes ?? 0)),
                ("stored_bytes", .number(usage?.storedBytes ?? 0)), ("unique_bytes", .number(usage?.uniqueBytes ?? 0)),
            ]
            let origin: [(String, String?)] = [
                ("hub", provenance?.hub), ("repo", provenance?.repo), ("revision", provenance?.revision),
                ("commit", provenance?.commit), ("parent", provenance?.parent),
            ]
            members.append(
                ("provenance", .object(origin.compactMap { key, value in value.map { (key, JSONValue.string($0)) } })))
            members.append(
                (
                    "blocks",
                    .array(
                        blocks.map { block in
                            .object([
                                ("position", .number(block.position)), ("name", .string(block.name)),
                                ("kind", .string(block.kind)), ("digest", .string(block.digest)),
                                ("bytes", .number(block.bytes)),
                                ("stored_bytes", .number(block.storedBytes)), ("tensors", .number(block.tensors)),
                                ("shared_with", .array(block.sharedWith.map(JSONValue.string))),
                            ])
                        })
                ))
            print(JSONValue.object(members).prettyPrinted())
            return
        }
        print("model   \(model)")
        if let summary {
            let base = summary.baseModel ?? "none (it is a base)"
            print("family  \(summary.family); delta base: \(base)")
            print("format  \(summary.format), \(recipe.files.count) file(s), ingested \(summary.ingestedAt)")
        }
        if let source { print("source  \(source)") }
        if let provenance, provenance.repo != nil || provenance.parent != nil {
            var parts: [String] = []
            if let repo = provenance.repo { parts.append("\(provenance.hub ?? "hub") \(repo)") }
            if let revision = provenance.revision { parts.append("revision \(revision)") }
            if let commit = provenance.commit { parts.append("commit \(commit)") }
            if let parent = provenance.parent { parts.append("made from \(parent)") }
            print("origin  " + parts.joined(separator: ", "))
        }
        if let summary, let usage {
            print(
                "totals  \(summary.tensors) tensors in \(blocks.count) blocks, \(formatBytes(summary.bytes)); stored "
                    + "\(formatBytes(usage.storedBytes)), of which \(formatBytes(usage.uniqueBytes)) only this model needs"
            )
        }
        print("")
        var table = TextTable(
            headers: ["#", "block", "kind", "bytes", "stored", "shared with"], rightAligned: [0, 3, 4])
        for block in blocks {
            let shared = block.sharedWith.isEmpty ? "-" : block.sharedWith.joined(separator: ", ")
            table.rows.append([
                String(block.position), block.name, block.kind, String(block.bytes), String(block.storedBytes), shared,
            ])
        }
        print(table.render())
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Parameter reuse, deduplication and compression across the store (docs/blocks.md).",
        discussion: "Example: pbrepo report --store /data/pbrepo --csv > reuse.csv")
    @OptionGroup var storeOptions: StoreOptions
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Print the per-model table as CSV.") var csv = false

    func validate() throws {
        if json && csv { throw ValidationError("choose one of --json and --csv") }
    }

    func run() throws {
        let report = try Console.run { try storeOptions.openForReading().reuseReport() }
        if json { return print(report.json.prettyPrinted()) }
        if csv { return print(report.csv, terminator: "") }
        var table = TextTable(
            headers: ["model", "family", "bytes", "blocks", "reused blocks", "reused tensors", "reuse"],
            rightAligned: [2, 3, 4, 5, 6])
        for model in report.models {
            table.rows.append([
                model.name, model.family, formatBytes(model.bytes), String(model.blocks),
                formatBytes(model.reusedBlockBytes),
                formatBytes(model.reusedTensorBytes), percent(model.reuseRatio),
            ])
        }
        print(table.render())
        print(
            "\nlogical \(formatBytes(report.logicalBytes)), unique blocks \(formatBytes(report.uniqueBlockBytes)), "
                + "unique tensors \(formatBytes(report.uniqueTensorBytes)), stored \(formatBytes(report.storedBytes)); "
                + "dedup \(ratio(report.dedupRatio))×, compression \(ratio(report.compressionRatio))×, "
                + "overall \(ratio(report.storedBytes == 0 ? 0 : Double(report.logicalBytes) / Double(report.storedBytes)))×"
        )
    }

    private func ratio(_ value: Double) -> String { String(format: "%.2f", value) }
}

struct ExportManifestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-manifest",
        abstract: "Write the pbrepo.manifest/v1 file the caching experiments read (docs/manifest.md).",
        discussion: "Example: pbrepo export-manifest --store /data/pbrepo -o mine.json --csv")
    @OptionGroup var storeOptions: StoreOptions
    @Option(parsing: .upToNextOption, help: "Only these models (default: all).") var models: [String] = []
    @Option(name: .shortAndLong, help: "Output file, e.g. manifests/NAME.json.") var output: String
    @Flag(help: "Also write NAME.blocks.csv and NAME.models.csv next to it, for pandas.") var csv = false

    func run() throws {
        try Console.run {
            let manifest = try storeOptions.openForReading().manifest(models: models.isEmpty ? nil : models)
            try FileSystem.writeAtomically(manifest.text, to: output)
            if csv {
                let stem = output.hasSuffix(".json") ? String(output.dropLast(5)) : output
                try FileSystem.writeAtomically(manifest.blocksCSV, to: stem + ".blocks.csv")
                try FileSystem.writeAtomically(manifest.modelsCSV, to: stem + ".models.csv")
            }
            print("wrote \(output): \(manifest.models.count) models, \(manifest.blocks.count) blocks")
        }
    }
}

struct ExportBlocksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-blocks",
        abstract: "Write what a client downloads for a model: its objects and its recipe.",
        discussion: """
            -o is a directory: objects/ and MODEL.recipe.json (org/name.recipe.json for a repo id) go inside it; \
            several models may share one.

            Example: pbrepo export-blocks llama-ft -o /srv/edge/blocks
            """)
    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "Model name.") var model: String
    @Option(name: .shortAndLong, help: "Output directory (created; may already hold other models' objects).")
    var output: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        Interruption.setUnfinished("export-blocks of \(model) to \(output)")
        let exported = try Console.run { try storeOptions.openForReading().exportBlocks(model, to: output) }
        if json {
            print(
                JSONValue.object(
                    [
                        ("model", .string(model)), ("directory", .string(output)),
                        ("objects", .number(exported.objects)),
                        ("bytes", .number(exported.bytes)),
                    ] + resourceMembers([])
                ).prettyPrinted())
        } else {
            print(
                "wrote \(exported.objects) objects (\(formatBytes(exported.bytes))) and \(model).recipe.json to \(output)"
            )
        }
    }
}

struct AssembleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "assemble",
        abstract: "Rebuild a model, byte for byte, from the store or from a directory of downloaded objects.",
        discussion: """
            Nothing appears at -o until every byte is checked; an existing output is refused unless --force. A model \
            folder is rebuilt as the whole tree it was ingested from.

            Example: pbrepo assemble llama-ft -o ~/models/llama-ft
            Example: pbrepo assemble llama-ft --from /srv/edge/blocks -o ~/models/
            """)
    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "Model name.") var model: String
    @Option(
        name: .shortAndLong,
        help: """
            Output file (single-file models; an existing directory or a path ending in / gets the model's file name \
            inside it) or new directory (sharded / directory models). Parent directories are created.
            """)
    var output: String
    @Flag(help: "Replace an existing output file or directory (refused otherwise).") var force = false
    @Option(help: "A directory written by export-blocks, instead of the store.") var from: String?
    @Flag(help: "Also check each file's SHA-256 (every object and every whole file are always checked with XXH3-128).")
    var sha256 = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        Interruption.setUnfinished("assemble of \(model) to \(output)")
        let progress = ProgressBar(label: "assemble \(model)")
        let options = Assembler.Options(sha256: sha256, overwrite: force)
        let result = try Console.run {
            if let from {
                return try Assembler.assemble(
                    try Assembler.recipe(from: from, model: model), objects: ObjectDirectory(root: from), to: output,
                    options: options
                ) { progress.update(done: $0, total: $1) }
            }
            return try storeOptions.openForReading().assemble(model, to: output, options: options) {
                progress.update(done: $0, total: $1)
            }
        }
        progress.finish()
        if !result.staleTemporariesRemoved.isEmpty {
            Console.note(
                "removed \(result.staleTemporariesRemoved.count) temporary file(s) that interrupted runs left beside "
                    + "the output: \(result.staleTemporariesRemoved.prefix(5).joined(separator: ", "))")
        }
        let checks = result.sha256Verified ? "XXH3-128 and sha256 verified" : "XXH3-128 verified"
        if json {
            print(
                JSONValue.object(
                    [
                        ("model", .string(result.model)), ("output", .string(result.output)),
                        ("files", .number(result.files)),
                        ("bytes", .number(result.bytes)), ("xxh3_verified", .bool(true)),
                        ("sha256_verified", .bool(result.sha256Verified)),
                        ("stale_temporaries_removed", .array(result.staleTemporariesRemoved.map { .string($0) })),
                    ] + resourceMembers(result.stages)
                ).prettyPrinted())
        } else {
            print(
                "assembled \(result.model) → \(result.output): \(result.files) file(s), \(formatBytes(result.bytes)), \(checks)"
            )
        }
    }
}

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every object file, the index, and that every model is complete.",
        discussion: """
            Reads every object file and checks its checksum (which covers every stored byte) and its structure, \
            runs SQLite's integrity check on the index, checks each model's rows against their seal and every \
            object row against its file. --decode also decodes every object and checks its content digest, at \
            decoding speed (assemble does this on every read). With --repair, models that cannot be assembled are \
            ingested again from the files they were ingested from, when those still have the recorded checksums \
            (which writes their damaged and missing objects again), and object rows are rewritten from their files; \
            the store is then verified again.

            Example: pbrepo verify --store /data/pbrepo --repair
            """)
    @OptionGroup var storeOptions: StoreOptions
    @Flag(help: "Heal what can be healed from the models' recorded source files.") var repair = false
    @Flag(help: "Also decode every object and check its content digest (slower).") var decode = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let store = try repair ? storeOptions.open() : storeOptions.openForReading()
        var repaired: RepairResult?
        if repair {
            let progress = ProgressBar(label: "verify --repair")
            repaired = try Console.run {
                try store.repair(decode: decode) { progress.update(done: $0, total: $1) }
            }
            progress.finish()
        }
        let progress = ProgressBar(label: "verify")
        let result = try Console.run { try store.verify(decode: decode) { progress.update(done: $0, total: $1) } }
        progress.finish()
        if json {
            var members: [(String, JSONValue)] =
                [
                    ("objects_checked", .number(result.objectsChecked)),
                    ("models_checked", .number(result.modelsChecked)),
                    ("corrupt", .array(result.corrupt.map(JSONValue.string))),
                    ("missing", .array(result.missing.map(JSONValue.string))),
                    ("incomplete_models", .array(result.incompleteModels.map(JSONValue.string))),
                    ("index_problems", .array(result.indexProblems.map(JSONValue.string))),
                    ("decoded", .bool(decode)),
                    ("ok", .bool(result.isHealthy)),
                ] + resourceMembers([])
            if let repaired {
                members.append(
                    (
                        "repair",
                        .object([
                            ("repaired_models", .array(repaired.repaired.map(JSONValue.string))),
                            (
                                "unrepairable_models",
                                .object(
                                    repaired.unrepairable.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }
                                )
                            ),
                            ("object_rows_refreshed", .number(repaired.rowsRefreshed)),
                        ])
                    ))
            }
            print(JSONValue.object(members).prettyPrinted())
        } else {
            if let repaired {
                for model in repaired.repaired { print("repaired model \(model)") }
                for (model, reason) in repaired.unrepairable.sorted(by: { $0.key < $1.key }) {
                    print("cannot repair model \(model): \(reason.oneLine)")
                }
                if repaired.rowsRefreshed > 0 {
                    print("rewrote \(repaired.rowsRefreshed) object rows from their files")
                }
            }
            print("\(result.objectsChecked) objects, \(result.modelsChecked) models checked")
            for digest in result.corrupt { print("corrupt object \(digest)") }
            for digest in result.missing { print("missing object \(digest)") }
            for problem in result.indexProblems { print("index: \(problem.oneLine)") }
            for model in result.incompleteModels { print("incomplete model \(model)") }
            print(result.isHealthy ? "ok" : "PROBLEMS FOUND")
        }
        if !result.isHealthy { throw ExitCode.failure }
    }
}

struct CollectGarbageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Delete objects no model needs and temporary files of finished processes.",
        discussion: """
            Also removes what killed assembles and exports left beside their outputs. --dry-run says what would go.

            Example: pbrepo gc --store /data/pbrepo --dry-run
            """)
    @OptionGroup var storeOptions: StoreOptions
    @Flag(help: "Say what would be deleted, and delete nothing.") var dryRun = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        if dryRun {
            let freed = try Console.run { try storeOptions.openForReading().reclaimable() }
            if json {
                return print(
                    JSONValue.object([
                        ("dry_run", .bool(true)), ("objects_removed", .number(freed.objects)),
                        ("bytes_freed", .number(freed.bytes)),
                    ]).prettyPrinted())
            }
            return print("would remove \(freed.objects) objects (\(formatBytes(freed.bytes)))")
        }
        let result = try Console.run { try storeOptions.open().collectGarbage() }
        if json {
            return print(
                JSONValue.object([
                    ("objects_removed", .number(result.objectsRemoved)), ("bytes_freed", .number(result.bytesFreed)),
                    ("temporary_files_removed", .number(result.temporaryFilesRemoved)),
                    ("output_temporaries_removed", .array(result.outputTemporariesRemoved.map(JSONValue.string))),
                ]).prettyPrinted())
        }
        print(
            "removed \(result.objectsRemoved) objects (\(formatBytes(result.bytesFreed))) and \(result.temporaryFilesRemoved) temporary files"
        )
        for path in result.outputTemporariesRemoved { print("removed \(path), left by a killed assemble or export") }
    }
}

struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove models from the store (gc then frees their objects).",
        discussion: """
            All the models or none: a name that is not in the store removes nothing. Objects another model still \
            needs (as a block or as the base of its deltas) stay; the line printed says what gc would free.

            Example: pbrepo rm llama-ft-old llama-ft-older --dry-run
            """)
    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "Model names.") var models: [String]
    @Flag(help: "Say what would be removed and freed, and change nothing.") var dryRun = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let freed = try Console.run { () throws -> Reclaimable in
            let store = dryRun ? try storeOptions.openForReading() : try storeOptions.open()
            let freed = try store.reclaimable(removing: models)
            if !dryRun { try store.remove(models) }
            return freed
        }
        if json {
            return print(
                JSONValue.object([
                    ("removed", .array(models.map(JSONValue.string))), ("dry_run", .bool(dryRun)),
                    ("gc_objects", .number(freed.objects)), ("gc_bytes", .number(freed.bytes)),
                ]).prettyPrinted())
        }
        print(
            "\(dryRun ? "would remove" : "removed") \(models.joined(separator: ", ")); gc would then free"
                + " \(freed.objects) objects (\(formatBytes(freed.bytes)))")
    }
}

struct DiskUsageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "du",
        abstract: "Show what each model takes in the store, and what only it holds.",
        discussion: """
            stored: the object files the model needs (with the bases of its deltas); unique: the part no other \
            model needs, which rm and then gc would free. Shared objects count in every model's stored bytes.

            Example: pbrepo du --store /data/pbrepo
            """)
    @OptionGroup var storeOptions: StoreOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let (usage, garbage) = try Console.run { () throws -> ([ModelUsage], Reclaimable) in
            let store = try storeOptions.openForReading()
            return (try store.usage(), try store.reclaimable())
        }
        if json {
            return print(
                JSONValue.object([
                    (
                        "models",
                        .array(
                            usage.map { model in
                                .object([
                                    ("model", .string(model.model)), ("stored_bytes", .number(model.storedBytes)),
                                    ("unique_bytes", .number(model.uniqueBytes)), ("objects", .number(model.objects)),
                                    ("unique_objects", .number(model.uniqueObjects)),
                                ])
                            })
                    ),
                    ("garbage_objects", .number(garbage.objects)), ("garbage_bytes", .number(garbage.bytes)),
                ]).prettyPrinted())
        }
        var table = TextTable(headers: ["model", "objects", "stored", "unique"], rightAligned: [1, 2, 3])
        for model in usage {
            table.rows.append([
                model.model, String(model.objects), formatBytes(model.storedBytes), formatBytes(model.uniqueBytes),
            ])
        }
        print(table.render())
        print("\n\(usage.count) models; gc would free \(garbage.objects) objects (\(formatBytes(garbage.bytes))) now")
    }
}

struct SynthesizeManifestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthesize-manifest",
        abstract:
            "Write a paper-scale manifest derived from architecture tensor tables (\(PaperRepositories.names.joined(separator: ", ")))."
    )
    @Argument(help: "Repository name.") var name: String
    @Option(name: .shortAndLong, help: "Output file.") var output: String

    func run() throws {
        try Console.run {
            let manifest = try PaperRepositories.manifest(named: name)
            try FileSystem.writeAtomically(manifest.text, to: output)
            print("wrote \(output): \(manifest.models.count) models, \(manifest.blocks.count) blocks")
        }
    }
}

struct ScanCacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan-cache",
        abstract: "Say what pbrepo would store for the local Hugging Face hub cache, writing nothing.",
        discussion: """
            Like hf scan-cache, with one more column: the bytes a pbrepo store would take for every cached revision \
            of every repository, after deduplication (across revisions and repositories, in the order listed) and \
            compression. Objects are compressed on their own; a store also takes XOR deltas against a family's base, \
            so it is as small or smaller than said here. Reads every tensor: as long as hashing the cache takes.

            Example: pbrepo scan-cache ~/.cache/huggingface/hub --json
            """)
    @Argument(help: "The hub cache (default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub).")
    var directory: String?
    @Flag(help: "Print JSON.") var json = false

    struct Row {
        var repository: HuggingFaceRepository
        var diskBytes: UInt64
        var added: StorageEstimate.Added
        var failures: [String]
    }

    func run() throws {
        let cache = directory ?? HuggingFaceRepository.cacheDirectory
        let repositories = try Console.run { try HuggingFaceRepository.repositories(in: cache) }
        var estimate = StorageEstimate()
        var rows: [Row] = []
        for (number, repository) in repositories.enumerated() {
            var row = Row(
                repository: repository, diskBytes: repository.diskBytes,
                added: StorageEstimate.Added(), failures: [])
            for commit in repository.snapshots {
                let progress = ProgressBar(label: "scan \(number + 1)/\(repositories.count) \(repository.id)")
                do {
                    let source = try ModelSource.find(repository.folder + "/snapshots/" + commit)
                    for file in source.hdf5Files { try HDF5Isolation.check(file) }
                    let added = try estimate.add(source) { progress.update(done: $0, total: $1) }
                    row.added.fileBytes += added.fileBytes
                    row.added.newRawBytes += added.newRawBytes
                    row.added.newStoredBytes += added.newStoredBytes
                    row.added.newObjects += added.newObjects
                } catch {
                    // A snapshot without checkpoints (a tokenizer-only repo) or with a broken file is reported, not
                    // fatal: the rest of the cache is still estimated.
                    row.failures.append("\(commit.prefix(12)): \(error)")
                }
                progress.finish()
            }
            rows.append(row)
        }
        let disk = rows.reduce(0) { $0 + $1.diskBytes }
        if json {
            return print(
                JSONValue.object([
                    ("cache", .string(cache)),
                    (
                        "repos",
                        .array(
                            rows.map { row in
                                .object([
                                    ("repo", .string(row.repository.id)),
                                    ("revisions", .number(row.repository.snapshots.count)),
                                    ("disk_bytes", .number(row.diskBytes)),
                                    ("file_bytes", .number(row.added.fileBytes)),
                                    ("new_raw_bytes", .number(row.added.newRawBytes)),
                                    ("new_stored_bytes", .number(row.added.newStoredBytes)),
                                    ("errors", .array(row.failures.map(JSONValue.string))),
                                ])
                            })
                    ),
                    ("disk_bytes", .number(disk)), ("raw_bytes", .number(estimate.rawBytes)),
                    ("stored_bytes", .number(estimate.storedBytes)),
                ]).prettyPrinted())
        }
        var table = TextTable(
            headers: ["repo", "revisions", "on disk", "pbrepo adds", "notes"], rightAligned: [1, 2, 3])
        for row in rows {
            table.rows.append([
                row.repository.id, String(row.repository.snapshots.count), formatBytes(row.diskBytes),
                formatBytes(row.added.newStoredBytes),
                row.failures.isEmpty ? "" : "\(row.failures.count) revision(s) not readable: \(row.failures[0])",
            ])
        }
        print(table.render())
        let share = disk == 0 ? 0 : (100 * Double(estimate.storedBytes) / Double(disk)).rounded()
        print(
            "\n\(rows.count) repositories in \(cache): \(formatBytes(disk)) on disk; pbrepo would store "
                + "\(formatBytes(estimate.storedBytes)) (\(Int(share)) % of it)")
    }
}

/// What a store command's `--json` says of its cost: `seconds` per stage (with `total`) where the library measured
/// them, and `peak_rss_bytes`, the process's peak resident memory so far (VmHWM: anonymous and file-backed pages).
func resourceMembers(_ stages: [StageTime]) -> [(String, JSONValue)] {
    var members: [(String, JSONValue)] = []
    if !stages.isEmpty {
        members.append(("seconds", .object(stages.map { ($0.stage, .number(($0.seconds * 1e4).rounded() / 1e4)) })))
    }
    if let peak = peakResidentBytes() { members.append(("peak_rss_bytes", .integral(Double(peak)))) }
    return members
}
