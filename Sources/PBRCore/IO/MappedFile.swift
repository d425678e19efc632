import Glibc

/// A whole file mapped read-only into memory.
///
/// Invariant: `bytes` covers exactly the file's length at the time of mapping and stays valid until the object is
/// released. Mapping is `MAP_PRIVATE`: if another process truncates the file while it is mapped, reads past the new
/// end fault (SIGBUS); pbrepo only maps files it does not modify, and its own writers replace files by rename.
public final class MappedFile: @unchecked Sendable {
    // @unchecked: every stored property is immutable and the mapping is read-only.
    public let path: String
    private let base: UnsafeMutableRawPointer?
    public let count: Int

    /// Maps `path`. An empty file maps to an empty buffer without calling mmap.
    ///
    /// - Throws: `FileError` with code `.io` (or `.wrongKind` for a directory) naming the file and the system's reason.
    public init(path: String) throws(FileError) {
        self.path = path
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not a regular file).
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw FileError.system(path, "cannot open") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw FileError.system(path, "cannot stat")
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw FileError(.wrongKind, path: path, "not a regular file")
        }
        count = Int(status.st_size)
        guard count > 0 else {
            // /proc and sysfs files say 0 bytes and still have content: mapping would read them as empty.
            var probe: UInt8 = 0
            guard read(descriptor, &probe, 1) <= 0 else {
                throw FileError(
                    .wrongKind, path: path,
                    "its size is 0 but it has content (a /proc or /sys file?); only files whose size is true are read")
            }
            base = nil
            return
        }
        let mapping = mmap(nil, count, PROT_READ, MAP_PRIVATE, descriptor, 0)
        guard let mapping, mapping != MAP_FAILED else {
            throw FileError.system(path, "cannot map \(count) bytes")
        }
        base = mapping
    }

    deinit {
        if let base { munmap(base, count) }
    }

    /// Calls `body` with the file's bytes, keeping the mapping alive until it returns.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(unsafeBytes) }
    }

    /// The file's bytes, valid only while the caller keeps `self` alive by its own means (a stored property of an
    /// object that outlives every use). Swift may release a local or temporary `MappedFile` right after its last use
    /// — before a view taken from it is read — so code without such an owner must use `withUnsafeBytes`.
    public var unsafeBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Drops this process's resident pages of `range` (a view into this mapping; rounded out to whole pages). The
    /// file's pages stay in the page cache, and a later read of the range faults them back in with the file's
    /// content: the mapping is read-only, so no page of it was ever a private copy. Readers call it behind them, so
    /// that what a pass over a large file keeps resident is its window, not the file.
    public func evict(_ range: UnsafeRawBufferPointer) {
        guard let base, let start = range.baseAddress, !range.isEmpty else { return }
        let page = Self.pageSize
        let first = (start - UnsafeRawPointer(base)) / page * page
        let last = min(count, start - UnsafeRawPointer(base) + range.count)
        precondition(first >= 0 && last <= count, "evicting a range outside \(path)")
        madvise(base + first, last - first, MADV_DONTNEED)
    }

    /// Drops this process's resident pages of bytes `offset..<offset + length` (see `evict(_:)`).
    public func evict(offset: Int, length: Int) {
        evict(UnsafeRawBufferPointer(rebasing: unsafeBytes[offset..<(offset + length)]))
    }

    private static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Tells the kernel the mapping will be read front to back (doubles read-ahead).
    public func adviseSequential() {
        if let base { madvise(base, count, MADV_SEQUENTIAL) }
    }
}
