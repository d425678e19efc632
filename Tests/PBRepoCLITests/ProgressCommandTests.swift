import Foundation
import PBRCore
import TensorFiles
import TestSupport
import Testing

/// Progress on a terminal (issue 12 §4), through a real pseudo-terminal (`script`): one bar over the whole ingest —
/// it never goes back and reaches 100 % only at the end — with a rate; `--no-progress` and `-q` draw none.
@Suite struct ProgressCommandTests {
    /// A model of random float32 tensors (incompressible, so that encoding takes as long as hashing).
    static func makeModel(at path: String, tensors: Int, floats: Int) throws {
        var generator = SplitMix64(seed: 7)
        let list = (0..<tensors).map { index -> (name: String, dtype: DType, shape: [UInt64], bytes: [UInt8]) in
            let words = (0..<(floats / 2)).map { _ in generator.next() }
            let bytes = words.withUnsafeBytes { Array($0) }
            return ("model.layers.\(index).weight", .F32, [UInt64(floats)], bytes)
        }
        try SafetensorsWriter.write(path: path, tensors: list)
    }

    /// What `pbrepo arguments` writes to a terminal.
    static func onTerminal(_ arguments: [String]) throws -> CommandRun {
        let command = ([CommandRun.binary] + arguments).map { "'" + $0 + "'" }.joined(separator: " ")
        return try CommandRun.run(["-qec", command, "/dev/null"], executable: "/usr/bin/script")
    }

    @Test func ingestDrawsOneBarOverTheWholeWork() throws {
        let root = Samples.temporaryDirectory()
        try Self.makeModel(at: root + "/m.safetensors", tensors: 24, floats: 1 << 20)
        let run = try Self.onTerminal(["ingest", "--store", root + "/s", root + "/m.safetensors"])
        #expect(run.status == 0, "\(run.stdout)")
        let percents = run.stdout.split(separator: "\r").compactMap { frame -> Int? in
            guard frame.hasPrefix("ingest "), let close = frame.firstIndex(of: "]") else { return nil }
            return Int(frame[frame.index(after: close)...].drop { $0 == " " }.prefix { $0.isNumber })
        }
        #expect(percents.count >= 3, "\(run.stdout.debugDescription)")
        #expect(zip(percents, percents.dropFirst()).allSatisfy { $0 <= $1 }, "went back: \(percents)")
        #expect(percents.last == 100)
        // The bar's total is the hashing and the encoding (96 MiB each), not the hashing alone.
        let totals = run.stdout.split(separator: "\r").compactMap { frame -> Double? in
            guard frame.hasPrefix("ingest "), let slash = frame.firstIndex(of: "/") else { return nil }
            let after = frame[frame.index(after: slash)...]
            return after.hasPrefix("192.0 MiB") || after.hasPrefix("192.1 MiB")
                ? 192 : Double(after.prefix { $0.isNumber || $0 == "." })
        }
        #expect(totals.allSatisfy { $0 == 192 }, "\(run.stdout.debugDescription)")
        #expect(percents.contains { $0 > 0 && $0 < 90 }, "\(percents)")
        #expect(run.stdout.contains("/s"), "no rate: \(run.stdout.debugDescription)")

        // -j/--jobs: one thread stores the same objects as every core; 0 threads is refused.
        let single = try CommandRun.run(["ingest", "-j", "1", "--store", root + "/one", root + "/m.safetensors"])
        #expect(single.status == 0, "\(single.stderr)")
        let objects = { (store: String) in
            (try? FileManager.default.subpathsOfDirectory(atPath: store + "/objects").sorted()) ?? []
        }
        #expect(!objects(root + "/one").isEmpty && objects(root + "/one") == objects(root + "/s"))
        let none = try CommandRun.run(["ingest", "--jobs=0", "--store", root + "/none", root + "/m.safetensors"])
        #expect(none.status == 64 && none.stderr.contains("-j/--jobs takes a number of threads"), "\(none.stderr)")
        for quiet in ["--no-progress", "-q"] {
            let silent = try Self.onTerminal(["ingest", quiet, "--store", root + "/t" + quiet, root + "/m.safetensors"])
            #expect(silent.status == 0 && !silent.stdout.contains("["), "\(quiet): \(silent.stdout.debugDescription)")
            #expect(silent.stdout.contains("added m"), "\(quiet): \(silent.stdout)")
        }
    }

    /// simulate's searching schemes do not know their total: a counter of beamforming problems with its rate says the
    /// run moves; it ends with a cleared line before the summary, and --no-progress draws none.
    @Test func simulateCountsItsWorkOnATerminal() throws {
        let arguments = [
            "simulate", "--manifest", Samples.root + "/manifests/samples.json", "--scheme", "tdma-unicast",
        ]
        let run = try Self.onTerminal(arguments)
        #expect(run.status == 0, "\(run.stdout)")
        let frames = run.stdout.split(separator: "\r").filter { $0.hasPrefix("simulate tdma-unicast: ") }
        #expect(frames.first?.hasPrefix("simulate tdma-unicast: 0 beamforming problems solved, 0:00") == true)
        #expect(run.stdout.contains("\r\u{1B}[Kscheme tdma-unicast, seed 1"), "\(run.stdout.debugDescription)")
        let silent = try Self.onTerminal(arguments + ["--no-progress"])
        #expect(silent.status == 0 && !silent.stdout.contains("beamforming problems"), "\(silent.stdout)")
        #expect(silent.stdout.contains("scheme tdma-unicast, seed 1"))
    }
}
