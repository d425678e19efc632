import ArgumentParser
import Foundation
import PBRCore
import TestSupport
import Testing

@testable import pbrepo

/// Errors a person can act on (issue 12 §5): unknown commands, schemes, fields and models suggest the closest valid
/// name; negative numbers are values, not options; invalid JSON says the line and column.
@Suite struct SuggestionCommandTests {
    func expectRefusal(_ run: CommandRun, saying expected: String, _ context: String) {
        #expect(run.status == 1 || run.status == 64, "\(context): status \(run.status)")
        #expect(run.stderr.contains(expected), "\(context): \(run.stderr)")
        #expect(!run.stderr.contains("ExitCode(") && !run.stderr.contains("DecodingError"), "\(context): \(run.stderr)")
    }

    /// Every store and bench command's help ends with an example, and the example parses as that command.
    @Test(arguments: [
        ["inspect"], ["partition"], ["ingest"], ["list"], ["show"], ["report"], ["export-manifest"],
        ["export-blocks"], ["assemble"], ["verify"], ["gc"], ["rm"], ["du"], ["scan-cache"], ["bench", "inspect"],
        ["bench", "beamform"], ["bench", "decide"],
    ])
    func storeCommandsHelpHasAParsingExample(command: [String]) throws {
        let help = try CommandRun.run(command + ["--help"])
        let lines = help.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let examples = lines.indices.filter { lines[$0].hasPrefix("Example: pbrepo ") }
        #expect(!examples.isEmpty, "\(command): \(help.stdout)")
        for index in examples {
            let example = lines[index]
            // On one line of the 80-column help, so that it can be copied (the help wraps longer lines).
            let next = index + 1 < lines.count ? lines[index + 1] : ""
            #expect(next.isEmpty || next.hasPrefix("Example: "), "wrapped: \(example) / \(next)")
            // The command line up to a shell pipe, redirection or comment.
            let line = example.dropFirst("Example: pbrepo ".count).prefix { !"|>(".contains($0) }
            let arguments = line.split(separator: " ").map(String.init)
            #expect(Array(arguments.prefix(command.count)) == command, "\(example)")
            #expect(throws: Never.self, "\(example)") { _ = try PBRepo.parseAsRoot(arguments) }
        }
    }

    @Test func typosGetTheClosestName() throws {
        let manifest = Samples.root + "/manifests/samples.json"
        expectRefusal(try CommandRun.run(["ingset"]), saying: "Did you mean 'pbrepo ingest'?", "command")
        expectRefusal(
            try CommandRun.run(["simulate", "--manifest", manifest, "--scheme", "hueristic"]),
            saying: "Did you mean 'heuristic'?", "scheme")
        let scenario = Samples.temporaryDirectory() + "/s.json"
        try #"{"userz": 4}"#.write(toFile: scenario, atomically: true, encoding: .utf8)
        expectRefusal(
            try CommandRun.run(["simulate", "--manifest", manifest, "--scenario", scenario, "--scheme", "coarse"]),
            saying: "unknown field \"userz\"; did you mean users?", "scenario field")
        let store = Samples.temporaryDirectory() + "/s"
        #expect(try CommandRun.run(["ingest", "--store", store, Samples.path("mlp/mlp-base.safetensors")]).status == 0)
        expectRefusal(
            try CommandRun.run(["show", "--store", store, "mlp-bsae"]), saying: "did you mean mlp-base?", "model")
        // Nothing close: no suggestion.
        let far = try CommandRun.run(["show", "--store", store, "resnet"])
        expectRefusal(far, saying: "no model named \"resnet\"", "far model")
        #expect(!far.stderr.contains("did you mean"))
    }

    @Test func negativeNumbersAreValuesAndBadJSONSaysWhere() throws {
        let manifest = Samples.root + "/manifests/samples.json"
        let negative = try CommandRun.run(["simulate", "--manifest", manifest, "--scheme", "coarse", "--seed", "-1"])
        expectRefusal(negative, saying: "The value '-1' is invalid for '--seed", "negative seed")
        #expect(!negative.stderr.contains("Missing value"))
        let broken = Samples.temporaryDirectory() + "/m.json"
        try "{\"schema\": \"pbrepo.manifest/v1\",\n  \"blocks\": [,]}".write(
            toFile: broken, atomically: true, encoding: .utf8)
        expectRefusal(
            try CommandRun.run(["simulate", "--manifest", broken, "--scheme", "coarse"]),
            saying: "at line 2, column 14", "invalid JSON")
    }

    @Test func closestNamesByEditDistance() {
        #expect(Suggestion.closest(to: "ingset", among: ["ingest", "inspect", "list"]) == "ingest")
        #expect(Suggestion.closest(to: "LIST", among: ["ingest", "list"]) == "list")
        #expect(Suggestion.closest(to: "xyz", among: ["ingest", "list"]) == nil)
        #expect(Suggestion.closest(to: "a", among: []) == nil)
    }
}
