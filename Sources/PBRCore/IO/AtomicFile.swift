import Dispatch
import Glibc
import Synchronization

// Glibc declares O_DIRECT only under _GNU_SOURCE, which Swift's Glibc module does not set; values from
// <asm-generic/fcntl.h> and the arch-specific overrides.
#if arch(arm64) || arch(arm)
    // swift-format-ignore: AlwaysUseLowerCamelCase
    private let O_DIRECT: Int32 = 0o200000
#else
    // swift-format-ignore: AlwaysUseLowerCamelCase
    private let O_DIRECT: Int32 = 0o40000
#endif

/// A file that appears at its destination complete or not at all.
///
/// Data goes to a temporary file in the destination's directory (so the final rename stays on one file system);
/// `commit()` flushes it, fsyncs it, renames it over the destination and fsyncs the directory. A writer released
/// without `commit()` removes its temporary file: a crash mid-write leaves at most a `.pbrepo-tmp-*` file, never a
/// half-written destination.
///
/// With `directIO`, whole aligned blocks go to the disk with `O_DIRECT`, past the page cache, and files larger than
/// one staging buffer are written behind the caller by two I/O threads: durable writes of large files then cost
/// one DMA instead of a copy into the page cache plus writeback at `fsync` (on this project's VMs 1.7–2 GB/s instead
/// of 0.3–1.6), and the caller goes on producing bytes meanwhile. File systems without `O_DIRECT` (tmpfs on older
/// kernels) get ordinary writes.
public final class AtomicFile {
    public let destination: String
    /// The temporary file; other writers (libhdf5) may write it by path before `commit()`.
    public let temporaryPath: String
    private var descriptor: Int32
    private var committed = false
    private let direct: Bool
    /// Bytes not yet written, in a page-aligned buffer (what `O_DIRECT` requires of the memory it reads): this
    /// file's own buffer or, once writes went behind, one of the write-behind's (they trade buffers).
    private var staging: UnsafeMutableRawPointer
    /// The buffer `staging` started as, from the scratch pool (so that the many objects an ingest writes reuse a
    /// few buffers instead of leaving their sizes in malloc's arenas), kept until the file goes.
    private let ownStaging: ScratchBuffer
    private let stagingCapacity: Int
    private var staged = 0
    /// File offset of the first staged byte.
    private var offset = 0
    private var behind: WriteBehind?
    private static let alignment = 4096
    /// The temporary file's registration with `Interruption`, which removes it if the process is interrupted.
    private var interruptionToken: Int?

    /// Creates the temporary file next to `destination`.
    ///
    /// - Parameter directIO: write whole blocks with `O_DIRECT` where the file system allows it.
    public init(destination: String, directIO: Bool = false) throws(FileError) {
        self.destination = destination
        let directory = AtomicFile.directory(of: destination)
        let name = destination.split(separator: "/").last.map(String.init) ?? "file"
        var attempt = 0
        while true {
            let candidate = directory + "/" + Self.temporaryPrefix + "\(UInt32.random(in: 0...UInt32.max))-" + name
            var failure: Int32 = 0
            let made = Interruption.creatingTemporary { () -> (result: Int32, path: String)? in
                let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                failure = errno
                return fd >= 0 ? (fd, candidate) : nil
            }
            if let made {
                descriptor = made.result
                temporaryPath = candidate
                interruptionToken = made.token
                break
            }
            guard !Interruption.isInterrupted else { throw FileError(.io, path: destination, "interrupted") }
            attempt += 1
            if failure != EEXIST || attempt > 16 {
                errno = failure
                throw FileError.system(destination, "cannot create a temporary file in \(directory)")
            }
        }
        // Set after open: a file system that refuses O_DIRECT says so here (EINVAL) without a failed create.
        direct = directIO && fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_DIRECT) == 0
        stagingCapacity = direct ? 8 << 20 : 1 << 20
        ownStaging = ScratchPool.shared.take(stagingCapacity)
        staging = ownStaging.pointer
    }

    deinit {
        if let behind { _ = behind.drain() }
        if !committed {
            if descriptor >= 0 { close(descriptor) }
            unlink(temporaryPath)
        }
        if let interruptionToken { Interruption.unregister(interruptionToken) }
    }

    /// Appends bytes (buffered).
    public func write(_ bytes: UnsafeRawBufferPointer) throws(FileError) {
        guard let start = bytes.baseAddress else { return }
        if !direct && staged + bytes.count > stagingCapacity {
            // Ordinary writes need no staging for large pieces: flush what is staged and write the rest straight.
            try writeStaged()
            if bytes.count >= stagingCapacity {
                try writeFully(start, bytes.count, at: offset)
                offset += bytes.count
                return
            }
        }
        var consumed = 0
        while consumed < bytes.count {
            let piece = min(bytes.count - consumed, stagingCapacity - staged)
            (staging + staged).copyMemory(from: start + consumed, byteCount: piece)
            staged += piece
            consumed += piece
            if staged == stagingCapacity {
                if direct {
                    try handOff()
                } else {
                    try writeStaged()
                }
            }
        }
    }

    public func write(_ bytes: [UInt8]) throws(FileError) {
        try withBytes(bytes) { (raw) throws(FileError) in try write(raw) }
    }

    /// Gives the full staging buffer to the I/O threads and continues in a free one.
    private func handOff() throws(FileError) {
        if behind == nil {
            behind = WriteBehind(descriptor: descriptor, bufferSize: stagingCapacity, alignment: Self.alignment)
        }
        guard let behind else { return }
        staging = try behind.submit(staging, count: staged, offset: offset, path: destination)
        offset += staged
        staged = 0
    }

    private func writeStaged() throws(FileError) {
        try writeFully(staging, staged, at: offset)
        offset += staged
        staged = 0
    }

    private func writeFully(_ start: UnsafeRawPointer, _ count: Int, at position: Int) throws(FileError) {
        if let message = AtomicFile.writeFully(descriptor, start, count, at: position) {
            throw FileError(.io, path: destination, message)
        }
    }

    /// pwrite until done; an error message, or nil.
    fileprivate static func writeFully(_ descriptor: Int32, _ start: UnsafeRawPointer, _ count: Int, at position: Int)
        -> String?
    {
        var done = 0
        while done < count {
            let written = pwrite(descriptor, start + done, count - done, off_t(position + done))
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EINVAL && fcntl(descriptor, F_GETFL) & O_DIRECT != 0 {
                    // The device wants another alignment than ours: fall back to ordinary writes.
                    _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_DIRECT)
                    continue
                }
                return "write failed: \(systemError())"
            }
            done += written
        }
        return nil
    }

    /// Writes what is staged: whole blocks directly, then the tail through the page cache.
    private func flushAll() throws(FileError) {
        if direct {
            let whole = staged / Self.alignment * Self.alignment
            if whole > 0 {
                try writeFully(staging, whole, at: offset)
                offset += whole
                staged -= whole
                staging.copyMemory(from: staging + whole, byteCount: staged)
            }
            if let behind, let message = behind.drain() { throw FileError(.io, path: destination, message) }
            if staged > 0 && fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_DIRECT) != 0 {
                throw FileError.system(destination, "cannot leave direct I/O")
            }
        }
        try writeStaged()
    }

    /// Makes the file durable and moves it to its destination.
    ///
    /// - Parameters:
    ///   - syncDirectory: fsync the directory after the rename; a caller committing many files into a few
    ///     directories may leave it out and fsync each directory once (`AtomicFile.syncDirectory`) before it relies
    ///     on the files' names being durable.
    ///   - replacing: replace a file already at the destination (`rename`); false leaves an existing file as it is
    ///     and discards this one (`link`, which fails rather than replace).
    /// - Returns: false when `replacing` is false and the destination already existed.
    @discardableResult
    public func commit(syncDirectory: Bool = true, replacing: Bool = true) throws(FileError) -> Bool {
        try flushAll()
        guard fsync(descriptor) == 0 else { throw FileError.system(destination, "fsync failed") }
        close(descriptor)
        descriptor = -1
        if !replacing {
            if link(temporaryPath, destination) == 0 {
                unlink(temporaryPath)
                committed = true
                if syncDirectory { Self.syncDirectory(Self.directory(of: destination)) }
                return true
            }
            if errno == EEXIST { return false }  // deinit removes the temporary file
            // File systems without hard links: only a destination that is still absent is renamed onto.
            var status = stat()
            if stat(destination, &status) == 0 { return false }
        }
        guard rename(temporaryPath, destination) == 0 else {
            throw FileError.system(destination, "cannot rename the temporary file into place")
        }
        committed = true
        if syncDirectory { Self.syncDirectory(Self.directory(of: destination)) }
        return true
    }

    /// fsyncs a directory, making the names created in it durable.
    public static func syncDirectory(_ path: String) {
        let directoryDescriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let directory = String(path[..<slash])
        return directory.isEmpty ? "/" : directory
    }
}

/// Full staging buffers written at their offsets by background I/O, so that the producer fills the next buffer
/// while the disk takes the last ones (two writes in flight keep this VM's disk near 2 GB/s).
private final class WriteBehind: Sendable {
    /// A buffer pointer handed between threads; each buffer is owned by exactly one side at a time.
    struct Buffer: @unchecked Sendable { var pointer: UnsafeMutableRawPointer }

    private let descriptor: Int32
    private let queue = DispatchQueue(label: "pbrepo.write-behind", attributes: .concurrent)
    private let group = DispatchGroup()
    private let free: Mutex<[Buffer]>
    private let freeCount: DispatchSemaphore
    private let failure = Mutex<String?>(nil)
    /// The buffers this object brought, alive as long as it is (the file holds it until its own end): which of
    /// them the file or the queue holds at a time changes with every submit.
    private let owned: [ScratchBuffer]

    init(descriptor: Int32, bufferSize: Int, alignment: Int) {
        self.descriptor = descriptor
        // Two in flight and one being filled; the caller's own staging buffer is the fourth.
        owned = (0..<3).map { _ in ScratchPool.shared.take(bufferSize) }
        let buffers = owned.map { Buffer(pointer: $0.pointer) }
        free = Mutex(buffers)
        freeCount = DispatchSemaphore(value: buffers.count)
    }

    /// Queues `buffer` for writing and returns a free buffer to fill next (waiting for one if all are busy).
    func submit(_ buffer: UnsafeMutableRawPointer, count: Int, offset: Int, path: String) throws(FileError)
        -> UnsafeMutableRawPointer
    {
        if let message = failure.withLock({ $0 }) { throw FileError(.io, path: path, message) }
        let filled = Buffer(pointer: buffer)
        let descriptor = self.descriptor
        queue.async(group: group) {
            let message = AtomicFile.writeFully(descriptor, filled.pointer, count, at: offset)
            if let message { self.failure.withLock { if $0 == nil { $0 = message } } }
            self.free.withLock { $0.append(filled) }
            self.freeCount.signal()
        }
        freeCount.wait()
        return free.withLock { $0.removeLast() }.pointer
    }

    /// Waits for every queued write; the first error, if any.
    func drain() -> String? {
        group.wait()
        return failure.withLock { $0 }
    }

}

extension AtomicFile {
    /// The prefix of every temporary file and staging directory pbrepo makes next to a destination:
    /// `.pbrepo-tmp-<pid>-…`, so that what a killed process left can be told from what a running one is writing.
    public static var temporaryPrefix: String { ".pbrepo-tmp-\(getpid())-" }

    /// Removes the temporary files and staging directories that killed pbrepo processes left in `directory`: those
    /// whose process is gone, that belong to this user, and that nothing has changed for `quietSeconds` (a writer on
    /// another machine sharing the directory keeps its files changing).
    ///
    /// - Returns: the names removed.
    @discardableResult
    public static func removeStaleTemporaries(in directory: String, quietSeconds: Int = 60) -> [String] {
        var removed: [String] = []
        let now = time(nil)
        for name in (try? FileSystem.listDirectory(directory)) ?? [] where name.hasPrefix(".pbrepo-tmp-") {
            let pid = name.dropFirst(".pbrepo-tmp-".count).prefix { $0 != "-" }
            guard let pid = Int32(pid), pid > 0, kill(pid, 0) != 0, errno == ESRCH else { continue }
            let path = directory + "/" + name
            var status = stat()
            guard lstat(path, &status) == 0, status.st_uid == geteuid(),
                now - latestChange(path, status) >= quietSeconds
            else { continue }
            if FileSystem.removeTree(path) { removed.append(name) }
        }
        return removed
    }

    /// The latest modification time of `path` and, for a directory, of everything under it (links not followed).
    private static func latestChange(_ path: String, _ status: stat) -> Int {
        var latest = status.st_mtim.tv_sec
        if (status.st_mode & S_IFMT) == S_IFDIR {
            FileSystem.forEachEntry(under: path) { _, inner in latest = max(latest, inner.st_mtim.tv_sec) }
        }
        return latest
    }

}
