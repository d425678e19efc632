import BlockStore
package import Distribution
import Foundation
import Glibc
package import OCI
import PBRCore
import Synchronization
package import XXHash

/// What an edge node knows besides its store's objects, kept under `<store>/edge/`: manifests by digest
/// (`manifests/<hex>`, byte-exact), tags (`tags/<repository, / as %2F>/<tag>` holding a digest), whole blobs it
/// keeps as files (`blobs/<hex>`: recipes, model indexes, blobs of other artifacts), and — from the model index of
/// every pbrepo manifest it holds — how each layer is laid out as store objects, so that a layer is served from
/// the objects and a miss fetches only the objects it lacks. Every file is written whole (temporary, then rename).
package final class EdgeCatalog: Sendable {
    /// A blob that is store objects one after another (a pack, or one object alone), as far as the model indexes
    /// held say: `members` are sorted, do not overlap, and may leave gaps (objects of models not held here).
    package struct Layout: Sendable {
        package var blob: Descriptor
        package var members: [Member]

        /// The members a byte range touches, nil when part of it lies in a gap.
        package func members(covering range: Range<UInt64>) -> [Member]? {
            var covered = range.lowerBound
            var touched: [Member] = []
            for member in members where member.offset + member.size > range.lowerBound {
                guard member.offset < range.upperBound else { break }
                guard member.offset <= covered else { return nil }
                touched.append(member)
                covered = max(covered, member.offset + member.size)
            }
            return covered >= range.upperBound ? touched : nil
        }
    }

    /// An object of a layer: what its file must be and where it lies.
    package struct Member: Sendable {
        package var object: ModelIndexDocument.Object
        package var digest: XXH3Digest
        package var blob: Descriptor
        package var offset: UInt64 { object.offset }
        package var size: UInt64 { object.size }
    }

    package struct StoredManifest: Sendable {
        package var bytes: [UInt8]
        package var digest: OCIDigest
        package var mediaType: String
    }

    package let root: String
    private struct State {
        var layouts: [OCIDigest: Layout] = [:]
        /// Every blob a held manifest names (a blob is fetched knowing its size).
        var descriptors: [OCIDigest: Descriptor] = [:]
        /// Where each object of a held model lies (delta bases and chunks are fetched from there).
        var locations: [XXH3Digest: Member] = [:]
    }
    private let state = Mutex(State())

    /// Opens (creating) the catalog under `storeRoot` and relearns the layouts of the manifests it holds.
    package init(storeRoot: String) throws {
        root = storeRoot + "/edge"
        for folder in ["manifests", "blobs", "tags"] { try FileSystem.makeDirectories(root + "/" + folder) }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root + "/manifests")) ?? [] {
            guard let digest = try? OCIDigest(parsing: "sha256:" + name), let stored = manifest(digest) else {
                continue
            }
            learn(stored)
        }
    }

    // MARK: Manifests and tags

    package func manifest(_ digest: OCIDigest) -> StoredManifest? {
        guard let bytes = try? MappedFile(path: root + "/manifests/" + digest.hex).withUnsafeBytes({ Array($0) }),
            OCIDigest(of: bytes) == digest
        else { return nil }
        return StoredManifest(bytes: bytes, digest: digest, mediaType: Self.mediaType(of: bytes))
    }

    /// Keeps a manifest (already checked against its digest) and learns the sizes and layouts it names.
    package func keep(_ manifest: StoredManifest) throws {
        try Self.writeWhole(manifest.bytes, to: root + "/manifests/" + manifest.digest.hex)
        learn(manifest)
    }

    package func tag(_ tag: String, of repository: String) -> OCIDigest? {
        guard let text = try? String(contentsOfFile: tagPath(repository, tag), encoding: .utf8) else { return nil }
        return try? OCIDigest(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    package func setTag(_ tag: String, of repository: String, to digest: OCIDigest) throws {
        try FileSystem.makeDirectories(AtomicFile.directory(of: tagPath(repository, tag)))
        try Self.writeWhole(Array(digest.description.utf8), to: tagPath(repository, tag))
    }

    /// Tags of `repository`, in lexical order.
    package func tags(of repository: String) -> [String]? {
        let folder = root + "/tags/" + repository.replacingOccurrences(of: "/", with: "%2F")
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return nil }
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }

    private func tagPath(_ repository: String, _ tag: String) -> String {
        root + "/tags/" + repository.replacingOccurrences(of: "/", with: "%2F") + "/" + tag
    }

    // MARK: Blobs

    /// The file of a blob kept whole and its size, if the catalog has it.
    package func blobFile(_ digest: OCIDigest) -> (path: String, size: UInt64)? {
        let path = root + "/blobs/" + digest.hex
        return FileSystem.regularFileSize(path).map { (path, $0) }
    }

    /// Where a blob being fetched whole is written before it is checked.
    package func partialBlobPath(_ digest: OCIDigest) -> String { root + "/blobs/." + digest.hex + ".partial" }

    /// Makes a fetched and checked blob file one of the catalog's.
    package func adoptBlob(_ digest: OCIDigest, from path: String) throws {
        guard rename(path, root + "/blobs/" + digest.hex) == 0 else {
            throw EdgeError(.upstreamFailed, "cannot keep blob \(digest): \(String(cString: strerror(errno)))")
        }
        AtomicFile.syncDirectory(root + "/blobs")
    }

    /// The blobs kept whole, with their sizes.
    package func heldBlobs() -> [(digest: OCIDigest, size: UInt64)] {
        ((try? FileSystem.listDirectory(root + "/blobs")) ?? []).compactMap { name in
            guard let digest = try? OCIDigest(parsing: "sha256:" + name), let file = blobFile(digest) else {
                return nil
            }
            return (digest, file.size)
        }
    }

    /// Deletes a blob kept whole (evicted; fetched again when asked for).
    package func dropBlob(_ hex: String) {
        unlink(root + "/blobs/" + hex)
    }

    /// A pbrepo model's recipe or model index: what the catalog's layouts are built from.
    package static func isDocument(_ descriptor: Descriptor) -> Bool {
        descriptor.mediaType == MediaType.modelIndex || descriptor.mediaType == MediaType.recipe
    }

    package func isDocument(_ digest: OCIDigest) -> Bool { descriptor(of: digest).map(Self.isDocument) ?? false }

    package func layout(of digest: OCIDigest) -> Layout? { state.withLock { $0.layouts[digest] } }
    package func descriptor(of digest: OCIDigest) -> Descriptor? { state.withLock { $0.descriptors[digest] } }
    package func location(of object: XXH3Digest) -> Member? { state.withLock { $0.locations[object] } }

    /// Learns the layers of a pbrepo model from its model index: each blob's objects, where they lie and what
    /// their files must be.
    package func learn(index: ModelIndexDocument, of manifest: ImageManifest) {
        let layers = Dictionary(manifest.layers.map { ($0.digest, $0) }, uniquingKeysWith: { a, _ in a })
        var byBlob: [OCIDigest: [Member]] = [:]
        for object in index.objects {
            guard let blob = try? OCIDigest(parsing: object.blob), let layer = layers[blob],
                let digest = XXH3Digest(hex: object.name), object.offset <= layer.size,
                object.size <= layer.size - object.offset
            else { continue }
            byBlob[blob, default: []].append(Member(object: object, digest: digest, blob: layer))
        }
        state.withLock { state in
            for members in byBlob.values { for member in members { state.locations[member.digest] = member } }
            for (blob, members) in byBlob {
                // Merged with what other models' indexes said of the same blob (a fine-tune names only the objects
                // of its base's packs it needs); members that overlap another are dropped.
                var byOffset = Dictionary(
                    (state.layouts[blob]?.members ?? []).map { ($0.offset, $0) }, uniquingKeysWith: { a, _ in a })
                for member in members where byOffset[member.offset] == nil { byOffset[member.offset] = member }
                var sorted: [Member] = []
                for member in byOffset.values.sorted(by: { $0.offset < $1.offset }) {
                    if let last = sorted.last, last.offset + last.size > member.offset { continue }
                    sorted.append(member)
                }
                state.layouts[blob] = Layout(blob: layers[blob]!, members: sorted)
            }
        }
    }

    private func learn(_ stored: StoredManifest) {
        guard
            let manifest = try? ImageManifest(
                decoding: stored.bytes, contentType: stored.mediaType, name: stored.digest.description)
        else { return }
        state.withLock { state in
            for descriptor in manifest.layers + [manifest.config] { state.descriptors[descriptor.digest] = descriptor }
        }
        if manifest.config.mediaType == MediaType.recipe, let first = manifest.layers.first,
            first.mediaType == MediaType.modelIndex, let file = blobFile(first.digest),
            let bytes = try? MappedFile(path: file.path).withUnsafeBytes({ Array($0) }),
            let index = try? JSONValueDecoder().decode(ModelIndexDocument.self, from: bytes)
        {
            learn(index: index, of: manifest)
        }
    }

    // MARK: Helpers

    /// The `mediaType` a manifest names itself, else the OCI image manifest's.
    static func mediaType(of bytes: [UInt8]) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let type = object["mediaType"] as? String
        else { return MediaType.imageManifest }
        return type
    }

    static func writeWhole(_ bytes: [UInt8], to path: String) throws {
        let file = try AtomicFile(destination: path)
        try file.write(bytes)
        _ = try file.commit()
    }
}
