import BlockStore
import Foundation
import TensorFiles
import XXHash

extension FuzzTarget {
    /// Inputs each target accepts, which the committed corpus (`Fuzz/corpus/<target>/`) starts from:
    /// `pbrepo-fuzz seeds Fuzz/corpus` writes them.
    package func seeds() throws -> [(name: String, bytes: [UInt8])] {
        switch self {
        case .object:
            // The harness decodes deltas against an all-zero base: one delta here is against zeros, so that the
            // corpus holds a delta it accepts as well as one it refuses.
            let fixture = try RecipeFixture.make()
            let content = Array(fixture.safetensorsFile.suffix(1024))
            let zeros = [UInt8](repeating: 0, count: content.count)
            let delta = try content.withUnsafeBytes { content in
                try zeros.withUnsafeBytes { zeros in
                    try StoredObject.encode(
                        content, digest: xxh3_128(content), elementSize: 4, base: (xxh3_128(zeros), zeros), level: 3)
                }
            }
            precondition(delta.codec == .xorPlanes, "the seed delta must be a delta")
            return fixture.objectFiles.map { ("seed-\($0.digest)", $0.bytes) } + [("seed-delta-of-zeros", delta.object)]
        case .recipe:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return try RecipeFixture.make().recipes().map { ("seed-\($0.name)", Array(try encoder.encode($0.recipe))) }
        case .json:
            let texts = [
                #"{"nodes": 4, "users": [1, 2.5, -3e-2], "name": "edge \u00e9\ud83d\ude00", "on": true, "x": null}"#,
                #"[[], {}, "", 0, -0, 1E+2, 18446744073709551615, "\"\\\/\b\f\n\r\t"]"#,
                #"  "a string at the top level"  "#,
            ]
            return texts.enumerated().map { ("seed-\($0.offset)", Array($0.element.utf8)) }
        case .safetensorsHeader:
            let headers = [
                try SafetensorsHeader.encode(
                    tensors: [("a", .F32, [256]), ("b", .F32, [256])], metadata: [("format", "pt")]),
                try SafetensorsHeader.encode(
                    tensors: [
                        ("model.layers.0.weight", .BF16, [4, 8]), ("bias", .F16, [8]), ("step", .I64, []),
                        ("mask", .BOOL, [3]), ("empty", .U8, [0, 5]),
                    ], metadata: nil),
            ]
            return headers.enumerated().map { ("seed-\($0.offset)", $0.element.json) }
        }
    }
}
