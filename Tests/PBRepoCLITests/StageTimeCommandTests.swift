import Foundation
import PBRCore
import TestSupport
import Testing

/// Where a store command's time and memory go (issue 13): ingest and assemble report seconds per stage and the
/// process's peak resident memory in --json, checked against what /proc and the clock outside the process say.
@Suite struct StageTimeCommandTests {
    static func object(_ run: CommandRun) throws -> [String: Any] {
        #expect(run.status == 0, "\(run.stderr)")
        let value = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8))
        return try #require((value as? [[String: Any]])?.first ?? value as? [String: Any])
    }

    @Test func ingestAndAssembleSayWhereTheirTimeGoes() throws {
        let root = Samples.temporaryDirectory()
        let started = Date()
        let ingest = try Self.object(
            try CommandRun.run([
                "ingest", "--store", root + "/s", Samples.path("transformer/tiny-llama-base"), "--json",
            ]))
        let outside = Date().timeIntervalSince(started)
        let stages = try #require(ingest["seconds"] as? [String: Double])
        #expect(Set(stages.keys).isSuperset(of: ["partition", "plan", "encode", "write_objects", "record", "total"]))
        let total = try #require(stages["total"])
        // The stages of the calling thread run one after another inside the total, and the total inside the
        // process's lifetime as seen from outside.
        #expect(stages["partition"]! + stages["plan"]! + stages["record"]! <= total)
        #expect(total > 0 && total <= outside)
        #expect(stages.values.allSatisfy { $0 >= 0 })
        // The peak is at least what the binary itself takes (its text is resident) and far below the machine.
        let peak = try #require(ingest["peak_rss_bytes"] as? Int)
        #expect(peak > 1 << 20 && peak < 1 << 32)

        let assemble = try Self.object(
            try CommandRun.run([
                "assemble", "--store", root + "/s", "tiny-llama-base", "-o", root + "/out", "--json",
            ]))
        let steps = try #require(assemble["seconds"] as? [String: Double])
        #expect(Set(steps.keys).isSuperset(of: ["check", "decode", "hash", "write", "commit", "total"]))
        #expect(steps["check"]! + steps["commit"]! <= steps["total"]!)
        #expect((assemble["peak_rss_bytes"] as? Int).map { $0 > 1 << 20 } == true)
    }
}
