import Crypto
package import EdgeSim
import Foundation
import PBRCore

/// What a policy was trained on, as digests a user can check outside pbrepo: the SHA-256 of the manifest file's bytes
/// (what `sha256sum` prints) and of the scenario's canonical JSON (keys sorted, every field with its effective value,
/// so a file that spells out a default and one that leaves it out are the same scenario).
package struct TrainingInputs: Sendable, Equatable {
    package var manifestSHA256: String
    package var scenarioSHA256: String

    package init(manifest path: String, scenario: Scenario) throws {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.read(path)
        } catch {
            throw TrainingError(.unreadable, "cannot read the manifest \(path): \(error)", underlying: error)
        }
        manifestSHA256 = Self.hex(SHA256.hash(data: bytes))
        scenarioSHA256 = Self.sha256(of: scenario)
    }

    package static func sha256(of scenario: Scenario) -> String {
        hex(SHA256.hash(data: canonicalJSON(scenario)))
    }

    /// The scenario fields whose values differ between `a` and `b`, by their names in a scenario file.
    package static func differingFields(_ a: Scenario, _ b: Scenario) -> [String] {
        func fields(_ scenario: Scenario) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: canonicalJSON(scenario))) as? [String: Any] ?? [:]
        }
        let (left, right) = (fields(a), fields(b))
        return Set(left.keys).union(right.keys).sorted().filter { key in
            switch (left[key], right[key]) {
            case (let x as NSObject, let y as NSObject): return !x.isEqual(y)
            default: return true
            }
        }
    }

    private static func canonicalJSON(_ scenario: Scenario) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // A Scenario holds numbers and arrays of numbers only, so encoding cannot fail.
        return (try? encoder.encode(scenario)) ?? Data()
    }

    private static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
