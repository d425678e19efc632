import EdgeSim
import Foundation

/// Fig. 7: episode returns of several runs per variant, as mean ± standard deviation over the runs (SVG).
package struct LearningCurves: Sendable {
    /// Returns per episode, one array per run, by variant name (in the order given).
    package var runs: [(variant: String, returns: [[Double]])]

    package init(runs: [(variant: String, returns: [[Double]])]) { self.runs = runs }

    /// Reads the runs of policy directories (policy.json's curve and variant).
    package static func load(directories: [String]) throws -> LearningCurves {
        var grouped: [(variant: String, returns: [[Double]])] = []
        for directory in directories {
            let record = try PolicyRecord.read(directory + "/policy.json")
            let returns = record.curve.map(\.episodeReturn)
            if let index = grouped.firstIndex(where: { $0.variant == record.config.variant.rawValue }) {
                grouped[index].returns.append(returns)
            } else {
                grouped.append((record.config.variant.rawValue, [returns]))
            }
        }
        return LearningCurves(runs: grouped)
    }

    /// Per variant and episode (over the runs that reached it): mean and standard deviation of the return, each
    /// first smoothed by a trailing moving average of `window` episodes.
    package func summary(window: Int = 10) -> [(variant: String, mean: [Double], deviation: [Double])] {
        runs.map { variant, returns in
            let smoothed = returns.map { run in
                run.indices.map { e in
                    let slice = run[max(0, e - window + 1)...e]
                    return slice.reduce(0, +) / Double(slice.count)
                }
            }
            let length = smoothed.map(\.count).max() ?? 0
            var mean: [Double] = []
            var deviation: [Double] = []
            for e in 0..<length {
                let values = smoothed.compactMap { e < $0.count ? $0[e] : nil }
                let m = values.reduce(0, +) / Double(values.count)
                mean.append(m)
                deviation.append((values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count)).squareRoot())
            }
            return (variant, mean, deviation)
        }
    }

    package func svg(title: String, window: Int = 10) -> String {
        let lines = summary(window: window)
        let episodes = max(1, lines.map(\.mean.count).max() ?? 1)
        let lows = lines.flatMap { zip($0.mean, $0.deviation).map { $0 - $1 } }
        let highs = lines.flatMap { zip($0.mean, $0.deviation).map { $0 + $1 } }
        let (bottom, top) = (lows.min() ?? 0, max((highs.max() ?? 1), (lows.min() ?? 0) + 1e-9))
        var chart = SVGChart(title: title, xLabel: "episode", yLabel: "return Σ r(k) (\(window)-episode mean)")
        func x(_ episode: Int) -> Double {
            chart.left + (chart.right - chart.left) * Double(episode) / Double(max(1, episodes - 1))
        }
        func y(_ value: Double) -> Double {
            chart.lower - (chart.lower - chart.upper) * (value - bottom) / (top - bottom)
        }
        for tick in 0...4 {
            let value = bottom + (top - bottom) * Double(tick) / 4
            chart.yTick(y(value), String(format: "%.0f", value))
            let episode = (episodes - 1) * tick / 4
            chart.xTick(x(episode), "\(episode)")
        }
        for (index, line) in lines.enumerated() where !line.mean.isEmpty {
            let colour = SVGChart.colour(index)
            let band =
                line.mean.indices.map { "\(x($0)),\(y(line.mean[$0] + line.deviation[$0]))" }
                + line.mean.indices.reversed().map { "\(x($0)),\(y(line.mean[$0] - line.deviation[$0]))" }
            chart.append(
                "<polygon fill=\"\(colour)\" fill-opacity=\"0.18\" stroke=\"none\" points=\"\(band.joined(separator: " "))\"/>"
            )
            chart.line(line.mean.indices.map { (x($0), y(line.mean[$0])) }, colour: colour)
            chart.legend(line.variant, colour: colour)
        }
        return chart.text
    }

}
