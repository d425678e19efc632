import TensorFiles
public import XXHash
import Zstd

/// How an object's payload encodes its content.
public enum ObjectCodec: UInt8, Sendable, Codable, CaseIterable {
    /// zstd of the bytes as they are.
    case zstd = 0
    /// The bytes of each element split into planes (all first bytes, then all second bytes, ...), then zstd: the
    /// exponent bytes of floats land together and compress (ZipNN's byte grouping).
    case byteGroupedZstd = 1
    /// XOR against the base object's content (same length), then byte grouping and zstd: a fine-tuned weight close to
    /// its base leaves mostly zero bits (ZipLLM's BitX).
    case xorBaseZstd = 2
    /// The bytes as they are, when no codec makes them smaller (random-looking small tensors).
    case stored = 3

    public var name: String {
        switch self {
        case .stored: return "stored"
        case .zstd: return "zstd"
        case .byteGroupedZstd: return "bytegroup-zstd"
        case .xorBaseZstd: return "bitx-zstd"
        }
    }
}

/// One stored object: a self-describing file, so that a directory of objects can be checked and decoded without the
/// store's index (what a client receives).
///
/// Layout (little-endian):
///
///     0  "PBOB"           magic
///     4  u8 version = 1
///     5  u8 codec         ObjectCodec (0 zstd, 1 byte-grouped zstd, 2 XOR-with-base zstd, 3 stored)
///     6  u8 element size  bytes per element for byte grouping (1 = none)
///     7  u8 reserved = 0
///     8  u64 raw length   bytes of the content
///    16  16 bytes         XXH3-128 of the content (canonical big-endian)
///    32  16 bytes         XXH3-128 of the base object's content for `xorBaseZstd`, zeros otherwise
///    48  ...              one zstd frame (the content itself for `stored`)
public struct StoredObject: Sendable {
    public static let headerLength = 48
    static let magic: [UInt8] = Array("PBOB".utf8)

    public var codec: ObjectCodec
    public var elementSize: Int
    public var rawLength: UInt64
    public var digest: XXH3Digest
    public var base: XXH3Digest?

    /// Encodes `content` with whichever allowed codec gives the smallest object.
    ///
    /// - Parameters:
    ///   - elementSize: bytes per element (2 for BF16/F16, 4 for F32, ...) when the content is floating point, else 1.
    ///   - base: the base model's corresponding tensor (same length), for a delta candidate.
    /// - Returns: the whole object file's bytes.
    public static func encode(
        _ content: UnsafeRawBufferPointer, digest: XXH3Digest, elementSize: Int,
        base: (digest: XXH3Digest, content: UnsafeRawBufferPointer)?, level: Int
    ) throws -> (object: [UInt8], codec: ObjectCodec) {
        var best: (payload: [UInt8], codec: ObjectCodec)?
        func consider(_ payload: [UInt8], _ codec: ObjectCodec) {
            if best == nil || payload.count < best!.payload.count { best = (payload, codec) }
        }
        let grouping = elementSize > 1 && content.count % elementSize == 0
        func planes(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
            grouping ? byteGrouped(bytes, elementSize: elementSize) : Array(bytes)
        }
        // With a base, the delta is tried first: a fine-tune's XOR is usually far smaller, and then the plain
        // encoding (a second full compression) is only tried when the delta saved less than half.
        if let base, base.content.count == content.count {
            let delta = xored(content, base.content)
            consider(try delta.withUnsafeBytes { try Zstd.compress(planes($0), level: level) }, .xorBaseZstd)
        }
        if best == nil || best!.payload.count * 2 > content.count {
            consider(try Zstd.compress(planes(content), level: level), grouping ? .byteGroupedZstd : .zstd)
        }
        guard var best else { throw StoreError(.corruptObject, "no codec produced a payload") }
        if best.payload.count >= content.count { best = (Array(content), .stored) }
        let header = StoredObject(
            codec: best.codec, elementSize: grouping && best.codec != .stored ? elementSize : 1,
            rawLength: UInt64(content.count),
            digest: digest, base: best.codec == .xorBaseZstd ? base?.digest : nil)
        return (header.headerBytes + best.payload, best.codec)
    }

    var headerBytes: [UInt8] {
        var bytes = Self.magic + [1, codec.rawValue, UInt8(elementSize), 0]
        bytes += (0..<8).map { UInt8(truncatingIfNeeded: rawLength >> (8 * UInt64($0))) }
        bytes += digest.bytes
        bytes += base?.bytes ?? [UInt8](repeating: 0, count: 16)
        return bytes
    }

    /// Reads an object's header.
    public static func header(of object: UnsafeRawBufferPointer, name: String) throws(StoreError) -> StoredObject {
        guard object.count >= headerLength, Array(object[0..<4]) == magic, object[4] == 1 else {
            throw StoreError(.corruptObject, "object \(name) has no valid header")
        }
        guard let codec = ObjectCodec(rawValue: object[5]), object[6] >= 1, object[6] <= 16 else {
            throw StoreError(.corruptObject, "object \(name) names an unknown codec or element size")
        }
        var length: UInt64 = 0
        for index in 0..<8 { length |= UInt64(object[8 + index]) << (8 * UInt64(index)) }
        func digestAt(_ offset: Int) -> XXH3Digest {
            var high: UInt64 = 0, low: UInt64 = 0
            for index in 0..<8 {
                high = high << 8 | UInt64(object[offset + index])
                low = low << 8 | UInt64(object[offset + 8 + index])
            }
            return XXH3Digest(high: high, low: low)
        }
        let base = digestAt(32)
        return StoredObject(
            codec: codec, elementSize: Int(object[6]), rawLength: length, digest: digestAt(16),
            base: codec == .xorBaseZstd ? base : nil)
    }

    /// Decodes an object and checks its content against the digest in its header.
    ///
    /// - Parameter base: the decoded content of the base object, for deltas.
    public static func decode(
        _ object: UnsafeRawBufferPointer, name: String, base: [UInt8]? = nil
    ) throws(StoreError) -> [UInt8] {
        let header = try header(of: object, name: name)
        guard header.rawLength < UInt64(Int.max / 4) else {
            throw StoreError(.corruptObject, "object \(name) claims \(header.rawLength) bytes")
        }
        var content: [UInt8]
        let payload = UnsafeRawBufferPointer(rebasing: object[headerLength...])
        if header.codec == .stored {
            content = Array(payload)
        } else {
            do {
                content = try Zstd.decompress(payload, maximumSize: Int(header.rawLength))
            } catch {
                throw StoreError(.corruptObject, "object \(name) does not decompress: \(error)")
            }
        }
        guard content.count == Int(header.rawLength) else {
            throw StoreError(.corruptObject, "object \(name) decompressed to \(content.count) bytes, header says \(header.rawLength)")
        }
        if (header.codec == .byteGroupedZstd || header.codec == .xorBaseZstd) && header.elementSize > 1 {
            content = content.withUnsafeBytes { byteUngrouped($0, elementSize: header.elementSize) }
        }
        if header.codec == .xorBaseZstd {
            guard let base, base.count == content.count else {
                throw StoreError(.missingObject, "object \(name) is a delta against \(header.base.map { "\($0)" } ?? "?"), which is missing")
            }
            content = content.withUnsafeBytes { delta in base.withUnsafeBytes { xored(delta, $0) } }
        }
        let actual = content.withUnsafeBytes { xxh3_128($0) }
        guard actual == header.digest else {
            throw StoreError(.corruptObject, "object \(name) decodes to content with digest \(actual), not \(header.digest)")
        }
        return content
    }
}

/// Splits each element's bytes into planes: plane p holds byte p of every element.
func byteGrouped(_ bytes: UnsafeRawBufferPointer, elementSize: Int) -> [UInt8] {
    let count = bytes.count / elementSize
    return [UInt8](unsafeUninitializedCapacity: bytes.count) { out, initialized in
        guard let source = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), let target = out.baseAddress else {
            initialized = 0
            return
        }
        for plane in 0..<elementSize {
            let planeStart = target + plane * count
            var from = source + plane
            for element in 0..<count {
                planeStart[element] = from.pointee
                from += elementSize
            }
        }
        initialized = bytes.count
    }
}

/// Inverse of `byteGrouped`.
func byteUngrouped(_ planes: UnsafeRawBufferPointer, elementSize: Int) -> [UInt8] {
    let count = planes.count / elementSize
    return [UInt8](unsafeUninitializedCapacity: planes.count) { out, initialized in
        guard let source = planes.baseAddress?.assumingMemoryBound(to: UInt8.self), let target = out.baseAddress else {
            initialized = 0
            return
        }
        for plane in 0..<elementSize {
            let planeStart = source + plane * count
            var to = target + plane
            for element in 0..<count {
                to.pointee = planeStart[element]
                to += elementSize
            }
        }
        initialized = planes.count
    }
}

/// `a XOR b`, bytewise, 8 bytes at a time.
func xored(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> [UInt8] {
    precondition(a.count == b.count, "xor of buffers of different lengths")
    return [UInt8](unsafeUninitializedCapacity: a.count) { out, initialized in
        guard let x = a.baseAddress, let y = b.baseAddress, let z = out.baseAddress else {
            initialized = 0
            return
        }
        let words = a.count / 8
        let target = UnsafeMutableRawPointer(z)
        for index in 0..<words {
            let value = x.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)
                ^ y.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)
            target.storeBytes(of: value, toByteOffset: index * 8, as: UInt64.self)
        }
        for index in (words * 8)..<a.count { z[index] = a[index] ^ b[index] }
        initialized = a.count
    }
}
