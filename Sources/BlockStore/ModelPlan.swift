import HDF5
import ParameterBlocks
import PBRCore
import TensorFiles
import XXHash

/// One object a model needs, and where its content comes from during ingest.
struct PlannedObject: Sendable {
    enum Source: Sendable {
        /// A byte range of one of the model's mapped source files.
        case file(index: Int, offset: Int, length: Int)
        case bytes([UInt8])
    }

    var digest: XXH3Digest
    var rawBytes: UInt64
    /// Bytes per element for byte grouping (floating-point tensors), else 1.
    var elementSize: Int
    var dtype: String
    var shape: String
    /// Where the corresponding tensor of the base model sits, for tensors.
    var baseKey: BaseTensors.Key?
    var source: Source
    var codec: ObjectCodec = .zstd
    var storedBytes: UInt64 = 0
    var base: XXH3Digest?
    var isNew = false
}

/// How a model's files decompose into objects: the recipe and the objects it names.
struct ModelPlan: Sendable {
    var recipe: Recipe
    var objects: [PlannedObject]
    let files: [MappedFile]

    init(report: PartitionReport, source: SourceFiles, model: String) throws {
        let mapped = try source.relativePaths.map { try MappedFile(path: source.absolutePath($0)) }
        files = mapped
        let inspection = report.inspection
        var place = [Int: BaseTensors.Key]()
        for (position, block) in report.blocks.enumerated() {
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
        func tensorObject(_ index: Int, source: PlannedObject.Source) -> XXH3Digest {
            let tensor = inspection.tensors[index]
            add(
                PlannedObject(
                    digest: tensor.digest, rawBytes: tensor.descriptor.byteCount,
                    elementSize: Self.elementSize(tensor.descriptor.dtype), dtype: tensor.descriptor.dtype,
                    shape: "[" + tensor.descriptor.shape.map(String.init).joined(separator: ",") + "]",
                    baseKey: place[index], source: source))
            return tensor.digest
        }
        func bytesObject(_ bytes: [UInt8]) -> XXH3Digest {
            let digest = xxh3_128(bytes)
            add(PlannedObject(digest: digest, rawBytes: UInt64(bytes.count), elementSize: 1, dtype: "", shape: "", source: .bytes(bytes)))
            return digest
        }
        func fileObject(_ index: Int) -> XXH3Digest {
            let digest = xxh3_128(mapped[index].unsafeBytes)
            add(
                PlannedObject(
                    digest: digest, rawBytes: UInt64(mapped[index].count), elementSize: 1, dtype: "", shape: "",
                    source: .file(index: index, offset: 0, length: mapped[index].count)))
            return digest
        }

        var tensorIndex: [String: Int] = [:]
        for (index, tensor) in inspection.tensors.enumerated() { tensorIndex[tensor.descriptor.name] = index }
        var recipeFiles: [Recipe.File] = []
        for (fileIndex, relative) in source.relativePaths.enumerated() {
            var entry = Recipe.File(
                path: relative, kind: .verbatim, size: UInt64(mapped[fileIndex].count), sha256: "")
            switch inspection.checkpoint {
            case .safetensors(let checkpoint):
                if let shard = checkpoint.shards.first(where: { $0.path.split(separator: "/").last.map(String.init) == relative }) {
                    entry.kind = .safetensors
                    entry.header = bytesObject(shard.header.prefixBytes).description
                    entry.tensors = shard.header.tensorsInDataOrder.map { tensor in
                        let index = tensorIndex[tensor.name] ?? 0
                        return tensorObject(
                            index,
                            source: .file(index: fileIndex, offset: shard.dataStart + Int(tensor.begin), length: Int(tensor.byteCount))
                        ).description
                    }
                } else {
                    entry.object = fileObject(fileIndex).description
                }
            case .hdf5(let checkpoint):
                guard source.layout == .file else {
                    entry.object = fileObject(fileIndex).description
                    break
                }
                entry.kind = .hdf5
                let bytes = mapped[fileIndex].unsafeBytes
                var extents: [(offset: Int, length: Int, tensor: Int)] = []
                for (index, info) in checkpoint.datasets.enumerated() {
                    // Spliced: contiguous data stored as is (no byte swap) whose file bytes are the tensor's bytes.
                    guard let offset = info.fileOffset.map(Int.init), info.storageSize > 0,
                        info.storageSize == info.byteCount, info.datatype.byteOrder != .bigEndian,
                        offset + Int(info.storageSize) <= bytes.count
                    else { continue }
                    let range = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(info.storageSize))])
                    guard xxh3_128(range) == inspection.tensors[index].digest else { continue }
                    extents.append((offset, Int(info.storageSize), index))
                }
                extents.sort { $0.offset < $1.offset }
                var skeleton: [UInt8] = []
                var cursor = 0
                var kept: [Recipe.File.Extent] = []
                for extent in extents where extent.offset >= cursor {
                    skeleton.append(contentsOf: bytes[cursor..<extent.offset])
                    let digest = tensorObject(extent.tensor, source: .file(index: fileIndex, offset: extent.offset, length: extent.length))
                    kept.append(.init(offset: UInt64(extent.offset), length: UInt64(extent.length), object: digest.description))
                    cursor = extent.offset + extent.length
                }
                skeleton.append(contentsOf: bytes[cursor...])
                entry.skeleton = bytesObject(skeleton).description
                entry.extents = kept
            }
            recipeFiles.append(entry)
        }
        recipe = Recipe(schema: Recipe.schemaID, model: model, layout: source.layout, files: recipeFiles)
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
            return try body(UnsafeRawBufferPointer(rebasing: files[index].unsafeBytes[offset..<(offset + length)]))
        case .bytes(let bytes):
            return try bytes.withUnsafeBytes(body)
        }
    }

    static func elementSize(_ dtype: String) -> Int {
        switch dtype {
        case "F16", "BF16": return 2
        case "F32", "C64": return 4
        case "F64": return 8
        default: return 1
        }
    }
}
