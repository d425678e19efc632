import Foundation
import TestSupport
import Testing

/// Every SVG the project writes is rendered to PNG by librsvg (`rsvg-convert`, Debian's librsvg2-bin, which
/// `make deps` installs), so that a broken SVG — bad XML, a NaN coordinate librsvg refuses — fails a test
/// (issue 12 §4).
@Suite struct SVGRenderingTests {
    func expectRenders(_ svg: String) throws {
        let png = svg + ".png"
        let run = try CommandRun.run(["-o", png, svg], executable: "/usr/bin/rsvg-convert")
        #expect(run.status == 0, "\(svg): \(run.stderr)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) && bytes.count > 1000, "\(svg): \(bytes.count) bytes")
        let text = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(!text.contains("nan") && !text.contains("inf\""), "\(svg) has a non-finite number")
    }

    @Test func sweepRobustnessAndLearningCurvesRender() throws {
        #expect(
            FileManager.default.isExecutableFile(atPath: "/usr/bin/rsvg-convert"), "make deps installs librsvg2-bin")
        let root = Samples.temporaryDirectory()
        let tiny = try Fixtures.writeTinyTraining(in: root).manifest
        // A short training run into root/name.
        func train(_ name: String, episodes: Int = 4, seed: Int, scenario: String? = nil) throws {
            let run = try CommandRun.run([
                "train", "--manifest", tiny, "--scenario", scenario ?? root + "/scenario.json", "--config",
                root + "/config.json",
                "--episodes", String(episodes), "--seed", String(seed), "-o", root + "/" + name,
            ])
            #expect(run.status == 0, "\(name): \(run.stderr)")
        }
        let sweep = try CommandRun.run([
            "sweep", "--manifest", tiny, "--scenario", root + "/scenario.json", "-o", root + "/sweep", "--seeds", "1,2",
            "--schemes", "coarse,heuristic", "--vary", "users=2,4,6",
        ])
        #expect(sweep.status == 0, "\(sweep.stderr)")
        try expectRenders(root + "/sweep/sweep.svg")
        let robustness = try CommandRun.run([
            "robustness", "--manifest", tiny, "--scenario", root + "/scenario.json", "--draws", "10", "--blocks", "2",
            "-o", root + "/robustness",
        ])
        #expect(robustness.status == 0, "\(robustness.stderr)")
        try expectRenders(root + "/robustness/robustness.svg")

        for seed in [1, 2] { try train("run-\(seed)", seed: seed) }
        let plot = try CommandRun.run(["plot", root + "/run-1", root + "/run-2", "-o", root + "/curves.svg"])
        #expect(plot.status == 0, "\(plot.stderr)")
        try expectRenders(root + "/curves.svg")
        #expect(try String(contentsOfFile: root + "/curves.svg", encoding: .utf8).contains("n = 2"))
        // Runs that cannot be averaged are refused: another length, another scenario.
        try train("run-long", episodes: 6, seed: 3)
        let mixed = try CommandRun.run(["plot", root + "/run-1", root + "/run-long", "-o", root + "/mixed.svg"])
        #expect(mixed.status == 1 && mixed.stderr.contains("must be equally long"), "\(mixed.stderr)")
        try #"{"nodes": 3, "users": 5, "antennas": 2, "capacity_bytes": 5e8, "qos_bps": [5e8, 1e9]}"#
            .write(toFile: root + "/other.json", atomically: true, encoding: .utf8)
        try train("run-other", seed: 1, scenario: root + "/other.json")
        let scenarios = try CommandRun.run(["plot", root + "/run-1", root + "/run-other", "-o", root + "/mixed.svg"])
        #expect(scenarios.status == 1 && scenarios.stderr.contains("another scenario"), "\(scenarios.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/mixed.svg"))
    }
}
