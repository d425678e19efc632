package import PBManifest

extension Manifest {
    /// The manifest of a store snapshot: blocks in order of first use, each with its models; the same store
    /// contents give the same manifest.
    init(_ snapshot: Snapshot) {
        var blocks: [Block] = []
        var index: [String: Int] = [:]
        for model in snapshot.models {
            for (position, block) in model.blocks.enumerated() {
                if let existing = index[block.digest] {
                    if blocks[existing].models.last != model.name { blocks[existing].models.append(model.name) }
                    continue
                }
                index[block.digest] = blocks.count
                blocks.append(
                    Block(
                        id: block.digest, bytes: snapshot.blockBytes[block.digest] ?? 0,
                        storedBytes: snapshot.storedBytes(ofBlock: position, in: model), kind: block.kind,
                        position: position, tensors: snapshot.blockTensorCount[block.digest] ?? 0, models: [model.name])
                )
            }
        }
        self.init(
            blocks: blocks,
            models: snapshot.models.map {
                Model(id: $0.name, family: $0.family, blocks: $0.blocks.map(\.digest), bytes: $0.bytes)
            },
            provenance: Provenance(
                models: snapshot.models.map { model in
                    Provenance.ModelSources(
                        id: model.name,
                        sources: model.sources.map { .init(path: $0.path, sha256: $0.sha256, size: $0.size) })
                }))
    }
}

extension Store {
    /// The manifest of `models` (all models when nil).
    package func manifest(models: [String]? = nil) throws -> Manifest {
        let snapshot = try snapshot(models: models)
        if let models {
            let found = Set(snapshot.models.map(\.name))
            if let missing = models.first(where: { !found.contains($0) }) {
                throw unknownModel(missing)
            }
        }
        return Manifest(snapshot)
    }
}
