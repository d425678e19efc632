import Foundation
import Glibc
import HDF5
import TensorFiles
import TestSupport
import Testing

/// The findings of the attack on the CLI (F-7, F-10, F-12, F-16, F-17, F-21, F-22, F-24, F-25, F-28), each as it was
/// reported: a one-line error and exit status 1 (64 for a bad option), never a trap, a hang or a leak.
@Suite struct HostileInputCommandTests {
    static let base = Samples.path("mlp/mlp-base.safetensors")

    func expectCleanRefusal(_ run: CommandRun, _ context: String, mentioning: String? = nil) {
        #expect(run.status == 1 || run.status == 64, "\(context): status \(run.status): \(run.stderr)")
        #expect(
            !run.stderr.contains("Fatal error") && !run.stderr.contains("ExitCode(")
                && !run.stderr.contains("Error Domain="), "\(context): \(run.stderr)")
        if let mentioning { #expect(run.stderr.contains(mentioning), "\(context): \(run.stderr)") }
    }

    @Test(arguments: [
        "capacity=", "capacity=1,,2", "users=nan", "users=9223372036854775807", "nodes=1e19", "users=1e18",
        "nodes=1e10", "users=2.5", "reuse=2", "reuse=-1", "reuse=nan", "capacity=inf", "zipf=-1", "antennas=0",
    ])
    func sweepValuesThatCrashedAreRefused(vary: String) throws {
        let run = try CommandRun.run([
            "sweep", "--manifest", Samples.root + "/manifests/samples.json", "-o", Samples.temporaryDirectory(),
            "--seeds", "1", "--schemes", "coarse", "--vary", vary,
        ])
        expectCleanRefusal(run, vary)
    }

    @Test func scenariosBeyondTheLimitsAreRefusedNamingTheLimit() throws {
        let directory = Samples.temporaryDirectory()
        for (field, value) in [("nodes", "1000000"), ("users", "10000000"), ("antennas", "100000")] {
            try "{\"\(field)\": \(value)}".write(toFile: directory + "/s.json", atomically: true, encoding: .utf8)
            let run = try CommandRun.run([
                "simulate", "--manifest", Samples.root + "/manifests/samples.json", "--scenario", directory + "/s.json",
                "--scheme", "coarse",
            ])
            expectCleanRefusal(run, field, mentioning: "PBREPO_LIMIT_\(field.uppercased())")
        }
    }

    @Test func manifestsWithoutBlocksOrWithRepeatedModelsAreRefused() throws {
        let directory = Samples.temporaryDirectory()
        let text = try String(contentsOfFile: Samples.root + "/manifests/samples.json", encoding: .utf8)
        var manifest = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        var models = manifest["models"] as! [[String: Any]]
        models.append(models[0])
        manifest["models"] = models
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: directory + "/dup.json"))
        manifest["models"] = (manifest["models"] as! [[String: Any]]).map {
            var m = $0
            m["blocks"] = []
            return m
        }
        manifest["blocks"] = []
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: directory + "/none.json"))
        expectCleanRefusal(
            try CommandRun.run(["train", "--manifest", directory + "/none.json", "-o", directory + "/t"]), "no blocks",
            mentioning: "no blocks")
        expectCleanRefusal(
            try CommandRun.run(["simulate", "--manifest", directory + "/dup.json", "--scheme", "coarse"]),
            "repeated model",
            mentioning: "listed twice")
    }

    @Test func policiesWithImpossibleNetworkSizesAreRefused() throws {
        let root = Samples.temporaryDirectory()
        let manifest = try Fixtures.writeTinyManifest(to: root + "/tiny.json", includingFamilyG: false)
        try #"{"hidden": 8, "embedding": 4, "mixerHidden": 4, "reservoir": 8, "batchSize": 4, "updatesPerEpisode": 1}"#
            .write(toFile: root + "/config.json", atomically: true, encoding: .utf8)
        let train = try CommandRun.run([
            "train", "--manifest", manifest, "--config", root + "/config.json", "--episodes", "1", "-o",
            root + "/policy",
        ])
        #expect(train.status == 0, "\(train.stderr)")
        // F-28: planning with another manifest than the one trained on is refused; the same blocks elsewhere are not.
        let other = try Fixtures.writeTinyManifest(to: root + "/other.json", includingFamilyG: true)
        expectCleanRefusal(
            try CommandRun.run(["plan", "--policy", root + "/policy", "--manifest", other]), "other manifest",
            mentioning: "trained on another manifest")
        let forced = try CommandRun.run(["plan", "--policy", root + "/policy", "--manifest", other, "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        for command in [["simulate", "--scheme", "maasn-da"], ["bench", "decide"]] {
            expectCleanRefusal(
                try CommandRun.run(command + ["--policy", root + "/policy", "--manifest", other]), "\(command)",
                mentioning: "--force")
        }
        try FileManager.default.copyItem(atPath: manifest, toPath: root + "/copy.json")
        let copy = try CommandRun.run(["plan", "--policy", root + "/policy", "--manifest", root + "/copy.json"])
        #expect(copy.status == 0, "\(copy.stderr)")
        // The record carries the manifest's SHA-256 as sha256sum computes it, and of the scenario.
        let policy =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/policy/policy.json")))
            as? [String: Any]
        let sha256sum = try CommandRun.run([manifest], executable: "/usr/bin/sha256sum")
        #expect(sha256sum.stdout.split(separator: " ").first.map(String.init) == policy?["manifestSHA256"] as? String)
        #expect((policy?["scenarioSHA256"] as? String)?.count == 64)
        // Another scenario is refused, naming the field that differs, unless forced; the same values spelled out are
        // the same scenario.
        try #"{"users": 12}"#.write(toFile: root + "/users.json", atomically: true, encoding: .utf8)
        expectCleanRefusal(
            try CommandRun.run([
                "plan", "--policy", root + "/policy", "--manifest", manifest, "--scenario", root + "/users.json",
            ]), "other scenario", mentioning: "users")
        let forcedScenario = try CommandRun.run([
            "plan", "--policy", root + "/policy", "--manifest", manifest, "--scenario", root + "/users.json", "--force",
        ])
        #expect(forcedScenario.status == 0, "\(forcedScenario.stderr)")
        let trained = try JSONSerialization.data(withJSONObject: policy?["scenario"] ?? [:])
        try trained.write(to: URL(fileURLWithPath: root + "/same.json"))
        let same = try CommandRun.run([
            "plan", "--policy", root + "/policy", "--manifest", manifest, "--scenario", root + "/same.json",
        ])
        #expect(same.status == 0, "\(same.stderr)")
        let record = try String(contentsOfFile: root + "/policy/policy.json", encoding: .utf8)
        for (field, value) in [("hidden", "-5"), ("hidden", "1000000"), ("embedding", "1000000000")] {
            let edited = record.replacingOccurrences(
                of: #""\#(field)" *: *[0-9]+"#, with: "\"\(field)\": \(value)", options: .regularExpression)
            #expect(edited != record)
            try edited.write(toFile: root + "/policy/policy.json", atomically: true, encoding: .utf8)
            expectCleanRefusal(
                try CommandRun.run(["plan", "--policy", root + "/policy", "--manifest", manifest]), "\(field) \(value)")
        }
    }

    /// An output folder where a file stands (the folder itself, or one above it) is refused naming the file, not
    /// with Foundation's `NSCocoaErrorDomain Code=516` dump; the file is left as it was.
    @Test func outputFoldersWhereAFileStandsAreRefusedNamingIt() throws {
        let root = Samples.temporaryDirectory()
        let manifest = Samples.root + "/manifests/samples.json"
        let file = root + "/taken"
        try "keep me".write(toFile: file, atomically: true, encoding: .utf8)
        let store = root + "/s"
        #expect(try CommandRun.run(["ingest", "--store", store, Self.base, "--name", "m"]).status == 0)
        let training = try Fixtures.writeTinyTraining(in: root)
        for output in [file, file + "/sub"] {
            for command in [
                ["sweep", "--manifest", manifest, "--vary", "users=5", "--schemes", "coarse", "--seeds", "1"],
                ["robustness", "--manifest", manifest, "--blocks", "1", "--draws", "2"],
                ["train", "--manifest", training.manifest, "--config", training.config, "--episodes", "1"],
                ["export-blocks", "--store", store, "m"],
            ] {
                expectCleanRefusal(
                    try CommandRun.run(command + ["-o", output]), "\(command[0]) -o \(output)",
                    mentioning: "\(file): exists and is not a directory")
            }
        }
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "keep me")
    }

    @Test func nonFiniteOptionsAreRefusedRatherThanPrintedAsInvalidJSON() throws {
        let out = Samples.temporaryDirectory()
        expectCleanRefusal(
            try CommandRun.run([
                "robustness", "--manifest", Samples.root + "/manifests/samples.json", "--eps", "inf", "--json", "-o",
                out,
            ]), "eps inf")
        expectCleanRefusal(try CommandRun.run(["bound", "--steps", "inf", "--json"]), "steps inf")
        expectCleanRefusal(try CommandRun.run(["bound", "--episodes", "nan", "--json"]), "episodes nan")
    }

    /// F-7: a link out of the model folder is refused, so nothing of its target is stored or shipped; links inside
    /// the folder (as in a Hugging Face snapshot) are followed.
    @Test func symlinksOutOfTheModelFolderAreNotFollowed() throws {
        let root = Samples.temporaryDirectory()
        let secret = root + "/secret.txt"
        try "the secret".write(toFile: secret, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: root + "/m", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.base, toPath: root + "/m/model.safetensors")
        try FileManager.default.createSymbolicLink(atPath: root + "/m/config.json", withDestinationPath: secret)
        let refused = try CommandRun.run(["ingest", "--store", root + "/s", root + "/m"])
        expectCleanRefusal(refused, "link out", mentioning: "outside the model's folder")
        // A snapshot whose files link to ../../blobs of the same repository folder is ingested.
        let repository = root + "/models--org--m"
        try FileManager.default.createDirectory(atPath: repository + "/blobs", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            atPath: repository + "/snapshots/abc", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.base, toPath: repository + "/blobs/1234")
        try FileManager.default.createSymbolicLink(
            atPath: repository + "/snapshots/abc/model.safetensors", withDestinationPath: "../../blobs/1234")
        let snapshot = try CommandRun.run(["ingest", "--store", root + "/s", repository + "/snapshots/abc"])
        #expect(snapshot.status == 0, "\(snapshot.stderr)")
    }

    /// F-5 (sub-folders dropped) is answered by storing the whole tree (ModelTreeCommandTests); what a tree must not
    /// hold is refused naming it: a link to a folder (a loop, or a second copy), a shard its index does not name.
    @Test func linksToFoldersAndShardsTheIndexLostAreRefused() throws {
        let root = Samples.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: root + "/m/tokenizer", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.base, toPath: root + "/m/model.safetensors")
        try FileManager.default.createSymbolicLink(atPath: root + "/m/tokenizer/loop", withDestinationPath: "..")
        expectCleanRefusal(
            try CommandRun.run(["ingest", "--store", root + "/s", root + "/m"]), "link to a folder",
            mentioning: "tokenizer/loop is a symbolic link to the folder")
        let sharded = root + "/sharded"
        try FileManager.default.copyItem(atPath: Samples.path("hostile/index-ignores-a-shard"), toPath: sharded)
        try FileManager.default.createDirectory(atPath: root + "/tree", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: sharded, toPath: root + "/tree/text_encoder")
        try FileManager.default.copyItem(atPath: Self.base, toPath: root + "/tree/model.safetensors")
        expectCleanRefusal(
            try CommandRun.run(["ingest", "--store", root + "/s", root + "/tree"]), "stray shard in a sub-folder",
            mentioning: "text_encoder/model-00002-of-00002.safetensors looks like a shard of")
        let list = try CommandRun.run(["list", "--store", root + "/s", "--json"])
        #expect(list.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]", "\(list.stdout)")
    }

    /// F-10: a FIFO in a model folder, or given as a file, is refused at once (the test would hang otherwise).
    @Test func fifosAreRefusedInsteadOfBlocking() throws {
        let root = Samples.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: root + "/m", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.base, toPath: root + "/m/model.safetensors")
        #expect(mkfifo(root + "/m/config.json", 0o644) == 0)
        #expect(mkfifo(root + "/pipe.h5", 0o644) == 0)
        expectCleanRefusal(try CommandRun.run(["ingest", "--store", root + "/s", root + "/m"]), "FIFO in a folder")
        expectCleanRefusal(try CommandRun.run(["inspect", root + "/pipe.h5"]), "FIFO as a file")
        expectCleanRefusal(try CommandRun.run(["inspect", root + "/m/config.json"]), "FIFO as a file")
    }

    /// F-31: a file whose name is not UTF-8 is refused naming its bytes (it was "No such file or directory"); F-30:
    /// a file that says it is empty but has content (/proc) is refused rather than stored empty.
    @Test func namesThatAreNotUTF8AndFilesThatLieAboutTheirSizeAreRefused() throws {
        let root = Samples.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: root + "/m", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.base, toPath: root + "/m/model.safetensors")
        let name = Array((root + "/m/conf").utf8) + [0xFF] + Array("ig.json".utf8) + [0]
        let descriptor = name.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY, 0o644) }
        }
        #expect(descriptor >= 0)
        close(descriptor)
        let run = try CommandRun.run(["ingest", "--store", root + "/s", root + "/m"])
        expectCleanRefusal(run, "non-UTF-8 name", mentioning: "conf\\xffig.json")
        #expect(run.stderr.contains("not UTF-8"), "\(run.stderr)")
        expectCleanRefusal(
            try CommandRun.run(["inspect", "/proc/self/status"]), "/proc file", mentioning: "its size is 0 but")
    }

    /// F-23: a valid HDF5 file the check child cannot finish in time is refused saying it may be valid and how to
    /// raise the limit (a time limit of a millisecond stands in for a file that needs minutes).
    @Test func theHDF5CheckLimitSaysHowToRaiseIt() throws {
        let sample = Samples.path("mlp/mlp-base.h5")
        let hurried = try CommandRun.run(
            ["PBREPO_LIMIT_HDF5_CHECK_SECONDS=0.000001", CommandRun.binary, "inspect", sample],
            executable: "/usr/bin/env")
        expectCleanRefusal(hurried, "hurried check", mentioning: "PBREPO_LIMIT_HDF5_CHECK_SECONDS raises the limit")
        let patient = try CommandRun.run(
            ["PBREPO_LIMIT_HDF5_CHECK_SECONDS=600", CommandRun.binary, "inspect", sample], executable: "/usr/bin/env")
        #expect(patient.status == 0, "\(patient.stderr)")
    }

    /// F-21: killing pbrepo while its HDF5 check child runs does not leave the child running: the child sees its
    /// parent gone and exits within its 100 ms poll (it used to go on hashing at 100 % CPU for minutes).
    @Test func killingTheParentEndsTheHDF5CheckChild() throws {
        let path = Samples.temporaryDirectory() + "/many-datasets.h5"
        let writer = try HDF5FileWriter(creatingAt: path)
        // 80 000 small datasets keep the child busy for seconds (each is opened, described and hashed, 60 µs each).
        for index in 0..<Self.slowCheckDatasets {
            let info = HDF5DatasetInfo(
                path: "d\(index)", datatype: .integer(bytes: 4, signed: true), dataspace: .simple([2]),
                layout: .contiguous, fileOffset: nil, storageSize: 0, attributes: [])
            try [UInt8](repeating: 1, count: 8).withUnsafeBytes { try writer.createDataset(info, data: $0) }
        }
        try writer.close()
        let parent = try CommandRun.start(["inspect", path])
        var child: Int32?
        let deadline = Date().addingTimeInterval(20)
        while child == nil && Date() < deadline && parent.isRunning {
            child = Self.processes(commandLineContaining: ["check-hdf5", path]).first
            if child == nil { usleep(10_000) }
        }
        let running = try #require(child, "the check child never appeared")
        defer { kill(running, SIGKILL) }
        usleep(300_000)
        #expect(
            kill(running, 0) == 0, "the check finished before the parent could be killed: the test needs a slower file")
        kill(parent.processIdentifier, SIGKILL)
        parent.waitUntilExit()
        let gone = Date().addingTimeInterval(3)
        while kill(running, 0) == 0 && Date() < gone { usleep(20_000) }
        #expect(kill(running, 0) != 0, "the check child \(running) outlived its killed parent")
    }

    static let slowCheckDatasets = 80_000

    /// Processes whose command line contains each of `texts` (from /proc), excluding this one.
    static func processes(commandLineContaining texts: [String]) -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap(Int32.init).filter { pid in
            guard pid != getpid(), let line = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else {
                return false
            }
            let commandLine = String(decoding: line, as: UTF8.self)
            return texts.allSatisfy { commandLine.contains($0) }
        }
    }

    /// F-22: a 128-bit integer attribute is a valid HDF5 file; it is shown as hex and does not trap the reader.
    @Test func wideIntegerAttributesAreRead() throws {
        let path = Samples.temporaryDirectory() + "/wide.h5"
        let writer = try HDF5FileWriter(creatingAt: path)
        try writer.createGroup(
            "",
            attributes: [
                HDF5Attribute(
                    name: "big", datatype: HDF5Datatype(typeClass: .integer, size: 16, signed: true),
                    dataspace: .scalar, value: .raw([1] + [UInt8](repeating: 0, count: 14) + [0x80]))
            ])
        let info = HDF5DatasetInfo(
            path: "w", datatype: .integer(bytes: 4, signed: true), dataspace: .simple([2]), layout: .contiguous,
            fileOffset: nil, storageSize: 0, attributes: [])
        try [UInt8](repeating: 1, count: 8).withUnsafeBytes { try writer.createDataset(info, data: $0) }
        try writer.close()
        let run = try CommandRun.run(["inspect", path, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("0x80000000000000000000000000000001"), "\(run.stdout)")
    }

    /// F-16 and F-17: a store nobody may write is still listed, shown, verified and assembled; open errors are one
    /// line.
    @Test func readOnlyStoresCanBeReadAndErrorsAreOneLine() throws {
        let root = Samples.temporaryDirectory() + "/store"
        #expect(try CommandRun.run(["ingest", "--store", root, Self.base]).status == 0)
        let missing = try CommandRun.run(["show", "--store", root + "-absent", "mlp-base"])
        expectCleanRefusal(missing, "no store")
        #expect(missing.stderr.split(separator: "\n").count == 1, "\(missing.stderr)")
        // Issue 12 §5: a new user's first `list` (no store yet) is an empty list, with a note, not an error.
        let first = try CommandRun.run(["list", "--store", root + "-absent"])
        #expect(first.status == 0 && first.stdout.contains("0 models"), "\(first.stdout) \(first.stderr)")
        #expect(first.stderr.contains("pbrepo ingest creates it"), "\(first.stderr)")
        let firstJSON = try CommandRun.run(["list", "--store", root + "-absent", "--json"])
        #expect(firstJSON.status == 0 && firstJSON.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        #expect(!FileManager.default.fileExists(atPath: root + "-absent"), "list must not create a store")
        // Nobody may write the store; as root (which permissions do not stop), the commands run as `nobody`.
        chmod(root, 0o555)
        chmod(root + "/index.sqlite3", 0o444)
        defer {
            chmod(root, 0o755)
            chmod(root + "/index.sqlite3", 0o644)
        }
        let outputDirectory = Samples.temporaryDirectory() + "/out"
        try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        chmod(outputDirectory, 0o777)
        let output = outputDirectory + "/out.safetensors"
        let commands: [[String]] = [
            ["list"], ["show", "mlp-base"], ["verify"], ["assemble", "mlp-base", "-o", output],
        ]
        for command in commands {
            let run = try CommandRun.run(asUnprivileged: command + ["--store", root])
            #expect(run.status == 0, "\(command): \(run.stderr)")
        }
        #expect(FileManager.default.contentsEqual(atPath: output, andPath: Self.base))
    }
}

/// F-29: names that carry terminal escapes are shown escaped, in tables and in error lines.
@Suite struct TerminalEscapeTests {
    @Test func controlCharactersInNamesReachNoTerminal() throws {
        let path = Samples.temporaryDirectory() + "/escape.safetensors"
        let name = "\u{1b}]0;PWNED\u{07}\r\nfake line"
        try SafetensorsWriter.write(path: path, tensors: [(name: name, dtype: .F32, shape: [1], bytes: [0, 0, 0, 0])])
        let run = try CommandRun.run(["inspect", path])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(!run.stdout.contains("\u{1b}") && !run.stdout.contains("\r") && run.stdout.contains("\\u{1b}]0;PWNED"))
    }
}
