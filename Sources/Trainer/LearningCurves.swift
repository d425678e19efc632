import EdgeSim
import Foundation

/// Fig. 7: episode returns of several runs per variant, as mean ± sample standard deviation over the runs (SVG).
package struct LearningCurves: Sendable {
    /// Returns per episode, one array per run, by variant name (in the order given).
    package var runs: [(variant: String, returns: [[Double]])]

    package init(runs: [(variant: String, returns: [[Double]])]) { self.runs = runs }

    /// Reads the runs of policy directories (policy.json's curve and variant).
    ///
    /// Runs are only comparable when they were trained on the same manifest and scenario, and runs of one variant
    /// are only averaged when they are equally long: anything else is refused, naming the two runs.
    package static func load(directories: [String]) throws -> LearningCurves {
        var grouped: [(variant: String, returns: [[Double]])] = []
        var first: (directory: String, record: PolicyRecord)?
        var lengths: [String: (directory: String, episodes: Int)] = [:]
        for directory in directories {
            let record = try PolicyRecord.read(directory + "/policy.json")
            if let first {
                if record.catalogFingerprint != first.record.catalogFingerprint {
                    throw TrainingError(
                        .settingsMismatch,
                        "\(directory) was trained on another manifest than \(first.directory); plot runs of one manifest"
                    )
                }
                if record.scenario != first.record.scenario {
                    throw TrainingError(
                        .settingsMismatch,
                        "\(directory) was trained on another scenario than \(first.directory); plot runs of one scenario"
                    )
                }
            } else {
                first = (directory, record)
            }
            let variant = record.config.variant.rawValue
            if let other = lengths[variant], other.episodes != record.curve.count {
                throw TrainingError(
                    .settingsMismatch,
                    "\(directory) has \(record.curve.count) episodes and \(other.directory) \(other.episodes); runs of"
                        + " \(variant) are averaged episode by episode, so they must be equally long")
            }
            lengths[variant] = (directory, record.curve.count)
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
                // The sample standard deviation (n − 1), 0 for a single run.
                let squares = values.reduce(0) { $0 + ($1 - m) * ($1 - m) }
                deviation.append(values.count > 1 ? (squares / Double(values.count - 1)).squareRoot() : 0)
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
        let yTicks = SVGChart.niceTicks(bottom, top)
        let yStep = yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1
        for value in yTicks { chart.yTick(y(value), SVGChart.tickLabel(value, step: yStep)) }
        for episode in SVGChart.niceTicks(0, Double(episodes - 1)) where episode == episode.rounded() {
            chart.xTick(x(Int(episode)), "\(Int(episode))")
        }
        for (index, line) in lines.enumerated() where !line.mean.isEmpty {
            let colour = SVGChart.colour(index)
            let band =
                line.mean.indices.map { "\(x($0)),\(y(line.mean[$0] + line.deviation[$0]))" }
                + line.mean.indices.reversed().map { "\(x($0)),\(y(line.mean[$0] - line.deviation[$0]))" }
            chart.append(
                "<polygon fill=\"\(colour)\" fill-opacity=\"0.18\" stroke=\"none\" points=\"\(band.joined(separator: " "))\"/>"
            )
            chart.line(line.mean.indices.map { (x($0), y(line.mean[$0])) }, colour: colour, dash: SVGChart.dash(index))
            let count = runs.first { $0.variant == line.variant }?.returns.count ?? 0
            chart.legend(
                "\(line.variant) (n = \(count), ± 1 sample std)", colour: colour, dash: SVGChart.dash(index),
                marker: nil)
        }
        return chart.text
    }

}
