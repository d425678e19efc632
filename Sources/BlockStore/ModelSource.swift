import Crypto
import Foundation
import Glibc
import PBRCore
package import ParameterBlocks
import TensorFiles
import XXHash

/// The files a model is ingested from, and the checkpoints among them.
///
/// A model folder is the whole tree under it: every file of every sub-folder is stored, and every checkpoint in it
/// is partitioned. A folder's checkpoints are each `*.safetensors.index.json` with the shards it names, the other
/// `.safetensors` files (one checkpoint when no tensor name repeats among them, else one per file, as a diffusers
/// folder's `x.safetensors` and `x.fp16.safetensors` variants are), and each HDF5 file. `.git` folders and a root
/// `.cache/huggingface` (what `hf download --local-dir` keeps) are left out and reported, as are pbrepo's own
/// temporary files.
package struct ModelSource: Sendable {
    /// One checkpoint of the model: what it is made of and the prefix its tensor and block names get.
    package struct Checkpoint: Sendable {
        package enum Kind: Sendable {
            case safetensorsIndex(String)
            case safetensorsShards([String])
            case hdf5(String)
        }
        package var prefix: String
        package var kind: Kind
        /// Relative to the model's folder.
        package var files: [String] {
            switch kind {
            case .safetensorsIndex(let index): return [index]
            case .safetensorsShards(let shards): return shards
            case .hdf5(let file): return [file]
            }
        }
    }

    package var layout: Recipe.Layout
    /// The model's directory (for `directory` layout) or the file itself.
    package var root: String
    /// Every file, relative to `root`, sorted byte-wise (for `file` layout: the file's name).
    package var relativePaths: [String]
    /// Folders of the tree that hold no file, relative to `root`: recorded so that assemble rebuilds them.
    package var emptyDirectories: [String]
    package var checkpoints: [Checkpoint]
    /// What was left out on purpose (`.git`, `.cache/huggingface`), relative to `root`.
    package var skipped: [String]
    package var defaultName: String
    package var defaultFamily: String
    package var provenance = Recipe.Provenance()

    /// The HDF5 files among the model's checkpoints, as absolute paths (the CLI has libhdf5 read them in a child
    /// first).
    package var hdf5Files: [String] {
        checkpoints.compactMap { checkpoint in
            if case .hdf5(let file) = checkpoint.kind { return absolutePath(file) }
            return nil
        }
    }

    /// The model at `path`: a checkpoint file, a sharded checkpoint's index, a model folder, or a Hugging Face
    /// cache repository (`models--ORG--NAME`, meaning the snapshot `refs/main` names) or one of its snapshots.
    package static func find(_ path: String) throws -> ModelSource {
        if let (repository, commit) = HuggingFaceRepository.locate(path) {
            let snapshot = try commit ?? repository.defaultSnapshot()
            var source = try find(plain: repository.folder + "/snapshots/" + snapshot)
            source.defaultName = repository.modelName(ofSnapshot: snapshot)
            source.provenance = Recipe.Provenance(
                hub: "huggingface", repo: repository.id, revision: repository.ref(of: snapshot), commit: snapshot,
                parent: DeclaredParent.find(in: source.root, ownNames: [repository.id, source.defaultName]))
            // A fine-tune's family is its base's repo id; a base is its own family.
            source.defaultFamily = source.provenance.parent ?? repository.id
            return source
        }
        var source = try find(plain: path)
        if source.layout == .directory {
            source.provenance.parent = DeclaredParent.find(in: source.root, ownNames: [source.defaultName])
        }
        return source
    }

    static func find(plain path: String) throws -> ModelSource {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw StoreError(.io, "\(path): no such file or directory")
        }
        let url = URL(fileURLWithPath: path).standardizedFileURL
        if isDirectory.boolValue || path.hasSuffix(".index.json") {
            let directory = isDirectory.boolValue ? url : url.deletingLastPathComponent()
            var walk = TreeWalk(root: directory.path, linkRoot: try linkBoundary(of: directory.path))
            try walk.visit("")
            let files = walk.files.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            var source = ModelSource(
                layout: .directory, root: directory.path, relativePaths: files, emptyDirectories: walk.emptyDirectories,
                checkpoints: [], skipped: walk.skipped, defaultName: directory.lastPathComponent,
                defaultFamily: directory.deletingLastPathComponent().lastPathComponent)
            source.checkpoints = try source.findCheckpoints()
            guard !source.checkpoints.isEmpty else {
                throw StoreError(
                    .invalidArgument,
                    "\(directory.path) holds no safetensors or HDF5 checkpoint in any folder; pbrepo stores a model's"
                        + " other files beside its checkpoints")
            }
            return source
        }
        let file = url.lastPathComponent
        let folder = url.deletingLastPathComponent()
        var name = file.hasSuffix(".safetensors") ? String(file.dropLast(".safetensors".count)) : file
        var family = folder.lastPathComponent
        // `org/llama-ft/model.safetensors` is the model llama-ft, as its folder would be, not the tenth "model".
        if file == "model.safetensors" && folder.path != "/" {
            name = folder.lastPathComponent
            family = folder.deletingLastPathComponent().lastPathComponent
        }
        let isHDF5 = TensorFiles.Checkpoint.isHDF5(url.path)
        return ModelSource(
            layout: .file, root: url.path, relativePaths: [file], emptyDirectories: [],
            checkpoints: [Checkpoint(prefix: "", kind: isHDF5 ? .hdf5(file) : .safetensorsShards([file]))],
            skipped: [], defaultName: name, defaultFamily: family)
    }

    /// Where symbolic links in the folder may lead: the folder itself, or for a Hugging Face cache snapshot
    /// (`models--ORG--NAME/snapshots/REV/x -> ../../blobs/…`) the repository's folder.
    static func linkBoundary(of directory: String) throws -> String {
        guard let resolved = realpath(directory, nil) else {
            throw StoreError(.io, "\(directory): \(String(cString: strerror(errno)))")
        }
        var root = String(cString: resolved)
        free(resolved)
        let parts = root.split(separator: "/")
        if parts.count >= 3, parts[parts.count - 2] == "snapshots" {
            root = "/" + parts.dropLast(2).joined(separator: "/")
        }
        return root
    }

    /// Walks a model's folder, refusing what it must not make pbrepo read or silently leave out: symbolic links that
    /// lead outside the model's folder (a `config.json -> /etc/shadow` would be stored and shipped to every client)
    /// or to a folder (a loop, or a second copy), FIFOs, sockets and devices (which would block or stream forever).
    /// Links to files inside the folder are followed.
    struct TreeWalk {
        let root: String
        let linkRoot: String
        var files: [String] = []
        var emptyDirectories: [String] = []
        var skipped: [String] = []

        mutating func visit(_ relative: String) throws {
            let directory = relative.isEmpty ? root : root + "/" + relative
            let names = try FileSystem.listDirectory(directory, requireUTF8: true).filter {
                !$0.hasPrefix(AtomicFile.temporaryPrefix)
            }
            var holdsAnything = false
            for name in names {
                let path = directory + "/" + name
                let child = relative.isEmpty ? name : relative + "/" + name
                if name == ".git" || child == ".cache/huggingface" {
                    skipped.append(child)
                    continue
                }
                var status = stat()
                guard lstat(path, &status) == 0 else {
                    throw StoreError(.io, "\(path): \(String(cString: strerror(errno)))")
                }
                if (status.st_mode & S_IFMT) == S_IFLNK {
                    guard let target = realpath(path, nil) else {
                        throw StoreError(.invalidArgument, "\(path) is a symbolic link that leads nowhere")
                    }
                    let resolvedTarget = String(cString: target)
                    free(target)
                    guard stat(path, &status) == 0 else { throw StoreError(.io, "\(path): cannot stat") }
                    if (status.st_mode & S_IFMT) == S_IFDIR {
                        throw StoreError(
                            .invalidArgument,
                            "\(path) is a symbolic link to the folder \(resolvedTarget); pbrepo follows links to files"
                                + " only (replace it with the folder, or with links to its files)")
                    }
                    guard resolvedTarget.hasPrefix(linkRoot + "/") else {
                        throw StoreError(
                            .invalidArgument,
                            "\(path) is a symbolic link to \(resolvedTarget), outside the model's folder; pbrepo does not follow it"
                        )
                    }
                }
                switch status.st_mode & S_IFMT {
                case S_IFREG:
                    files.append(child)
                case S_IFDIR:
                    try visit(child)
                default:
                    throw StoreError(.invalidArgument, "\(path) is not a regular file (a FIFO, socket or device)")
                }
                holdsAnything = true
            }
            if !holdsAnything && !relative.isEmpty { emptyDirectories.append(relative) }
        }
    }

    /// The checkpoints of each folder of the tree, folders in path order.
    func findCheckpoints() throws -> [Checkpoint] {
        var byFolder: [String: [String]] = [:]
        for path in relativePaths {
            let cut = path.lastIndex(of: "/")
            let folder = cut.map { String(path[..<$0]) } ?? ""
            byFolder[folder, default: []].append(cut.map { String(path[path.index(after: $0)...]) } ?? path)
        }
        var found: [Checkpoint] = []
        for folder in byFolder.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            let names = byFolder[folder] ?? []
            func relative(_ name: String) -> String { folder.isEmpty ? name : folder + "/" + name }
            var kinds: [(stem: String, kind: Checkpoint.Kind)] = []
            var claimed = Set<String>()
            for index in names where index.hasSuffix(".safetensors.index.json") {
                let shards: Set<String>
                do {
                    shards = try SafetensorsModel.shardNames(ofIndex: absolutePath(relative(index)))
                } catch {
                    throw StoreError(.invalidArgument, "\(error)", underlying: error)
                }
                claimed.formUnion(shards)
                kinds.append(
                    (String(index.dropLast(".safetensors.index.json".count)), .safetensorsIndex(relative(index))))
            }
            let loose = names.filter { $0.hasSuffix(".safetensors") && !claimed.contains($0) }
            // `model-00003-of-00003.safetensors` beside a `model.safetensors.index.json` that does not name it is a
            // shard the index lost (a broken download or conversion), not a checkpoint of its own.
            for (stem, kind) in kinds {
                guard case .safetensorsIndex(let index) = kind,
                    let stray = loose.first(where: { $0.hasPrefix(stem + "-") && $0.contains("-of-") })
                else { continue }
                throw StoreError(
                    .invalidArgument,
                    "\(absolutePath(relative(stray))) looks like a shard of \(index), which does not name it;"
                        + " fix the index or remove the file")
            }
            if !loose.isEmpty {
                if loose.count > 1, try namesRepeat(loose.map { absolutePath(relative($0)) }) {
                    for name in loose {
                        kinds.append(
                            (String(name.dropLast(".safetensors".count)), .safetensorsShards([relative(name)])))
                    }
                } else {
                    kinds.append(
                        (String(loose[0].dropLast(".safetensors".count)), .safetensorsShards(loose.map(relative))))
                }
            }
            for name in names where !name.hasSuffix(".safetensors") && !claimed.contains(name) {
                if TensorFiles.Checkpoint.isHDF5(absolutePath(relative(name))) {
                    let stem = name.lastIndex(of: ".").map { String(name[..<$0]) } ?? name
                    kinds.append((stem.isEmpty ? name : stem, .hdf5(relative(name))))
                }
            }
            let folderPrefix = folder.isEmpty ? "" : folder + "/"
            for (stem, kind) in kinds {
                found.append(
                    Checkpoint(prefix: kinds.count == 1 ? folderPrefix : folderPrefix + stem + "/", kind: kind))
            }
        }
        return found
    }

    /// Whether a tensor name appears in two of the safetensors files (then they are separate checkpoints, not the
    /// shards of one).
    func namesRepeat(_ paths: [String]) throws -> Bool {
        var seen = Set<String>()
        for path in paths {
            let file: SafetensorsFile
            do {
                file = try SafetensorsFile(path: path)
            } catch {
                throw StoreError(.invalidArgument, "\(error)", underlying: error)
            }
            for tensor in file.header.tensors where !seen.insert(tensor.name).inserted { return true }
        }
        return false
    }

    /// Opens every checkpoint for partitioning.
    package func open() throws -> [ModelPartition.Source] {
        try checkpoints.map { checkpoint in
            let opened: TensorFiles.Checkpoint
            switch checkpoint.kind {
            case .safetensorsIndex(let index):
                opened = try TensorFiles.Checkpoint.open(absolutePath(index))
            case .safetensorsShards(let shards) where shards.count == 1 && layout == .file:
                opened = try TensorFiles.Checkpoint.open(root)
            case .safetensorsShards(let shards):
                let paths = shards.map(absolutePath)
                opened = .safetensors(
                    try SafetensorsModel.open(shards: paths, reportedPath: shards.count == 1 ? paths[0] : root))
            case .hdf5(let file):
                opened = .hdf5(try HDF5Checkpoint.open(absolutePath(file)))
            }
            var files = checkpoint.files
            if case .safetensorsIndex(let index) = checkpoint.kind, case .safetensors(let model) = opened {
                let folder = index.lastIndex(of: "/").map { String(index[...$0]) } ?? ""
                files += model.shards.map { folder + TensorFiles.Checkpoint.lastComponent($0.path) }
            }
            return ModelPartition.Source(
                prefix: checkpoint.prefix, files: files, checkpoint: opened, path: absolutePath(checkpoint.files[0]))
        }
    }

    package func absolutePath(_ relative: String) -> String { layout == .file ? root : root + "/" + relative }

    /// SHA-256 and XXH3-128 of every file, in one pass over each, files in parallel.
    func checksums() throws -> [FileChecksum] {
        try Parallel.map(count: relativePaths.count) { index in
            let file = try MappedFile(path: absolutePath(relativePaths[index]))
            file.adviseSequential()
            return file.withUnsafeBytes { bytes in
                var sha = SHA256()
                var xxh = XXH3Hasher()
                var offset = 0
                // Chunks small enough to stay in the cache between the two hashes.
                while offset < bytes.count {
                    let chunk = UnsafeRawBufferPointer(rebasing: bytes[offset..<min(bytes.count, offset + (1 << 20))])
                    sha.update(bufferPointer: chunk)
                    xxh.update(chunk)
                    file.evict(chunk)  // what stays resident is a chunk, not the file
                    offset += chunk.count
                }
                return FileChecksum(sha256: lowercaseHex(sha.finalize()), xxh3: xxh.finalize().description)
            }
        }
    }
}

/// A source file's whole-file digests: SHA-256 (what users compare with) and XXH3-128 (what the assembler checks).
struct FileChecksum: Sendable {
    var sha256: String
    var xxh3: String
}

/// A digest's bytes as lowercase hex, as `sha256sum` prints them.
func lowercaseHex(_ digest: some Sequence<UInt8>) -> String {
    digest.map { String(format: "%02x", $0) }.joined()
}
