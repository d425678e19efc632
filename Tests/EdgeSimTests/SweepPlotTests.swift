import Foundation
import Testing

@testable import EdgeSim

/// The sweep figure (issue 12 §4): a numeric x axis (linear or logarithmic), round ticks, the sample standard
/// deviation, a marker and dash per series and n in the legend. Positions are read back from the SVG text.
@Suite struct SweepPlotTests {
    static func sweep(_ values: [Double], delays: [[Double]]) -> Sweep {
        var rows: [Sweep.Row] = []
        for scheme in ["a", "b"] {
            for (value, perSeed) in zip(values, delays) {
                for (seed, delay) in perSeed.enumerated() {
                    rows.append(
                        Sweep.Row(
                            value: value, scheme: scheme, seed: UInt64(seed + 1), totalDelaySeconds: delay, cost: 0,
                            qosShare: 0, hitRatio: 0, reuseRatio: 0))
                }
            }
        }
        return Sweep(parameter: .users, rows: rows)
    }

    /// The x coordinates of the first series' circle markers, in order.
    static func circles(_ svg: String) -> [Double] {
        svg.split(separator: "\n").filter { $0.hasPrefix("<circle") }.compactMap { line -> Double? in
            guard let start = line.range(of: "cx=\"") else { return nil }
            return Double(line[start.upperBound...].prefix { $0 != "\"" })
        }
    }

    @Test func valuesSitWhereTheyAreOnTheAxis() throws {
        let linear = Self.sweep([10, 20, 40], delays: [[1, 3], [2, 2], [4, 4]])
        // By hand: mean (1 + 3) / 2 = 2, sample deviation √(((1 − 2)² + (3 − 2)²) / (2 − 1)) = √2.
        let first = linear.summary.first { $0.scheme == "a" && $0.value == 10 }
        #expect(first?.mean == 2 && first?.deviation == Double(2).squareRoot())
        let x = Self.circles(linear.svg(title: "t"))
        try #require(x.count == 3)
        #expect(abs((x[1] - x[0]) / (x[2] - x[0]) - 1.0 / 3) < 1e-9, "20 lies a third of the way from 10 to 40: \(x)")
        let logarithmic = Self.sweep([10, 100, 1000], delays: [[1], [1], [1]]).svg(title: "t", logX: true)
        let lx = Self.circles(logarithmic)
        try #require(lx.count == 3)
        #expect(abs((lx[1] - lx[0]) / (lx[2] - lx[0]) - 0.5) < 1e-9, "100 is halfway on a log axis: \(lx)")
        #expect(logarithmic.contains("users, log scale"))
        let svg = linear.svg(title: "t")
        #expect(svg.contains(">a (n = 2)<") && svg.contains(">b (n = 2)<"))
        #expect(svg.contains("stroke-dasharray=\"6 3\""), "the second series is dashed")
        #expect(svg.contains("<polygon"), "the second series has square markers")
    }

    @Test func ticksAreRoundWithTheDecimalsTheyNeed() {
        #expect(SVGChart.niceTicks(0, 0.87) == [0, 0.2, 0.4, 0.6000000000000001, 0.8])
        #expect(SVGChart.niceTicks(0, 1.25e9) == [0, 5e8, 1e9])
        #expect(SVGChart.niceTicks(10, 40) == [10, 20, 30, 40])
        #expect(SVGChart.niceTicks(2, 3.3) == [2, 2.5, 3])
        #expect(SVGChart.tickLabel(0.4, step: 0.2) == "0.4")
        #expect(SVGChart.tickLabel(25, step: 5) == "25")
        #expect(SVGChart.tickLabel(1e9, step: 5e8) == "1e+09")
        #expect(SVGChart.tickLabel(0.0025, step: 0.0005) == "0.0025")
    }
}
