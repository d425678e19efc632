import Crypto
import Foundation
import Glibc
import PBRCore
import XXHash

/// The files a model is ingested from.
struct SourceFiles: Sendable {
    var layout: Recipe.Layout
    /// The model's directory (for `directory` layout) or the file itself.
    var root: String
    var relativePaths: [String]
    var defaultName: String
    var defaultFamily: String

    static func find(_ path: String) throws -> SourceFiles {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw StoreError(.io, "\(path): no such file or directory")
        }
        let url = URL(fileURLWithPath: path).standardizedFileURL
        if isDirectory.boolValue || path.hasSuffix(".index.json") {
            let directory = isDirectory.boolValue ? url : url.deletingLastPathComponent()
            let names = try FileSystem.listDirectory(directory.path, requireUTF8: true).filter {
                !$0.hasPrefix(".pbrepo-tmp-")
            }
            try checkEntries(names, in: directory.path)
            return SourceFiles(
                layout: .directory, root: directory.path, relativePaths: names,
                defaultName: directory.lastPathComponent,
                defaultFamily: directory.deletingLastPathComponent().lastPathComponent)
        }
        let file = url.lastPathComponent
        let name = file.hasSuffix(".safetensors") ? String(file.dropLast(".safetensors".count)) : file
        return SourceFiles(
            layout: .file, root: url.path, relativePaths: [file], defaultName: name,
            defaultFamily: url.deletingLastPathComponent().lastPathComponent)
    }

    /// Refuses what a model directory must not make pbrepo read or silently leave out: symbolic links that lead
    /// outside the model's folder (a `config.json -> /etc/shadow` would be stored and shipped to every client),
    /// FIFOs, sockets and devices (which would block or stream forever), and sub-folders (not stored yet: a model
    /// would be recorded without them and reported verified).
    ///
    /// Links inside the folder are followed; so are those of a Hugging Face cache snapshot
    /// (`models--ORG--NAME/snapshots/REV/x -> ../../blobs/…`), which stay inside the repository's folder.
    static func checkEntries(_ names: [String], in directory: String) throws {
        guard let resolved = realpath(directory, nil) else {
            throw StoreError(.io, "\(directory): \(String(cString: strerror(errno)))")
        }
        var root = String(cString: resolved)
        free(resolved)
        let parts = root.split(separator: "/")
        if parts.count >= 3, parts[parts.count - 2] == "snapshots" {
            root = "/" + parts.dropLast(2).joined(separator: "/")
        }
        for name in names {
            let path = directory + "/" + name
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
                guard resolvedTarget.hasPrefix(root + "/") else {
                    throw StoreError(
                        .invalidArgument,
                        "\(path) is a symbolic link to \(resolvedTarget), outside the model's folder; pbrepo does not follow it"
                    )
                }
                guard stat(path, &status) == 0 else { throw StoreError(.io, "\(path): cannot stat") }
            }
            switch status.st_mode & S_IFMT {
            case S_IFREG: continue
            case S_IFDIR:
                throw StoreError(
                    .invalidArgument,
                    "\(path) is a sub-folder; pbrepo does not store model sub-folders yet and will not record the model without it"
                )
            default:
                throw StoreError(.invalidArgument, "\(path) is not a regular file (a FIFO, socket or device)")
            }
        }
    }

    func absolutePath(_ relative: String) -> String { layout == .file ? root : root + "/" + relative }

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
