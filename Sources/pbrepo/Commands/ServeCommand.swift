import ArgumentParser
import BlockStore
import EdgeNode
import Foundation
import Logging
import OCI
import PBRCore
import RegistryClient

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract:
            "Run an edge node: the OCI registry read API served from a store, misses fetched from peers, then upstream.",
        discussion: """
            Any OCI client pulls from it (pbrepo pull, skopeo, oras). A layer of a pbrepo model is served from the \
            store's objects; objects it lacks are fetched once, however many clients ask, as byte ranges — from each \
            --peer in turn (which answer only with what they hold), then from --upstream — and each is checked \
            (size, sha256, XXH3 of the decoded content) before it is stored and sent. Tags are asked of the upstream \
            each time, the last one seen answering when it is away. Prometheus metrics at /metrics, logs on standard \
            error; SIGTERM or SIGINT stops it after the requests under way (docs/distribution.md).

            Example: pbrepo serve --store /srv/edge --listen 0.0.0.0:5000 --upstream https://registry.example.com
            With --preload PLAN --node N --model REPO:TAG..., the node first fetches the blocks a caching plan \
            (pbrepo simulate --json or plan --json) has node N cache, finding them in the named models' indexes, and \
            pins them. With --capacity it deletes the least recently used unpinned objects and blobs once it holds \
            more than that many bytes.

            Example: pbrepo serve --store /srv/edge --listen 0.0.0.0:5000 --upstream https://registry.example.com
            Example: pbrepo serve --store edge1 --listen 127.0.0.1:5101 --upstream http://127.0.0.1:5000 --peer http://127.0.0.1:5102
            Example: pbrepo serve --store edge0 --upstream http://127.0.0.1:5000 --preload plan.json --node 0 --model llama/base:v1 --model llama/chat:v1 --capacity 20GiB
            """)
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "HOST:PORT to listen on (port 0: a free one, printed).") var listen = "127.0.0.1:5000"
    @Option(help: "The origin registry: http://HOST[:PORT] or https://HOST[:PORT] (https when no scheme).")
    var upstream: String?
    @Option(help: "Another edge node asked before the upstream (repeatable, in order).") var peer: [String] = []
    @Option(help: "Objects fetched at once per miss.") var streams: Int = 4
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"
    @Option(help: "Most bytes of objects and blobs to hold (e.g. 500MiB, 20GiB); pinned ones are never deleted.")
    var capacity: String?
    @Option(help: "A caching plan (simulate --json / plan --json) whose --node's blocks are fetched and pinned first.")
    var preload: String?
    @Option(help: "The node of the --preload plan this edge is (from 0, as in the plan).") var node: Int?
    @Option(help: "REPOSITORY[:TAG] at the upstream whose blocks the plan names (repeatable).") var model: [String] = []

    func validate() throws {
        guard Self.hostAndPort(listen) != nil else {
            throw ValidationError("--listen \(listen) is not HOST:PORT (e.g. 127.0.0.1:5000)")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level \(logLevel) is not one of trace, debug, info, notice, warning, error")
        }
        for url in [upstream].compactMap({ $0 }) + peer where Self.source(url) == nil {
            throw ValidationError("\(url) is not a registry address (http://HOST:PORT or https://HOST)")
        }
        if let capacity, Self.byteCount(capacity) == nil {
            throw ValidationError("--capacity \(capacity) is not a size (e.g. 1000000, 500MiB, 20GiB, 2GB)")
        }
        if preload != nil {
            guard let node, node >= 0 else { throw ValidationError("--preload needs --node N (from 0)") }
            guard !model.isEmpty else {
                throw ValidationError(
                    "--preload needs the models whose blocks the plan names: --model REPOSITORY[:TAG]")
            }
            guard upstream != nil || !peer.isEmpty else {
                throw ValidationError("--preload needs --upstream or --peer")
            }
        } else if node != nil || !model.isEmpty {
            throw ValidationError("--node and --model go with --preload PLAN")
        }
        for name in model where Self.repositoryAndTag(name) == nil {
            throw ValidationError("--model \(name) is not REPOSITORY[:TAG] (e.g. llama/chat:v1)")
        }
    }

    /// `1000`, `500MiB`, `20GiB`, `2GB`, `64K`: binary units for the i-forms and single letters, decimal for kB/MB/GB/TB.
    static func byteCount(_ text: String) -> UInt64? {
        let units: [(String, UInt64)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40), ("kB", 1_000), ("KB", 1_000),
            ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000), ("K", 1 << 10), ("M", 1 << 20),
            ("G", 1 << 30), ("T", 1 << 40), ("B", 1),
        ]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = UInt64(text.dropLast(suffix.count)) else { return nil }
            return value.multipliedReportingOverflow(by: scale).overflow ? nil : value * scale
        }
        return UInt64(text)
    }

    static func repositoryAndTag(_ text: String) -> (repository: String, tag: String)? {
        let slash = text.lastIndex(of: "/") ?? text.startIndex
        var repository = text
        var tag = "latest"
        if let colon = text[slash...].lastIndex(of: ":") {
            repository = String(text[..<colon])
            tag = String(text[text.index(after: colon)...])
        }
        guard Reference.isRepositoryName(repository), Reference.isTag(tag) else { return nil }
        return (repository, tag)
    }

    static func hostAndPort(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port), colon > text.startIndex
        else { return nil }
        return (String(text[..<colon]), port)
    }

    /// `http://host:port` (plain HTTP), `https://host` or a bare `host[:port]` (TLS).
    static func source(_ url: String) -> (host: String, plainHTTP: Bool)? {
        var rest = url
        var plain = false
        if rest.hasPrefix("http://") {
            plain = true
            rest.removeFirst(7)
        } else if rest.hasPrefix("https://") {
            rest.removeFirst(8)
        }
        while rest.hasSuffix("/") { rest.removeLast() }
        guard !rest.isEmpty, !rest.contains("/"), !rest.contains(" ") else { return nil }
        return (rest, plain)
    }

    func run() throws {
        let level = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "pbrepo.serve")
        let store = try storeOptions.open(create: true)
        func client(_ url: String, peer: Bool) -> RegistryClient {
            let (host, plain) = Self.source(url)!
            var options = RegistryClient.Options()
            options.plainHTTP = plain
            options.connectionsPerHost = max(options.connectionsPerHost, streams)
            if peer {
                options.headers = [EdgeSource.peerHeader]
                // A peer that cannot answer quickly is passed over for the next source.
                options.attempts = 1
                options.connectTimeout = .seconds(2)
            } else {
                options.credentials = try? Credentials.find(for: host, environment: ProcessInfo.processInfo.environment)
            }
            return RegistryClient(host: host, options: options)
        }
        let plan = try preload.map { path in try Console.run { try NodePlan.load(path, node: node!) } }
        let edge = try Console.run {
            try EdgeNode(
                store: store, peers: peer.map { client($0, peer: true) },
                origin: upstream.map { client($0, peer: false) }, streams: streams,
                capacity: capacity.flatMap(Self.byteCount), logger: logger)
        }
        let (host, port) = Self.hostAndPort(listen)!
        // The first SIGTERM/SIGINT is the service group's (graceful: requests under way finish, exit 0); a second
        // one stops at once.
        Interruption.deferToSafePoints()
        try Console.run {
            try runAsync {
                if let plan {
                    let report: PreloadReport
                    do {
                        report = try await edge.preload(plan, models: model.compactMap(Self.repositoryAndTag))
                    } catch {
                        await edge.shutdown()
                        throw error
                    }
                    // Written before the listening line: a test or script reads both.
                    FileHandle.standardOutput.write(
                        Data(
                            "preloaded node \(report.node): \(report.blocks) blocks, \(report.objects) objects (\(report.pinnedBytes) bytes pinned), \(report.fetchedObjects) objects fetched (\(report.fetchedBytes) bytes)\n"
                                .utf8))
                }
                try await EdgeService.run(edge, host: host, port: port, logger: logger) { bound in
                    // Written straight to the descriptor: a test or script waits for this line.
                    FileHandle.standardOutput.write(Data("listening on http://\(host):\(bound)\n".utf8))
                }
            }
        }
    }
}
