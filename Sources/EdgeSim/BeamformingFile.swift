import ComplexModule
import Foundation

/// The JSON form of a beamforming instance and of its solution (docs/beamforming.md).
extension BeamformingInstance {
    private struct File: Decodable {
        var bandwidth_hz: Double
        var noise_w: Double
        var p_max_w: Double
        var block_bits: Double
        var qos_bps: [Double]
        var error_eps: [[Double]]
        var channels: [[[[Double]]]]
    }

    /// Reads an instance file; refuses missing fields, wrong shapes and invalid values with a message.
    public static func load(_ path: String) throws -> BeamformingInstance {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ScenarioError("\(path): cannot read instance file")
        }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw ScenarioError("\(path): not a beamforming instance: \(error)")
        }
        let channels = try file.channels.map { user in
            try user.map { node in
                try node.map { pair -> Complex<Double> in
                    guard pair.count == 2 else { throw ScenarioError("\(path): a channel entry is not [re, im]") }
                    return Complex(pair[0], pair[1])
                }
            }
        }
        let instance = BeamformingInstance(
            bandwidthHz: file.bandwidth_hz, noiseWatts: file.noise_w, pMaxWatts: file.p_max_w, blockBits: file.block_bits,
            qosBps: file.qos_bps, errorEps: file.error_eps, channels: channels)
        do {
            try instance.validate()
        } catch let error as ScenarioError {
            throw ScenarioError("\(path): \(error.message)")
        }
        return instance
    }
}

extension BeamformingSolution {
    /// `{"feasible", "w": [[[re, im] per antenna] per node], "worst_case_rate_bps": [per user],
    /// "min_worst_case_rate_bps", "delay_s"}` as compact-per-line JSON text.
    public var jsonText: String {
        func number(_ value: Double) -> String { value.isFinite ? "\(value)" : "null" }
        let w = beamformers.map { node in "[" + node.map { "[\(number($0.real)),\(number($0.imaginary))]" }.joined(separator: ",") + "]" }
        return """
            {
              "feasible": \(feasible),
              "w": [\(w.joined(separator: ",\n        "))],
              "worst_case_rate_bps": [\(worstCaseRates.map(number).joined(separator: ", "))],
              "min_worst_case_rate_bps": \(number(minimumWorstCaseRate)),
              "delay_s": \(number(delaySeconds))
            }
            """
    }
}
