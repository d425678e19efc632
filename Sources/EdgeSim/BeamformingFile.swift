import ComplexModule
import Foundation
package import PBRCore

/// The JSON form of a beamforming instance and of its solution (docs/beamforming.md).
extension BeamformingInstance {
    private struct File: Decodable {
        var bandwidthHz: Double
        var noiseWatts: Double
        var pMaxWatts: Double
        var blockBits: Double
        var qosBps: [Double]
        var errorEps: [[Double]]
        var channels: [[[[Double]]]]

        enum CodingKeys: String, CodingKey, CaseIterable {
            case bandwidthHz = "bandwidth_hz"
            case noiseWatts = "noise_w"
            case pMaxWatts = "p_max_w"
            case blockBits = "block_bits"
            case qosBps = "qos_bps"
            case errorEps = "error_eps"
            case channels
        }
    }

    /// Reads an instance file; refuses missing fields, wrong shapes and invalid values with a message.
    package static func load(_ path: String) throws -> BeamformingInstance {
        let value: JSONValue
        do {
            value = try StrictJSONParser.parse(try FileSystem.read(path))
        } catch let error as JSONSyntaxError {
            throw EdgeSimError(.invalidInstance, path: path, "not valid JSON: \(error)", underlying: error)
        } catch {
            throw EdgeSimError(.unreadable, path: path, "cannot read instance file")
        }
        if case .object(let members) = value {
            let known = File.CodingKeys.allCases.map(\.stringValue)
            if let unknown = members.first(where: { !known.contains($0.key) }) {
                throw EdgeSimError(
                    .invalidInstance, path: path, field: unknown.key,
                    "unknown field \"\(unknown.key)\"\(Suggestion.clause(for: unknown.key, among: known)) (fields: \(known.joined(separator: ", ")))"
                )
            }
        }
        let file: File
        do {
            file = try JSONValueDecoder().decode(File.self, from: value)
        } catch {
            throw EdgeSimError(
                .invalidInstance, path: path, "not a beamforming instance: \(describe(error))", underlying: error)
        }
        let channels = try file.channels.map { user in
            try user.map { node in
                try node.map { pair -> Complex<Double> in
                    guard pair.count == 2 else {
                        throw EdgeSimError(
                            .invalidInstance, path: path, field: "channels", "a channel entry is not [re, im]")
                    }
                    return Complex(pair[0], pair[1])
                }
            }
        }
        let instance = BeamformingInstance(
            bandwidthHz: file.bandwidthHz, noiseWatts: file.noiseWatts, pMaxWatts: file.pMaxWatts,
            blockBits: file.blockBits,
            qosBps: file.qosBps, errorEps: file.errorEps, channels: channels)
        do {
            try instance.validate()
        } catch {
            throw error.at(path)
        }
        return instance
    }
}

extension BeamformingSolution {
    /// `{"feasible", "w": [[[re, im] per antenna] per node], "worst_case_rate_bps": [per user],
    /// "min_worst_case_rate_bps", "delay_s"}`; non-finite numbers are `null`.
    package var json: JSONValue {
        .object([
            ("feasible", .bool(feasible)),
            (
                "w",
                .array(
                    beamformers.map { node in .array(node.map { .array([.number($0.real), .number($0.imaginary)]) }) })
            ),
            ("worst_case_rate_bps", .array(worstCaseRates.map { .number($0) })),
            ("min_worst_case_rate_bps", .number(minimumWorstCaseRate)), ("delay_s", .number(delaySeconds)),
        ])
    }

    /// `json` as text, each node's beamformer on a line of its own.
    package var jsonText: String { json.prettyPrinted(expandedDepth: 2) }
}
