package import PBManifest
import PBRCore

/// The PB sizes S(k) and model compositions K_j a simulation runs on, read from a `pbrepo.manifest/v1` file.
package struct ModelCatalog: Sendable, Equatable {
    package struct Model: Sendable, Equatable {
        package var id: String
        package var family: String
        /// Indices into `blocks`, in model order: K_j.
        package var blocks: [Int]

        package init(id: String, family: String, blocks: [Int]) {
            self.id = id
            self.family = family
            self.blocks = blocks
        }
    }

    /// Block ids (content digests), in manifest order: k = 0 ..< K.
    package var blockIDs: [String]
    /// S(k), bytes.
    package var blockBytes: [Double]
    /// J models, in manifest order (j = 0 is the most popular under the Zipf law).
    package var models: [Model]

    package var blockCount: Int { blockIDs.count }

    package init(blockIDs: [String], blockBytes: [Double], models: [Model]) {
        self.blockIDs = blockIDs
        self.blockBytes = blockBytes
        self.models = models
    }

    /// The catalog of a validated manifest: block sizes and model compositions in manifest order.
    ///
    /// - Throws: `ManifestError` `.unusable` when the manifest lists no models (nothing can be requested).
    package init(manifest: Manifest, path: String = "manifest") throws(ManifestError) {
        // The manifest's own checks (ids listed once, models naming only listed blocks) make every lookup succeed.
        try manifest.validate(path: path)
        guard !manifest.models.isEmpty else {
            throw ManifestError(.unusable, path: path, field: "models", "the manifest lists no models")
        }
        guard !manifest.blocks.isEmpty else {
            throw ManifestError(.unusable, path: path, field: "blocks", "the manifest lists no blocks")
        }
        guard Limit.blocks.allows(manifest.blocks.count) else {
            throw ManifestError(
                .unusable, path: path, field: "blocks",
                "the manifest lists \(manifest.blocks.count) blocks; a simulation takes \(Limit.blocks.phrase)")
        }
        var seenModels = Set<String>()
        for model in manifest.models where !seenModels.insert(model.id).inserted {
            throw ManifestError(.unusable, path: path, field: "models", "model \"\(model.id)\" is listed twice")
        }
        let index = Dictionary(uniqueKeysWithValues: manifest.blocks.enumerated().map { ($1.id, $0) })
        self.init(
            blockIDs: manifest.blocks.map(\.id), blockBytes: manifest.blocks.map { Double($0.bytes) },
            models: manifest.models.map { model in
                Model(id: model.id, family: model.family, blocks: model.blocks.compactMap { index[$0] })
            })
    }

    /// A fingerprint of the catalog's content (block ids and sizes, models and their blocks), independent of the
    /// manifest's path and layout: FNV-1a 64 over a canonical text. A trained policy records it, so that planning
    /// with another manifest than the one it was trained on is noticed.
    package var fingerprint: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func add(_ text: String) {
            for byte in text.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
            hash ^= 0x0A
            hash = hash &* 0x100_0000_01b3
        }
        for (id, bytes) in zip(blockIDs, blockBytes) { add("block \(id) \(bytes)") }
        for model in models { add("model \(model.id) " + model.blocks.map(String.init).joined(separator: ",")) }
        return String(hash, radix: 16)
    }

    /// Reads a manifest (strictly, as `Manifest.read`) into a catalog.
    package static func load(manifest path: String) throws(ManifestError) -> ModelCatalog {
        try ModelCatalog(manifest: try Manifest.read(path), path: path)
    }

    /// Mean over models of the share of a model's bytes in blocks at least one other model also uses (the
    /// `reuse_ratio` of `pbrepo report`).
    package var meanReuseRatio: Double {
        var users = [Int](repeating: 0, count: blockCount)
        for model in models { for k in Set(model.blocks) { users[k] += 1 } }
        let ratios = models.map { model -> Double in
            let total = model.blocks.reduce(0) { $0 + blockBytes[$1] }
            let shared = model.blocks.filter { users[$0] > 1 }.reduce(0) { $0 + blockBytes[$1] }
            return total > 0 ? shared / total : 0
        }
        return ratios.reduce(0, +) / Double(max(1, ratios.count))
    }

    /// The same models with less sharing (Fig. 13): each block that several models use stays shared with
    /// probability `fraction` (decided by its id, so the same blocks stay shared in every run), and otherwise every
    /// model after the first gets a private copy of it (id `<id>~<model>`). 1 keeps the repository; 0 shares nothing.
    package func withSharing(fraction: Double) -> ModelCatalog {
        var owner = [Int?](repeating: nil, count: blockCount)
        var ids = blockIDs
        var bytes = blockBytes
        var result = models
        for (j, model) in models.enumerated() {
            result[j].blocks = model.blocks.map { k in
                guard let first = owner[k] else {
                    owner[k] = j
                    return k
                }
                if first == j { return k }
                var draw = SimulationRandom.stream(seed: 0x5EED, blockIDs[k])
                if draw.unit() < fraction { return k }
                ids.append(blockIDs[k] + "~" + model.id)
                bytes.append(blockBytes[k])
                return ids.count - 1
            }
        }
        return ModelCatalog(blockIDs: ids, blockBytes: bytes, models: result)
    }
}
