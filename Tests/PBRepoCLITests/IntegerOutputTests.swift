import Foundation
import TestSupport
import Testing

/// Whole quantities (bytes, capacities, counts, integer sweep values) are written as integers (issue 12 §3), so that
/// pandas reads them as integer columns; read from the text, since a JSON parser would hide `2048.0`.
@Suite struct IntegerOutputTests {
    @Test func simulateAndSweepWriteWholeQuantitiesAsIntegers() throws {
        let manifest = Samples.root + "/manifests/samples.json"
        let simulate = try CommandRun.run(["simulate", "--manifest", manifest, "--scheme", "coarse", "--json"])
        #expect(simulate.status == 0, "\(simulate.stderr)")
        let floatBytes = try Regex(#""bytes": -?[0-9]+\.[0-9]"#)
        #expect(simulate.stdout.firstMatch(of: floatBytes) == nil)
        #expect(simulate.stdout.contains(#""capacity_bytes": [1250000000,"#), "\(simulate.stdout.prefix(400))")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(simulate.stdout.utf8)) as? [String: Any])
        let blocks = try #require(object["blocks"] as? [[String: Any]])
        #expect(blocks.contains { ($0["bytes"] as? Int) == 2048 })

        let directory = Samples.temporaryDirectory()
        let sweep = try CommandRun.run([
            "sweep", "--manifest", manifest, "-o", directory, "--seeds", "1", "--schemes", "coarse", "--vary",
            "users=10,20",
        ])
        #expect(sweep.status == 0, "\(sweep.stderr)")
        let rows = try String(contentsOfFile: directory + "/sweep.csv", encoding: .utf8).split(separator: "\n")
        #expect(rows.dropFirst().map { $0.split(separator: ",")[1] } == ["10", "20"], "\(rows)")
    }
}
