package import BlockStore
package import Distribution
import Foundation
import Logging
package import OCI
import PBRCore
import XXHash

/// The blocks a caching plan has one node cache: the `cache` row of `pbrepo simulate --json` or `pbrepo plan
/// --json` (node indices from 0), and the capacity the plan gave the node.
package struct NodePlan: Sendable, Equatable {
    package var node: Int
    package var blocks: [String]
    package var capacityBytes: UInt64?

    package init(node: Int, blocks: [String], capacityBytes: UInt64? = nil) {
        self.node = node
        self.blocks = blocks
        self.capacityBytes = capacityBytes
    }

    /// Reads node `node`'s row of a plan file.
    package static func load(_ path: String, node: Int) throws -> NodePlan {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.read(path)
        } catch {
            throw EdgeError(.invalidRequest, "cannot read the plan \(path): \(error)")
        }
        struct PlanFile: Decodable {
            var cache: [[String]]
            var capacityBytes: [UInt64]?

            enum CodingKeys: String, CodingKey {
                case cache
                case capacityBytes = "capacity_bytes"
            }
        }
        let plan: PlanFile
        do {
            plan = try JSONValueDecoder().decode(PlanFile.self, from: bytes)
        } catch {
            throw EdgeError(
                .invalidRequest,
                "the plan \(path) is not a caching plan (the JSON of pbrepo simulate --json or plan --json): \(error)")
        }
        guard plan.cache.indices.contains(node) else {
            throw EdgeError(
                .invalidRequest, "the plan \(path) has nodes 0...\(plan.cache.count - 1); there is no node \(node)")
        }
        let blocks = plan.cache[node]
        if let bad = blocks.first(where: { XXH3Digest(hex: $0) == nil }) {
            throw EdgeError(
                .invalidRequest, "the plan \(path): cache row \(node) holds \(bad), not a block id (32 hex digits)")
        }
        let capacity = plan.capacityBytes.flatMap { $0.indices.contains(node) ? $0[node] : nil }
        return NodePlan(node: node, blocks: blocks, capacityBytes: capacity)
    }
}

/// What a preload did.
package struct PreloadReport: Sendable, Codable, Equatable {
    package var node: Int
    package var blocks: Int
    /// Objects the blocks are made of (with the chunks of chunked ones), those fetched now, and their bytes.
    package var objects: Int
    package var fetchedObjects: Int
    package var pinnedBytes: UInt64
    package var fetchedBytes: UInt64
}

extension EdgeNode {
    /// Fetches the objects of `plan`'s blocks that the node lacks — found through the model indexes of `models`
    /// (`repository:tag` at the origin), each object through the usual single flights from the peers, then the
    /// origin — and pins them: they are never evicted. A block that none of the models holds is an error naming it,
    /// before anything is fetched.
    package func preload(_ plan: NodePlan, models: [(repository: String, tag: String)]) async throws
        -> PreloadReport
    {
        let wanted = Set(plan.blocks)
        var objectsOfBlock: [String: [XXH3Digest]] = [:]
        var members: [String: [EdgeCatalog.Member]] = [:]
        for (repository, tag) in models {
            let stored = try await manifest(repository: repository, reference: tag, localOnly: false)
            let index = try modelIndex(stored, name: "\(repository):\(tag)")
            for (position, block) in index.record.blocks.enumerated()
            where wanted.contains(block.digest) && objectsOfBlock[block.digest] == nil {
                var digests: [XXH3Digest] = []
                for tensor in index.record.tensors where tensor.blockPosition == position {
                    guard let name = tensor.object, let digest = XXH3Digest(hex: name),
                        let member = catalog.location(of: digest)
                    else { continue }
                    if !digests.contains(digest) { digests.append(digest) }
                    members[repository, default: []].append(member)
                }
                objectsOfBlock[block.digest] = digests
            }
        }
        let unknown = plan.blocks.filter { objectsOfBlock[$0] == nil }
        guard unknown.isEmpty else {
            throw EdgeError(
                .invalidRequest,
                "node \(plan.node) of the plan caches \(unknown.count) block(s) that none of the models \(models.map { "\($0.repository):\($0.tag)" }.joined(separator: ", ")) holds: \(unknown.prefix(3).joined(separator: ", "))\(unknown.count > 3 ? ", …" : "")"
            )
        }
        let before = metrics.fetchedBytes
        var fetchedObjects = 0
        for (repository, list) in members.sorted(by: { $0.key < $1.key }) {
            var seen = Set<XXH3Digest>()
            var missing: [EdgeCatalog.Member] = []
            for member in list where seen.insert(member.digest).inserted {
                if try !holdsRightFile(member) { missing.append(member) }
            }
            fetchedObjects += missing.count
            if !missing.isEmpty { _ = try await objects(missing, repository: repository) }
        }
        // Chunked objects are served chunk by chunk: their chunks are pinned with them.
        var pinned = Set(objectsOfBlock.values.joined())
        for digest in pinned {
            for chunk in try store.objects.chunks(of: digest) ?? [] { pinned.insert(chunk.digest) }
        }
        cache.pin(pinned.map { .object($0.description) })
        evict()
        metrics.held(cache.heldBytes, pinned: cache.pinnedBytes)
        let pinnedBytes = pinned.reduce(UInt64(0)) { $0 + (store.objects.size(of: $1) ?? 0) }
        logger.info(
            "preloaded",
            metadata: [
                "node": "\(plan.node)", "blocks": "\(plan.blocks.count)", "objects": "\(pinned.count)",
                "fetched_objects": "\(fetchedObjects)", "pinned_bytes": "\(pinnedBytes)",
            ])
        return PreloadReport(
            node: plan.node, blocks: plan.blocks.count, objects: pinned.count, fetchedObjects: fetchedObjects,
            pinnedBytes: pinnedBytes, fetchedBytes: metrics.fetchedBytes - before)
    }

    /// The model index of a pbrepo model's manifest, read from the catalog (fetching a manifest keeps it).
    private func modelIndex(_ stored: EdgeCatalog.StoredManifest, name: String) throws -> ModelIndexDocument {
        guard
            let manifest = try? ImageManifest(
                decoding: stored.bytes, contentType: stored.mediaType, name: stored.digest.description),
            manifest.config.mediaType == MediaType.recipe, let layer = manifest.layers.first,
            layer.mediaType == MediaType.modelIndex, let file = catalog.blobFile(layer.digest),
            let bytes = try? FileSystem.read(file.path),
            let index = try? JSONValueDecoder().decode(ModelIndexDocument.self, from: bytes)
        else {
            throw EdgeError(.invalidRequest, "\(name) is not a pbrepo model (no readable model index)")
        }
        return index
    }
}
