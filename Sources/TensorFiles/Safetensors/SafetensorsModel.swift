import Glibc
public import PBRCore

/// A model stored as one or more safetensors files: a single file, a sharded checkpoint with its
/// `*.safetensors.index.json`, or a directory holding either.
public struct SafetensorsModel: Sendable {
    /// What was opened (file, index or directory).
    public var path: String
    /// The shards, in file-name order.
    public let shards: [SafetensorsFile]
    /// The index file, verbatim, when the model is sharded with one.
    public var index: (path: String, bytes: [UInt8])?
    /// The index's `metadata` object (transformers writes `total_size` and `total_parameters`).
    public var indexMetadata: [JSONValue.Member]
    /// Every tensor with the shard that holds it: shards in order, tensors in data order within each shard.
    public let tensors: [(shard: Int, tensor: SafetensorsTensor)]

    init(
        path: String, shards: [SafetensorsFile], index: (path: String, bytes: [UInt8])?,
        indexMetadata: [JSONValue.Member]
    ) {
        self.path = path
        self.shards = shards
        self.index = index
        self.indexMetadata = indexMetadata
        self.tensors = shards.enumerated().flatMap { shard in
            shard.element.header.tensorsInDataOrder.map { (shard.offset, $0) }
        }
    }

    /// Opens a `.safetensors` file, an index file, or a directory.
    ///
    /// A directory is read through its one `*.safetensors.index.json` if it has one, else as all its
    /// `*.safetensors` files together. With an index, every entry of `weight_map` must name a tensor in that shard,
    /// and every tensor of every shard must be in `weight_map` under its shard.
    ///
    /// - Throws: `TensorFileError`, `.shardMismatch` when shards and index disagree or a name appears in two shards.
    public static func open(_ path: String) throws(TensorFileError) -> SafetensorsModel {
        if FileSystem.isDirectory(path) {
            let entries = try fileOperation { () throws(FileError) in
                try FileSystem.listDirectory(path, requireUTF8: true)
            }
            let indexes = entries.filter { $0.hasSuffix(".safetensors.index.json") }
            if indexes.count > 1 {
                throw TensorFileError(
                    .shardMismatch, path: path,
                    "directory holds several index files: \(indexes.joined(separator: ", "))")
            }
            if let index = indexes.first {
                let model = try openIndex(path + "/" + index, reportedPath: path)
                // A shard the index does not name would silently drop out of the model: refuse instead.
                let named = Set(model.shards.map { $0.path.split(separator: "/").last.map(String.init) ?? "" })
                if let stray = entries.first(where: { $0.hasSuffix(".safetensors") && !named.contains($0) }) {
                    throw TensorFileError(
                        .shardMismatch, path: path,
                        "\(stray) is in the directory but the index \(index) does not name it")
                }
                return model
            }
            let files = entries.filter { $0.hasSuffix(".safetensors") }
            guard !files.isEmpty else {
                throw TensorFileError(.shardMismatch, path: path, "directory holds no .safetensors file")
            }
            let shards = try files.map { (name) throws(TensorFileError) in try SafetensorsFile(path: path + "/" + name)
            }
            try checkUniqueNames(shards, path: path)
            return SafetensorsModel(path: path, shards: shards, index: nil, indexMetadata: [])
        }
        if path.hasSuffix(".index.json") { return try openIndex(path, reportedPath: path) }
        return SafetensorsModel(path: path, shards: [try SafetensorsFile(path: path)], index: nil, indexMetadata: [])
    }

    /// Opens `files` as the shards of one model without an index (a folder of a model tree holds several), reported
    /// as `reportedPath`; no tensor name may appear in two of them.
    public static func open(shards files: [String], reportedPath: String) throws(TensorFileError) -> SafetensorsModel {
        let shards = try files.map { (path) throws(TensorFileError) in try SafetensorsFile(path: path) }
        try checkUniqueNames(shards, path: reportedPath)
        return SafetensorsModel(path: reportedPath, shards: shards, index: nil, indexMetadata: [])
    }

    /// The names of the shards an index file (`*.safetensors.index.json`) names, without opening them.
    public static func shardNames(ofIndex indexPath: String) throws(TensorFileError) -> Set<String> {
        Set(try readIndex(indexPath).shardOf.values)
    }

    private static func readIndex(_ indexPath: String) throws(TensorFileError) -> (
        root: JSONValue, bytes: [UInt8], shardOf: [String: String]
    ) {
        let mapping = try fileOperation { () throws(FileError) in try MappedFile(path: indexPath) }
        let bytes = mapping.withUnsafeBytes { Array($0) }
        let root: JSONValue
        do {
            root = try StrictJSONParser.parse(bytes)
        } catch {
            if let key = error.duplicateKey {
                throw TensorFileError(.duplicateName, path: indexPath, "duplicate name \"\(key)\" in index")
            }
            throw TensorFileError(.invalidJSON, path: indexPath, "index is not valid JSON: \(error)")
        }
        guard case .object(let weightMap)? = root["weight_map"] else {
            throw TensorFileError(.invalidHeader, path: indexPath, "index has no \"weight_map\" object")
        }
        var shardOf: [String: String] = [:]
        for entry in weightMap {
            guard let shard = entry.value.stringValue else {
                throw TensorFileError(
                    .invalidHeader, path: indexPath, "weight_map entry \"\(entry.key)\" is not a file name string")
            }
            // Shard names are plain file names next to the index: never a way out of the directory.
            guard !shard.isEmpty, !shard.contains("/"), shard != ".", shard != ".." else {
                throw TensorFileError(
                    .invalidHeader, path: indexPath,
                    "weight_map entry \"\(entry.key)\" names shard \"\(shard)\", not a file name")
            }
            shardOf[entry.key] = shard
        }
        return (root, bytes, shardOf)
    }

    private static func openIndex(_ indexPath: String, reportedPath: String) throws(TensorFileError) -> SafetensorsModel
    {
        let (root, bytes, shardOf) = try readIndex(indexPath)
        let directory = AtomicFile.directory(of: indexPath)
        let names = Set(shardOf.values).sorted()
        let shards = try names.map { (name) throws(TensorFileError) in try SafetensorsFile(path: directory + "/" + name)
        }
        try checkUniqueNames(shards, path: reportedPath)
        var listed = Set<String>()
        for (shard, name) in zip(shards, names) {
            for tensor in shard.header.tensors {
                guard let expected = shardOf[tensor.name] else {
                    throw TensorFileError(
                        .shardMismatch, path: indexPath,
                        "tensor \"\(tensor.name)\" of shard \(name) is missing from the index's weight_map")
                }
                guard expected == name else {
                    throw TensorFileError(
                        .shardMismatch, path: indexPath,
                        "tensor \"\(tensor.name)\" is in shard \(name) but weight_map says \(expected)")
                }
                listed.insert(tensor.name)
            }
        }
        if let missing = shardOf.keys.sorted().first(where: { !listed.contains($0) }) {
            throw TensorFileError(
                .shardMismatch, path: indexPath,
                "weight_map lists tensor \"\(missing)\" in \(shardOf[missing] ?? "?") but that shard has no such tensor"
            )
        }
        var metadata: [JSONValue.Member] = []
        if case .object(let members)? = root["metadata"] { metadata = members }
        return SafetensorsModel(
            path: reportedPath, shards: shards, index: (indexPath, bytes), indexMetadata: metadata)
    }

    private static func checkUniqueNames(_ shards: [SafetensorsFile], path: String) throws(TensorFileError) {
        var owner: [String: String] = [:]
        for shard in shards {
            for tensor in shard.header.tensors {
                if let other = owner.updateValue(shard.path, forKey: tensor.name) {
                    throw TensorFileError(
                        .duplicateName, path: path,
                        "tensor \"\(tensor.name)\" appears in both \(other) and \(shard.path)")
                }
            }
        }
    }
}
