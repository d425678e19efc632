import BlockStore
import Crypto
import Foundation
import Glibc
import TestSupport
import Testing
import XXHash

/// A `pbrepo serve` process on a free loopback port, stopped (SIGTERM) when the value goes away.
final class EdgeProcess: @unchecked Sendable {
    let process: Process
    let port: Int
    let store: String
    let errors: String
    /// What serve printed before it listened (a preload's report).
    let preamble: String
    var host: String { "127.0.0.1:\(port)" }

    init(store: String, upstream: String?, peers: [String] = [], arguments: [String] = []) throws {
        self.store = store
        errors = Samples.temporaryDirectory() + "/serve.err"
        process = Process()
        process.executableURL = URL(fileURLWithPath: CommandRun.binary)
        process.arguments =
            ["serve", "--store", store, "--listen", "127.0.0.1:0"]
            + (upstream.map { ["--upstream", "http://" + $0] } ?? []) + peers.flatMap { ["--peer", "http://" + $0] }
            + arguments
        let output = Pipe()
        process.standardOutput = output
        guard FileManager.default.createFile(atPath: errors, contents: nil),
            let errorFile = FileHandle(forWritingAtPath: errors)
        else { throw FixtureError("cannot create \(errors)") }
        process.standardError = errorFile
        try process.run()
        // A line says where it listens, once it does.
        var printed = Data()
        while !String(decoding: printed, as: UTF8.self).contains("listening on ")
            || printed.last != UInt8(ascii: "\n")
        {
            let more = output.fileHandleForReading.availableData
            guard !more.isEmpty else { break }
            printed += more
        }
        let lines = String(decoding: printed, as: UTF8.self).split(separator: "\n")
        preamble = lines.dropLast().joined(separator: "\n")
        let text = lines.last.map(String.init) ?? ""
        guard text.hasPrefix("listening on "), let colon = text.lastIndex(of: ":"),
            let port = Int(text[text.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            process.terminate()
            throw FixtureError(
                "pbrepo serve did not start: \(text) \((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "")")
        }
        self.port = port
    }

    /// SIGTERM, then the exit status.
    func stop() -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { _ = stop() }

    func metric(_ name: String, _ labels: String) throws -> Double {
        let text = try EdgeServeTests.curl(["-s", "http://\(host)/metrics"]).stdout
        let prefix = labels.isEmpty ? name : name + "{" + labels + "}"
        for line in text.split(separator: "\n") where line.hasPrefix(prefix + " ") {
            return Double(line.dropFirst(prefix.count + 1)) ?? -1
        }
        return 0
    }
}

/// Edge nodes between clients and a real registry: what each link carries is read from the registry's own access
/// log (bytes of every blob GET) and the clients' own accounts, and compared with what the stores say the models
/// share — not with the edge's account of itself.
@Suite("pbrepo serve: edge nodes between docker-registry 2.8.2 and clients")
struct EdgeServeTests {
    static let base = Samples.path("mlp/mlp-base.safetensors")
    static let fineTune = Samples.path("mlp/mlp-ft-freeze3.safetensors")

    static func curl(_ arguments: [String]) throws -> CommandRun {
        try CommandRun.run(arguments, executable: "/usr/bin/curl")
    }

    static func sha256(ofFile path: String) throws -> String {
        SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path))).map { String(format: "%02x", $0) }
            .joined()
    }

    static func json(_ run: CommandRun) throws -> [String: Any] {
        try #require(
            try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stderr)")
    }

    /// Bytes of the blob GETs in the registry's access log after `skipping` lines, and how many there were.
    static func blobTraffic(_ registry: LocalRegistry, skipping lines: Int = 0) -> (bytes: Int, requests: Int) {
        let gets = registry.blobGets(after: lines)
        return (gets.reduce(0) { $0 + $1.bytes }, gets.count)
    }

    static func logLines(_ registry: LocalRegistry) -> Int { registry.logLines }

    /// A registry holding both mlp models, pushed from a store the test keeps to compute what they share.
    static func origin() throws -> (LocalRegistry, Store) {
        let registry = try LocalRegistry()
        let root = Samples.temporaryDirectory() + "/origin"
        for (model, path, tag) in [("mlp-base", base, "base"), ("mlp-ft-freeze3", fineTune, "ft")] {
            #expect(try CommandRun.run(["ingest", "--no-progress", "--store", root, path]).status == 0)
            let push = try CommandRun.run([
                "push", "--store", root, "--plain-http", model, "\(registry.host)/pb/mlp:\(tag)",
            ])
            #expect(push.status == 0, "\(push.stderr)")
        }
        return (registry, try Store(root: root))
    }

    /// Object bytes of `model` (bases and chunks included), by object.
    static func objectSizes(_ store: Store, _ model: String) throws -> [String: Int] {
        let required = Assembler.requiredObjects(try store.recipe(of: model), in: store.objects)
        return Dictionary(
            uniqueKeysWithValues: required.present.map { ($0.description, Int(store.objects.size(of: $0)!)) })
    }

    /// Sizes of the recipe and the model index of a pushed model (its config and first layer).
    static func documentBytes(_ registry: LocalRegistry, tag: String) throws -> Int {
        let manifest = try #require(
            try JSONSerialization.jsonObject(
                with: Data(
                    try curl([
                        "-s", "-H", "Accept: application/vnd.oci.image.manifest.v1+json",
                        "http://\(registry.host)/v2/pb/mlp/manifests/\(tag)",
                    ]).stdout.utf8)) as? [String: Any])
        let config = try #require((manifest["config"] as? [String: Any])?["size"] as? Int)
        let index = try #require((manifest["layers"] as? [[String: Any]])?.first?["size"] as? Int)
        return config + index
    }

    @Test("through one edge: models byte-identical; the fine-tune moves only its unique objects on both links")
    func edgeCarriesOnlyWhatIsMissing() throws {
        let (registry, origin) = try Self.origin()
        let edge = try EdgeProcess(store: Samples.temporaryDirectory() + "/edge", upstream: registry.host)
        let client = Samples.temporaryDirectory() + "/client"
        let base = try Self.objectSizes(origin, "mlp-base")
        let fineTune = try Self.objectSizes(origin, "mlp-ft-freeze3")
        let unique = fineTune.filter { base[$0.key] == nil }.values.reduce(0, +)
        #expect(unique > 0 && unique < fineTune.values.reduce(0, +))

        var mark = Self.logLines(registry)
        let output = Samples.temporaryDirectory()
        let pullBase = try CommandRun.run([
            "pull", "--store", client, "--plain-http", "\(edge.host)/pb/mlp:base", "-o", output + "/base.safetensors",
            "--json",
        ])
        #expect(pullBase.status == 0, "\(pullBase.stderr)")
        #expect(try Self.sha256(ofFile: output + "/base.safetensors") == Self.sha256(ofFile: Self.base))
        let baseTraffic = Self.blobTraffic(registry, skipping: mark)
        #expect(
            baseTraffic.bytes == base.values.reduce(0, +) + (try Self.documentBytes(registry, tag: "base")),
            "origin → edge carried \(baseTraffic.bytes) bytes for mlp-base")

        mark = Self.logLines(registry)
        let pullFineTune = try Self.json(
            try CommandRun.run([
                "pull", "--store", client, "--plain-http", "\(edge.host)/pb/mlp:ft", "-o",
                output + "/ft.safetensors", "--json",
            ]))
        #expect(try Self.sha256(ofFile: output + "/ft.safetensors") == Self.sha256(ofFile: Self.fineTune))
        // Edge → client: the client had the base, so only the fine-tune's own objects.
        #expect(pullFineTune["bytes_fetched"] as? Int == unique)
        // Origin → edge: the edge had the base's objects from the first pull.
        let fineTuneTraffic = Self.blobTraffic(registry, skipping: mark)
        #expect(fineTuneTraffic.bytes == unique + (try Self.documentBytes(registry, tag: "ft")))

        // A second client pulling both: everything from the edge, nothing more from the origin.
        mark = Self.logLines(registry)
        for tag in ["base", "ft"] {
            let again = try CommandRun.run([
                "pull", "--store", Samples.temporaryDirectory() + "/second", "--plain-http",
                "\(edge.host)/pb/mlp:\(tag)",
            ])
            #expect(again.status == 0, "\(again.stderr)")
        }
        #expect(Self.blobTraffic(registry, skipping: mark).requests == 0)
        #expect(try edge.metric("pbrepo_blob_bytes_served_total", "source=\"local\"") > 0)
        #expect(try edge.metric("pbrepo_cache_requests_total", "result=\"miss\"") > 0)
        #expect(edge.stop() == 0, "serve did not stop cleanly on SIGTERM")
    }

    @Test("three clients missing the same model at once: the origin sends each object once")
    func concurrentMissesAreFetchedOnce() throws {
        let (registry, origin) = try Self.origin()
        let edge = try EdgeProcess(store: Samples.temporaryDirectory() + "/edge", upstream: registry.host)
        let mark = Self.logLines(registry)
        let clients = (0..<3).map { _ in
            try! CommandRun.start([
                "pull", "--store", Samples.temporaryDirectory() + "/client", "--plain-http", "\(edge.host)/pb/mlp:ft",
            ])
        }
        for client in clients {
            client.waitUntilExit()
            #expect(client.terminationStatus == 0)
        }
        let objects = try Self.objectSizes(origin, "mlp-ft-freeze3").values.reduce(0, +)
        let traffic = Self.blobTraffic(registry, skipping: mark)
        #expect(
            traffic.bytes == objects + (try Self.documentBytes(registry, tag: "ft")),
            "\(registry.log.split(separator: "\n").dropFirst(mark).filter { $0.contains("/blobs/") }.joined(separator: "\n"))"
        )
    }

    @Test("an edge asks its peer first: with the peer warm, the origin sends no blob")
    func peersAreAskedFirst() throws {
        let (registry, _) = try Self.origin()
        let first = try EdgeProcess(store: Samples.temporaryDirectory() + "/edge1", upstream: registry.host)
        let warm = try CommandRun.run([
            "pull", "--store", Samples.temporaryDirectory() + "/c1", "--plain-http", "\(first.host)/pb/mlp:ft",
        ])
        #expect(warm.status == 0, "\(warm.stderr)")
        let second = try EdgeProcess(
            store: Samples.temporaryDirectory() + "/edge2", upstream: registry.host, peers: [first.host])
        let mark = Self.logLines(registry)
        let output = Samples.temporaryDirectory() + "/ft.safetensors"
        let pull = try CommandRun.run([
            "pull", "--store", Samples.temporaryDirectory() + "/c2", "--plain-http", "\(second.host)/pb/mlp:ft", "-o",
            output,
        ])
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(try Self.sha256(ofFile: output) == Self.sha256(ofFile: Self.fineTune))
        #expect(Self.blobTraffic(registry, skipping: mark).requests == 0, "the origin was asked for blobs")
        #expect(try second.metric("pbrepo_upstream_bytes_total", "upstream=\"peer\"") > 0)
    }

    @Test("ranges (closed, open, suffix, past the end) and HEAD agree with the registry's own answers")
    func rangesMatchTheRegistry() throws {
        let (registry, _) = try Self.origin()
        let edge = try EdgeProcess(store: Samples.temporaryDirectory() + "/edge", upstream: registry.host)
        let manifest = try #require(
            try JSONSerialization.jsonObject(
                with: Data(
                    try Self.curl([
                        "-s", "-H", "Accept: application/vnd.oci.image.manifest.v1+json",
                        "http://\(edge.host)/v2/pb/mlp/manifests/ft",
                    ]).stdout.utf8)) as? [String: Any])
        let layers = try #require(manifest["layers"] as? [[String: Any]])
        // The model index (a blob kept whole) and the largest object layer (served from objects).
        let objectLayer = try #require(layers.dropFirst().max { ($0["size"] as! Int) < ($1["size"] as! Int) })
        for layer in [layers[0], objectLayer] {
            let digest = try #require(layer["digest"] as? String)
            let size = try #require(layer["size"] as? Int)
            for range in ["0-0", "-100", "100-", "5-20", "-\(size + 10)", "\(size - 1)-\(size + 50)"] {
                let fromEdge = Samples.temporaryDirectory() + "/edge.bin"
                let fromOrigin = Samples.temporaryDirectory() + "/origin.bin"
                let edgeStatus = try Self.curl([
                    "-s", "-o", fromEdge, "-w", "%{http_code}", "-r", range,
                    "http://\(edge.host)/v2/pb/mlp/blobs/\(digest)",
                ]).stdout
                let originStatus = try Self.curl([
                    "-s", "-o", fromOrigin, "-w", "%{http_code}", "-r", range,
                    "http://\(registry.host)/v2/pb/mlp/blobs/\(digest)",
                ]).stdout
                #expect(edgeStatus == originStatus, "Range \(range) of \(digest)")
                guard originStatus == "206" else { continue }
                #expect(
                    try Data(contentsOf: URL(fileURLWithPath: fromEdge))
                        == Data(contentsOf: URL(fileURLWithPath: fromOrigin)), "Range \(range) of \(digest)")
            }
            let past = try Self.curl([
                "-s", "-o", "/dev/null", "-D", "-", "-r", "\(size)-", "http://\(edge.host)/v2/pb/mlp/blobs/\(digest)",
            ]).stdout
            #expect(past.hasPrefix("HTTP/1.1 416"), "\(past)")
            #expect(past.lowercased().contains("content-range: bytes */\(size)"), "\(past)")
            let head = try Self.curl(["-s", "-I", "http://\(edge.host)/v2/pb/mlp/blobs/\(digest)"]).stdout.lowercased()
            #expect(head.contains("content-length: \(size)\r"), "\(head)")
            #expect(head.contains("docker-content-digest: \(digest)"))
        }
        let tags = try Self.curl(["-s", "http://\(edge.host)/v2/pb/mlp/tags/list"]).stdout
        #expect(tags == #"{"name":"pb/mlp","tags":["ft"]}"#)
        let referrers = try Self.curl([
            "-s", "-w", "%{http_code}", "http://\(edge.host)/v2/pb/mlp/referrers/\(objectLayer["digest"]!)",
        ]).stdout
        #expect(referrers.hasSuffix("200") && referrers.contains(#""manifests":[]"#))
        let push = try Self.curl([
            "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "http://\(edge.host)/v2/pb/mlp/blobs/uploads/",
        ]).stdout
        #expect(push == "405")
    }

    @Test("an origin that lies about a blob: the client gets an error naming it, the edge keeps nothing of it")
    func lyingOriginIsRefused() throws {
        let (registry, origin) = try Self.origin()
        let edgeStore = Samples.temporaryDirectory() + "/edge"
        let edge = try EdgeProcess(store: edgeStore, upstream: registry.host)
        // Damage every object layer of the fine-tune in the registry's storage, one byte each.
        let manifest = try #require(
            try JSONSerialization.jsonObject(
                with: Data(
                    try Self.curl([
                        "-s", "-H", "Accept: application/vnd.oci.image.manifest.v1+json",
                        "http://\(registry.host)/v2/pb/mlp/manifests/ft",
                    ]).stdout.utf8)) as? [String: Any])
        let layers = try #require(manifest["layers"] as? [[String: Any]]).dropFirst()
        var saved: [(String, Data)] = []
        for layer in layers {
            let path = registry.blobPath(String((layer["digest"] as! String).dropFirst(7)))
            let original = try Data(contentsOf: URL(fileURLWithPath: path))
            saved.append((path, original))
            var damaged = original
            damaged[damaged.count / 2] ^= 0x40
            try damaged.write(to: URL(fileURLWithPath: path))
        }
        let output = Samples.temporaryDirectory() + "/ft.safetensors"
        let refused = try CommandRun.run([
            "pull", "--store", Samples.temporaryDirectory() + "/client", "--plain-http", "\(edge.host)/pb/mlp:ft", "-o",
            output,
        ])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("sha256"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output))
        // What the edge kept is only objects whose bytes arrived right (byte-equal to the origin store's files);
        // the damaged ones are not among them.
        let kept = try Store(root: edgeStore)
        let fineTuneObjects = Set(try Self.objectSizes(origin, "mlp-ft-freeze3").keys)
        let keptObjects = kept.objects.allObjects()
        #expect(keptObjects.count < fineTuneObjects.count)
        for object in keptObjects {
            #expect(
                try Self.sha256(ofFile: kept.objects.path(of: object))
                    == Self.sha256(ofFile: origin.objects.path(of: object)), "\(object)")
        }
        #expect(try edge.metric("pbrepo_verify_failures_total", "stage=\"sha256\"") > 0)

        for (path, original) in saved { try original.write(to: URL(fileURLWithPath: path)) }
        let fixed = try CommandRun.run([
            "pull", "--store", Samples.temporaryDirectory() + "/client2", "--plain-http", "\(edge.host)/pb/mlp:ft",
            "-o",
            output,
        ])
        #expect(fixed.status == 0, "\(fixed.stderr)")
        #expect(try Self.sha256(ofFile: output) == Self.sha256(ofFile: Self.fineTune))
    }

    @Test("skopeo pulls a model from an edge with the sha256s pbrepo pushed")
    func skopeoPullsFromAnEdge() throws {
        let (registry, _) = try Self.origin()
        let edge = try EdgeProcess(store: Samples.temporaryDirectory() + "/edge", upstream: registry.host)
        let layout = Samples.temporaryDirectory() + "/layout"
        let copy = try CommandRun.run(
            ["copy", "--src-tls-verify=false", "docker://\(edge.host)/pb/mlp:ft", "oci:\(layout):ft"],
            executable: "/usr/bin/skopeo")
        #expect(copy.status == 0, "\(copy.stderr)")
        let blobs = try FileManager.default.contentsOfDirectory(atPath: layout + "/blobs/sha256")
        #expect(blobs.count >= 3)
        for blob in blobs { #expect(try Self.sha256(ofFile: layout + "/blobs/sha256/" + blob) == blob) }
        let originManifest = try Self.curl([
            "-s", "-D", "-", "-o", "/dev/null", "-H", "Accept: application/vnd.oci.image.manifest.v1+json",
            "http://\(registry.host)/v2/pb/mlp/manifests/ft",
        ]).stdout.lowercased()
        let digest = try #require(
            originManifest.split(separator: "\r\n").first { $0.hasPrefix("docker-content-digest:") })
        #expect(blobs.contains(String(digest.split(separator: ":").last!)))
    }

    /// The Python ORAS client (oras-py, in the virtual environment `make deps` makes) as a third client.
    static let orasPython = Samples.root + "/.build/python/bin/python"

    @Test(
        "the Python ORAS client fetches a pbrepo model from the registry and from an edge: the same manifest, every blob's sha256 its digest"
    )
    func orasFetchesFromTheRegistryAndAnEdge() throws {
        #expect(
            FileManager.default.isExecutableFile(atPath: Self.orasPython),
            "\(Self.orasPython) is missing: make deps makes it (a venv with oras)")
        let (registry, _) = try Self.origin()
        let edge = try EdgeProcess(store: Samples.temporaryDirectory() + "/edge", upstream: registry.host)
        var seen: [[String: Any]] = []
        for host in [registry.host, edge.host] {
            let outdir = Samples.temporaryDirectory()
            let run = try CommandRun.run(
                [Samples.root + "/Tests/Fixtures/oras_fetch.py", host, "pb/mlp", "ft", outdir],
                executable: Self.orasPython)
            #expect(run.status == 0, "oras from \(host): \(run.stderr)")
            let answer = try #require(
                try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            let manifest = try #require(answer["manifest"] as? [String: Any])
            let blobs = try #require(answer["blobs"] as? [String: String])
            let layers = try #require(manifest["layers"] as? [[String: Any]])
            #expect(manifest["artifactType"] as? String == "application/vnd.pbrepo.model.v1")
            #expect(blobs.count == layers.count + 1, "from \(host)")
            for (digest, sha256) in blobs { #expect(digest == sha256, "from \(host): \(digest) arrived as \(sha256)") }
            seen.append(manifest)
        }
        // The edge hands out the manifest pbrepo pushed, unchanged.
        let digests = seen.map { (($0["layers"] as? [[String: Any]]) ?? []).compactMap { $0["digest"] as? String } }
        #expect(digests[0] == digests[1] && !digests[0].isEmpty)
    }
}
