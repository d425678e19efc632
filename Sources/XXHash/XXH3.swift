import CXXHash

/// A 128-bit XXH3 digest.
///
/// `description` is the canonical form: the high 64 bits then the low 64 bits, big-endian, as 32 lowercase hex
/// digits — the same text as Python's `xxhash.xxh3_128_hexdigest(raw)` and `xxhsum -H2`.
public struct XXH3Digest: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Parses 32 hex digits (either case); nil for anything else.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 32,
            let high = UInt64(hex.prefix(16), radix: 16),
            let low = UInt64(hex.suffix(16), radix: 16)
        else { return nil }
        self.init(high: high, low: low)
    }

    public var description: String { Self.hex16(high) + Self.hex16(low) }

    /// The 16 canonical (big-endian) bytes.
    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
    }

    public static func < (a: Self, b: Self) -> Bool { (a.high, a.low) < (b.high, b.low) }

    private static func hex16(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// XXH3-128 of one contiguous buffer.
///
/// The corresponding C function is `XXH3_128bits_dispatch` (x86) or `XXH3_128bits`.
// swift-format-ignore: AlwaysUseLowerCamelCase
// The algorithm's name, as xxhsum spells it.
public func xxh3_128(_ bytes: UnsafeRawBufferPointer) -> XXH3Digest {
    let hash = cxxhash_xxh3_128(bytes.baseAddress, bytes.count)
    return XXH3Digest(high: hash.high64, low: hash.low64)
}

/// XXH3-128 of a byte array.
// swift-format-ignore: AlwaysUseLowerCamelCase
public func xxh3_128(_ bytes: [UInt8]) -> XXH3Digest {
    bytes.withUnsafeBytes { xxh3_128($0) }
}

/// Streaming XXH3-128: feed the bytes in any number of pieces; the digest equals the one-shot digest of their
/// concatenation.
///
/// Owns one `XXH3_state_t`, freed when the hasher goes away.
public struct XXH3Hasher: ~Copyable {
    private let state: OpaquePointer

    /// - Precondition: the allocation of a few hundred bytes succeeds (a failure is treated like any other
    ///   out-of-memory condition in Swift: it traps).
    public init() {
        guard let state = XXH3_createState() else { fatalError("XXH3_createState: out of memory") }
        XXH3_128bits_reset(state)
        self.state = state
    }

    deinit { XXH3_freeState(state) }

    /// The corresponding C function is `XXH3_128bits_update_dispatch` (x86) or `XXH3_128bits_update`.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        cxxhash_xxh3_128_update(state, bytes.baseAddress, bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest of everything fed so far; the hasher can go on being fed afterwards.
    ///
    /// The corresponding C function is `XXH3_128bits_digest`.
    public func finalize() -> XXH3Digest {
        let hash = XXH3_128bits_digest(state)
        return XXH3Digest(high: hash.high64, low: hash.low64)
    }
}

/// XXH3-128 of a stream and, beside it, of each consecutive `chunkBytes`-long chunk of it (the last one shorter):
/// what a store that splits large contents into chunks needs, from one pass over the bytes.
///
/// The pieces fed may have any boundaries; each is hashed a mebibyte at a time into both digests, so that the
/// second pass over a mebibyte reads it from the cache, not from memory.
public struct XXH3ChunkedHasher: ~Copyable {
    public let chunkBytes: Int
    private var whole = XXH3Hasher()
    private var chunk = XXH3Hasher()
    private var inChunk = 0
    private var finished: [XXH3Digest] = []

    /// - Precondition: `chunkBytes > 0`.
    public init(chunkBytes: Int) {
        precondition(chunkBytes > 0, "chunkBytes must be positive")
        self.chunkBytes = chunkBytes
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let step = min(bytes.count - offset, 1 << 20, chunkBytes - inChunk)
            let piece = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + step)])
            whole.update(piece)
            chunk.update(piece)
            inChunk += step
            offset += step
            if inChunk == chunkBytes {
                finished.append(chunk.finalize())
                chunk = XXH3Hasher()
                inChunk = 0
            }
        }
    }

    /// The digest of everything fed, and of each chunk of it: none when it all fits one chunk (the content is then
    /// not chunked).
    public func finalize() -> (whole: XXH3Digest, chunks: [XXH3Digest]) {
        let chunks = finished + (inChunk > 0 ? [chunk.finalize()] : [])
        return (whole.finalize(), chunks.count > 1 ? chunks : [])
    }
}
