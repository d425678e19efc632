import Crypto
import Foundation
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
            let names = try FileSystem.listDirectory(directory.path).filter { name in
                var isSub: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: directory.path + "/" + name, isDirectory: &isSub)
                return !isSub.boolValue && !name.hasPrefix(".pbrepo-tmp-")
            }
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
