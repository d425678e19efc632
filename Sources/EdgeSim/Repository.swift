import Foundation

/// The PB sizes S(k) and model compositions K_j a simulation runs on, read from a `pbrepo.manifest/v1` file.
public struct Repository: Sendable, Equatable {
    public struct Model: Sendable, Equatable {
        public var id: String
        public var family: String
        /// Indices into `blocks`, in model order: K_j.
        public var blocks: [Int]

        public init(id: String, family: String, blocks: [Int]) {
            self.id = id
            self.family = family
            self.blocks = blocks
        }
    }

    /// Block ids (content digests), in manifest order: k = 0 ..< K.
    public var blockIDs: [String]
    /// S(k), bytes.
    public var blockBytes: [Double]
    /// J models, in manifest order (j = 0 is the most popular under the Zipf law).
    public var models: [Model]

    public var blockCount: Int { blockIDs.count }

    public init(blockIDs: [String], blockBytes: [Double], models: [Model]) {
        self.blockIDs = blockIDs
        self.blockBytes = blockBytes
        self.models = models
    }

    private struct File: Decodable {
        struct Block: Decodable {
            var id: String
            var bytes: Double
        }
        struct ModelEntry: Decodable {
            var id: String
            var family: String
            var blocks: [String]
        }
        var schema: String
        var blocks: [Block]
        var models: [ModelEntry]
    }

    /// Reads a manifest; refuses other schemas, duplicate ids and models naming unknown blocks.
    public static func load(manifest path: String) throws -> Repository {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ScenarioError("\(path): cannot read manifest")
        }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw ScenarioError("\(path): not a pbrepo.manifest/v1 file: \(error)")
        }
        guard file.schema == "pbrepo.manifest/v1" else {
            throw ScenarioError("\(path): schema \"\(file.schema)\" is not pbrepo.manifest/v1")
        }
        var index: [String: Int] = [:]
        for (position, block) in file.blocks.enumerated() {
            guard index.updateValue(position, forKey: block.id) == nil else {
                throw ScenarioError("\(path): block \(block.id) is listed twice")
            }
            guard block.bytes >= 0, block.bytes.isFinite else { throw ScenarioError("\(path): block \(block.id) has size \(block.bytes)") }
        }
        let models = try file.models.map { model -> Model in
            let blocks = try model.blocks.map { id -> Int in
                guard let position = index[id] else {
                    throw ScenarioError("\(path): model \(model.id) names block \(id), which the manifest does not list")
                }
                return position
            }
            return Model(id: model.id, family: model.family, blocks: blocks)
        }
        guard !models.isEmpty else { throw ScenarioError("\(path): the manifest lists no models") }
        return Repository(blockIDs: file.blocks.map(\.id), blockBytes: file.blocks.map(\.bytes), models: models)
    }

    /// Mean over models of the share of a model's bytes in blocks at least one other model also uses (the
    /// `reuse_ratio` of `pbrepo report`).
    public var meanReuseRatio: Double {
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
    public func withSharing(fraction: Double) -> Repository {
        var owner = [Int?](repeating: nil, count: blockCount)
        var ids = blockIDs, bytes = blockBytes
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
        return Repository(blockIDs: ids, blockBytes: bytes, models: result)
    }
}
