import Foundation

/// Fig. 7: episode returns of several runs per variant, as mean ± standard deviation over the runs (SVG).
public struct LearningCurves: Sendable {
    /// Returns per episode, one array per run, by variant name (in the order given).
    public var runs: [(variant: String, returns: [[Double]])]

    public init(runs: [(variant: String, returns: [[Double]])]) { self.runs = runs }

    /// Reads the runs of policy directories (policy.json's curve and variant).
    public static func load(directories: [String]) throws -> LearningCurves {
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
    public func summary(window: Int = 10) -> [(variant: String, mean: [Double], deviation: [Double])] {
        runs.map { variant, returns in
            let smoothed = returns.map { run in
                run.indices.map { e in
                    let slice = run[max(0, e - window + 1)...e]
                    return slice.reduce(0, +) / Double(slice.count)
                }
            }
            let length = smoothed.map(\.count).max() ?? 0
            var mean: [Double] = [], deviation: [Double] = []
            for e in 0..<length {
                let values = smoothed.compactMap { e < $0.count ? $0[e] : nil }
                let m = values.reduce(0, +) / Double(values.count)
                mean.append(m)
                deviation.append((values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count)).squareRoot())
            }
            return (variant, mean, deviation)
        }
    }

    public func svg(title: String, window: Int = 10) -> String {
        let lines = summary(window: window)
        let episodes = max(1, lines.map(\.mean.count).max() ?? 1)
        let lows = lines.flatMap { zip($0.mean, $0.deviation).map { $0 - $1 } }
        let highs = lines.flatMap { zip($0.mean, $0.deviation).map { $0 + $1 } }
        let (bottom, top) = (lows.min() ?? 0, max((highs.max() ?? 1), (lows.min() ?? 0) + 1e-9))
        let (left, right, upper, lower) = (80.0, 560.0, 40.0, 380.0)
        func x(_ episode: Int) -> Double { left + (right - left) * Double(episode) / Double(max(1, episodes - 1)) }
        func y(_ value: Double) -> Double { lower - (lower - upper) * (value - bottom) / (top - bottom) }
        let colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
        var body = "<text x=\"360\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">\(title)</text>\n"
        body += "<line x1=\"\(left)\" y1=\"\(lower)\" x2=\"\(right)\" y2=\"\(lower)\" stroke=\"black\"/>\n"
        body += "<line x1=\"\(left)\" y1=\"\(upper)\" x2=\"\(left)\" y2=\"\(lower)\" stroke=\"black\"/>\n"
        for tick in 0...4 {
            let value = bottom + (top - bottom) * Double(tick) / 4
            body += "<text x=\"\(left - 6)\" y=\"\(y(value) + 4)\" text-anchor=\"end\" font-size=\"11\">\(String(format: "%.0f", value))</text>\n"
            let episode = (episodes - 1) * tick / 4
            body += "<text x=\"\(x(episode))\" y=\"\(lower + 16)\" text-anchor=\"middle\" font-size=\"11\">\(episode)</text>\n"
        }
        body += "<text x=\"\((left + right) / 2)\" y=\"\(lower + 34)\" text-anchor=\"middle\" font-size=\"12\">episode</text>\n"
        body += "<text x=\"18\" y=\"\((upper + lower) / 2)\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 18 \((upper + lower) / 2))\">return Σ r(k) (\(window)-episode mean)</text>\n"
        for (index, line) in lines.enumerated() where !line.mean.isEmpty {
            let colour = colours[index % colours.count]
            let band = line.mean.indices.map { "\(x($0)),\(y(line.mean[$0] + line.deviation[$0]))" }
                + line.mean.indices.reversed().map { "\(x($0)),\(y(line.mean[$0] - line.deviation[$0]))" }
            body += "<polygon fill=\"\(colour)\" fill-opacity=\"0.18\" stroke=\"none\" points=\"\(band.joined(separator: " "))\"/>\n"
            body += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"" + line.mean.indices.map { "\(x($0)),\(y(line.mean[$0]))" }.joined(separator: " ") + "\"/>\n"
            body += "<rect x=\"575\" y=\"\(50 + 20 * Double(index))\" width=\"12\" height=\"12\" fill=\"\(colour)\"/>"
            body += "<text x=\"593\" y=\"\(61 + 20 * Double(index))\" font-size=\"12\">\(line.variant)</text>\n"
        }
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"440\" font-family=\"sans-serif\">\n"
            + "<rect width=\"720\" height=\"440\" fill=\"white\"/>\n" + body + "</svg>\n"
    }
}
