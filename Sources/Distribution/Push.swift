import AsyncHTTPClient
package import BlockStore
import Foundation
package import OCI
import PBRCore
package import RegistryClient

/// What a push did.
package struct PushResult: Sendable, Codable, Equatable {
    package var model: String
    package var reference: String
    package var manifestDigest: String
    package var blobs: Int
    /// Blobs the registry had already, or took by cross-repository mount, and blobs sent.
    package var present: Int
    package var mounted: Int
    package var uploaded: Int
    /// Bytes of blobs sent, and of the manifest.
    package var bytesSent: UInt64
    package var manifestBytes: UInt64
    /// The artifact's blob bytes, and the model's files.
    package var artifactBytes: UInt64
    package var modelBytes: UInt64
}

package enum Push {
    package struct Options: Sendable {
        /// Blobs in flight at once.
        package var streams = 4
        /// Blobs larger than this go up in chunks of this size (never to hosts that break chunked uploads: GHCR,
        /// Google, ECR — their pushes stay monolithic).
        package var chunkAbove: UInt64 = 100 << 20
        package var artifact = ModelArtifact.Options()

        package init() {}
    }

    /// Pushes `model` to `reference`: each blob is looked up first (HEAD) and skipped when there, mounted from
    /// another repository of the registry where the store saw it, else uploaded; the manifest goes last, so a
    /// registry never names a model whose blobs it lacks. A push cut short is resumed by running it again: what
    /// arrived is found by the HEADs.
    package static func push(
        _ model: String, store: Store, to reference: Reference, client: RegistryClient, options: Options = Options(),
        progress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) async throws -> PushResult {
        let artifact = try ModelArtifact.build(model, store: store, options: options.artifact)
        let repository = reference.repository
        try await client.ping()
        enum Outcome: Sendable {
            case present
            case mounted
            case uploaded(UInt64)
        }
        let total = artifact.blobs.reduce(UInt64(0)) { $0 + $1.descriptor.size }
        let done = Counter()
        let monolithicOnly = ["ghcr.io", "gcr.io", "pkg.dev", "amazonaws.com"].contains { client.host.hasSuffix($0) }
        let outcomes = try await boundedMap(artifact.blobs, width: options.streams) { blob -> Outcome in
            let descriptor = blob.descriptor
            if let size = try await client.blobSize(repository: repository, digest: descriptor.digest),
                size == descriptor.size
            {
                progress?(done.add(descriptor.size), total)
                return .present
            }
            for source in try store.blobLocations(descriptor.digest.hex, registry: client.host)
            where source != repository {
                if try await client.mount(repository: repository, digest: descriptor.digest, from: source) {
                    progress?(done.add(descriptor.size), total)
                    return .mounted
                }
            }
            switch blob.content {
            case .bytes(let bytes):
                try await client.upload(repository: repository, digest: descriptor.digest, size: descriptor.size) {
                    .bytes(bytes)
                }
            case .files(let slices):
                if descriptor.size > options.chunkAbove, !monolithicOnly {
                    try await client.uploadChunked(
                        repository: repository, digest: descriptor.digest, size: descriptor.size,
                        chunkBytes: options.chunkAbove
                    ) { range in slices.subrange(range).body }
                } else {
                    try await client.upload(repository: repository, digest: descriptor.digest, size: descriptor.size) {
                        slices.body
                    }
                }
            }
            progress?(done.add(descriptor.size), total)
            return .uploaded(descriptor.size)
        }
        try store.rememberBlobLocations(
            artifact.blobs.map(\.descriptor.digest.hex), registry: client.host, repository: repository)
        let tag = reference.tag ?? (reference.digest == nil ? "latest" : nil)
        if let digest = reference.digest, digest != artifact.manifestDigest {
            throw DistributionError(
                .invalidArgument,
                "\(reference) names digest \(digest), but the manifest of \(model) is \(artifact.manifestDigest)")
        }
        let stored = try await client.putManifest(
            repository: repository, reference: tag ?? artifact.manifestDigest.description, bytes: artifact.manifest,
            mediaType: MediaType.imageManifest)
        var result = PushResult(
            model: model, reference: reference.description, manifestDigest: stored.description,
            blobs: artifact.blobs.count, present: 0, mounted: 0, uploaded: 0, bytesSent: 0,
            manifestBytes: UInt64(artifact.manifest.count), artifactBytes: total, modelBytes: artifact.modelBytes)
        for outcome in outcomes {
            switch outcome {
            case .present: result.present += 1
            case .mounted: result.mounted += 1
            case .uploaded(let bytes):
                result.uploaded += 1
                result.bytesSent += bytes
            }
        }
        return result
    }
}

/// `body` of every element, at most `width` at a time; results in input order. The first error cancels the rest.
package func boundedMap<Element: Sendable, Value: Sendable>(
    _ elements: [Element], width: Int, _ body: @escaping @Sendable (Element) async throws -> Value
) async throws -> [Value] {
    try await withThrowingTaskGroup(of: (Int, Value).self) { group in
        var results = [Value?](repeating: nil, count: elements.count)
        var next = 0
        for _ in 0..<min(max(1, width), elements.count) {
            let index = next
            group.addTask { (index, try await body(elements[index])) }
            next += 1
        }
        while let (index, value) = try await group.next() {
            results[index] = value
            if next < elements.count {
                let index = next
                group.addTask { (index, try await body(elements[index])) }
                next += 1
            }
        }
        return results.map { $0! }
    }
}
