import Glibc
import PBRCore
import XXHash

/// The objects a running ingest relies on before its model is recorded, which `gc` must not delete: new objects it
/// is writing, objects already in the store it reuses, and the base tensors it takes deltas against.
///
/// A lease is a file `leases/<pid>-<random>.lease` listing the digests, locked (`flock`) by the ingest for as long
/// as it runs. The lock, not the file, says whether its owner is alive: a killed ingest's lease is unlocked at once
/// by the kernel, and `gc` deletes it.
final class Lease {
    let path: String
    private var descriptor: Int32

    /// Writes and locks a lease for `digests`. The list is complete before the lease gets its `.lease` name, so a
    /// reader never sees a partial one.
    init(store root: String, digests: some Sequence<XXH3Digest>) throws(StoreError) {
        let directory = root + "/leases"
        try makeDirectories(directory)
        let stem = directory + "/\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let temporary = stem + ".writing"
        descriptor = open(temporary, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StoreError(.io, "cannot create a lease in \(directory): \(String(cString: strerror(errno)))")
        }
        path = stem + ".lease"
        var text = ""
        for digest in digests { text += digest.description + "\n" }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard flock(descriptor, LOCK_EX) == 0, written == bytes.count, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            unlink(temporary)
            throw StoreError(.io, "cannot write a lease in \(directory): \(reason)")
        }
    }

    deinit { release() }

    /// Removes the lease: the objects it named are now the index's to account for.
    func release() {
        guard descriptor >= 0 else { return }
        unlink(path)
        close(descriptor)
        descriptor = -1
    }

    /// Digests named by the leases of running ingests; deletes the leases of ingests that are gone.
    static func held(in root: String) -> Set<String> {
        let directory = root + "/leases"
        var digests = Set<String>()
        for name in (try? FileSystem.listDirectory(directory)) ?? [] {
            let path = directory + "/" + name
            if name.hasSuffix(".writing") {
                // Being written, or left by an ingest killed while writing it: gone once its pid is.
                let pid = Int32(name.prefix { $0 != "-" }) ?? 0
                if pid > 0, kill(pid, 0) != 0, errno == ESRCH { unlink(path) }
                continue
            }
            guard name.hasSuffix(".lease") else { continue }
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { continue }
            defer { close(descriptor) }
            if flock(descriptor, LOCK_SH | LOCK_NB) == 0 {
                unlink(path)  // nobody holds it: its ingest is gone
                continue
            }
            guard let bytes = try? FileSystem.read(path) else { continue }
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") { digests.insert(String(line)) }
        }
        return digests
    }
}
