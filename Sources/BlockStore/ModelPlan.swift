import PBRCore
import ParameterBlocks
import TensorFiles
import XXHash

/// One object a model needs, and where its content comes from during ingest.
struct PlannedObject: Sendable {
    enum Source: Sendable {
        /// A byte range of one of the model's mapped source files.
        case file(index: Int, offset: Int, length: Int)
        case bytes(ArraySlice<UInt8>)
        /// A list of the objects that hold the content's chunks (planned before it).
        case chunks([StoredObject.Chunk])
    }

    var digest: XXH3Digest
    var rawBytes: UInt64
    /// Bytes per element for byte grouping (floating-point tensors), else 1.
    var elementSize: Int
    var dtype: String
    var shape: String
    /// Where the corresponding tensor of the base model sits, for tensors (and their chunks).
    var baseKey: BaseTensors.Key?
    /// Which chunk of its tensor this object is, for a chunk: its delta base is the same chunk of the base tensor.
    var chunkIndex: Int?
    var source: Source
    var codec: ObjectCodec = .zstd
    var storedBytes: UInt64 = 0
    var base: XXH3Digest?
    var isNew = false

    var isChunkList: Bool {
        if case .chunks = source { return true }
        return false
    }
}

/// How a model's files decompose into objects: the recipe and the objects it names (with, for contents over
/// `chunkBytes`, the chunks their lists name, each before its list).
struct ModelPlan: Sendable {
    var recipe: Recipe
    var objects: [PlannedObject]
    let files: [MappedFile]

    /// - Parameter chunkBytes: contents longer than this become chunks; the partition's chunk digests are used when
    ///   it was run with the same size, else the chunks are hashed here.
    init(
        partition: ModelPartition, source: ModelSource, model: String, chunkBytes: Int = StoredObject.chunkBytes
    ) throws {
        let mapped = try source.relativePaths.map { try MappedFile(path: source.absolutePath($0)) }
        files = mapped
        var place = [Int: BaseTensors.Key]()
        for (position, block) in partition.blocks.enumerated() {
            for (index, tensor) in block.block.tensors.enumerated() {
                place[tensor] = BaseTensors.Key(block: position, index: index)
            }
        }
        var planned: [XXH3Digest: PlannedObject] = [:]
        var order: [XXH3Digest] = []
        func add(_ object: PlannedObject) {
            if planned[object.digest] == nil {
                planned[object.digest] = object
                order.append(object.digest)
            }
        }
        /// Plans one content: itself when it fits a chunk, else its chunks and then their list.
        func addContent(
            _ template: PlannedObject, chunkDigests: [XXH3Digest],
            source: (_ offset: Int, _ length: Int) -> PlannedObject.Source
        ) {
            let length = Int(template.rawBytes)
            guard length > chunkBytes else {
                var object = template
                object.source = source(0, length)
                return add(object)
            }
            var chunks: [StoredObject.Chunk] = []
            for (index, digest) in chunkDigests.enumerated() {
                let offset = index * chunkBytes
                var chunk = template
                chunk.digest = digest
                chunk.rawBytes = UInt64(min(chunkBytes, length - offset))
                chunk.chunkIndex = index
                chunk.source = source(offset, Int(chunk.rawBytes))
                add(chunk)
                chunks.append(StoredObject.Chunk(digest: digest, length: chunk.rawBytes))
            }
            var list = template
            list.source = .chunks(chunks)
            add(list)
        }
        func chunkDigests(_ bytes: UnsafeRawBufferPointer) -> (whole: XXH3Digest, chunks: [XXH3Digest]) {
            guard bytes.count > chunkBytes else { return (xxh3_128(bytes), []) }
            var hasher = XXH3ChunkedHasher(chunkBytes: chunkBytes)
            hasher.update(bytes)
            return hasher.finalize()
        }
        func tensorObject(_ index: Int, file: Int, offset: Int, length: Int) -> XXH3Digest {
            let tensor = partition.tensors[index]
            var chunks = tensor.chunkDigests
            if length > chunkBytes && chunks.count != (length + chunkBytes - 1) / chunkBytes {
                let bytes = UnsafeRawBufferPointer(rebasing: mapped[file].unsafeBytes[offset..<(offset + length)])
                chunks = chunkDigests(bytes).chunks
                mapped[file].evict(bytes)
            }
            addContent(
                PlannedObject(
                    digest: tensor.digest, rawBytes: tensor.descriptor.byteCount,
                    elementSize: DType(rawValue: tensor.descriptor.dtype)?.componentBytes ?? 1,
                    dtype: tensor.descriptor.dtype,
                    shape: "[" + tensor.descriptor.shape.map(String.init).joined(separator: ",") + "]",
                    baseKey: place[index], source: .bytes([])),
                chunkDigests: chunks
            ) { .file(index: file, offset: offset + $0, length: $1) }
            return tensor.digest
        }
        func bytesObject(_ bytes: [UInt8]) -> XXH3Digest {
            let digests = bytes.withUnsafeBytes { chunkDigests($0) }
            addContent(
                PlannedObject(
                    digest: digests.whole, rawBytes: UInt64(bytes.count), elementSize: 1, dtype: "", shape: "",
                    source: .bytes([])),
                chunkDigests: digests.chunks
            ) { .bytes(bytes[$0..<($0 + $1)]) }
            return digests.whole
        }
        func fileObject(_ index: Int) -> XXH3Digest {
            let digests = chunkDigests(mapped[index].unsafeBytes)
            mapped[index].evict(mapped[index].unsafeBytes)
            addContent(
                PlannedObject(
                    digest: digests.whole, rawBytes: UInt64(mapped[index].count), elementSize: 1, dtype: "",
                    shape: "", source: .bytes([])),
                chunkDigests: digests.chunks
            ) { .file(index: index, offset: $0, length: $1) }
            return digests.whole
        }

        var componentOf: [String: ModelPartition.Component] = [:]
        for component in partition.components {
            for file in component.files { componentOf[file] = component }
        }
        var recipeFiles: [Recipe.File] = []
        for (fileIndex, relative) in source.relativePaths.enumerated() {
            let content: Recipe.File.Content
            let component = componentOf[relative]
            let first = component?.firstTensor ?? 0
            let layout =
                component?.report.inspection.checkpoint.layout(
                    ofFile: Checkpoint.lastComponent(relative), length: mapped[fileIndex].count) ?? .other
            switch layout {
            case .safetensors(let header, let tensors):
                content = .safetensors(
                    header: bytesObject(header).description,
                    tensors: tensors.map { extent in
                        tensorObject(
                            first + extent.tensor, file: fileIndex, offset: extent.offset, length: extent.length
                        ).description
                    })
            case .embedded(let candidates):
                let bytes = mapped[fileIndex].unsafeBytes
                // Spliced only where the file's bytes really are the tensor's (its metadata could lie).
                let extents = candidates.filter { extent in
                    let range = UnsafeRawBufferPointer(rebasing: bytes[extent.offset..<(extent.offset + extent.length)])
                    return xxh3_128(range) == partition.tensors[first + extent.tensor].digest
                }
                var skeleton: [UInt8] = []
                var cursor = 0
                var kept: [Recipe.File.Extent] = []
                for extent in extents where extent.offset >= cursor {
                    skeleton.append(contentsOf: bytes[cursor..<extent.offset])
                    let digest = tensorObject(
                        first + extent.tensor, file: fileIndex, offset: extent.offset, length: extent.length)
                    kept.append(
                        .init(offset: UInt64(extent.offset), length: UInt64(extent.length), object: digest.description))
                    cursor = extent.offset + extent.length
                }
                skeleton.append(contentsOf: bytes[cursor...])
                content = .hdf5(skeleton: bytesObject(skeleton).description, extents: kept)
            case .other:
                content = .verbatim(object: fileObject(fileIndex).description)
            }
            recipeFiles.append(
                Recipe.File(path: relative, size: UInt64(mapped[fileIndex].count), sha256: "", content: content))
        }
        recipe = Recipe(
            model: model, layout: source.layout, files: recipeFiles, emptyDirectories: source.emptyDirectories,
            provenance: source.provenance)
        objects = order.compactMap { planned[$0] }
    }

    /// Records the source files' whole-file digests in the recipe.
    mutating func setChecksums(_ checksums: [FileChecksum]) {
        for (index, checksum) in checksums.enumerated() where index < recipe.files.count {
            recipe.files[index].sha256 = checksum.sha256
            recipe.files[index].xxh3 = checksum.xxh3
        }
    }

    /// Calls `body` with an object's content.
    func withContent<R>(of object: PlannedObject, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        switch object.source {
        case .file(let index, let offset, let length):
            // The object is encoded once: its source pages are let go after, so that an ingest keeps the objects
            // being encoded resident, not the model.
            defer { files[index].evict(offset: offset, length: length) }
            return try body(UnsafeRawBufferPointer(rebasing: files[index].unsafeBytes[offset..<(offset + length)]))
        case .bytes(let bytes):
            return try bytes.withUnsafeBytes(body)
        case .chunks:
            throw StoreError(
                .corruptObject, "object \(object.digest) is a list of chunks and has no content of its own")
        }
    }
}
