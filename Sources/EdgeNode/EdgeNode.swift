package import BlockStore
import Crypto
package import Distribution
import Foundation
import Glibc
package import Logging
import NIOCore
package import OCI
import PBRCore
package import RegistryClient
import Synchronization
import XXHash

/// A source the edge fetches misses from: another edge (asked for what it holds, never to go on fetching) or the
/// origin registry.
package struct EdgeSource: Sendable {
    package enum Kind: String, Sendable { case peer, origin }

    package var kind: Kind
    package var client: RegistryClient

    package init(kind: Kind, client: RegistryClient) {
        self.kind = kind
        self.client = client
    }

    /// The header an edge sends with every request to a peer: the peer answers from what it holds.
    package static let peerHeader = (name: "X-PBRepo-Edge", value: "peer")
}

/// An edge node: the OCI read API over a store. Manifests come from the catalog (tags are asked of the origin
/// first, when there is one); a layer of a pbrepo model is served from the store's objects, and the objects it
/// lacks are fetched once — whatever the number of clients asking — from the peers in order, then the origin, as
/// byte ranges of the layer, each checked (size, sha256, then XXH3 of the decoded content) before it joins the
/// store and is sent. Other blobs are fetched whole, checked against their digest and kept.
package final class EdgeNode: Sendable {
    package let store: Store
    package let catalog: EdgeCatalog
    package let sources: [EdgeSource]
    package let metrics: EdgeMetrics
    /// What the node holds, for eviction by bytes.
    package let cache: EdgeCache
    let logger: Logger
    let streams: Int
    private let objectFlights: SingleFlight<XXH3Digest, String>
    private let blobFlights: SingleFlight<OCIDigest, String>
    private let manifestFlights = SingleFlight<String, EdgeCatalog.StoredManifest>()
    /// Objects whose file was found to be the one a layer needs (sha256) since the node started.
    private let checkedLocal = Mutex<Set<XXH3Digest>>([])

    package init(
        store: Store, peers: [RegistryClient] = [], origin: RegistryClient? = nil, streams: Int = 4,
        capacity: UInt64? = nil, metrics: EdgeMetrics = EdgeMetrics(), logger: Logger = Logger(label: "pbrepo.serve")
    ) throws {
        self.store = store
        let catalog = try EdgeCatalog(storeRoot: store.root)
        self.catalog = catalog
        cache = EdgeCache(capacity: capacity)
        cache.seed(
            store.objects.allObjects().compactMap { digest in
                store.objects.size(of: digest).map { EdgeCache.Entry(key: .object(digest.description), bytes: $0) }
            } + catalog.heldBlobs().map { EdgeCache.Entry(key: .blob($0.digest.hex), bytes: $0.size) })
        cache.pin(catalog.heldBlobs().filter { catalog.isDocument($0.digest) }.map { .blob($0.digest.hex) })
        objectFlights = SingleFlight { store.objects.contains($0) ? "local" : nil }
        blobFlights = SingleFlight { catalog.blobFile($0) != nil ? "local" : nil }
        self.sources =
            peers.map { EdgeSource(kind: .peer, client: $0) }
            + (origin.map { [EdgeSource(kind: .origin, client: $0)] } ?? [])
        self.metrics = metrics
        self.logger = logger
        self.streams = max(1, streams)
        metrics.held(cache.heldBytes, pinned: cache.pinnedBytes)
    }

    /// Closes the sources' connections.
    package func shutdown() async {
        for source in sources { await source.client.shutdown() }
    }

    // MARK: Manifests

    /// The manifest `reference` (a tag or a digest) of `repository`. A tag is asked of the origin each time (tags
    /// move), the held one answering when the origin cannot be reached; a digest is served from the catalog, else
    /// fetched. `localOnly` (a peer asking) answers from the catalog alone.
    package func manifest(repository: String, reference: String, localOnly: Bool) async throws
        -> EdgeCatalog.StoredManifest
    {
        let byDigest = reference.hasPrefix("sha256:")
        if byDigest {
            guard let digest = try? OCIDigest(parsing: reference) else {
                throw EdgeError(.invalidRequest, "\(reference) is not a sha256 digest")
            }
            if let held = catalog.manifest(digest) { return held }
        } else if localOnly || !sources.contains(where: { $0.kind == .origin }) {
            if let digest = catalog.tag(reference, of: repository), let held = catalog.manifest(digest) { return held }
        }
        guard !localOnly else {
            throw EdgeError(.manifestUnknown, "manifest \(repository):\(reference) is not on this edge")
        }
        let key = repository + "@" + reference
        do {
            let fetched = try await manifestFlights.values(for: [key]) { _ in
                [key: try await self.fetchManifest(repository: repository, reference: reference)]
            }
            return fetched[key]!
        } catch let error as EdgeError where !byDigest && error.code == .upstreamFailed {
            // The origin is away: the tag as last seen.
            if let digest = catalog.tag(reference, of: repository), let held = catalog.manifest(digest) {
                logger.warning(
                    "origin unreachable, serving the held tag",
                    metadata: ["repository": "\(repository)", "tag": "\(reference)", "error": "\(error)"])
                return held
            }
            throw error
        }
    }

    private func fetchManifest(repository: String, reference: String) async throws -> EdgeCatalog.StoredManifest {
        let byDigest = reference.hasPrefix("sha256:")
        var failures: [String] = []
        var unknown = true
        // Tags belong to the origin; a digest may come from anyone, as it is checked.
        for source in sources where byDigest || source.kind == .origin {
            do {
                let fetched = try await source.client.manifest(repository: repository, reference: reference)
                metrics.fetched(UInt64(fetched.bytes.count), from: source.kind.rawValue, requests: 1)
                let stored = EdgeCatalog.StoredManifest(
                    bytes: fetched.bytes, digest: fetched.digest,
                    mediaType: fetched.contentType ?? EdgeCatalog.mediaType(of: fetched.bytes))
                try await learnModel(stored, repository: repository)
                try catalog.keep(stored)
                if !byDigest { try catalog.setTag(reference, of: repository, to: stored.digest) }
                return stored
            } catch let error as RegistryError where error.code == .notFound {
                failures.append("\(source.client.host): not found")
            } catch {
                unknown = false
                failures.append("\(source.client.host): \(error)")
            }
        }
        if unknown {
            throw EdgeError(
                .manifestUnknown,
                "manifest \(repository):\(reference) is unknown here and to \(failures.isEmpty ? "no source" : failures.joined(separator: "; "))"
            )
        }
        throw EdgeError(
            .upstreamFailed,
            "manifest \(repository):\(reference) could not be fetched: \(failures.joined(separator: "; "))")
    }

    /// Fetches the model index of a pbrepo model before its manifest is kept, so that its layers can be served
    /// from objects at once.
    private func learnModel(_ stored: EdgeCatalog.StoredManifest, repository: String) async throws {
        guard
            let manifest = try? ImageManifest(
                decoding: stored.bytes, contentType: stored.mediaType, name: stored.digest.description),
            manifest.config.mediaType == MediaType.recipe, let index = manifest.layers.first,
            index.mediaType == MediaType.modelIndex
        else { return }
        _ = try await wholeBlob(index, repository: repository)
    }

    // MARK: Blobs

    /// A blob answer: its size, the range sent, and where each of its bytes is read from.
    package struct BlobAnswer: Sendable {
        package var digest: OCIDigest
        package var size: UInt64
        package var range: ByteRangeRequest
        package var pieces: [Piece]
        /// Fetched for this request (a miss) or held already.
        package var fetched: Bool

        package struct Piece: Sendable {
            package var file: OpenFile
            package var offset: UInt64
            package var length: UInt64
            /// `local`, `peer` or `origin`: where the bytes were when the request came.
            package var source: String
        }

        package var length: UInt64 { pieces.reduce(0) { $0 + $1.length } }
    }

    /// Blob `digest` of `repository`, or the bytes `rangeHeader` asks for. `localOnly` (a peer asking) answers
    /// with what the edge holds and fetches nothing.
    package func blob(repository: String, digest: OCIDigest, rangeHeader: String?, localOnly: Bool) async throws
        -> BlobAnswer
    {
        // The answer holds its files open, so the eviction that may follow a fetch cannot cut it short.
        let answer: BlobAnswer
        do {
            answer = try await findBlob(
                repository: repository, digest: digest, rangeHeader: rangeHeader, localOnly: localOnly)
        } catch let error as EdgeError where error.code == .blobUnknown && error.message.hasPrefix("cannot read") {
            // Another request's eviction took a file between its check and its opening: once more.
            answer = try await findBlob(
                repository: repository, digest: digest, rangeHeader: rangeHeader, localOnly: localOnly)
        }
        evict()
        if answer.fetched { metrics.held(cache.heldBytes, pinned: cache.pinnedBytes) }
        return answer
    }

    private func findBlob(repository: String, digest: OCIDigest, rangeHeader: String?, localOnly: Bool) async throws
        -> BlobAnswer
    {
        if let file = catalog.blobFile(digest) {
            return try fileAnswer(digest, file, rangeHeader: rangeHeader, source: "local", fetched: false)
        }
        // Served from objects when the range lies on objects a held model index places; a range reaching into
        // bytes of objects no held model names (a whole-blob GET of a shared pack, say) takes the whole blob.
        if let layout = catalog.layout(of: digest) {
            let range = ByteRangeRequest(header: rangeHeader, size: layout.blob.size)
            let wanted: Range<UInt64>?
            switch range {
            case .whole: wanted = 0..<layout.blob.size
            case .partial(let part): wanted = part
            case .unsatisfiable: wanted = nil
            }
            guard let wanted else {
                return BlobAnswer(digest: digest, size: layout.blob.size, range: range, pieces: [], fetched: false)
            }
            if let members = layout.members(covering: wanted) {
                return try await layoutAnswer(
                    layout, members: members, range: range, wanted: wanted, repository: repository,
                    localOnly: localOnly)
            }
        }
        guard !localOnly else { throw EdgeError(.blobUnknown, "blob \(digest) is not on this edge") }
        let descriptor: Descriptor
        if let known = catalog.descriptor(of: digest) {
            descriptor = known
        } else {
            descriptor = try await sizeFromSources(digest, repository: repository)
        }
        let source = try await wholeBlob(descriptor, repository: repository)
        guard let file = catalog.blobFile(digest) else {
            throw EdgeError(.upstreamFailed, "blob \(digest) was fetched but is not in \(catalog.root)/blobs")
        }
        return try fileAnswer(digest, file, rangeHeader: rangeHeader, source: source, fetched: true)
    }

    private func fileAnswer(
        _ digest: OCIDigest, _ file: (path: String, size: UInt64), rangeHeader: String?, source: String,
        fetched: Bool
    ) throws -> BlobAnswer {
        let (path, size) = file
        cache.used([.blob(digest.hex)])
        let range = ByteRangeRequest(header: rangeHeader, size: size)
        let wanted: Range<UInt64>
        switch range {
        case .whole: wanted = 0..<size
        case .partial(let part): wanted = part
        case .unsatisfiable: return BlobAnswer(digest: digest, size: size, range: range, pieces: [], fetched: fetched)
        }
        return BlobAnswer(
            digest: digest, size: size, range: range,
            pieces: [
                .init(file: try OpenFile(path), offset: wanted.lowerBound, length: UInt64(wanted.count), source: source)
            ],
            fetched: fetched)
    }

    private func layoutAnswer(
        _ layout: EdgeCatalog.Layout, members: [EdgeCatalog.Member], range: ByteRangeRequest, wanted: Range<UInt64>,
        repository: String, localOnly: Bool
    ) async throws -> BlobAnswer {
        var missing: [EdgeCatalog.Member] = []
        for member in members where !(try holdsRightFile(member)) { missing.append(member) }
        var sources: [XXH3Digest: String] = [:]
        if !missing.isEmpty {
            guard !localOnly else {
                throw EdgeError(
                    .blobUnknown, "blob \(layout.blob.digest): \(missing.count) of its objects are not on this edge")
            }
            sources = try await objects(missing, repository: repository)
        }
        cache.used(members.map { .object($0.digest.description) })
        let pieces = try members.map { member in
            let start = max(wanted.lowerBound, member.offset)
            let end = min(wanted.upperBound, member.offset + member.size)
            return BlobAnswer.Piece(
                file: try OpenFile(store.objects.path(of: member.digest)), offset: start - member.offset,
                length: end - start, source: sources[member.digest] ?? "local")
        }
        return BlobAnswer(
            digest: layout.blob.digest, size: layout.blob.size, range: range, pieces: pieces,
            fetched: !missing.isEmpty)
    }

    /// The store holds the object, and its file is the one the layer names (a store may hold the same content
    /// encoded otherwise, which would be other bytes).
    func holdsRightFile(_ member: EdgeCatalog.Member) throws -> Bool {
        guard store.objects.contains(member.digest) else { return false }
        if checkedLocal.withLock({ $0.contains(member.digest) }) { return true }
        let (key, size) = try store.objects.withObject(member.digest) { object in
            let header = try StoredObject.header(of: object, name: member.object.name)
            return (Store.sha256Key(of: header, fileSize: object.count), UInt64(object.count))
        }
        var sha256 = try store.objectSHA256([member.object.name: key])[member.object.name]?.sha256
        if sha256 == nil {
            sha256 = try store.objects.withObject(member.digest) { OCIDigest(of: $0).hex }
            try store.rememberSHA256([(member.object.name, key, sha256!, size)])
        }
        guard sha256 == member.object.sha256 else {
            throw EdgeError(
                .upstreamFailed,
                "object \(member.object.name) of blob \(member.blob.digest) is held here encoded otherwise (sha256 \(sha256!), the layer's is \(member.object.sha256)); this edge cannot serve that layer"
            )
        }
        checkedLocal.withLock { _ = $0.insert(member.digest) }
        return true
    }

    /// Makes sure the store holds `members` (and the delta bases and chunks they need): each fetched once, from the
    /// peers in order, then the origin. Returns where each came from.
    func objects(_ members: [EdgeCatalog.Member], repository: String) async throws -> [XXH3Digest: String] {
        let byDigest = Dictionary(members.map { ($0.digest, $0) }, uniquingKeysWith: { a, _ in a })
        return try await objectFlights.values(for: members.map(\.digest)) { claimed in
            try await self.fetchObjects(claimed.map { byDigest[$0]! }, repository: repository)
        }
    }

    private func fetchObjects(_ first: [EdgeCatalog.Member], repository: String) async throws -> [XXH3Digest: String] {
        let staging = ObjectDirectory(
            root: store.root + "/incoming/edge-" + UUID().uuidString, readingMissingFrom: store.objects)
        defer { try? FileManager.default.removeItem(atPath: staging.root) }
        let lease = try store.lease(first.map(\.digest))
        defer { withExtendedLifetime(lease) {} }
        var held = first.map { EdgeCache.Key.object($0.digest.description) }
        defer { cache.release(held) }
        cache.hold(held)
        let came = try await fetchIntoStaging(first, staging: staging, repository: repository)
        // Delta bases and chunks the fetched objects need and the store lacks come through the same single
        // flights (another request may be fetching them already), so that they are in the store before these are
        // decoded. Deltas and chunk lists form no cycles, so these waits end.
        var needed: [XXH3Digest: EdgeCatalog.Member] = [:]
        for member in first {
            for reference in try staging.references(of: member.digest)
            where !staging.contains(reference) && needed[reference] == nil {
                guard let location = catalog.location(of: reference) else {
                    throw EdgeError(
                        .upstreamFailed,
                        "object \(member.object.name) needs \(reference), which no model index held here places")
                }
                needed[reference] = location
            }
        }
        let references = needed.keys.map { EdgeCache.Key.object($0.description) }
        cache.hold(references)
        held += references
        // Those already here are the same reads as a hit: they become the most recently used.
        cache.used(references)
        if !needed.isEmpty { _ = try await objects(Array(needed.values), repository: repository) }
        let fetched = first.map(\.digest)
        do {
            try ObjectTransfer.commit(fetched, staging: staging, store: store, source: repository)
        } catch {
            metrics.verifyFailed(stage: "xxh3")
            throw EdgeError(.upstreamFailed, "\(error)")
        }
        for member in first { cache.stored(.object(member.digest.description), bytes: member.size) }
        return came
    }

    /// Fetches members into `staging` as ranges of their layers, from each source in turn until all arrived.
    private func fetchIntoStaging(_ members: [EdgeCatalog.Member], staging: ObjectDirectory, repository: String)
        async throws -> [XXH3Digest: String]
    {
        var remaining = members.map {
            ObjectTransfer.Wanted(object: $0.object, digest: $0.digest, blob: $0.blob)
        }
        var came: [XXH3Digest: String] = [:]
        var failures: [String] = []
        for source in sources where !remaining.isEmpty {
            let runs = ObjectTransfer.runs(ObjectTransfer.resumable(remaining, staging: staging))
            let outcomes = try await boundedMap(runs, width: streams) { run -> (Bool, UInt64, String?) in
                do {
                    let bytes = try await ObjectTransfer.fetch(
                        [run], client: source.client, repository: repository, staging: staging, streams: 1,
                        source: source.client.host)
                    return (true, bytes, nil)
                } catch {
                    return (false, 0, "\(source.client.host): \(error)")
                }
            }
            var bytes: UInt64 = 0
            for (run, outcome) in zip(runs, outcomes) {
                bytes += outcome.1
                if outcome.0 {
                    for object in run.objects { came[object.digest] = source.kind.rawValue }
                } else if let failure = outcome.2 {
                    failures.append(failure)
                    if failure.contains("sha256") { metrics.verifyFailed(stage: "sha256") }
                }
            }
            metrics.fetched(bytes, from: source.kind.rawValue, requests: runs.count)
            remaining.removeAll { came[$0.digest] != nil }
        }
        guard remaining.isEmpty else {
            throw EdgeError(
                .upstreamFailed,
                "\(remaining.count) object(s) of blob \(remaining[0].blob.digest) could not be fetched (first \(remaining[0].object.name)): \(failures.isEmpty ? "no source to ask" : failures.joined(separator: "; "))"
            )
        }
        return came
    }

    /// Fetches a blob whole (once, whatever the number of callers) into the catalog, checked against its digest.
    /// Returns where it came from.
    private func wholeBlob(_ descriptor: Descriptor, repository: String) async throws -> String {
        let digest = descriptor.digest
        let values = try await blobFlights.values(for: [digest]) { _ in
            var failures: [String] = []
            for source in self.sources {
                let path = self.catalog.partialBlobPath(digest)
                do {
                    let descriptorFD = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                    guard descriptorFD >= 0 else {
                        throw EdgeError(.upstreamFailed, "cannot write \(path): \(String(cString: strerror(errno)))")
                    }
                    defer { close(descriptorFD) }
                    var hasher = SHA256()
                    let bytes = try await source.client.fetchBlob(
                        repository: repository, digest: digest, size: descriptor.size
                    ) { buffer in
                        try buffer.withUnsafeReadableBytes { raw in
                            hasher.update(bufferPointer: raw)
                            var done = 0
                            while done < raw.count {
                                let count = write(descriptorFD, raw.baseAddress! + done, raw.count - done)
                                guard count > 0 else {
                                    throw EdgeError(
                                        .upstreamFailed, "cannot write \(path): \(String(cString: strerror(errno)))")
                                }
                                done += count
                            }
                        }
                    }
                    self.metrics.fetched(bytes, from: source.kind.rawValue, requests: 1)
                    let actual = OCIDigest(hasher.finalize())
                    guard actual == digest else {
                        self.metrics.verifyFailed(stage: "sha256")
                        throw EdgeError(
                            .upstreamFailed, "blob \(digest) from \(source.client.host) arrived as \(actual)")
                    }
                    fsync(descriptorFD)
                    try self.catalog.adoptBlob(digest, from: path)
                    self.cache.stored(.blob(digest.hex), bytes: descriptor.size)
                    if EdgeCatalog.isDocument(descriptor) { self.cache.pin([.blob(digest.hex)]) }
                    return [digest: source.kind.rawValue]
                } catch {
                    unlink(path)
                    failures.append("\(source.client.host): \(error)")
                }
            }
            throw EdgeError(
                .upstreamFailed,
                "blob \(digest) could not be fetched: \(failures.isEmpty ? "no source to ask" : failures.joined(separator: "; "))"
            )
        }
        return values[digest] ?? "local"
    }

    /// A blob no held manifest names: its size as the first source that has it says.
    private func sizeFromSources(_ digest: OCIDigest, repository: String) async throws -> Descriptor {
        for source in sources {
            if let size = try? await source.client.blobSize(repository: repository, digest: digest) {
                return Descriptor(mediaType: "application/octet-stream", digest: digest, size: size)
            }
        }
        throw EdgeError(.blobUnknown, "blob \(digest) of \(repository) is unknown here and to every source")
    }

    // MARK: Eviction

    /// Deletes the least recently used unpinned files until the node holds no more than its capacity.
    func evict() {
        let taken = cache.takeEvictions()
        guard !taken.isEmpty else { return }
        var bytes: UInt64 = 0
        for entry in taken {
            switch entry.key {
            case .object(let name):
                guard let digest = XXH3Digest(hex: name) else { continue }
                checkedLocal.withLock { _ = $0.remove(digest) }
                unlink(store.objects.path(of: digest))
            case .blob(let hex):
                catalog.dropBlob(hex)
            }
            bytes += entry.bytes
        }
        metrics.evicted(bytes, entries: taken.count)
        metrics.held(cache.heldBytes, pinned: cache.pinnedBytes)
        logger.debug(
            "evicted", metadata: ["entries": "\(taken.count)", "bytes": "\(bytes)", "held": "\(cache.heldBytes)"])
    }
}
