import Foundation
import Glibc
import PBRCore
import TestSupport
import Testing

/// `train` on SIGINT/SIGTERM (issue 12 §1): the running episode ends, a checkpoint is saved, one line says so, the
/// exit status is 130/143, and the same command resumes from the checkpoint. Real signals to a real process.
@Suite(.serialized, .tags(.slow)) struct TrainInterruptionTests {
    @Test(arguments: [(SIGINT, Int32(130)), (SIGTERM, Int32(143))])
    func anInterruptedTrainingSavesACheckpointThatResumes(signal: Int32, status: Int32) throws {
        let root = Samples.temporaryDirectory()
        let manifest = try Fixtures.writeTinyTraining(in: root).manifest
        let arguments = [
            "train", "--manifest", manifest, "--scenario", root + "/scenario.json", "--config", root + "/config.json",
            "--episodes", "100000", "--seed", "3", "-o", root + "/policy",
        ]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandRun.binary)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Past the first checkpoint (every 10 episodes), so that the one the signal saves is a later one.
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: root + "/policy/policy.json") && Date() < deadline {
            usleep(20_000)
        }
        usleep(300_000)
        kill(process.processIdentifier, signal)
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == status, "\(text)")
        #expect(text.contains("checkpoint saved in \(root)/policy"), "\(text)")
        let record = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/policy/policy.json")))
                as? [String: Any])
        let done = try #require(record["episodesDone"] as? Int)
        #expect(done > 0 && done % 10 != 0 || done > 10, "saved after \(done) episodes")
        let curve = try String(contentsOfFile: root + "/policy/curve.csv", encoding: .utf8)
        #expect(curve.split(separator: "\n").count == done + 1, "the curve holds every episode done")
        let left = try FileSystem.listDirectory(root + "/policy").filter { $0.hasPrefix(".pbrepo-tmp") }
        #expect(left.isEmpty, "\(left)")
        // The same command, with the run shortened to two more episodes, resumes where the signal stopped it.
        var resumed = arguments
        resumed[resumed.firstIndex(of: "100000")!] = String(done + 2)
        let resume = try CommandRun.run(resumed + ["--json"])
        #expect(resume.status == 0, "\(resume.stderr)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(resume.stdout.utf8)) as? [String: Any])
        #expect(result["episodes"] as? Int == done + 2)
    }
}
