import ArgumentParser
import BlockStore
import Dispatch
import Distribution
import Foundation
import OCI
import PBRCore
import RegistryClient
import Synchronization

/// How to reach a registry: TLS or not, credentials, timeouts.
struct RegistryOptions: ParsableArguments {
    @Flag(help: "Speak plain HTTP to the registry (a registry on loopback without TLS); TLS otherwise.")
    var plainHTTP = false
    @Option(
        help: "User name for the registry (else the entry of the host in $REGISTRY_AUTH_FILE or ~/.docker/config.json)."
    )
    var username: String?
    @Flag(help: "Read the password (or token) for --username from standard input.") var passwordStdin = false
    @Option(help: "Seconds without any bytes from the registry before a request counts as stalled.")
    var readTimeout: Int = 60
    @Option(help: "Blobs (push) or ranges (pull) in flight at once.") var streams: Int = 4

    func client(for host: String) throws -> RegistryClient {
        var options = RegistryClient.Options()
        options.plainHTTP = plainHTTP
        options.readTimeout = .seconds(max(1, readTimeout))
        options.connectionsPerHost = max(options.connectionsPerHost, streams)
        if let username {
            guard passwordStdin else {
                throw ValidationError("--username needs --password-stdin (a password on the command line leaks)")
            }
            let password = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .newlines)
            options.credentials = Credentials(username: username, password: password)
        } else {
            options.credentials = try Console.run {
                try Credentials.find(for: host, environment: ProcessInfo.processInfo.environment)
            }
        }
        return RegistryClient(host: host, options: options)
    }
}

/// Runs `body` on Swift's concurrency pool and waits for it: the commands are synchronous, the network is not.
func runAsync<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let outcome = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        do {
            let value = try await body()
            outcome.withLock { $0 = .success(value) }
        } catch {
            outcome.withLock { $0 = .failure(error) }
        }
        done.signal()
    }
    done.wait()
    return try outcome.withLock { $0! }.get()
}

struct PushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Push a model of the store to an OCI registry, sending only the blobs the registry lacks.",
        discussion: """
            The model becomes one OCI image manifest (artifactType application/vnd.pbrepo.model.v1): the recipe as \
            its config, a model index, and the store's objects as layers — large ones alone, small ones in packs. \
            Blobs the repository has are skipped, blobs another repository of the registry has are mounted; the \
            manifest goes last. Running it again after an interruption sends only what did not arrive \
            (docs/distribution.md).

            Example: pbrepo push llama-ft registry.example.com/models/llama-ft:v1
            Example: pbrepo push digits-ft 127.0.0.1:5000/pb/digits-ft:latest --plain-http
            """)
    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var registryOptions: RegistryOptions
    @Argument(help: "Model name.") var model: String
    @Argument(help: "Where to: HOST[:PORT]/REPOSITORY[:TAG] (tag latest by default).") var reference: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let target = try Console.run { try Reference(parsing: reference) }
        // Written too: the sha256 of each object file and the packs are remembered, so a push hashes nothing twice.
        let store = try storeOptions.open()
        let client = try registryOptions.client(for: target.host)
        var pushOptions = Push.Options()
        pushOptions.streams = max(1, registryOptions.streams)
        let options = pushOptions
        let progress = ProgressBar(label: "push \(model)")
        let model = self.model
        let result = try Console.run {
            try runAsync {
                try await client.closing {
                    try await Push.push(model, store: store, to: target, client: client, options: options) {
                        progress.update(done: $0, total: $1)
                    }
                }
            }
        }
        progress.finish()
        if json {
            print(
                JSONValue.object([
                    ("model", .string(result.model)), ("reference", .string(result.reference)),
                    ("manifest_digest", .string(result.manifestDigest)), ("blobs", .number(result.blobs)),
                    ("blobs_present", .number(result.present)), ("blobs_mounted", .number(result.mounted)),
                    ("blobs_uploaded", .number(result.uploaded)), ("bytes_sent", .number(result.bytesSent)),
                    ("manifest_bytes", .number(result.manifestBytes)),
                    ("artifact_bytes", .number(result.artifactBytes)),
                    ("model_bytes", .number(result.modelBytes)),
                    ("sent_fraction_of_model", .number(Double(result.bytesSent) / Double(max(1, result.modelBytes)))),
                ]).prettyPrinted())
        } else {
            let share = String(format: "%.1f %%", 100 * Double(result.bytesSent) / Double(max(1, result.modelBytes)))
            print(
                "pushed \(result.model) → \(result.reference) (\(result.manifestDigest)): sent \(formatBytes(result.bytesSent)) = \(share) of the model's \(formatBytes(result.modelBytes)); \(result.uploaded) blob(s) uploaded, \(result.mounted) mounted, \(result.present) already there"
            )
        }
    }
}

struct PullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Pull a model from an OCI registry into the store, fetching only the objects the store lacks.",
        discussion: """
            The tag is resolved once; every object the store lacks is fetched (byte ranges of packs), checked against \
            its size and sha256, decoded and checked against its XXH3-128 name before it joins the store; the model \
            is recorded last. With -o the model is then assembled there. An interrupted pull resumes from what it \
            had checked (docs/distribution.md).

            Example: pbrepo pull registry.example.com/models/llama-ft:v1 -o ~/models/llama-ft
            Example: pbrepo pull 127.0.0.1:5000/pb/digits-ft --plain-http --no-assemble
            """)
    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var registryOptions: RegistryOptions
    @Argument(help: "What: HOST[:PORT]/REPOSITORY[:TAG|@sha256:DIGEST].") var reference: String
    @Option(name: .shortAndLong, help: "Assemble the model here afterwards (as `pbrepo assemble -o`).")
    var output: String?
    @Flag(help: "Only fill the store (the default when no -o is given).") var noAssemble = false
    @Flag(help: "Replace an existing output (refused otherwise).") var force = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let source = try Console.run { try Reference(parsing: reference) }
        let store = try storeOptions.open(create: true)
        let client = try registryOptions.client(for: source.host)
        var pullOptions = Pull.Options()
        pullOptions.streams = max(1, registryOptions.streams)
        let assembleBar = ProgressBar(label: "assemble")
        if let output, !noAssemble {
            let overwrite = force
            pullOptions.checkRecipe = { _ = try Assembler.destination(of: $0, output: output, overwrite: overwrite) }
            pullOptions.assemble = Pull.Options.Assemble(
                output: output, options: Assembler.Options(overwrite: overwrite)
            ) { assembleBar.update(done: $0, total: $1) }
        }
        let options = pullOptions
        Interruption.setUnfinished("pull of \(source)")
        let progress = ProgressBar(label: "pull \(source.repository)")
        let result = try Console.run {
            try runAsync {
                try await client.closing {
                    try await Pull.pull(source, store: store, client: client, options: options) {
                        progress.update(done: $0, total: $1)
                    }
                }
            }
        }
        progress.finish()
        var assembledOutput = result.assembledOutput
        if result.assembledOutput != nil { assembleBar.finish() }
        if let output, !noAssemble, assembledOutput == nil {
            // The model was in the store already: assembled from there.
            assembledOutput = try Console.run {
                try store.assemble(result.model, to: output, options: Assembler.Options(overwrite: force)) {
                    assembleBar.update(done: $0, total: $1)
                }.output
            }
            assembleBar.finish()
        }
        if json {
            var members: [(String, JSONValue)] = [
                ("model", .string(result.model)), ("reference", .string(result.reference)),
                ("manifest_digest", .string(result.manifestDigest)), ("already_present", .bool(result.alreadyPresent)),
                ("objects", .number(result.objects)), ("objects_missing", .number(result.missing)),
                ("objects_fetched", .number(result.fetched)), ("bytes_fetched", .number(result.bytesFetched)),
                ("document_bytes", .number(result.documentBytes)), ("requests", .number(result.requests)),
                ("artifact_bytes", .number(result.artifactBytes)), ("model_bytes", .number(result.modelBytes)),
            ]
            if let assembledOutput { members.append(("output", .string(assembledOutput))) }
            print(JSONValue.object(members).prettyPrinted())
        } else {
            let what =
                result.alreadyPresent
                ? "already in the store"
                : "fetched \(result.fetched) of \(result.objects) object(s), \(formatBytes(result.bytesFetched)) in \(result.requests) request(s) (the model is \(formatBytes(result.modelBytes)))"
            print(
                "pulled \(result.reference) → \(result.model): \(what)"
                    + (assembledOutput.map { "; assembled → \($0)" } ?? ""))
        }
    }
}
