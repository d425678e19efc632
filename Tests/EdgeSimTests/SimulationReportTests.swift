import EdgeSim
import Foundation
import TestSupport
import Testing

@Suite struct SimulationReportJSONTests {
    /// `simulate --json` printed block ids unescaped: an id holding `"` or `\` (possible in a catalog built in
    /// memory, or one `withSharing` derives from a model id) made the output invalid JSON.
    @Test func blockIDsAreEscapedAndTheOutputIsJSON() throws {
        let ids = ["a\"b", "c\\d", "e\nf", "plain"]
        let catalog = ModelCatalog(
            blockIDs: ids, blockBytes: [2e8, 1e8, 1e8, 5e7],
            models: [.init(id: "m0", family: "f", blocks: [0, 1]), .init(id: "m1", family: "f", blocks: [2, 3])])
        let report = try SimulationReport.run(
            scheme: .heuristic, scenario: SchemeTests.scenario(), repository: catalog, seed: 1)
        // Foundation's parser, not ours, reads the text.
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.jsonText.utf8)) as? [String: Any])
        let blocks = try #require(object["blocks"] as? [[String: Any]])
        #expect(blocks.compactMap { $0["id"] as? String } == ids)
        let cached = try #require(object["cache"] as? [[String]])
        #expect(cached.count == SchemeTests.scenario().nodes)
        #expect(Set(cached.joined()).isSubset(of: Set(ids)))
        #expect(object["seed"] as? Int == 1 && object["scheme"] as? String == "heuristic")
        #expect(try #require(object["total_delay_s"] as? Double) == report.outcome.totalDelaySeconds)
    }
}

@Suite struct SimulationCacheTests {
    /// The searching schemes evaluate through a cache of beamforming solutions and draws: a cached evaluation must
    /// be the uncached one exactly, for every plan a scheme makes and in both delivery settings.
    @Test func aCachedEvaluationIsTheUncachedOne() throws {
        let network = EdgeNetwork(scenario: SchemeTests.scenario(), repository: SchemeTests.repository, seed: 5)
        for robust in [true, false] {
            let cache = SimulationCache()
            let cached = Simulator(network: network, robust: robust, cache: cache)
            let fresh = Simulator(network: network, robust: robust)
            for scheme in SchemeRegistry.scalable {
                let plan = try scheme.plan(with: scheme.simulator(for: network))
                #expect(cached.outcome(of: plan) == fresh.outcome(of: plan), "\(scheme.name), robust \(robust)")
                // Asked again, the warm cache answers the same.
                #expect(cached.outcome(of: plan) == fresh.outcome(of: plan), "\(scheme.name), robust \(robust)")
            }
            #expect(cache.solutionCount > 0)
        }
    }
}
