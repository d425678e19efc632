import ArgumentParser
import Foundation
import Glibc
import PBRCore
import TestSupport
import Testing

@testable import pbrepo

/// Runs the built `pbrepo` binary, as a user would.
struct CommandRun {
    var status: Int32
    var stdout: String
    var stderr: String

    static let binary: String = {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let beside = directory.appendingPathComponent("pbrepo").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return Samples.root + "/.build/debug/pbrepo"
    }()

    /// Starts pbrepo without waiting for it, its output discarded (for races and kills); `environment` adds to
    /// this process's.
    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Runs pbrepo as a user without privileges: as `nobody` (through setpriv) when the tests run as root.
    static func run(asUnprivileged arguments: [String]) throws -> CommandRun {
        guard getuid() == 0 else { return try run(arguments) }
        return try run(
            ["--reuid=nobody", "--regid=nogroup", "--clear-groups", binary] + arguments, executable: "/usr/bin/setpriv")
    }

    static func run(_ arguments: [String], executable: String = binary) throws -> CommandRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        // A death by signal shows as 128 + signal, as a shell would say it.
        let signalled = process.terminationReason == .uncaughtSignal
        return CommandRun(
            status: signalled ? 128 + process.terminationStatus : process.terminationStatus,
            stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }
}

@Suite struct InspectCommandTests {
    @Test func parsesArguments() throws {
        let command = try PBRepo.parseAsRoot(["inspect", "model.safetensors", "--json"])
        let inspect = try #require(command as? Inspect)
        #expect(inspect.path == "model.safetensors" && inspect.json)
        #expect(throws: (any Error).self) { try PBRepo.parseAsRoot(["inspect"]) }
    }

    /// A sharded safetensors checkpoint, and a model Keras 3 saved itself with its optimizer, whose iteration count
    /// and learning rate are rank-0 datasets: h5py says shape (), and so must inspect ([]).
    @Test(arguments: [
        ("transformer/tiny-llama-ft-sharded", "safetensors"), ("keras3/digits-adam.weights.h5", "hdf5"),
    ])
    func jsonOutputAgreesWithTruth(relative: String, format: String) throws {
        let result = try CommandRun.run(["inspect", Samples.path(relative), "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["format"] as? String == format)
        #expect(object["path"] as? String == Samples.path(relative))
        if format == "safetensors" { #expect((object["metadata"] as? [String: String])?["format"] == "pt") }
        let tensors = try #require(object["tensors"] as? [[String: Any]])
        let truth = try #require(Samples.truthFiles.first { $0.path == relative })
        #expect(tensors.count == truth.tensors.count)
        for tensor in tensors {
            let name = try #require(tensor["name"] as? String)
            let expected = try #require(truth.tensors[name])
            #expect(tensor["xxh3_128"] as? String == expected.digest)
            #expect(tensor["dtype"] as? String == expected.dtype)
            #expect((tensor["shape"] as? [Int])?.map(UInt64.init) == expected.shape)
            #expect((tensor["bytes"] as? Int).map(UInt64.init) == expected.bytes)
        }
    }

    /// The Keras 3 model saved with its optimizer: the scalars are in the optimizer block with their 4 bytes each,
    /// the file is stored and rebuilt byte for byte, and the .keras archive beside it is named for what it is.
    @Test func aKeras3ModelSavedWithItsOptimizerRoundTrips() throws {
        let root = Samples.temporaryDirectory()
        let file = Samples.path("keras3/digits-adam.weights.h5")
        let truth = try #require(Samples.truthFiles.first { $0.path == "keras3/digits-adam.weights.h5" })
        let scalars = truth.tensors.filter { $0.value.shape.isEmpty }.keys.sorted()
        #expect(scalars == ["optimizer/vars/0", "optimizer/vars/1"])
        let partition = try CommandRun.run(["partition", file, "--json"])
        #expect(partition.status == 0, "\(partition.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(partition.stdout.utf8)) as? [String: Any]
        let blocks = try #require(object?["blocks"] as? [[String: Any]])
        let optimizer = try #require(blocks.first { $0["kind"] as? String == "optimizer" })
        let names = try #require(optimizer["tensors"] as? [String])
        #expect(scalars.allSatisfy(names.contains))
        let optimizerBytes = names.compactMap { truth.tensors[$0]?.bytes }.reduce(0, +)
        #expect((optimizer["bytes"] as? Int).map(UInt64.init) == optimizerBytes)
        let ingest = try CommandRun.run(["ingest", "--store", root + "/s", file])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let assemble = try CommandRun.run([
            "assemble", "--store", root + "/s", "digits-adam.weights.h5", "-o", root + "/out.h5",
        ])
        #expect(assemble.status == 0, "\(assemble.stderr)")
        #expect(try CommandRun.run([file, root + "/out.h5"], executable: "/usr/bin/cmp").status == 0)
        let archive = try CommandRun.run(["inspect", Samples.path("keras3/digits-adam.keras")])
        #expect(archive.status == 1 && archive.stderr.contains("Keras 3 .keras archive"), "\(archive.stderr)")
    }

    @Test func tableOutputHasTotals() throws {
        let result = try CommandRun.run(["inspect", Samples.path("mlp/mlp-base.weights.h5")])
        #expect(result.status == 0)
        #expect(result.stdout.contains("10 tensors, 27144 bytes"))
        #expect(result.stdout.contains("layers/dense/vars/0"))
    }

    @Test(arguments: Samples.hostile.keys.sorted() + ["does-not-exist.safetensors"])
    func badInputIsOneLineAndExitStatusOne(name: String) throws {
        let result = try CommandRun.run(["inspect", Samples.path("hostile/" + name)])
        #expect(result.status == 1, "\(name): status \(result.status)")
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(name): \(result.stderr)")
        #expect(lines.first?.hasPrefix("pbrepo: error: ") == true)
        #expect(result.stderr.contains(name))
    }
}

/// libhdf5 can crash on corrupt files; `pbrepo inspect` must still end with status 0 or 1 and at most one line of
/// error, never a signal.
@Suite struct HDF5MutationTests {
    @Test(arguments: ["mlp/mlp-ft-freeze1.h5", "mlp/mlp-base.weights.h5", "hdf5/dtypes-and-layouts.h5"])
    func mutatedHDF5FilesNeverCrashTheCommand(relative: String) throws {
        let original = try #require(FileManager.default.contents(atPath: Samples.path(relative)))
        let directory = Samples.temporaryDirectory()
        var generator = SplitMix64(seed: 7)
        var refused = 0
        for round in 0..<60 {
            let path = directory + "/mutant\(round).h5"
            try Data(Samples.mutate(original, round: round, using: &generator)).write(to: URL(fileURLWithPath: path))
            let result = try CommandRun.run(["inspect", path, "--json"])
            #expect(result.status == 0 || result.status == 1, "round \(round): status \(result.status)")
            if result.status == 1 {
                refused += 1
                #expect(result.stderr.split(separator: "\n").count == 1, "round \(round): \(result.stderr)")
            }
        }
        #expect(refused > 0)
    }
}

@Suite struct BeamformCommandTests {
    @Test func solvesTheDocumentedExample() throws {
        let result = try CommandRun.run([
            "beamform", "--instance", Samples.root + "/docs/examples/beamform-instance.json", "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let rates = try #require(object["worst_case_rate_bps"] as? [Double])
        let minimum = try #require(object["min_worst_case_rate_bps"] as? Double)
        #expect(rates.count == 3 && minimum == rates.min())
        #expect(abs((object["delay_s"] as? Double ?? 0) - 8e8 / minimum) < 1e-9)
        // QoS of 5–6 Gbit/s against ~4 Gbit/s achievable: reported infeasible, consistently with the rates.
        #expect(object["feasible"] as? Bool == false)
        #expect((object["w"] as? [[[Double]]])?.count == 2)
    }

    @Test func badInstancesAreOneLineErrors() throws {
        let path = Samples.temporaryDirectory() + "/bad.json"
        try Data(
            #"{"bandwidth_hz": 1, "noise_w": 1, "p_max_w": 1, "block_bits": 1, "qos_bps": [1], "error_eps": [[0]], "channels": [[[[1, 0], [2]]]]}"#
                .utf8
        )
        .write(to: URL(fileURLWithPath: path))
        let result = try CommandRun.run(["beamform", "--instance", path])
        #expect(result.status == 1)
        #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains("[re, im]"))
    }
}
