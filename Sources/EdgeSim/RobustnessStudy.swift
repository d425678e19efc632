import ComplexModule
import Foundation
import PBRCore
import RealModule

/// Fig. 15: rates actually achieved under random channel errors by the robust beamformer and by the non-robust one
/// (designed for the estimated channels only), for several error radii.
///
/// For each of the first `blocks` requested PBs, the nodes the heuristic's plan makes participate broadcast to its
/// requesting users; both designs are solved for the same instance, then `draws` error realisations — each e_{n,u}
/// uniform in its ball ‖e‖ ≤ ε — give each user's achieved rate (6) on h̃ + e.
package struct RobustnessStudy: Sendable {
    package struct Sample: Sendable, Equatable {
        package var errorEps: Double
        package var robust: Bool
        package var block: Int
        package var user: Int
        package var draw: Int
        package var rateBps: Double
        package var qosBps: Double
        /// The design's own guarantee for this user (its worst case over the error ball).
        package var worstCaseBps: Double
        /// The rate the design plans for: the worst case for the robust one, the rate at the estimated channel for
        /// the non-robust one (what it would promise the user).
        package var plannedBps: Double
    }

    package var samples: [Sample]

    package static func run(
        scenario: Scenario, repository: ModelCatalog, seed: UInt64, errorRadii: [Double], blocks: Int, draws: Int,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> RobustnessStudy {
        try scenario.validate()
        let network = EdgeNetwork(scenario: scenario, repository: repository, seed: seed)
        let plan = DemandHeuristic.plan(Simulator(network: network))
        let requested = (0..<repository.blockCount).filter {
            !network.requesters[$0].isEmpty && !plan.participants(block: $0).isEmpty
        }
        var samples: [Sample] = []
        let total = errorRadii.count * min(blocks, requested.count)
        var done = 0
        for eps in errorRadii {
            for k in requested.prefix(blocks) {
                defer {
                    done += 1
                    progress?(done, total)
                }
                let users = network.requesters[k]
                let nodes = plan.participants(block: k)
                let channels = network.channels(block: k)
                let instance = BeamformingInstance(
                    bandwidthHz: scenario.bandwidthHz, noiseWatts: scenario.noiseWatts, pMaxWatts: scenario.pMaxWatts,
                    blockBits: 8 * repository.blockBytes[k], qosBps: users.map { network.qos[$0] },
                    errorEps: users.map { _ in nodes.map { _ in eps } },
                    channels: users.map { u in nodes.map { channels[u][$0] } })
                for robust in [true, false] {
                    let solution = RobustBeamformer.solve(instance, robust: robust)
                    let planned = instance.channels.indices.map { index in
                        robust
                            ? solution.worstCaseRates[index]
                            : Delivery.rate(
                                amplitude: Delivery.amplitude(
                                    channels: instance.channels[index], beamformers: solution.beamformers),
                                bandwidthHz: scenario.bandwidthHz, noiseWatts: scenario.noiseWatts)
                    }
                    var errors = SimulationRandom.stream(seed: seed, "errors/\(eps)/\(k)/\(robust)")
                    for draw in 0..<draws {
                        for (index, u) in users.enumerated() {
                            let actual = instance.channels[index].map { h in
                                zip(h, Self.ballPoint(dimension: h.count, radius: eps, using: &errors)).map { $0 + $1 }
                            }
                            let rate = Delivery.rate(
                                amplitude: Delivery.amplitude(channels: actual, beamformers: solution.beamformers),
                                bandwidthHz: scenario.bandwidthHz, noiseWatts: scenario.noiseWatts)
                            samples.append(
                                Sample(
                                    errorEps: eps, robust: robust, block: k, user: u, draw: draw, rateBps: rate,
                                    qosBps: network.qos[u], worstCaseBps: solution.worstCaseRates[index],
                                    plannedBps: planned[index]))
                        }
                    }
                }
            }
        }
        return RobustnessStudy(samples: samples)
    }

    /// A point uniform in the complex ball of `radius` in ℂ^dimension (a Gaussian direction, radius ∝ U^(1/2d)).
    static func ballPoint(dimension: Int, radius: Double, using generator: inout SimulationRandom) -> [Complex<Double>]
    {
        let direction = (0..<dimension).map { _ in Complex(generator.normal(), generator.normal()) }
        let length = direction.reduce(0) { $0 + $1.lengthSquared }.squareRoot()
        let scale =
            radius * Double.pow(generator.unit(), 1 / Double(2 * dimension)) / max(length, .leastNormalMagnitude)
        return direction.map { $0.multiplied(by: scale) }
    }

    /// Per (ε, design): samples, share below Q_u, share below the design's own worst case, share below the rate it
    /// planned for, median rate / Q_u.
    package var summary:
        [(
            errorEps: Double, robust: Bool, samples: Int, belowQoS: Double, belowGuarantee: Double, belowPlan: Double,
            medianRatio: Double
        )]
    {
        var keys: [(Double, Bool)] = []
        for sample in samples where !keys.contains(where: { $0 == (sample.errorEps, sample.robust) }) {
            keys.append((sample.errorEps, sample.robust))
        }
        return keys.map { eps, robust in
            let group = samples.filter { $0.errorEps == eps && $0.robust == robust }
            let ratios = group.map { $0.rateBps / $0.qosBps }.sorted()
            let count = Double(max(1, group.count))
            return (
                eps, robust, group.count, Double(group.filter { $0.rateBps < $0.qosBps }.count) / count,
                Double(group.filter { $0.rateBps < $0.worstCaseBps * (1 - 1e-9) }.count) / count,
                Double(group.filter { $0.rateBps < $0.plannedBps * (1 - 1e-9) }.count) / count,
                ratios.isEmpty ? 0 : ratios[ratios.count / 2]
            )
        }
    }

    /// One row per sample: error_eps,design,block,user,draw,rate_bps,qos_bps,worst_case_bps,planned_bps.
    package var csv: String {
        (["error_eps,design,block,user,draw,rate_bps,qos_bps,worst_case_bps,planned_bps"]
            + samples.map {
                "\($0.errorEps),\($0.robust ? "robust" : "non-robust"),\($0.block),\($0.user),\($0.draw),\($0.rateBps),\($0.qosBps),\($0.worstCaseBps),\($0.plannedBps)"
            }).joined(separator: "\n") + "\n"
    }

    /// CDF of achieved rate / Q_u, one line per (ε, design), with the QoS line at 1 (SVG, 720 × 440).
    package func svg(title: String) -> String {
        let groups = summary.map { entry in
            (
                entry,
                samples.filter { $0.errorEps == entry.errorEps && $0.robust == entry.robust }.map {
                    $0.rateBps / $0.qosBps
                }.sorted()
            )
        }
        let highest = max(1.2, groups.compactMap { $0.1.last }.max() ?? 1.2)
        let lowest = min(0.8, groups.compactMap { $0.1.first }.min() ?? 0.8)
        var chart = SVGChart(title: title, xLabel: "achieved rate / Q_u", yLabel: "CDF")
        func x(_ ratio: Double) -> Double {
            chart.left + (chart.right - chart.left) * (ratio - lowest) / (highest - lowest)
        }
        func y(_ share: Double) -> Double { chart.lower - (chart.lower - chart.upper) * share }
        chart.append(
            "<line x1=\"\(x(1))\" y1=\"\(chart.upper)\" x2=\"\(x(1))\" y2=\"\(chart.lower)\" stroke=\"grey\" stroke-dasharray=\"4 3\"/>"
        )
        chart.append("<text x=\"\(x(1) + 4)\" y=\"\(chart.upper + 12)\" font-size=\"11\">Q_u</text>")
        for tick in 0...4 {
            chart.yTick(y(Double(tick) / 4), String(format: "%.2f", Double(tick) / 4))
            let ratio = lowest + (highest - lowest) * Double(tick) / 4
            chart.xTick(x(ratio), String(format: "%.2f", ratio))
        }
        for (index, (entry, ratios)) in groups.enumerated() where !ratios.isEmpty {
            let colour = SVGChart.colour(index)
            let step = max(1, ratios.count / 400)
            chart.line(
                stride(from: 0, to: ratios.count, by: step).map {
                    (x(ratios[$0]), y(Double($0 + 1) / Double(ratios.count)))
                }, colour: colour,
                dashed: !entry.robust)
            chart.legend(
                "\(entry.robust ? "robust" : "non-robust"), ε=\(String(format: "%g", entry.errorEps))", colour: colour,
                dashed: !entry.robust)
        }
        return chart.text
    }

}
