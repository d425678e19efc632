import Glibc
import Synchronization

/// A page-aligned byte buffer from a `ScratchPool`, given back to it when the last reference goes.
///
/// `count` (the bytes in use) is set by whoever fills the buffer, before the buffer is handed to another thread;
/// after that, the buffer is only read.
public final class ScratchBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let capacity: Int
    /// Bytes in use, from `pointer`.
    public var count: Int
    private let pool: ScratchPool?
    /// Bytes of the mapping earlier users filled (resident since).
    private let touched: Int

    init(pointer: UnsafeMutableRawPointer, capacity: Int, count: Int, pool: ScratchPool?, touched: Int = 0) {
        self.pointer = pointer
        self.capacity = capacity
        self.count = count
        self.pool = pool
        self.touched = touched
    }

    deinit {
        if let pool {
            pool.giveBack(pointer, capacity: capacity, touched: min(capacity, max(touched, count)))
        } else {
            pointer.deallocate()
        }
    }

    /// A mapping of its own: pooled buffers bypass malloc, whose arenas keep what they were given back (glibc
    /// serves sizes under its dynamic mmap threshold, up to 32 MiB, from heaps it does not trim), so that letting
    /// a buffer go really returns its memory.
    static func map(_ capacity: Int) -> UnsafeMutableRawPointer {
        guard let pointer = mmap(nil, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            pointer != MAP_FAILED
        else { fatalError("mmap of \(capacity) bytes failed: out of memory") }
        return pointer
    }

    static func unmap(_ pointer: UnsafeMutableRawPointer, _ capacity: Int) {
        munmap(pointer, capacity)
    }

    /// The bytes in use. The buffer goes back to its pool as soon as nothing refers to it — Swift may end a
    /// reference's lifetime right after its last use, even before a pointer taken from it is used — so a caller
    /// that is not holding the buffer past its use of the pointer reads it through `withBytes`.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }

    /// Calls `body` with the bytes in use, the buffer kept alive meanwhile.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(bytes) }
    }

    /// The whole capacity, to be filled.
    public var space: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: pointer, count: capacity) }
}

/// Large buffers reused across the chunks a process encodes and decodes.
///
/// A fresh allocation of tens of MiB is a fresh mapping: the kernel faults in and zeroes every page on first touch
/// and unmaps them at free — 1.4 GB/s on this project's 2-core VMs, against 13.5 GB/s for rewriting a buffer that
/// is already mapped. Encoders and decoders that took new scratch for every 64 MiB chunk spent about as long in the
/// kernel as in their own code. Buffers are mappings whose sizes are powers of two, so that the many sizes of a
/// model's tensors and chunks (32, 64 MiB, the 22 MiB tail of an 86 MiB tensor, an output bound a little over its
/// input) share a few classes; only the pages a buffer's users filled are resident. Buffers given back are kept
/// while their resident bytes stay within `retainedBytes` and handed out again to requests of their class; small
/// requests are plain allocations.
public final class ScratchPool: Sendable {
    /// The process's pool: room for the buffers two encoding threads cycle through.
    public static let shared = ScratchPool(retainedBytes: 192 << 20)
    /// Requests below this are not pooled: the allocator serves them from memory it already has.
    public static let pooledMinimum = 1 << 20
    static let alignment = 4096

    private struct Free {
        var address: UInt
        var capacity: Int
        var touched: Int
    }

    private let retainedBytes: Int
    private let free = Mutex<[Free]>([])

    public init(retainedBytes: Int) {
        self.retainedBytes = retainedBytes
    }

    /// A buffer of at least `minimum` bytes, its `count` set to `count` (default: `minimum`); its contents are
    /// whatever they were.
    public func take(_ minimum: Int, count: Int? = nil) -> ScratchBuffer {
        let size = max(minimum, 1)
        guard size >= Self.pooledMinimum else {
            return ScratchBuffer(
                pointer: .allocate(byteCount: size, alignment: Self.alignment), capacity: size, count: count ?? minimum,
                pool: nil)
        }
        var capacity = Self.pooledMinimum
        while capacity < size { capacity <<= 1 }
        let reused = free.withLock { free -> Free? in
            // The most used buffer of the class: its pages are the ones already resident.
            let matching = free.indices.filter { free[$0].capacity == capacity }
            return matching.max { free[$0].touched < free[$1].touched }.map { free.remove(at: $0) }
        }
        if let reused, let pointer = UnsafeMutableRawPointer(bitPattern: reused.address) {
            return ScratchBuffer(
                pointer: pointer, capacity: capacity, count: count ?? minimum, pool: self, touched: reused.touched)
        }
        return ScratchBuffer(
            pointer: ScratchBuffer.map(capacity), capacity: capacity, count: count ?? minimum, pool: self)
    }

    /// Keeps a buffer for the next request, unmapping the oldest kept ones beyond `retainedBytes` resident.
    fileprivate func giveBack(_ pointer: UnsafeMutableRawPointer, capacity: Int, touched: Int) {
        let released = free.withLock { free -> [Free] in
            free.append(Free(address: UInt(bitPattern: pointer), capacity: capacity, touched: touched))
            var kept = free.reduce(0) { $0 + $1.touched }
            var released: [Free] = []
            while kept > retainedBytes, !free.isEmpty {
                let oldest = free.removeFirst()
                kept -= oldest.touched
                released.append(oldest)
            }
            return released
        }
        for buffer in released {
            if let start = UnsafeMutableRawPointer(bitPattern: buffer.address) {
                ScratchBuffer.unmap(start, buffer.capacity)
            }
        }
    }

    /// Resident bytes kept for reuse.
    public var retained: Int { free.withLock { $0.reduce(0) { $0 + $1.touched } } }
}
