import Foundation
import Glibc
import TestSupport
import Testing

/// `Tests/Fixtures/hostile_registry.py` on a free loopback port, stopped when the value goes away.
final class HostileRegistry: @unchecked Sendable {
    let process: Process
    let host: String

    init() throws {
        process = Process()
        // Debian's interpreter itself: a shim (pyenv's) would be what `terminate` stops, leaving the server behind.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [Samples.root + "/Tests/Fixtures/hostile_registry.py"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let more = output.fileHandleForReading.availableData
            guard !more.isEmpty else { break }
            line += more
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            kill(process.processIdentifier, SIGKILL)
            throw FixtureError("the hostile registry did not start")
        }
        host = "127.0.0.1:\(port)"
    }

    deinit {
        // SIGKILL: the test process may ignore SIGTERM (a test of Interruption), and its children inherit that.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// A registry that lies or stalls: every pull fails with a message naming what was asked and what was wrong, in
/// bounded time, and leaves nothing in the store or at the output.
@Suite("pull from a registry that lies")
struct HostileRegistryTests {
    @Test(arguments: [
        ("loop", "redirected", "a loop"),
        ("slow", "manifest slow/m:v1", "in time"),
        ("liar", "blob sha256:", "bytes"),
        ("digest", "model index", "arrived as"),
        ("huge", "manifest huge/m:v1", "4 MiB"),
        ("many", "25000 layers", "20000"),
        ("fail", "answered 500", "manifest fail/m:v1"),
    ])
    func refusedWithAReason(repository: String, names: String, says: String) throws {
        let registry = try HostileRegistry()
        let store = Samples.temporaryDirectory() + "/store"
        let output = Samples.temporaryDirectory() + "/out"
        let begin = DispatchTime.now().uptimeNanoseconds
        let run = try CommandRun.run([
            "pull", "--store", store, "--plain-http", "--read-timeout", "2", "\(registry.host)/\(repository)/m:v1",
            "-o", output,
        ])
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e9
        #expect(run.status == 1, "\(repository): \(run.status) \(run.stderr)")
        #expect(run.stderr.contains(names) && run.stderr.contains(says), "\(repository): \(run.stderr)")
        #expect(seconds < 30, "\(repository): took \(seconds) s")
        #expect(!FileManager.default.fileExists(atPath: output))
        let objects = (try? FileManager.default.subpathsOfDirectory(atPath: store + "/objects")) ?? []
        #expect(objects.allSatisfy { !$0.contains("/") || $0.hasSuffix("/") }, "\(repository): \(objects)")
        #expect(run.stderr.split(separator: "\n").count <= 3, "\(repository): \(run.stderr)")
    }
}
