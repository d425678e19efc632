import Dispatch
import Foundation
import PBRCore
import Synchronization

/// A parameter sweep: every (value, scheme, seed) simulated, in parallel, as in Figs. 8–13 and 17.
package struct Sweep: Sendable {
    package enum Parameter: String, Sendable, CaseIterable {
        case capacity, users, nodes, antennas, zipf
        /// The fraction of the manifest's shared blocks that stay shared (`ModelCatalog.withSharing`), Fig. 13.
        case reuse

        /// Refuses a value the parameter cannot take: counts must be whole numbers, `reuse` a fraction, every value
        /// finite and non-negative. (Upper bounds are the scenario's, checked when it is validated.)
        package func check(_ value: Double) throws(EdgeSimError) {
            func refuse(_ why: String) -> EdgeSimError {
                EdgeSimError(.invalidScenario, field: rawValue, "\(rawValue)=\(value): \(why)")
            }
            guard value.isFinite, value >= 0 else { throw refuse("must be a finite, non-negative number") }
            switch self {
            case .users, .nodes, .antennas:
                guard value == value.rounded(), value >= 1, value < 0x1p62 else {
                    throw refuse("must be a whole number of at least 1")
                }
            case .reuse:
                guard value <= 1 else { throw refuse("is a fraction of the shared blocks, in [0, 1]") }
            case .capacity, .zipf: break
            }
        }

        func apply(_ value: Double, to scenario: inout Scenario, repository: inout ModelCatalog) {
            switch self {
            case .capacity: scenario.capacityBytes = [value]
            case .users: scenario.users = Int(value)
            case .nodes: scenario.nodes = Int(value)
            case .antennas: scenario.antennas = Int(value)
            case .zipf: scenario.zipf = value
            case .reuse: repository = repository.withSharing(fraction: value)
            }
        }
    }

    package struct Row: Sendable, Equatable {
        package var value: Double
        package var scheme: String
        package var seed: UInt64
        package var totalDelaySeconds: Double
        /// −Σ r(k) of (12) (see `BlockOutcome.cost`).
        package var cost: Double
        /// Share of the requested PBs delivered with every requesting user's QoS met.
        package var qosShare: Double
        package var hitRatio: Double
        /// Mean reuse ratio of the repository simulated (changes only with `reuse`).
        package var reuseRatio: Double
    }

    package var parameter: Parameter
    package var rows: [Row]

    /// Runs the sweep with seeds 1...seeds.
    package static func run(
        repository: ModelCatalog, scenario: Scenario, parameter: Parameter, values: [Double],
        schemes: [any CachingScheme], seeds: Int,
        progress: (@Sendable (Int, Int) -> Void)? = nil
    ) throws -> Sweep {
        try run(
            repository: repository, scenario: scenario, parameter: parameter, values: values, schemes: schemes,
            seedList: (1...max(1, seeds)).map(UInt64.init), progress: progress)
    }

    /// Runs the sweep on all cores, slow schemes' cases first; rows come in (value, scheme, seed) order, so that a
    /// sweep extended by more seeds repeats the earlier rows exactly.
    package static func run(
        repository: ModelCatalog, scenario: Scenario, parameter: Parameter, values: [Double],
        schemes: [any CachingScheme], seedList: [UInt64],
        progress: (@Sendable (Int, Int) -> Void)? = nil
    ) throws -> Sweep {
        guard !values.isEmpty else {
            throw EdgeSimError(.invalidScenario, field: parameter.rawValue, "\(parameter.rawValue) has no values")
        }
        for value in values { try parameter.check(value) }
        let cases = values.flatMap { value in
            schemes.flatMap { scheme in seedList.map { (value, scheme, $0) } }
        }
        let schedule = cases.indices.filter { cases[$0].1.isSlow } + cases.indices.filter { !cases[$0].1.isSlow }
        let report: @Sendable (Int) -> Void = { progress?($0, cases.count) }
        let rows = try Parallel.map(count: cases.count, order: schedule, completed: report) { index -> Row in
            let (value, scheme, seed) = cases[index]
            var parameters = scenario
            var models = repository
            parameter.apply(value, to: &parameters, repository: &models)
            try parameters.validate()
            let report = try scheme.report(on: EdgeNetwork(scenario: parameters, repository: models, seed: seed))
            return Row(
                value: value, scheme: scheme.name, seed: seed, totalDelaySeconds: report.outcome.totalDelaySeconds,
                cost: report.outcome.cost(r1: parameters.r1, r2: parameters.r2), qosShare: report.outcome.qosMetRatio,
                hitRatio: report.outcome.hitRatio, reuseRatio: models.meanReuseRatio)
        }
        return Sweep(parameter: parameter, rows: rows)
    }

    /// One row per run: parameter,value,scheme,seed,total_delay_s,cost,qos_share,hit_ratio,reuse_ratio.
    package var csv: String {
        (["parameter,value,scheme,seed,total_delay_s,cost,qos_share,hit_ratio,reuse_ratio"]
            + rows.map {
                "\(parameter.rawValue),\(JSONValue.integral($0.value).serialized),\($0.scheme),\($0.seed),\($0.totalDelaySeconds),\($0.cost),\($0.qosShare),\($0.hitRatio),\($0.reuseRatio)"
            })
            .joined(separator: "\n") + "\n"
    }

    /// Mean and sample standard deviation of the total delay per (scheme, value), over seeds.
    package var summary: [(scheme: String, value: Double, mean: Double, deviation: Double)] {
        var out: [(String, Double, Double, Double)] = []
        var seen: [String] = []
        for row in rows where !seen.contains(row.scheme) { seen.append(row.scheme) }
        let values = rows.map(\.value).reduce(into: [Double]()) { if !$0.contains($1) { $0.append($1) } }
        for scheme in seen {
            for value in values {
                let delays = rows.filter { $0.scheme == scheme && $0.value == value }.map(\.totalDelaySeconds)
                let mean = delays.reduce(0, +) / Double(max(1, delays.count))
                // The sample variance (n − 1), 0 for one seed: the seeds are a sample of network realisations.
                let squares = delays.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
                let variance = delays.count > 1 ? squares / Double(delays.count - 1) : 0
                out.append((scheme, value, mean, variance.squareRoot()))
            }
        }
        return out
    }

    /// What the swept value is, with its unit, for the x axis.
    var axisLabel: String {
        switch parameter {
        case .capacity: return "cache capacity per node (bytes)"
        case .users: return "users"
        case .nodes: return "edge nodes"
        case .antennas: return "antennas per node"
        case .zipf: return "Zipf exponent of the requests"
        case .reuse: return "share of shared blocks kept shared"
        }
    }

    /// A line chart of the mean total delay against the swept value on a numeric axis (linear, or logarithmic with
    /// `logX` when every value is positive), one line per scheme with its own colour, dash and marker, ± one sample
    /// standard deviation as error bars, n per series in the legend (SVG, 720 × 440).
    package func svg(title: String, logX: Bool = false) -> String {
        let points = summary.filter { $0.mean.isFinite && $0.deviation.isFinite }
        let values = rows.map(\.value).reduce(into: [Double]()) { if !$0.contains($1) { $0.append($1) } }.sorted()
        let logarithmic = logX && (values.first ?? 0) > 0
        let highest = max(1e-9, points.map { $0.mean + $0.deviation }.max() ?? 1)
        // The axis ends at the first round tick above the highest error bar.
        var yTicks = SVGChart.niceTicks(0, highest)
        let yStep = yTicks.count > 1 ? yTicks[1] - yTicks[0] : highest
        if let last = yTicks.last, last < highest * (1 - 1e-12) { yTicks.append(last + yStep) }
        let top = max(yTicks.last ?? highest, 1e-9)
        var chart = SVGChart(
            title: title, xLabel: axisLabel + (logarithmic ? ", log scale" : ""), yLabel: "total delay T (s)")
        let scale = { (value: Double) -> Double in logarithmic ? log10(value) : value }
        let (low, high) = (scale(values.first ?? 0), scale(values.last ?? 1))
        func x(_ value: Double) -> Double {
            high > low
                ? chart.left + (chart.right - chart.left) * (scale(value) - low) / (high - low)
                : (chart.left + chart.right) / 2
        }
        func y(_ delay: Double) -> Double { chart.lower - (chart.lower - chart.upper) * delay / top }
        for tick in yTicks { chart.yTick(y(tick), SVGChart.tickLabel(tick, step: yStep)) }
        if logarithmic {
            let decades = Int(low.rounded(.up))...max(Int(low.rounded(.up)), Int(high.rounded(.down)))
            let ticks = decades.count >= 2 ? decades.map { pow(10, Double($0)) } : values
            let exponents = (values.last ?? 1) >= 1e4 || (values.first ?? 1) < 1e-3
            for tick in ticks { chart.xTick(x(tick), String(format: exponents ? "%.0e" : "%g", tick)) }
        } else {
            let xTicks = SVGChart.niceTicks(low, high)
            let xStep = xTicks.count > 1 ? xTicks[1] - xTicks[0] : 1
            for tick in xTicks { chart.xTick(x(tick), SVGChart.tickLabel(tick, step: xStep)) }
        }
        var schemes: [String] = []
        for point in points where !schemes.contains(point.scheme) { schemes.append(point.scheme) }
        for (index, scheme) in schemes.enumerated() {
            let (colour, dash, marker) = (SVGChart.colour(index), SVGChart.dash(index), SVGChart.marker(index))
            let line = points.filter { $0.scheme == scheme }.sorted { $0.value < $1.value }
            chart.line(line.map { (x($0.value), y($0.mean)) }, colour: colour, dash: dash)
            for point in line {
                chart.append(
                    "<line x1=\"\(x(point.value))\" y1=\"\(y(max(0, point.mean - point.deviation)))\" x2=\"\(x(point.value))\" y2=\"\(y(point.mean + point.deviation))\" stroke=\"\(colour)\"/>"
                )
                chart.marker(marker, x: x(point.value), y: y(point.mean), colour: colour)
            }
            let runs = Set(rows.filter { $0.scheme == scheme }.map(\.seed)).count
            chart.legend("\(scheme) (n = \(runs))", colour: colour, dash: dash, marker: marker)
        }
        return chart.text
    }

}
