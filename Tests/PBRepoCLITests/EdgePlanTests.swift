import BlockStore
import Foundation
import TestSupport
import Testing
import XXHash

/// Edges preloaded from a caching plan, and edges that evict to stay within a capacity.
@Suite(.serialized) struct EdgePlanTests {
    typealias Edge = EdgeServeTests

    /// Object files of each of `model`'s blocks (chunks of chunked objects included), from the origin store's
    /// records: what a node that caches the block holds.
    static func objectsOfBlocks(_ store: Store, _ model: String) throws -> [String: Set<String>] {
        let record = try store.modelRecord(of: model).record
        var objects: [String: Set<String>] = [:]
        for (position, block) in record.blocks.enumerated() {
            var set = objects[block.digest] ?? []
            for tensor in record.tensors where tensor.blockPosition == position {
                guard let name = tensor.object, let digest = XXH3Digest(hex: name) else { continue }
                set.insert(name)
                for chunk in try store.objects.chunks(of: digest) ?? [] { set.insert(chunk.digest.description) }
            }
            objects[block.digest] = set
        }
        return objects
    }

    /// A plan in the JSON `pbrepo simulate --json` writes (the members serve reads), caching `rows`.
    static func writePlan(_ rows: [[String]], to path: String) throws {
        let plan: [String: Any] = [
            "scheme": "hand", "cache": rows, "capacity_bytes": rows.map { _ in 1 << 30 },
        ]
        try JSONSerialization.data(withJSONObject: plan).write(to: URL(fileURLWithPath: path))
    }

    static func recipeBytes(_ registry: LocalRegistry, tag: String) throws -> Int {
        let manifest = try #require(
            try JSONSerialization.jsonObject(
                with: Data(
                    try Edge.curl([
                        "-s", "-H", "Accept: application/vnd.oci.image.manifest.v1+json",
                        "http://\(registry.host)/v2/pb/mlp/manifests/\(tag)",
                    ]).stdout.utf8)) as? [String: Any])
        return try #require((manifest["config"] as? [String: Any])?["size"] as? Int)
    }

    @Test(
        "three edges preloaded from a plan: every model through every edge is byte-identical, and each origin link carries exactly what the plan leaves uncached"
    )
    func edgesPreloadedFromAPlan() throws {
        let (registry, origin) = try Edge.origin()
        let baseBlocks = try Self.objectsOfBlocks(origin, "mlp-base")
        let tunedBlocks = try Self.objectsOfBlocks(origin, "mlp-ft-freeze3")
        let uniqueBlocks = tunedBlocks.keys.filter { baseBlocks[$0] == nil }.sorted()
        #expect(!uniqueBlocks.isEmpty && uniqueBlocks.count < tunedBlocks.count)
        // Node 0 caches the base, node 1 the fine-tune's own blocks, node 2 nothing.
        let rows = [baseBlocks.keys.sorted(), uniqueBlocks, []]
        let plan = Samples.temporaryDirectory() + "/plan.json"
        try Self.writePlan(rows, to: plan)
        var sizes = try Edge.objectSizes(origin, "mlp-base")
        sizes.merge(try Edge.objectSizes(origin, "mlp-ft-freeze3")) { a, _ in a }
        func bytes(_ objects: Set<String>) -> Int { objects.reduce(0) { $0 + sizes[$1]! } }
        let indexBytes = ["base", "ft"].map { tag in
            (try? Edge.documentBytes(registry, tag: tag)).map {
                $0 - ((try? Self.recipeBytes(registry, tag: tag)) ?? 0)
            }
                ?? 0
        }

        for node in 0..<3 {
            let cached = rows[node].reduce(into: Set<String>()) {
                $0.formUnion(baseBlocks[$1] ?? tunedBlocks[$1] ?? [])
            }
            // A cached delta comes with its base: the edge checks the delta's content before keeping it.
            let bases = Set(
                try cached.compactMap { try origin.objects.base(of: XXH3Digest(hex: $0)!)?.description })
            var mark = Edge.logLines(registry)
            let edge = try EdgeProcess(
                store: Samples.temporaryDirectory() + "/edge\(node)", upstream: registry.host,
                arguments: [
                    "--preload", plan, "--node", "\(node)", "--model", "pb/mlp:base", "--model", "pb/mlp:ft",
                ])
            #expect(edge.preamble.contains("preloaded node \(node): \(rows[node].count) blocks"), "\(edge.preamble)")
            // The preload: the model indexes, then the cached blocks' objects, nothing else.
            let preload = Edge.blobTraffic(registry, skipping: mark)
            #expect(
                preload.bytes == indexBytes.reduce(0, +) + bytes(cached.union(bases)),
                "node \(node): origin → edge carried \(preload.bytes) bytes while preloading")

            var held = cached.union(bases)
            for (model, tag, file) in [
                ("mlp-base", "base", Edge.base), ("mlp-ft-freeze3", "ft", Edge.fineTune),
            ] {
                let needed = Set(try Edge.objectSizes(origin, model).keys)
                mark = Edge.logLines(registry)
                let output = Samples.temporaryDirectory() + "/\(tag).safetensors"
                let pull = try CommandRun.run([
                    "pull", "--store", Samples.temporaryDirectory() + "/client", "--plain-http",
                    "\(edge.host)/pb/mlp:\(tag)", "-o", output,
                ])
                #expect(pull.status == 0, "\(pull.stderr)")
                #expect(try Edge.sha256(ofFile: output) == Edge.sha256(ofFile: file), "node \(node) \(model)")
                let traffic = Edge.blobTraffic(registry, skipping: mark)
                let predicted = try Self.recipeBytes(registry, tag: tag) + bytes(needed.subtracting(held))
                #expect(
                    traffic.bytes == predicted,
                    "node \(node), \(model): origin → edge carried \(traffic.bytes) bytes, the plan predicts \(predicted)"
                )
                held.formUnion(needed)
            }
            #expect(edge.stop() == 0)
        }
    }

    @Test("an edge over its capacity evicts what is not pinned and keeps every preloaded object")
    func evictionKeepsPinnedObjects() throws {
        let (registry, origin) = try Edge.origin()
        let baseBlocks = try Self.objectsOfBlocks(origin, "mlp-base")
        let plan = Samples.temporaryDirectory() + "/plan.json"
        try Self.writePlan([baseBlocks.keys.sorted()], to: plan)
        let pinned = baseBlocks.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        let store = Samples.temporaryDirectory() + "/edge"
        let edge = try EdgeProcess(
            store: store, upstream: registry.host,
            arguments: ["--preload", plan, "--node", "0", "--model", "pb/mlp:base", "--capacity", "1"])
        let edgeStore = try Store(root: store)
        for round in 0..<2 {
            let output = Samples.temporaryDirectory() + "/ft.safetensors"
            let pull = try CommandRun.run([
                "pull", "--store", Samples.temporaryDirectory() + "/client", "--plain-http", "\(edge.host)/pb/mlp:ft",
                "-o", output,
            ])
            #expect(pull.status == 0, "\(pull.stderr)")
            #expect(try Edge.sha256(ofFile: output) == Edge.sha256(ofFile: Edge.fineTune), "round \(round)")
            let present = Set(edgeStore.objects.allObjects().map(\.description))
            #expect(pinned.isSubset(of: present), "a preloaded object was evicted")
            // The fine-tune's own objects were served and then deleted: the capacity holds only pinned bytes.
            #expect(present == pinned, "round \(round): \(present.subtracting(pinned).count) unpinned objects kept")
        }
        #expect(try edge.metric("pbrepo_cache_evictions_total", "") > 0)
        let held = try edge.metric("pbrepo_cache_held_bytes", "")
        let pinnedBytes = try edge.metric("pbrepo_cache_pinned_bytes", "")
        #expect(held == pinnedBytes && pinnedBytes > 0)
        #expect(edge.stop() == 0)
    }

    @Test("a plan naming blocks no given model holds, or a node it lacks, is refused before any object is fetched")
    func badPlansAreRefused() throws {
        let (registry, _) = try Edge.origin()
        let plan = Samples.temporaryDirectory() + "/plan.json"
        try Self.writePlan([["0123456789abcdef0123456789abcdef"]], to: plan)
        let mark = Edge.logLines(registry)
        for (node, expected) in [("0", "none of the models pb/mlp:base holds"), ("3", "there is no node 3")] {
            let run = try CommandRun.run([
                "serve", "--store", Samples.temporaryDirectory() + "/edge", "--listen", "127.0.0.1:0", "--upstream",
                "http://" + registry.host, "--preload", plan, "--node", node, "--model", "pb/mlp:base",
            ])
            #expect(run.status != 0)
            #expect(run.stderr.contains(expected), "\(run.stderr)")
        }
        // Only the model index was read to find the blocks.
        #expect(Edge.blobTraffic(registry, skipping: mark).requests <= 1)
    }
}
