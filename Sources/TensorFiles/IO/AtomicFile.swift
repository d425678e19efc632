import Glibc

/// A file that appears at its destination complete or not at all.
///
/// Data goes to a temporary file in the destination's directory (so the final rename stays on one file system);
/// `commit()` flushes it, fsyncs it, renames it over the destination and fsyncs the directory. A writer released
/// without `commit()` removes its temporary file: a crash mid-write leaves at most a `.pbrepo-tmp-*` file, never a
/// half-written destination.
public final class AtomicFile {
    public let destination: String
    /// The temporary file; other writers (libhdf5) may write it by path before `commit()`.
    public let temporaryPath: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    private var committed = false
    private static let bufferLimit = 1 << 20

    /// Creates the temporary file next to `destination`.
    public init(destination: String) throws(TensorFileError) {
        self.destination = destination
        let directory = AtomicFile.directory(of: destination)
        let name = destination.split(separator: "/").last.map(String.init) ?? "file"
        var attempt = 0
        while true {
            let candidate = directory + "/.pbrepo-tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-" + name
            let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 {
                descriptor = fd
                temporaryPath = candidate
                return
            }
            attempt += 1
            if errno != EEXIST || attempt > 16 {
                throw TensorFileError(.io, path: destination, "cannot create a temporary file in \(directory): \(systemError())")
            }
        }
    }

    deinit {
        if !committed {
            if descriptor >= 0 { close(descriptor) }
            unlink(temporaryPath)
        }
    }

    /// Appends bytes (buffered).
    public func write(_ bytes: UnsafeRawBufferPointer) throws(TensorFileError) {
        if buffer.count + bytes.count > Self.bufferLimit { try flush() }
        if bytes.count >= Self.bufferLimit {
            try writeFully(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    public func write(_ bytes: [UInt8]) throws(TensorFileError) {
        try withBytes(bytes) { (raw) throws(TensorFileError) in try write(raw) }
    }

    private func flush() throws(TensorFileError) {
        guard !buffer.isEmpty else { return }
        let pending = buffer
        buffer.removeAll(keepingCapacity: true)
        try withBytes(pending) { (raw) throws(TensorFileError) in try writeFully(raw) }
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer) throws(TensorFileError) {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw TensorFileError(.io, path: destination, "write failed: \(systemError())")
            }
            offset += written
        }
    }

    /// Makes the file durable and moves it to its destination, replacing any file there.
    public func commit() throws(TensorFileError) {
        try flush()
        guard fsync(descriptor) == 0 else { throw TensorFileError(.io, path: destination, "fsync failed: \(systemError())") }
        close(descriptor)
        descriptor = -1
        guard rename(temporaryPath, destination) == 0 else {
            throw TensorFileError(.io, path: destination, "cannot rename the temporary file into place: \(systemError())")
        }
        committed = true
        let directoryDescriptor = open(AtomicFile.directory(of: destination), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
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
