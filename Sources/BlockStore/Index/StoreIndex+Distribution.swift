import Foundation
import GRDB
package import XXHash

/// One pack as distribution knows it: object files one after another, named by the sha256 of the whole.
package struct PackRecord: Sendable, Equatable {
    package var sha256: String
    package var size: UInt64
    package var members: [Member]

    package struct Member: Sendable, Equatable {
        package var object: String
        package var offset: UInt64
        package var size: UInt64
        /// sha256 of the member's object file bytes.
        package var sha256: String

        package init(object: String, offset: UInt64, size: UInt64, sha256: String) {
            self.object = object
            self.offset = offset
            self.size = size
            self.sha256 = sha256
        }
    }

    package init(sha256: String, size: UInt64, members: [Member]) {
        self.sha256 = sha256
        self.size = size
        self.members = members
    }
}

extension StoreIndex {
    /// The remembered sha256 and size of each object file whose file checksum is still `checksums[digest]`.
    func objectSHA256(_ checksums: [String: String]) throws -> [String: (sha256: String, size: UInt64)] {
        try read { db in
            var found: [String: (sha256: String, size: UInt64)] = [:]
            for (digest, checksum) in checksums {
                if let row = try Row.fetchOne(
                    db, sql: "SELECT sha256, size FROM object_sha256 WHERE digest = ? AND checksum = ?",
                    arguments: [digest, checksum])
                {
                    found[digest] = (row["sha256"], UInt64(row["size"] as Int64))
                }
            }
            return found
        }
    }

    func rememberSHA256(_ entries: [(digest: String, checksum: String, sha256: String, size: UInt64)]) throws {
        guard !entries.isEmpty else { return }
        try write { db in
            for entry in entries {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO object_sha256 (digest, checksum, sha256, size) VALUES (?, ?, ?, ?)",
                    arguments: [entry.digest, entry.checksum, entry.sha256, Int64(entry.size)])
            }
        }
    }

    /// The packs that hold any of `objects`, with all their members.
    func packs(holding objects: some Sequence<String>) throws -> [PackRecord] {
        try read { db in
            var names = Set<String>()
            for object in objects {
                for pack in try String.fetchAll(
                    db, sql: "SELECT pack FROM pack_member WHERE object = ?", arguments: [object])
                {
                    names.insert(pack)
                }
            }
            return try names.sorted().compactMap { name -> PackRecord? in
                guard
                    let size = try Int64.fetchOne(db, sql: "SELECT size FROM pack WHERE sha256 = ?", arguments: [name])
                else { return nil }
                let members = try Row.fetchAll(
                    db, sql: "SELECT object, offset, size, sha256 FROM pack_member WHERE pack = ? ORDER BY position",
                    arguments: [name]
                ).map { row in
                    PackRecord.Member(
                        object: row["object"], offset: UInt64(row["offset"] as Int64),
                        size: UInt64(row["size"] as Int64), sha256: row["sha256"])
                }
                return PackRecord(sha256: name, size: UInt64(size), members: members)
            }
        }
    }

    func rememberPacks(_ packs: [PackRecord]) throws {
        guard !packs.isEmpty else { return }
        try write { db in
            for pack in packs {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO pack (sha256, size) VALUES (?, ?)",
                    arguments: [pack.sha256, Int64(pack.size)])
                guard db.changesCount > 0 else { continue }
                for (position, member) in pack.members.enumerated() {
                    try db.execute(
                        sql: """
                            INSERT INTO pack_member (pack, position, object, offset, size, sha256)
                            VALUES (?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            pack.sha256, position, member.object, Int64(member.offset), Int64(member.size),
                            member.sha256,
                        ])
                }
            }
        }
    }

    func forgetPack(_ sha256: String) throws {
        try write { db in try db.execute(sql: "DELETE FROM pack WHERE sha256 = ?", arguments: [sha256]) }
    }

    /// Repositories of `registry` where blob `sha256` was seen, most recent first.
    func blobLocations(_ sha256: String, registry: String) throws -> [String] {
        try read { db in
            try String.fetchAll(
                db,
                sql: "SELECT repository FROM blob_location WHERE sha256 = ? AND registry = ? ORDER BY seen_at DESC",
                arguments: [sha256, registry])
        }
    }

    func rememberBlobLocations(_ sha256s: [String], registry: String, repository: String) throws {
        guard !sha256s.isEmpty else { return }
        let now = ISO8601DateFormatter().string(from: Date())
        try write { db in
            for sha256 in sha256s {
                try db.execute(
                    sql: """
                        INSERT OR REPLACE INTO blob_location (sha256, registry, repository, seen_at) VALUES (?, ?, ?, ?)
                        """, arguments: [sha256, registry, repository, now])
            }
        }
    }
}

extension Store {
    /// The record and recipe of `model`, as a pull into another store writes them again.
    package func modelRecord(of model: String) throws -> (record: ModelRecord, recipe: Recipe) {
        guard let (record, _) = try index.record(of: model) else {
            throw StoreError(.unknownModel, "no model \"\(model)\" in the store")
        }
        return (record, try recipe(of: model))
    }

    /// Records a model whose objects are all in the store already (written by a pull): one transaction, as ingest's.
    /// The record is checked against the recipe first: every object the recipe or a tensor names is one of the
    /// record's, block positions exist.
    package func importModel(_ record: ModelRecord, recipe: Recipe) throws {
        try ModelName.check(record.name)
        guard recipe.model == record.name else {
            throw StoreError(.invalidArgument, "the recipe is of model \(recipe.model), the record of \(record.name)")
        }
        let named = Set(record.objects)
        for name in recipe.objects where !named.contains(name) {
            throw StoreError(.invalidArgument, "model \(record.name): the recipe names object \(name) the record lacks")
        }
        for tensor in record.tensors {
            if let object = tensor.object, !named.contains(object) {
                throw StoreError(
                    .invalidArgument,
                    "model \(record.name): tensor \(tensor.name) names object \(object) the record lacks")
            }
            guard tensor.blockPosition >= -1, tensor.blockPosition < record.blocks.count else {
                throw StoreError(
                    .invalidArgument,
                    "model \(record.name): tensor \(tensor.name) is in block \(tensor.blockPosition) of \(record.blocks.count)"
                )
            }
        }
        try index.requireSound()
        _ = try index.write { db in try StoreIndex.insert(record, recipe: recipe, in: db, facts: objects.facts) }
    }

    /// A lease on `digests` while a command writes objects it has not recorded yet (gc leaves them alone).
    package func lease(_ digests: some Sequence<XXH3Digest>) throws -> AnyObject {
        try Lease(store: root, digests: digests)
    }

    /// The key under which the sha256 of an object file is remembered: its header's checksum of the stored bytes
    /// (or, for an object without one, its size), so that a file rewritten otherwise is hashed again.
    package static func sha256Key(of header: StoredObject, fileSize: Int) -> String {
        header.checksum.map { "2:" + $0.description } ?? "1:\(fileSize)"
    }

    package func objectSHA256(_ checksums: [String: String]) throws -> [String: (sha256: String, size: UInt64)] {
        try index.objectSHA256(checksums)
    }

    package func rememberSHA256(_ entries: [(digest: String, checksum: String, sha256: String, size: UInt64)]) throws {
        try index.rememberSHA256(entries)
    }

    package func packs(holding objects: some Sequence<String>) throws -> [PackRecord] {
        try index.packs(holding: objects)
    }

    package func rememberPacks(_ packs: [PackRecord]) throws { try index.rememberPacks(packs) }

    package func forgetPack(_ sha256: String) throws { try index.forgetPack(sha256) }

    package func blobLocations(_ sha256: String, registry: String) throws -> [String] {
        try index.blobLocations(sha256, registry: registry)
    }

    package func rememberBlobLocations(_ sha256s: [String], registry: String, repository: String) throws {
        try index.rememberBlobLocations(sha256s, registry: registry, repository: repository)
    }
}
