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

    init(pointer: UnsafeMutableRawPointer, capacity: Int, count: Int, pool: ScratchPool?) {
        self.pointer = pointer
        self.capacity = capacity
        self.count = count
        self.pool = pool
    }

    deinit {
        if let pool { pool.giveBack(pointer, capacity: capacity) } else { pointer.deallocate() }
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
/// kernel as in their own code. Buffers given back are kept (up to `retainedBytes`) and handed out again to
/// requests they fit without wasting more than half of themselves; small requests are plain allocations.
public final class ScratchPool: Sendable {
    /// The process's pool.
    public static let shared = ScratchPool(retainedBytes: 512 << 20)
    /// Requests below this are not pooled: the allocator serves them from memory it already has.
    public static let pooledMinimum = 1 << 20
    static let alignment = 4096
    static let granule = 1 << 20

    private struct Free {
        var address: UInt
        var capacity: Int
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
        let reused = free.withLock { free -> Free? in
            var best: Int?
            for (index, candidate) in free.enumerated()
            where candidate.capacity >= size && candidate.capacity <= 2 * size
                && (best == nil || candidate.capacity < free[best!].capacity)
            {
                best = index
            }
            return best.map { free.remove(at: $0) }
        }
        if let reused, let pointer = UnsafeMutableRawPointer(bitPattern: reused.address) {
            return ScratchBuffer(pointer: pointer, capacity: reused.capacity, count: count ?? minimum, pool: self)
        }
        let capacity = (size + Self.granule - 1) / Self.granule * Self.granule
        return ScratchBuffer(
            pointer: .allocate(byteCount: capacity, alignment: Self.alignment), capacity: capacity,
            count: count ?? minimum, pool: self)
    }

    /// Keeps a buffer for the next request, letting the oldest kept ones go beyond `retainedBytes`.
    fileprivate func giveBack(_ pointer: UnsafeMutableRawPointer, capacity: Int) {
        let released = free.withLock { free -> [UInt] in
            free.append(Free(address: UInt(bitPattern: pointer), capacity: capacity))
            var kept = free.reduce(0) { $0 + $1.capacity }
            var released: [UInt] = []
            while kept > retainedBytes, !free.isEmpty {
                let oldest = free.removeFirst()
                kept -= oldest.capacity
                released.append(oldest.address)
            }
            return released
        }
        for address in released { UnsafeMutableRawPointer(bitPattern: address)?.deallocate() }
    }

    /// Bytes kept for reuse.
    public var retained: Int { free.withLock { $0.reduce(0) { $0 + $1.capacity } } }
}
