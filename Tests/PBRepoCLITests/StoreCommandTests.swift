import BlockStore
import Dispatch
import Foundation
import Glibc
import PBRCore
import TensorFiles
import TestSupport
import Testing
import XXHash

/// The store under processes that die: `kill -9` at random moments of real `pbrepo ingest` runs.
@Suite(.serialized, .tags(.slow)) struct StoreCrashTests {
    static let models = [
        "mlp/mlp-base.safetensors", "mlp/mlp-ft-freeze2.safetensors", "transformer/tiny-llama-ft-sharded",
        "transformer/tiny-llama-base", "mlp/mlp-ft-freeze1.h5", "lora/digits-rotated", "hdf5/dtypes-and-layouts.h5",
    ]

    /// The store, if the killed process got as far as creating it, must be consistent: every object the index
    /// names exists and decodes, every model it lists is complete.
    func expectConsistent(_ root: String, _ context: String) throws {
        guard FileManager.default.fileExists(atPath: root + "/index.sqlite3") else { return }
        let store = try Store(root: root, create: false)
        let result = try store.verify()
        #expect(result.missing.isEmpty, "\(context): missing \(result.missing)")
        #expect(result.corrupt.isEmpty, "\(context): corrupt \(result.corrupt)")
        #expect(result.incompleteModels.isEmpty, "\(context): incomplete \(result.incompleteModels)")
    }

    /// With the usual chunk size (no sample tensor is chunked) and with 4 KiB chunks, so that most tensors of the
    /// samples are lists of chunks and the kills land between chunks and their lists too.
    @Test(arguments: [nil, 4096])
    func killedIngestsNeverLeaveTheStoreInconsistent(chunkBytes: Int?) throws {
        let environment = chunkBytes.map { ["PBREPO_CHUNK_BYTES": String($0)] } ?? [:]
        // How long each ingest takes here, uninterrupted (into a throwaway store), so that the kills below land at
        // random points inside the run on a fast machine and on a slow one alike.
        var duration: [String: Double] = [:]
        let scratch = Samples.temporaryDirectory() + "/timing"
        for model in Self.models {
            let begin = DispatchTime.now().uptimeNanoseconds
            let run = try CommandRun.start(
                ["ingest", "--store", scratch, Samples.path(model)], environment: environment)
            run.waitUntilExit()
            duration[model] = Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e9
        }
        if chunkBytes != nil {
            let objects = try Store(root: scratch, create: false).objects
            let chunked = objects.allObjects().filter { (try? objects.chunks(of: $0)) != nil }
            #expect(chunked.count >= 10, "only \(chunked.count) lists of chunks: the chunked runs test nothing new")
        }
        let root = Samples.temporaryDirectory() + "/store"
        var generator = SplitMix64(seed: 2026)
        var killed = 0
        for round in 0..<48 {
            let model = Self.models[round % Self.models.count]
            let process = try CommandRun.start(
                ["ingest", "--store", root, Samples.path(model)], environment: environment)
            let limit = max(0.01, 0.9 * (duration[model] ?? 0.1))
            usleep(UInt32(Double.random(in: 0.002...limit, using: &generator) * 1e6))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal { killed += 1 }
            try expectConsistent(root, "round \(round) (\(model))")
        }
        #expect(killed >= 16, "only \(killed) of 48 ingests were killed mid-way")
        // Afterwards every model ingests completely, leftovers are collected, and a model assembles exactly.
        for model in Self.models {
            let finished = try CommandRun.start(
                ["ingest", "--store", root, Samples.path(model)], environment: environment)
            finished.waitUntilExit()
            #expect(finished.terminationStatus == 0, "\(model)")
        }
        let store = try Store(root: root, create: false)
        _ = try store.collectGarbage()
        #expect(try store.verify().isHealthy)
        #expect(try store.list().count == Self.models.count)
        let output = Samples.temporaryDirectory() + "/assembled"
        _ = try store.assemble("tiny-llama-ft-sharded", to: output)
        let original = Samples.path("transformer/tiny-llama-ft-sharded")
        for name in try FileManager.default.contentsOfDirectory(atPath: original) {
            #expect(
                FileManager.default.contentsEqual(atPath: original + "/" + name, andPath: output + "/" + name),
                "\(name)")
        }
    }

    @Test func concurrentIngestsDoNotCorruptAnything() throws {
        let root = Samples.temporaryDirectory() + "/store"
        // Seed the store so both runs find the index, then race: different models, and the same model twice.
        _ = try Store(root: root)
        let runs = try (Self.models + ["mlp/mlp-base.safetensors"]).map {
            try CommandRun.start(["ingest", "--store", root, Samples.path($0)])
        }
        for run in runs {
            run.waitUntilExit()
            #expect(run.terminationStatus == 0)
        }
        let store = try Store(root: root, create: false)
        #expect(try store.verify().isHealthy)
        #expect(try store.list().count == Self.models.count)
    }
}

/// The races and kills of the reliability findings, run for real: concurrent processes and `kill -9`.
@Suite(.serialized, .tags(.slow)) struct StoreRaceTests {
    static let base = Samples.path("mlp/mlp-base.safetensors")
    static let fineTune = Samples.path("mlp/mlp-ft-freeze1.safetensors")

    func expectAssembles(_ store: Store, _ model: String, from source: String, _ context: String) {
        let output = Samples.temporaryDirectory() + "/\(model)-\(UInt32.random(in: 0...UInt32.max))"
        #expect(throws: Never.self, "\(context): \(model)") { _ = try store.assemble(model, to: output) }
        #expect(FileManager.default.contentsEqual(atPath: output, andPath: source), "\(context): \(model)")
        try? FileManager.default.removeItem(atPath: output)
    }

    /// F-1: the same tensors ingested at once as deltas (family with a base) and plain (`--family other`), then the
    /// base removed and collected.
    @Test func sameTensorsIngestedConcurrentlyWithDifferentEncodingsSurviveRemovingTheBase() throws {
        for trial in 0..<10 {
            let root = Samples.temporaryDirectory() + "/race-\(trial)"
            #expect(try CommandRun.run(["ingest", "--store", root, Self.base]).status == 0)
            let plain = try CommandRun.start([
                "ingest", "--store", root, "--name", "copy", "--family", "other", Self.fineTune,
            ])
            let delta = try CommandRun.start(["ingest", "--store", root, Self.fineTune])
            plain.waitUntilExit()
            delta.waitUntilExit()
            #expect(plain.terminationStatus == 0 && delta.terminationStatus == 0, "trial \(trial)")
            #expect(try CommandRun.run(["rm", "--store", root, "mlp-base"]).status == 0)
            #expect(try CommandRun.run(["gc", "--store", root]).status == 0)
            let store = try Store(root: root, create: false)
            let found = try store.verify()
            #expect(found.isHealthy, "trial \(trial): \(found)")
            for model in ["copy", "mlp-ft-freeze1"] {
                expectAssembles(store, model, from: Self.fineTune, "trial \(trial)")
            }
        }
    }

    /// A base and four fine-tunes of 8 MiB each (64 tensors), large enough that an ingest takes a while.
    static func generatedFamily(in directory: String) throws -> (base: String, fineTunes: [String]) {
        var generator = SplitMix64(seed: 9)
        func tensor(_ index: Int) -> [UInt8] {
            // Small floats: a repeating exponent byte, noisy mantissas.
            (0..<32_768).flatMap { _ -> [UInt8] in
                let value = Float(Int(generator.next() % 2001) - 1000) / 40_000
                return withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
            }
        }
        let base = (0..<64).map { tensor($0) }
        func write(_ name: String, _ tensors: [[UInt8]]) throws -> String {
            let path = directory + "/\(name).safetensors"
            try SafetensorsWriter.write(
                path: path,
                tensors: tensors.enumerated().map {
                    (name: "layer.\($0.offset).weight", dtype: .F32, shape: [32_768], bytes: $0.element)
                })
            return path
        }
        let fineTunes = try (1...4).map { variant in
            try write(
                "ft\(variant)",
                base.enumerated().map { index, bytes in
                    guard index % 4 != 0 else { return bytes }  // a quarter of the layers frozen
                    var tuned = bytes
                    for position in stride(from: variant, to: tuned.count, by: 8) { tuned[position] ^= 0x01 }
                    return tuned
                })
        }
        return (try write("base", base), fineTunes)
    }

    /// F-9: gc run over and over while four fine-tunes are ingested: no ingest fails, nothing is lost.
    @Test func gcRunningBesideIngestsDeletesNothingTheyNeed() throws {
        let family = try Self.generatedFamily(in: Samples.temporaryDirectory())
        let root = Samples.temporaryDirectory() + "/store"
        #expect(try CommandRun.run(["ingest", "--store", root, family.base]).status == 0)
        var collections = 0
        for round in 0..<3 {
            let ingests = try family.fineTunes.map { path in
                try CommandRun.start([
                    "ingest", "--store", root, "--name", "r\(round)-" + URL(fileURLWithPath: path).lastPathComponent,
                    path,
                ])
            }
            var overlapping = 0
            while ingests.contains(where: \.isRunning) {
                #expect(try CommandRun.run(["gc", "--store", root]).status == 0)
                overlapping += 1
            }
            #expect(overlapping >= 1, "round \(round): no gc ran beside the ingests")
            collections += overlapping
            for (ingest, path) in zip(ingests, family.fineTunes) {
                #expect(ingest.terminationStatus == 0, "round \(round): \(path) failed beside gc")
            }
            // Removing this round's models makes the next round's objects garbage until they are ingested again.
            for path in family.fineTunes {
                #expect(
                    try CommandRun.run([
                        "rm", "--store", root, "r\(round)-" + URL(fileURLWithPath: path).lastPathComponent,
                    ]).status == 0)
            }
        }
        #expect(collections >= 3, "gc ran only \(collections) times beside the ingests")
        for path in family.fineTunes {
            #expect(
                try CommandRun.run([
                    "ingest", "--store", root, "--name", "final-" + URL(fileURLWithPath: path).lastPathComponent, path,
                ]).status == 0)
        }
        let store = try Store(root: root, create: false)
        #expect(try store.verify().isHealthy)
        for path in family.fineTunes {
            expectAssembles(
                store, "final-" + URL(fileURLWithPath: path).lastPathComponent, from: path, "after the races")
        }
    }

    /// F-13: gc killed at random moments while it deletes unreferenced objects: the store stays consistent (no row
    /// naming a deleted file, every model whole), and the next gc finishes the job.
    @Test func killedGarbageCollectionsLeaveNothingWrong() throws {
        let root = Samples.temporaryDirectory() + "/store"
        #expect(try CommandRun.run(["ingest", "--store", root, Self.base]).status == 0)
        let live = Set(try Store(root: root, create: false).objects.allObjects())
        // Garbage as a removed model leaves it: 1 500 objects with their rows.
        func makeGarbage(_ round: Int) throws {
            let path = Samples.temporaryDirectory() + "/garbage-\(round).safetensors"
            try SafetensorsWriter.write(
                path: path,
                tensors: (0..<1_500).map { index in
                    let bytes = withUnsafeBytes(of: UInt64(round * 1_000_000 + index)) { Array($0) }
                    return (name: "t\(index)", dtype: .U8, shape: [8], bytes: bytes)
                })
            #expect(try CommandRun.run(["ingest", "--store", root, "--name", "garbage", path]).status == 0)
            #expect(try CommandRun.run(["rm", "--store", root, "garbage"]).status == 0)
        }
        try makeGarbage(99)
        let begin = DispatchTime.now().uptimeNanoseconds
        #expect(try CommandRun.run(["gc", "--store", root]).status == 0)
        let duration = Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e9
        var generator = SplitMix64(seed: 13)
        var killed = 0
        for round in 0..<5 {
            try makeGarbage(round)
            let gc = try CommandRun.start(["gc", "--store", root])
            usleep(UInt32(Double.random(in: 0.05...0.9, using: &generator) * duration * 1e6))
            kill(gc.processIdentifier, SIGKILL)
            gc.waitUntilExit()
            if gc.terminationReason == .uncaughtSignal { killed += 1 }
            let store = try Store(root: root, create: false)
            let found = try store.verify()
            #expect(found.isHealthy, "round \(round): \(found.missing.count) missing, \(found.indexProblems)")
            expectAssembles(store, "mlp-base", from: Self.base, "round \(round)")
        }
        #expect(
            killed >= 2, "only \(killed) of 5 gc runs were killed mid-way (an uninterrupted one took \(duration) s)")
        #expect(try CommandRun.run(["gc", "--store", root]).status == 0)
        let store = try Store(root: root, create: false)
        #expect(Set(store.objects.allObjects()) == live)
        #expect(try store.verify().isHealthy)
    }
}

/// F-27: what a killed assemble leaves beside its output is removed by the next assemble there, and nothing else is.
@Suite(.tags(.slow)) struct StaleTemporaryTests {
    /// A process id that is certainly not running: a child that has exited and been reaped.
    static func deadProcessID() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    static func backdate(_ path: String, seconds: Int) {
        var times = [
            timeval(tv_sec: time(nil) - seconds, tv_usec: 0), timeval(tv_sec: time(nil) - seconds, tv_usec: 0),
        ]
        _ = lutimes(path, &times)
    }

    @Test func aKilledAssemblesTemporaryFileIsRemovedByTheNextAndOnlyStaleOnesAre() throws {
        let root = Samples.temporaryDirectory()
        let family = try StoreRaceTests.generatedFamily(in: root)
        let store = root + "/store"
        #expect(try CommandRun.run(["ingest", "--store", store, "--name", "big", family.base]).status == 0)
        let out = root + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        func temporaries() -> [String] {
            ((try? FileSystem.listDirectory(out)) ?? []).filter { $0.hasPrefix(".pbrepo-tmp-") }
        }
        // kill -9 an assemble while its temporary file is there (the 8 MiB write takes a few milliseconds).
        var killed = false
        for _ in 0..<30 where !killed {
            let run = try CommandRun.start(["assemble", "--store", store, "big", "-o", out + "/big.safetensors"])
            while run.isRunning && temporaries().isEmpty { usleep(200) }
            if run.isRunning {
                kill(run.processIdentifier, SIGKILL)
                killed = true
            }
            run.waitUntilExit()
            try? FileManager.default.removeItem(atPath: out + "/big.safetensors")
        }
        try #require(killed, "no assemble could be killed while writing")
        let leftByTheKill = try #require(temporaries().first)
        Self.backdate(out + "/" + leftByTheKill, seconds: 120)

        // Beside it: a staging directory of a dead process holding a link to a file outside (removed, not
        // followed), one of a dead process changed just now, and one of a live process (both kept).
        let dead = try Self.deadProcessID()
        let victim = root + "/victim.txt"
        try "keep me".write(toFile: victim, atomically: true, encoding: .utf8)
        let staleDirectory = ".pbrepo-tmp-\(dead)-model.AbC123"
        try FileManager.default.createDirectory(atPath: out + "/" + staleDirectory, withIntermediateDirectories: true)
        try "x".write(toFile: out + "/" + staleDirectory + "/config.json", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(
            atPath: out + "/" + staleDirectory + "/model.safetensors", withDestinationPath: victim)
        Self.backdate(out + "/" + staleDirectory + "/config.json", seconds: 120)
        Self.backdate(out + "/" + staleDirectory + "/model.safetensors", seconds: 120)
        Self.backdate(out + "/" + staleDirectory, seconds: 120)
        let fresh = ".pbrepo-tmp-\(dead)-123-fresh.safetensors"
        try "y".write(toFile: out + "/" + fresh, atomically: true, encoding: .utf8)
        let live = ".pbrepo-tmp-\(getpid())-456-live.safetensors"
        try "z".write(toFile: out + "/" + live, atomically: true, encoding: .utf8)
        Self.backdate(out + "/" + live, seconds: 120)

        let again = try CommandRun.run(["assemble", "--store", store, "big", "-o", out + "/big.safetensors"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("removed 2 temporary file(s)"), "\(again.stderr)")
        #expect(Set(temporaries()) == [fresh, live], "\(temporaries())")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "keep me")
        #expect(try FileSystem.read(out + "/big.safetensors") == FileSystem.read(family.base))
    }
}

/// Issue 12 §1: SIGINT and SIGTERM during assemble (a file model, and a directory model while its staging directory
/// fills) leave no temporary file, print one line saying what was not finished, and exit 130 / 143.
/// gc removes what a `kill -9`ed assemble left beside its output (issue 12 §1): the store remembers the directories
/// it assembled into.
@Suite(.serialized, .tags(.slow)) struct OutputTemporaryTests {
    @Test func gcRemovesWhatAKilledAssembleLeftBesideItsOutput() throws {
        let root = Samples.temporaryDirectory()
        let family = try StoreRaceTests.generatedFamily(in: root)
        let store = root + "/store"
        #expect(try CommandRun.run(["ingest", "--store", store, "--name", "one", family.base]).status == 0)
        let out = root + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        func staged() -> [String] {
            ((try? FileSystem.listDirectory(out)) ?? []).filter { $0.hasPrefix(".pbrepo-tmp-") }
        }
        for _ in 0..<40 where staged().isEmpty {
            let process = try CommandRun.start(["assemble", "--store", store, "one", "-o", out + "/one.safetensors"])
            while process.isRunning && staged().isEmpty { usleep(100) }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            unlink(out + "/one.safetensors")
        }
        let left = staged()
        try #require(!left.isEmpty, "no assemble could be killed while writing")
        let gc = try CommandRun.run(["gc", "--store", store, "--json"])
        #expect(gc.status == 0, "\(gc.stderr)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(gc.stdout.utf8)) as? [String: Any])
        let removed = (result["output_temporaries_removed"] as? [String]) ?? []
        #expect(Set(removed.map { URL(fileURLWithPath: $0).lastPathComponent }) == Set(left), "\(removed) vs \(left)")
        #expect(staged().isEmpty)
    }
}

@Suite(.serialized, .tags(.slow)) struct InterruptionTests {
    @Test(arguments: [(SIGINT, Int32(130)), (SIGTERM, Int32(143))])
    func interruptedAssemblesLeaveNothingAndSaySo(signal: Int32, status: Int32) throws {
        let root = Samples.temporaryDirectory()
        let family = try StoreRaceTests.generatedFamily(in: root)
        let folder = root + "/family"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: family.base, toPath: folder + "/model.safetensors")
        try #"{"architectures": ["Test"]}"#.write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
        let store = root + "/store"
        #expect(try CommandRun.run(["ingest", "--store", store, "--name", "one", family.base]).status == 0)
        #expect(try CommandRun.run(["ingest", "--store", store, "--name", "tree", folder]).status == 0)
        for (model, output) in [("one", root + "/out/one.safetensors"), ("tree", root + "/out/tree")] {
            try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: true)
            var interrupted: (status: Int32, stderr: String)?
            for _ in 0..<40 where interrupted == nil {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: CommandRun.binary)
                process.arguments = ["assemble", "--store", store, model, "-o", output]
                let errors = Pipe()
                process.standardError = errors
                process.standardOutput = FileHandle.nullDevice
                try process.run()
                func staged() -> Bool {
                    ((try? FileSystem.listDirectory(root + "/out")) ?? []).contains { $0.hasPrefix(".pbrepo-tmp-") }
                }
                while process.isRunning && !staged() { usleep(100) }
                if process.isRunning { kill(process.processIdentifier, signal) }
                let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                if process.terminationReason == .exit && process.terminationStatus == status {
                    interrupted = (process.terminationStatus, text)
                } else {
                    FileSystem.removeTree(output)
                    unlink(output)
                }
            }
            let result = try #require(interrupted, "no assemble of \(model) could be interrupted while writing")
            #expect(result.stderr.contains("interrupted by SIG"), "\(result.stderr)")
            #expect(result.stderr.contains("assemble of \(model)") && result.stderr.contains("not finished"))
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            let left = try FileSystem.listDirectory(root + "/out")
            #expect(left.isEmpty, "\(left)")
        }
    }
}

@Suite struct AssembleCommandTests {
    @Test func assemblesFromTheStoreAndFromExportedBlocksWithTheChecksItReports() throws {
        let root = Samples.temporaryDirectory()
        let store = root + "/store"
        let original = Samples.path("transformer/tiny-llama-ft-sharded")
        let ingest = try CommandRun.run(["ingest", "--store", store, original, "--json"])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let client = root + "/client"
        #expect(
            try CommandRun.run(["export-blocks", "--store", store, "tiny-llama-ft-sharded", "-o", client]).status == 0)
        for (index, source) in [["--store", store], ["--from", client]].enumerated() {
            for sha256 in [false, true] {
                let output = root + "/out-\(index)-\(sha256)"
                let run = try CommandRun.run(
                    ["assemble", "tiny-llama-ft-sharded", "-o", output, "--json"] + source
                        + (sha256 ? ["--sha256"] : []))
                #expect(run.status == 0, "\(run.stderr)")
                let report = try #require(
                    try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
                #expect(report["xxh3_verified"] as? Bool == true)
                #expect(report["sha256_verified"] as? Bool == sha256)
                for name in try FileManager.default.contentsOfDirectory(atPath: original) {
                    #expect(
                        FileManager.default.contentsEqual(atPath: original + "/" + name, andPath: output + "/" + name),
                        "\(name)")
                }
            }
        }
        // An existing output directory is refused, and left as it was.
        try FileManager.default.createDirectory(atPath: root + "/taken", withIntermediateDirectories: true)
        let refused = try CommandRun.run(["assemble", "--store", store, "tiny-llama-ft-sharded", "-o", root + "/taken"])
        #expect(refused.status != 0 && refused.stderr.contains("exists"), "\(refused.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/taken").isEmpty)
    }

    /// Issue 12 §1: nothing is overwritten without `--force`; a directory given for a single-file model receives the
    /// file as `cp` would; missing parent directories are created for files and directories alike.
    @Test func existingOutputsAreRefusedUnlessForcedAndDirectoriesReceiveFiles() throws {
        let root = Samples.temporaryDirectory()
        let store = root + "/store"
        let single = Samples.path("mlp/mlp-base.safetensors")
        let sharded = Samples.path("transformer/tiny-llama-ft-sharded")
        for source in [single, sharded] {
            #expect(try CommandRun.run(["ingest", "--store", store, source]).status == 0)
        }
        func assemble(_ model: String, _ output: String, force: Bool = false) throws -> CommandRun {
            try CommandRun.run(["assemble", "--store", store, model, "-o", output] + (force ? ["--force"] : []))
        }
        let original = try FileSystem.read(single)

        // A file in the way is left alone, then replaced with --force.
        let taken = root + "/taken.safetensors"
        try "precious".write(toFile: taken, atomically: true, encoding: .utf8)
        let refused = try assemble("mlp-base", taken)
        #expect(refused.status == 1 && refused.stderr.contains("--force"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: taken, encoding: .utf8) == "precious")
        #expect(try assemble("mlp-base", taken, force: true).status == 0)
        #expect(try FileSystem.read(taken) == original)

        // -o DIR/ (created, with its parents) and -o EXISTING_DIR put the file inside under its name.
        #expect(try assemble("mlp-base", root + "/new/deeper/").status == 0)
        #expect(try FileSystem.read(root + "/new/deeper/mlp-base.safetensors") == original)
        try FileManager.default.createDirectory(atPath: root + "/existing", withIntermediateDirectories: true)
        #expect(try assemble("mlp-base", root + "/existing").status == 0)
        #expect(try FileSystem.read(root + "/existing/mlp-base.safetensors") == original)
        #expect(try assemble("mlp-base", root + "/existing").status == 1, "the file inside is not replaced either")

        // A directory model: parents created; an existing directory refused, then swapped whole with --force
        // (nothing of the old one survives); --force does not replace a file with a directory.
        let directory = root + "/a/b/llama"
        #expect(try assemble("tiny-llama-ft-sharded", directory).status == 0)
        try "stale".write(toFile: directory + "/extra.txt", atomically: true, encoding: .utf8)
        #expect(try assemble("tiny-llama-ft-sharded", directory).status == 1)
        #expect(FileManager.default.fileExists(atPath: directory + "/extra.txt"))
        #expect(try assemble("tiny-llama-ft-sharded", directory, force: true).status == 0)
        #expect(
            try Set(FileManager.default.contentsOfDirectory(atPath: directory))
                == Set(FileManager.default.contentsOfDirectory(atPath: sharded)))
        for name in try FileManager.default.contentsOfDirectory(atPath: sharded) {
            #expect(try FileSystem.read(directory + "/" + name) == FileSystem.read(sharded + "/" + name), "\(name)")
        }
        let mismatch = try assemble("tiny-llama-ft-sharded", taken, force: true)
        #expect(mismatch.status == 1 && mismatch.stderr.contains("is a file"), "\(mismatch.stderr)")
        #expect(try FileSystem.read(taken) == original)
        #expect(((try? FileSystem.listDirectory(root + "/a/b")) ?? []).filter { $0.hasPrefix(".pbrepo-tmp") }.isEmpty)
    }
}

@Suite struct TrainCommandTests {
    @Test func trainThenPlanAndSimulateWithThePolicy() throws {
        let root = Samples.temporaryDirectory()
        let manifest = try Fixtures.writeTinyTraining(in: root).manifest
        let train = try CommandRun.run([
            "train", "--manifest", manifest, "--scenario", root + "/scenario.json", "--config", root + "/config.json",
            "--episodes", "3", "--seed", "2", "-o", root + "/policy", "--json",
        ])
        #expect(train.status == 0, "\(train.stderr)")
        let curve = try String(contentsOfFile: root + "/policy/curve.csv", encoding: .utf8)
        #expect(curve.split(separator: "\n").count == 4)
        let plan = try CommandRun.run(["plan", "--policy", root + "/policy", "--manifest", manifest, "--json"])
        #expect(plan.status == 0, "\(plan.stderr)")
        let simulate = try CommandRun.run([
            "simulate", "--manifest", manifest, "--scheme", "maasn-da", "--policy", root + "/policy", "--json",
        ])
        #expect(simulate.stdout == plan.stdout)
        let summary = try CommandRun.run(["plan", "--policy", root + "/policy", "--manifest", manifest])
        #expect(summary.stdout.contains("scheme maasn-da, seed 2") && summary.stdout.contains("total delay T ="))
        let contradicting = try CommandRun.run([
            "simulate", "--manifest", manifest, "--scheme", "qmix-da", "--policy", root + "/policy",
        ])
        #expect(contradicting.status == 64 && contradicting.stderr.contains("which is a maasn-da policy"))
        let report = try #require(try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any])
        #expect(report["scheme"] as? String == "maasn-da" && report["seed"] as? Int == 2)
        // A policy scheme without a policy, and a bad override, are refused with a message.
        let missing = try CommandRun.run(["simulate", "--manifest", manifest, "--scheme", "maasn-da"])
        #expect(missing.status != 0 && missing.stderr.contains("--policy"))
        try #"{"batchSize": 0}"#.write(toFile: root + "/bad.json", atomically: true, encoding: .utf8)
        let bad = try CommandRun.run([
            "train", "--manifest", manifest, "--config", root + "/bad.json", "-o", root + "/other",
        ])
        #expect(bad.status == 1 && bad.stderr.contains("batchSize"), "\(bad.stderr)")
        // A sweep trains the learner on every point; the CSV names it next to the baselines.
        let sweep = try CommandRun.run([
            "sweep", "--manifest", manifest, "--scenario", root + "/scenario.json", "--vary", "capacity=3e8,5e8",
            "--schemes", "trimcaching,maasn-da", "--seeds", "1", "--train-episodes", "2", "--train-config",
            root + "/config.json",
            "-o", root + "/sweep",
        ])
        #expect(sweep.status == 0, "\(sweep.stderr)")
        let rows = try String(contentsOfFile: root + "/sweep/sweep.csv", encoding: .utf8).split(separator: "\n")
            .dropFirst()
        #expect(rows.map { $0.split(separator: ",")[2] } == ["trimcaching", "maasn-da", "trimcaching", "maasn-da"])
        let idle = try CommandRun.run([
            "sweep", "--manifest", manifest, "--vary", "capacity=3e8", "--schemes", "heuristic", "--train-episodes",
            "2", "-o", root + "/idle",
        ])
        #expect(idle.status != 0 && idle.stderr.contains("learners"), "\(idle.stderr)")
        let badLearner = try CommandRun.run([
            "sweep", "--manifest", manifest, "--vary", "capacity=3e8", "--schemes", "maasn-da", "--train-config",
            root + "/bad.json", "-o", root + "/bad-sweep",
        ])
        #expect(badLearner.status == 1 && badLearner.stderr.contains("batchSize"), "\(badLearner.stderr)")
    }
}
