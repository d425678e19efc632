import Foundation
import PBRCore
import Synchronization
import XXHash

/// A pbrepo store: a directory with the objects (`objects/`) and the index (`index.sqlite3`, SQLite in WAL mode).
///
/// The index never names an object that is not on disk: objects are written and made durable before the one
/// transaction that records a model commits. Objects nothing refers to (after `rm`, or left by a killed ingest) are
/// removed by `gc`.
package final class Store: Sendable {
    package let root: String
    package let objects: ObjectDirectory
    let index: StoreIndex
    /// Decoded base tensors, reused while the fine-tunes of one family are ingested by the same process (128 MiB at
    /// most, so that an ingest stays within its memory bound; one over a quarter of that — a chunk of a large
    /// tensor — is decoded again each time, into a buffer the scratch pool reuses).
    let baseCache = Memo<XXH3Digest, ScratchBuffer>(capacity: 128 << 20, cost: { $0.capacity })
    /// Contents longer than this are stored as chunks (`StoredObject.chunkBytes` unless the store was opened with
    /// another size, as tests do to make chunked objects from small models: objects written with other sizes are
    /// read alike, they only do not deduplicate against each other).
    package let chunkBytes: Int

    /// The store directory: `explicit` (`--store`), else `$PBREPO_STORE`, else `$XDG_DATA_HOME/pbrepo`, else
    /// `~/.local/share/pbrepo`.
    package static func location(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> String
    {
        if let explicit, !explicit.isEmpty { return explicit }
        if let store = environment["PBREPO_STORE"], !store.isEmpty { return store }
        if let data = environment["XDG_DATA_HOME"], !data.isEmpty { return data + "/pbrepo" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.local/share/pbrepo"
    }

    /// Opens the store at `root`, creating it when `create` is true; `readOnly` for commands that only read (they
    /// then work on read-only media and on other users' stores).
    ///
    /// - Parameter chunkBytes: a positive multiple of 16; nil (or any other value) is `StoredObject.chunkBytes`.
    package init(root: String, create: Bool = true, readOnly: Bool = false, chunkBytes: Int? = nil) throws {
        self.root = root
        objects = ObjectDirectory(root: root)
        self.chunkBytes = chunkBytes.flatMap { $0 > 0 && $0 % 16 == 0 ? $0 : nil } ?? StoredObject.chunkBytes
        let indexPath = root + "/index.sqlite3"
        if !FileManager.default.fileExists(atPath: indexPath) {
            guard create else { throw StoreError(.io, "no store at \(root) (no index.sqlite3)") }
            try makeDirectories(root + "/objects")
        }
        index = try StoreIndex(path: indexPath, root: root, readOnly: readOnly && !create)
    }
}
