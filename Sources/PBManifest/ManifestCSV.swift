import PBRCore

extension Manifest {
    /// One row per block: id,bytes,stored_bytes,kind,position,tensors,models (models joined by ";").
    package var blocksCSV: String {
        (["id,bytes,stored_bytes,kind,position,tensors,models"]
            + blocks.map { block in
                [
                    block.id, String(block.bytes), String(block.storedBytes), block.kind, String(block.position),
                    String(block.tensors), CSV.field(block.models.joined(separator: ";")),
                ].joined(separator: ",")
            }).joined(separator: "\n") + "\n"
    }

    /// One row per (model, block): model,family,position,block,bytes — the long format pandas pivots easily.
    package var modelsCSV: String {
        let bytes = Dictionary(blocks.map { ($0.id, $0.bytes) }, uniquingKeysWith: { first, _ in first })
        return
            (["model,family,position,block,bytes"]
            + models.flatMap { model in
                model.blocks.enumerated().map { position, block in
                    [CSV.field(model.id), CSV.field(model.family), String(position), block, String(bytes[block] ?? 0)]
                        .joined(separator: ",")
                }
            }).joined(separator: "\n") + "\n"
    }
}
