import ArgumentParser
import EdgeSim
import Foundation
import PBRCore
import TensorFiles
import Trainer

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure pbrepo's speed on this machine.",
        discussion: "Example: pbrepo bench inspect --size-gb 1.5 (docs/benchmarks.md: all benches)",
        subcommands: [BenchInspect.self, BenchBeamform.self, BenchDecide.self]
    )
}

struct BenchInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Hashing throughput of `inspect` on a large safetensors file, next to `xxhsum -H2` on the same file.",
        discussion: """
            Writes a synthetic safetensors file (F32/BF16 tensors of 1–64 MiB, pseudo-random bytes) unless --file is \
            given, reads it once to warm the page cache, then times each tool --repeat times and reports the best \
            and median runs in GB/s of tensor bytes (10^9 bytes per second).

            Example: pbrepo bench inspect --size-gb 3 --repeat 7 --json
            """
    )

    @Option(help: "Size of the synthetic file in GB (10^9 bytes).") var sizeGB: Double = 1.5
    @Option(help: "Directory for the synthetic file (it is deleted afterwards).") var directory: String = "/tmp"
    @Option(help: "Use this existing safetensors file instead of a synthetic one.") var file: String?
    @Option(name: .customLong("repeat"), help: "Timed runs per tool.") var runs: Int = 5
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard sizeGB > 0, sizeGB < 1000 else { throw ValidationError("--size-gb must be in (0, 1000)") }
        guard runs >= 1 else { throw ValidationError("--repeat must be at least 1") }
    }

    func run() throws {
        let path = try file ?? makeSyntheticFile()
        defer { if file == nil { try? FileManager.default.removeItem(atPath: path) } }
        let tensorBytes = try Console.run { try Inspection.run(path: path).totalBytes }  // also warms the cache
        var ours: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now()
            _ = try Console.run { try Inspection.run(path: path) }
            ours.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)
        }
        var reference: [Double] = []
        let xxhsum = ["/usr/bin/xxhsum", "/usr/local/bin/xxhsum"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        if let xxhsum {
            for _ in 0..<runs {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: xxhsum)
                process.arguments = ["-H2", path]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice  // xxhsum draws its own progress line there
                let start = DispatchTime.now()
                try process.run()
                process.waitUntilExit()
                reference.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)
            }
        }
        func rate(_ seconds: Double) -> Double { Double(tensorBytes) / seconds / 1e9 }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if json {
            var pairs: [(String, JSONValue)] = [
                ("file", .string(path)), ("tensor_bytes", .number(tensorBytes)), ("cores", .number(cores)),
                ("pbrepo_best_gbps", .number(rate(ours.min() ?? 1))),
                ("pbrepo_median_gbps", .number(rate(median(ours)))),
            ]
            if !reference.isEmpty {
                pairs.append(("xxhsum_best_gbps", .number(rate(reference.min() ?? 1))))
                pairs.append(("xxhsum_median_gbps", .number(rate(median(reference)))))
            }
            print(JSONValue.object(pairs).prettyPrinted())
            return
        }
        print("file: \(path), \(tensorBytes) tensor bytes, \(cores) cores, \(runs) runs each (page cache warm)")
        print("pbrepo inspect   best \(format(rate(ours.min() ?? 1))) GB/s   median \(format(rate(median(ours)))) GB/s")
        if reference.isEmpty {
            print("xxhsum not found: install Debian's xxhash package to compare")
        } else {
            print(
                "xxhsum -H2       best \(format(rate(reference.min() ?? 1))) GB/s   median \(format(rate(median(reference)))) GB/s"
            )
            print("ratio (median)   \(format(median(reference) / median(ours)))×")
        }
    }

    private func format(_ value: Double) -> String { String(format: "%.2f", value) }

    /// Tensors of 1–64 MiB until the size is reached; pseudo-random bytes (hashing speed does not depend on content,
    /// but compressible zeros would flatter a file system with compression).
    private func makeSyntheticFile() throws -> String {
        let path = directory + "/pbrepo-bench-\(getpid()).safetensors"
        let target = UInt64(sizeGB * 1e9)
        var specs: [(name: String, dtype: DType, shape: [UInt64])] = []
        var total: UInt64 = 0
        var random = SimulationRandom(seed: 0x5EED)
        func next() -> UInt64 { random.next() }
        while total < target {
            let mebibytes = UInt64(1) << (next() % 7)  // 1, 2, 4, ... 64 MiB
            let dtype: DType = specs.count % 3 == 0 ? .BF16 : .F32
            let elements = mebibytes * (1 << 20) / UInt64(dtype.bitsPerElement / 8)
            specs.append(("model.layers.\(specs.count).weight", dtype, [elements / 1024, 1024]))
            total += mebibytes << 20
        }
        let header = try SafetensorsHeader.encode(tensors: specs, metadata: [("format", "pt")])
        let writer = try SafetensorsWriter(path: path, header: header)
        var chunk = [UInt64](repeating: 0, count: 1 << 17)  // 1 MiB
        var remaining = header.dataLength
        while remaining > 0 {
            for index in chunk.indices { chunk[index] = next() }
            let count = Int(min(remaining, UInt64(chunk.count * 8)))
            try chunk.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            remaining -= UInt64(count)
        }
        try writer.commit()
        return path
    }
}

struct BenchBeamform: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "beamform",
        abstract: "Time the robust beamforming subroutine like Table III: N = 6/12 nodes, M = 20/60 antennas.",
        discussion: """
            On the given manifest (default manifests/paper-cnn60.json) with the default scenario otherwise, solves P2(k) \
            for the first --blocks requested PBs twice: with the nodes that cache the PB under the trimcaching \
            placement ("cached nodes"), and with every node ("full CoMP"). Reports mean milliseconds per solve on \
            one core.

            Example: pbrepo bench beamform --manifest manifests/llama2-20.json --blocks 10
            """)

    @Option(help: "Manifest.") var manifest = "manifests/paper-cnn60.json"
    @Option(help: "Requested PBs timed per configuration.") var blocks = 30
    @Option(help: "Seed.") var seed: UInt64 = 1

    func run() throws {
        let repository = try Console.run { try ModelCatalog.load(manifest: manifest) }
        print("N   M   participants  mean users  ms/solve (cached nodes)  ms/solve (full CoMP)")
        for (nodes, antennas) in [(6, 20), (6, 60), (12, 20), (12, 60)] {
            var scenario = Scenario()
            scenario.nodes = nodes
            scenario.antennas = antennas
            let network = EdgeNetwork(scenario: scenario, repository: repository, seed: seed)
            let simulator = Simulator(network: network)
            let plan = TrimCaching().plan(with: simulator)
            let requested = (0..<repository.blockCount).filter { !network.requesters[$0].isEmpty }.prefix(blocks)
            var cachedTime = 0.0
            var fullTime = 0.0
            var participants = 0
            var users = 0
            for k in requested {
                let channels = network.channels(block: k)
                let holders = plan.participants(block: k)
                let chosen = holders.isEmpty ? [0] : holders
                participants += chosen.count
                users += network.requesters[k].count
                var start = DispatchTime.now().uptimeNanoseconds
                _ = simulator.broadcast(block: k, users: network.requesters[k], nodes: chosen, channels: channels)
                cachedTime += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                start = DispatchTime.now().uptimeNanoseconds
                _ = simulator.broadcast(
                    block: k, users: network.requesters[k], nodes: Array(0..<nodes), channels: channels)
                fullTime += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            }
            let count = Double(requested.count)
            print(
                String(
                    format: "%-3d %-3d %-13.1f %-11.1f %-24.2f %.2f", nodes, antennas, Double(participants) / count,
                    Double(users) / count, cachedTime / count, fullTime / count))
        }
    }
}

struct BenchDecide: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decide",
        abstract: "Time a trained policy's decision per step (all agents), like the MADRL rows of Table III.",
        discussion: "Example: pbrepo bench decide --policy policy/ --manifest cnn60.json")

    @Option(help: "A policy directory written by `pbrepo train`.") var policy: String
    @Option(help: "The manifest it was trained on.") var manifest: String
    @Option(help: "Greedy episodes to time (the median step over all of them is reported).") var episodes: Int = 3
    @Flag(help: "Time the policy even on another manifest than the one it was trained on.") var force = false

    func run() throws {
        let trainer = try Console.run { try TrainedPolicy.load(directory: policy, manifest: manifest, force: force) }
        let medians = (0..<max(1, episodes)).map { _ in trainer.decisionSeconds() }.sorted()
        let nodes = trainer.environment.nodes
        print(
            String(
                format:
                    "decision per step, %d agents: %.3f ms (median of %d episodes' medians; paper, Table III: 15.6 ms at N = 6)",
                nodes, 1000 * medians[medians.count / 2], medians.count))
    }
}
