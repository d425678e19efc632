import Foundation

/// Small inputs that several test targets share, written the way the project's own writers write them.
public enum Fixtures {
    /// A block id of the manifest schema (32 lowercase hex digits) ending in `suffix` ("a" → "000…00a").
    public static func blockID(_ suffix: String) -> String {
        String(repeating: "0", count: 32 - suffix.count) + suffix
    }

    /// Writes a valid `pbrepo.manifest/v1` file: blocks named by hex suffixes with their sizes, models as
    /// (id, family, block suffixes); returns its path.
    public static func writeManifest(
        to path: String, blocks: [(suffix: String, bytes: UInt64)],
        models: [(id: String, family: String, blocks: [String])]
    ) throws -> String {
        let blockLines = blocks.enumerated().map { position, block in
            let users = models.filter { $0.blocks.contains(block.suffix) }.map { "\"\($0.id)\"" }
            return #"{"id": "\#(blockID(block.suffix))", "bytes": \#(block.bytes), "stored_bytes": \#(block.bytes), "#
                + #""kind": "layer", "position": \#(position), "tensors": 1, "models": [\#(users.joined(separator: ", "))]}"#
        }
        let size = Dictionary(uniqueKeysWithValues: blocks.map { ($0.suffix, $0.bytes) })
        let modelLines = models.map { model in
            let ids = model.blocks.map { "\"\(blockID($0))\"" }.joined(separator: ", ")
            let bytes = model.blocks.reduce(0) { $0 + (size[$1] ?? 0) }
            return #"{"id": "\#(model.id)", "family": "\#(model.family)", "blocks": [\#(ids)], "bytes": \#(bytes)}"#
        }
        let text = """
            {"schema": "pbrepo.manifest/v1", "tool": {"name": "pbrepo", "version": "0.1.0"},
             "blocks": [\(blockLines.joined(separator: ",\n  "))],
             "models": [\(modelLines.joined(separator: ",\n  "))],
             "provenance": {"models": []}}
            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// What a training test needs in `directory`: the tiny manifest (without family G), a 3-node, 4-user scenario
    /// and a training config of small networks, so that an episode takes milliseconds.
    public static func writeTinyTraining(in directory: String) throws -> (
        manifest: String, scenario: String, config: String
    ) {
        let manifest = try writeTinyManifest(to: directory + "/tiny.json", includingFamilyG: false)
        try #"{"nodes": 3, "users": 4, "antennas": 2, "capacity_bytes": 5e8, "qos_bps": [5e8, 1e9]}"#
            .write(toFile: directory + "/scenario.json", atomically: true, encoding: .utf8)
        try #"{"hidden": 8, "embedding": 4, "mixerHidden": 4, "reservoir": 8, "batchSize": 4, "updatesPerEpisode": 2}"#
            .write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        return (manifest, directory + "/scenario.json", directory + "/config.json")
    }

    /// The tiny repository of the trainer and CLI tests: a (300 MB) shared by m0 and m1, b/c (200/100 MB) their
    /// own, d (200 MB) alone in family g.
    public static func writeTinyManifest(to path: String, includingFamilyG: Bool = true) throws -> String {
        var blocks: [(suffix: String, bytes: UInt64)] = [("a", 300_000_000), ("b", 200_000_000), ("c", 100_000_000)]
        var models: [(id: String, family: String, blocks: [String])] = [
            ("m0", "f", ["a", "b"]), ("m1", "f", ["a", "c"]),
        ]
        if includingFamilyG {
            blocks.append(("d", 200_000_000))
            models.append(("m2", "g", ["d"]))
        }
        return try writeManifest(to: path, blocks: blocks, models: models)
    }
}
