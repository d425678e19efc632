package import PBRCore
import TensorFiles
package import XXHash
import Zstd

/// How an object's payload encodes its content.
package enum ObjectCodec: UInt8, Sendable, Codable, CaseIterable {
    /// zstd of the bytes as they are.
    case zstd = 0
    /// The bytes as they are, when no codec makes them smaller (random-looking small tensors).
    case stored = 3
    /// The bytes of each element split into planes (all first bytes, then all second bytes, ...), each plane
    /// compressed on its own or kept raw when it does not compress: the exponent bytes of floats land together and
    /// compress (ZipNN's byte grouping), while the mantissa planes, which are close to random, cost nothing to skip.
    case planes = 4
    /// XOR against the base object's content (same length), then planes as above: a fine-tuned weight close to its
    /// base leaves mostly zero bits (ZipLLM's BitX).
    case xorPlanes = 5
    /// No content of its own: the list of the objects that hold its consecutive chunks. A content larger than
    /// `StoredObject.chunkBytes` is kept this way, so that encoding, decoding and fetching it never holds more than a
    /// chunk of it at once, and a chunk that two contents share is stored once.
    case chunked = 6

    package var name: String {
        switch self {
        case .stored: return "stored"
        case .zstd: return "zstd"
        case .planes: return "bytegroup-zstd"
        case .xorPlanes: return "bitx-zstd"
        case .chunked: return "chunked"
        }
    }
}

/// One stored object: a self-describing, self-checking file, so that a directory of objects can be checked and
/// decoded without the store's index (what a client receives).
///
/// Layout (little-endian):
///
///     0  "PBOB"           magic
///     4  u8 version = 2
///     5  u8 codec         ObjectCodec (0 zstd, 3 stored, 4 planes, 5 XOR-with-base planes)
///     6  u8 element size  bytes per element = number of planes (1 = none)
///     7  u8 reserved = 0
///     8  u64 raw length   bytes of the content
///    16  16 bytes         XXH3-128 of the content (canonical big-endian)
///    32  16 bytes         XXH3-128 of the base object's content for `xorPlanes`, zeros otherwise
///    48  16 bytes         XXH3-128 of the file's other bytes (0..<48 and 64..<end): the file checks itself
///                         without being decoded, at hashing speed over its stored (compressed) bytes
///    64  ...              payload: one zstd frame (`zstd`), the content itself (`stored`), or for the plane codecs
///                         a table of one u64 per plane (stored length << 1 | 1 if it is a zstd frame, 0 if raw)
///                         followed by the planes' bytes in order
///
/// Version 1 files (no file checksum, payload at 48) are still read; they are checked by decoding. Codecs 1 and 2
/// (one zstd frame over all planes) were written by pre-release builds and are refused.
package struct StoredObject: Sendable {
    /// Where the payload of the objects this build writes starts.
    package static let headerLength = 64
    static let version1HeaderLength = 48
    /// Contents longer than this are stored as chunks of this length (the last one shorter), each an object of its
    /// own, listed by a `chunked` object. A multiple of every element size, so that chunks hold whole elements.
    package static let chunkBytes = 64 << 20
    /// The most chunks one list may name (a 64 TiB content at the usual chunk size): a list's bounds, checked
    /// before anything is allocated for it.
    static let maximumChunks = 1 << 20

    /// One chunk a `chunked` object lists.
    package struct Chunk: Sendable, Equatable {
        package var digest: XXH3Digest
        package var length: UInt64

        package init(digest: XXH3Digest, length: UInt64) {
            self.digest = digest
            self.length = length
        }
    }
    static let magic: [UInt8] = Array("PBOB".utf8)

    package var version: UInt8 = 2
    package var codec: ObjectCodec
    package var elementSize: Int
    package var rawLength: UInt64
    package var digest: XXH3Digest
    package var base: XXH3Digest?
    /// The file checksum the object carries (version 2).
    package var checksum: XXH3Digest?

    /// Where this object's payload starts.
    package var payloadOffset: Int { version == 1 ? Self.version1HeaderLength : Self.headerLength }

    /// Encodes `content` with whichever allowed codec gives the smallest object.
    ///
    /// - Parameters:
    ///   - elementSize: bytes per element (2 for BF16/F16, 4 for F32, ...) when the content is floating point, else 1.
    ///   - base: the base model's corresponding tensor (same length), for a delta candidate.
    /// - Returns: the whole object file's bytes.
    package static func encode(
        _ content: UnsafeRawBufferPointer, digest: XXH3Digest, elementSize: Int,
        base: (digest: XXH3Digest, content: UnsafeRawBufferPointer)?, level: Int
    ) throws -> (object: [UInt8], codec: ObjectCodec) {
        let encoded = try encodeBuffer(content, digest: digest, elementSize: elementSize, base: base, level: level)
        return (encoded.object.withBytes { Array($0) }, encoded.codec)
    }

    /// `encode`, into a buffer of the shared scratch pool (what ingest writes from, without a copy).
    package static func encodeBuffer(
        _ content: UnsafeRawBufferPointer, digest: XXH3Digest, elementSize: Int,
        base: (digest: XXH3Digest, content: UnsafeRawBufferPointer)?, level: Int
    ) throws -> (object: ScratchBuffer, codec: ObjectCodec) {
        let grouping = elementSize > 1 && elementSize <= 16 && !content.isEmpty && content.count % elementSize == 0
        var best: (object: ScratchBuffer, codec: ObjectCodec)?
        func consider(_ object: ScratchBuffer, _ codec: ObjectCodec) {
            if best == nil || object.count < best!.object.count { best = (object, codec) }
        }
        // With a base, the delta is tried first: a fine-tune's XOR is smaller whenever the tensor stayed near its
        // base, and then the plain encoding (a second grouping and compression) is only tried when the delta saved
        // less than a quarter — what an unrelated tensor (a re-initialized head) gives; plain byte grouping of
        // floats saves 15–35 %, a delta of a trained tensor 40–70 %.
        if grouping, let base, base.content.count == content.count {
            consider(try encodePlanes(content, xor: base.content, elementSize: elementSize, level: level), .xorPlanes)
        }
        if best == nil || (best!.object.count - headerLength) * 4 > content.count * 3 {
            if grouping {
                consider(try encodePlanes(content, xor: nil, elementSize: elementSize, level: level), .planes)
            } else {
                consider(try encodeFrame(content, level: level), .zstd)
            }
        }
        guard var best else { throw StoreError(.corruptObject, "no codec produced a payload") }
        if best.object.count - headerLength >= content.count {
            // The larger encoding goes back first: a chunk held twice over per thread is what an ingest of
            // random-looking weights would otherwise peak at.
            best.codec = .stored
            if best.object.capacity < headerLength + content.count {
                best.object = ScratchPool.shared.take(headerLength + content.count)
            }
            best.object.count = headerLength + content.count
            UnsafeMutableRawBufferPointer(rebasing: best.object.space[headerLength..<best.object.count])
                .copyMemory(from: content)
        }
        let header = StoredObject(
            codec: best.codec, elementSize: best.codec == .planes || best.codec == .xorPlanes ? elementSize : 1,
            rawLength: UInt64(content.count), digest: digest, base: best.codec == .xorPlanes ? base?.digest : nil)
        let headerBytes = header.headerBytes
        let object = UnsafeMutableRawBufferPointer(start: best.object.pointer, count: best.object.count)
        for index in 0..<headerBytes.count { object[index] = headerBytes[index] }
        for index in headerBytes.count..<headerLength { object[index] = 0 }
        let checksum = fileChecksum(UnsafeRawBufferPointer(object)).bytes
        for index in 0..<16 { object[version1HeaderLength + index] = checksum[index] }
        return best
    }

    /// The `chunked` object of a content (`digest`, the chunks' lengths summed) made of `chunks`, in order.
    package static func encodeChunkList(_ chunks: [Chunk], digest: XXH3Digest, elementSize: Int) -> [UInt8] {
        var object = [UInt8](repeating: 0, count: headerLength)
        func append(_ value: UInt64) {
            for index in 0..<8 { object.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))) }
        }
        append(UInt64(chunks.count))
        for chunk in chunks {
            object += chunk.digest.bytes
            append(chunk.length)
        }
        let header = StoredObject(
            codec: .chunked, elementSize: min(max(elementSize, 1), 16),
            rawLength: chunks.reduce(0) { $0 + $1.length }, digest: digest, base: nil)
        let headerBytes = header.headerBytes
        for index in 0..<headerBytes.count { object[index] = headerBytes[index] }
        let checksum = object.withUnsafeBytes { fileChecksum($0).bytes }
        for index in 0..<16 { object[version1HeaderLength + index] = checksum[index] }
        return object
    }

    /// The chunks a `chunked` object lists, in content order, checked against its header: at least two, none
    /// empty, their lengths summing to the content's.
    package static func chunks(of object: UnsafeRawBufferPointer, name: String) throws(StoreError) -> [Chunk] {
        let header = try header(of: object, name: name)
        guard header.codec == .chunked else {
            throw StoreError(.corruptObject, "object \(name) is a \(header.codec.name) object, not a list of chunks")
        }
        let payload = UnsafeRawBufferPointer(rebasing: object[header.payloadOffset...])
        func damaged(_ what: String) -> StoreError {
            StoreError(.corruptObject, "object \(name) is damaged: \(what)")
        }
        guard payload.count >= 8 else { throw damaged("its chunk list has no count") }
        let count = UInt64(littleEndian: payload.loadUnaligned(as: UInt64.self))
        guard count >= 2, count <= UInt64(maximumChunks), UInt64(payload.count) == 8 + 24 * count else {
            throw damaged("its chunk list does not hold the \(count) chunks it counts in \(payload.count) bytes")
        }
        var chunks: [Chunk] = []
        chunks.reserveCapacity(Int(count))
        var total: UInt64 = 0
        for index in 0..<Int(count) {
            let at = 8 + 24 * index
            var high: UInt64 = 0
            var low: UInt64 = 0
            for byte in 0..<8 {
                high = high << 8 | UInt64(payload[at + byte])
                low = low << 8 | UInt64(payload[at + 8 + byte])
            }
            let length = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: at + 16, as: UInt64.self))
            let (sum, overflow) = total.addingReportingOverflow(length)
            guard length > 0, !overflow else { throw damaged("chunk \(index) has a length of \(length)") }
            total = sum
            chunks.append(Chunk(digest: XXH3Digest(high: high, low: low), length: length))
        }
        guard total == header.rawLength else {
            throw damaged("its chunks hold \(total) bytes, its header says \(header.rawLength)")
        }
        return chunks
    }

    static func notSelfContained(_ name: String) -> StoreError {
        StoreError(
            .corruptObject,
            "object \(name) is a list of chunks: it is decoded from the directory that holds them, not on its own")
    }

    /// A header-sized gap, then one zstd frame of `content`.
    static func encodeFrame(_ content: UnsafeRawBufferPointer, level: Int) throws -> ScratchBuffer {
        let object = ScratchPool.shared.take(headerLength + Zstd.compressBound(content.count))
        let length = try Zstd.compress(
            content, into: UnsafeMutableRawBufferPointer(rebasing: object.space[headerLength...]), level: level,
            checksum: false)
        object.count = headerLength + length
        return object
    }

    /// A header-sized gap, the plane table, then each plane of `content` (XORed with `xor` first, when given)
    /// compressed, or raw when compressing does not make it smaller.
    ///
    /// Each plane is first entropy-coded (zstd at level -100 with Huffman literals: exponent and high-mantissa
    /// planes have skewed byte frequencies but few repeats, and this codes them smaller than level 1 at about three
    /// times the speed); only a plane that shrinks below 15 % that way — mostly zeros, as in the XOR of a barely
    /// changed tensor — is tried again at `level`, whose match finder does better on long runs.
    static func encodePlanes(
        _ content: UnsafeRawBufferPointer, xor: UnsafeRawBufferPointer?, elementSize: Int, level: Int
    ) throws -> ScratchBuffer {
        let planeLength = content.count / elementSize
        let grouped = ScratchPool.shared.take(content.count)
        var retry: ScratchBuffer?
        // Pointers into these buffers are used after the buffers' last mention below: they must live to the end.
        defer { withExtendedLifetime((grouped, retry)) {} }
        groupPlanes(
            content, xor: xor, elementSize: elementSize, into: grouped.pointer.assumingMemoryBound(to: UInt8.self))
        let tableLength = 8 * elementSize
        let bound = Zstd.compressBound(planeLength)
        let object = ScratchPool.shared.take(headerLength + tableLength + elementSize * bound)
        let out = object.space
        var cursor = headerLength + tableLength
        for plane in 0..<elementSize {
            let source = UnsafeRawBufferPointer(
                rebasing: grouped.bytes[(plane * planeLength)..<((plane + 1) * planeLength)])
            let target = UnsafeMutableRawBufferPointer(rebasing: out[cursor...])
            var length = try Zstd.compress(source, into: target, level: -100, checksum: false, huffmanLiterals: true)
            if length * 100 < planeLength * 15 {
                let second = retry ?? ScratchPool.shared.take(bound)
                retry = second
                let secondLength = try Zstd.compress(
                    source, into: UnsafeMutableRawBufferPointer(start: second.pointer, count: bound), level: level,
                    checksum: false)
                if secondLength < length {
                    target.copyMemory(from: UnsafeRawBufferPointer(start: second.pointer, count: secondLength))
                    length = secondLength
                }
            }
            let entry: UInt64
            if length < planeLength {
                entry = UInt64(length) << 1 | 1
                cursor += length
            } else {
                entry = UInt64(planeLength) << 1
                target.copyMemory(from: source)
                cursor += planeLength
            }
            out.storeBytes(of: entry.littleEndian, toByteOffset: headerLength + 8 * plane, as: UInt64.self)
        }
        object.count = cursor
        return object
    }

    /// Bytes 0..<48 of the header: everything but the file checksum.
    var headerBytes: [UInt8] {
        var bytes = Self.magic + [2, codec.rawValue, UInt8(elementSize), 0]
        bytes += (0..<8).map { UInt8(truncatingIfNeeded: rawLength >> (8 * UInt64($0))) }
        bytes += digest.bytes
        bytes += base?.bytes ?? [UInt8](repeating: 0, count: 16)
        return bytes
    }

    /// XXH3-128 of a version 2 object file's bytes other than its checksum field.
    package static func fileChecksum(_ object: UnsafeRawBufferPointer) -> XXH3Digest {
        var hasher = XXH3Hasher()
        hasher.update(UnsafeRawBufferPointer(rebasing: object[0..<version1HeaderLength]))
        hasher.update(UnsafeRawBufferPointer(rebasing: object[headerLength...]))
        return hasher.finalize()
    }

    /// Reads an object's header (its fields only; `validated` checks the payload's structure too).
    package static func header(of object: UnsafeRawBufferPointer, name: String) throws(StoreError) -> StoredObject {
        guard object.count >= version1HeaderLength, Array(object[0..<4]) == magic, object[4] == 1 || object[4] == 2,
            object[4] == 1 || object.count >= headerLength
        else {
            throw StoreError(.corruptObject, "object \(name) has no valid header")
        }
        if object[5] == 1 || object[5] == 2 {
            throw StoreError(
                .corruptObject,
                "object \(name) was written by a pre-release build (codec \(object[5])); ingest its model again into a new store"
            )
        }
        guard let codec = ObjectCodec(rawValue: object[5]), object[6] >= 1, object[6] <= 16, object[7] == 0 else {
            throw StoreError(.corruptObject, "object \(name) names an unknown codec or element size")
        }
        var length: UInt64 = 0
        for index in 0..<8 { length |= UInt64(object[8 + index]) << (8 * UInt64(index)) }
        func digestAt(_ offset: Int) -> XXH3Digest {
            var high: UInt64 = 0
            var low: UInt64 = 0
            for index in 0..<8 {
                high = high << 8 | UInt64(object[offset + index])
                low = low << 8 | UInt64(object[offset + 8 + index])
            }
            return XXH3Digest(high: high, low: low)
        }
        let base = digestAt(32)
        guard codec == .xorPlanes || (base.high == 0 && base.low == 0) else {
            throw StoreError(
                .corruptObject, "object \(name) has no valid header (a base digest on a \(codec.name) object)")
        }
        return StoredObject(
            version: object[4], codec: codec, elementSize: Int(object[6]), rawLength: length, digest: digestAt(16),
            base: codec == .xorPlanes ? base : nil, checksum: object[4] == 2 ? digestAt(48) : nil)
    }

    /// Checks a version 2 object's file checksum: true when it holds, false for a version 1 object (which only
    /// decoding can check).
    ///
    /// - Throws: `.corruptObject` when the header is unreadable or the checksum does not match.
    package static func checkFile(_ object: UnsafeRawBufferPointer, name: String) throws(StoreError) -> Bool {
        let header = try header(of: object, name: name)
        guard let expected = header.checksum else { return false }
        let actual = fileChecksum(object)
        guard actual == expected else {
            throw StoreError(
                .corruptObject, "object \(name) is damaged: its file checksum is \(actual), not \(expected)")
        }
        return true
    }

    /// Reads an object's header and checks, without allocating or decoding anything, that its payload is laid out
    /// as the header says: every length fits the file, every zstd frame records the size it must decode to, and no
    /// frame claims more than its bytes can hold. Decoders call this before they allocate the content.
    package static func validated(_ object: UnsafeRawBufferPointer, name: String) throws(StoreError) -> StoredObject {
        let header = try header(of: object, name: name)
        let payload = UnsafeRawBufferPointer(rebasing: object[header.payloadOffset...])
        func damaged(_ what: String) -> StoreError {
            StoreError(.corruptObject, "object \(name) is damaged: \(what)")
        }
        guard header.rawLength <= UInt64(Int.max / 4) else { throw damaged("it claims \(header.rawLength) bytes") }
        switch header.codec {
        case .stored:
            guard UInt64(payload.count) == header.rawLength else {
                throw damaged("it stores \(payload.count) bytes, its header says \(header.rawLength)")
            }
        case .zstd:
            guard let size = Zstd.frameContentSize(payload), size == header.rawLength,
                size <= Zstd.maximumContentSize(ofFrameBytes: payload.count)
            else {
                throw damaged("its zstd frame does not record the \(header.rawLength) bytes its header says")
            }
        case .planes, .xorPlanes:
            let planes = header.elementSize
            guard header.rawLength > 0, header.rawLength % UInt64(planes) == 0, payload.count >= 8 * planes else {
                throw damaged("its plane table does not fit \(header.rawLength) bytes in \(planes) planes")
            }
            let planeLength = header.rawLength / UInt64(planes)
            var cursor = UInt64(8 * planes)
            for plane in 0..<planes {
                let entry = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 8 * plane, as: UInt64.self))
                let length = entry >> 1
                guard length <= UInt64(payload.count) - cursor else {
                    throw damaged("plane \(plane) runs past the end of the file")
                }
                let bytes = UnsafeRawBufferPointer(rebasing: payload[Int(cursor)..<Int(cursor + length)])
                if entry & 1 == 1 {
                    guard let size = Zstd.frameContentSize(bytes), size == planeLength,
                        size <= Zstd.maximumContentSize(ofFrameBytes: bytes.count)
                    else {
                        throw damaged("plane \(plane) does not record the \(planeLength) bytes a plane holds")
                    }
                } else if length != planeLength {
                    throw damaged("raw plane \(plane) holds \(length) bytes, not \(planeLength)")
                }
                cursor += length
            }
            guard cursor == UInt64(payload.count) else {
                throw damaged("\(UInt64(payload.count) - cursor) bytes follow its planes")
            }
        case .chunked:
            _ = try chunks(of: object, name: name)
        }
        return header
    }

    /// Decodes an object and checks its content against the digest in its header.
    ///
    /// - Parameter base: the decoded content of the base object, for deltas.
    package static func decode(
        _ object: UnsafeRawBufferPointer, name: String, base: [UInt8]? = nil
    ) throws(StoreError) -> [UInt8] {
        let header = try validated(object, name: name)
        if header.codec == .chunked { throw notSelfContained(name) }
        var failure: StoreError?
        let content = [UInt8](unsafeUninitializedCapacity: Int(header.rawLength)) { out, initialized in
            func run(_ base: UnsafeRawBufferPointer?) {
                do {
                    try decode(object, name: name, base: base, into: UnsafeMutableRawBufferPointer(out))
                } catch {
                    failure = error
                }
            }
            if let base { base.withUnsafeBytes { run($0) } } else { run(nil) }
            initialized = failure == nil ? out.count : 0
        }
        if let failure { throw failure }
        return content
    }

    /// Decodes an object into `destination`, which must have exactly the object's raw length, and checks the
    /// content against the digest in the header. Raw planes are read straight from `object`, without a copy.
    ///
    /// - Parameter base: the decoded content of the base object, for deltas.
    /// - Parameter release: called with bytes of `object` the decoder is done with (a mapped file evicts them).
    package static func decode(
        _ object: UnsafeRawBufferPointer, name: String, base: UnsafeRawBufferPointer?,
        into destination: UnsafeMutableRawBufferPointer, release: ((UnsafeRawBufferPointer) -> Void)? = nil
    ) throws(StoreError) {
        let header = try validated(object, name: name)
        guard header.rawLength == UInt64(destination.count) else {
            throw StoreError(
                .corruptObject, "object \(name) holds \(header.rawLength) bytes, \(destination.count) expected")
        }
        let payload = UnsafeRawBufferPointer(rebasing: object[header.payloadOffset...])
        switch header.codec {
        case .stored:
            guard payload.count == destination.count else {
                throw StoreError(
                    .corruptObject, "object \(name) stores \(payload.count) bytes, header says \(header.rawLength)")
            }
            destination.copyMemory(from: payload)
        case .zstd:
            do {
                try Zstd.decompress(payload, into: destination)
            } catch {
                throw StoreError(.corruptObject, "object \(name) does not decompress: \(error)")
            }
        case .planes, .xorPlanes:
            var baseBytes: UnsafeRawBufferPointer?
            if header.codec == .xorPlanes {
                guard let base, base.count == destination.count else {
                    throw StoreError(
                        .missingObject,
                        "object \(name) is a delta against \(header.base.map { "\($0)" } ?? "?"), which is missing")
                }
                baseBytes = base
            }
            try decodePlanes(payload, header: header, name: name, xor: baseBytes, into: destination, release: release)
        case .chunked:
            throw notSelfContained(name)
        }
        let actual = xxh3_128(UnsafeRawBufferPointer(destination))
        guard actual == header.digest else {
            throw StoreError(
                .corruptObject, "object \(name) decodes to content with digest \(actual), not \(header.digest)")
        }
    }

    static func decodePlanes(
        _ payload: UnsafeRawBufferPointer, header: StoredObject, name: String, xor: UnsafeRawBufferPointer?,
        into destination: UnsafeMutableRawBufferPointer, release: ((UnsafeRawBufferPointer) -> Void)? = nil
    ) throws(StoreError) {
        let planes = try PlaneStripes(payload, header: header, name: name, release: release)
        let size = header.elementSize
        try PlaneStripes.forEachStripe([planes]) { first, count, stripes in
            let other = xor.map { UnsafeRawBufferPointer(rebasing: $0[(first * size)..<((first + count) * size)]) }
            interleavePlanes(stripes[0], count: count, xor: other, into: destination.baseAddress! + first * size)
        }
    }

    /// Decodes a delta object given its base *object* (not its content): when both are plane-coded alike, the XOR
    /// is taken plane by plane (grouping is a permutation, so planes(a ⊕ b) = planes(a) ⊕ planes(b)) and the
    /// elements are interleaved once, instead of decoding the base's content first. The result is checked against
    /// the delta's digest, which also covers the base's bytes.
    package static func decode(
        _ object: UnsafeRawBufferPointer, name: String, baseObject: UnsafeRawBufferPointer, baseName: String,
        into destination: UnsafeMutableRawBufferPointer, release: ((UnsafeRawBufferPointer) -> Void)? = nil,
        releaseBase: ((UnsafeRawBufferPointer) -> Void)? = nil
    ) throws(StoreError) {
        let header = try validated(object, name: name)
        let baseHeader = try validated(baseObject, name: baseName)
        guard baseHeader.base == nil else {
            throw StoreError(.corruptObject, "object \(name) is a delta against another delta \(baseName)")
        }
        guard header.codec == .xorPlanes, baseHeader.codec == .planes, baseHeader.elementSize == header.elementSize,
            baseHeader.rawLength == header.rawLength, header.rawLength == UInt64(destination.count)
        else {
            let base = try decode(baseObject, name: baseName)
            var failure: StoreError?
            base.withUnsafeBytes { base in
                do throws(StoreError) {
                    try decode(object, name: name, base: base, into: destination, release: release)
                } catch {
                    failure = error
                }
            }
            if let failure { throw failure }
            return
        }
        let delta = try PlaneStripes(
            UnsafeRawBufferPointer(rebasing: object[header.payloadOffset...]), header: header, name: name,
            release: release)
        let base = try PlaneStripes(
            UnsafeRawBufferPointer(rebasing: baseObject[baseHeader.payloadOffset...]), header: baseHeader,
            name: baseName, release: releaseBase)
        let size = header.elementSize
        let combined = ScratchPool.shared.take(size * min(delta.planeLength, PlaneStripes.stripeLength))
        try withExtendedLifetime(combined) { () throws(StoreError) in
            let slots = (0..<size).map {
                (combined.pointer + $0 * min(delta.planeLength, PlaneStripes.stripeLength))
                    .assumingMemoryBound(to: UInt8.self)
            }
            try PlaneStripes.forEachStripe([delta, base]) { first, count, stripes in
                for plane in 0..<size {
                    xorBytes(stripes[0][plane], stripes[1][plane], into: slots[plane], count: count)
                }
                interleavePlanes(
                    slots.map { UnsafePointer($0) }, count: count, xor: nil,
                    into: destination.baseAddress! + first * size)
            }
        }
        let actual = xxh3_128(UnsafeRawBufferPointer(destination))
        guard actual == header.digest else {
            throw StoreError(
                .corruptObject,
                "object \(name) (a delta against \(baseName)) decodes to content with digest \(actual), not \(header.digest)"
            )
        }
    }
}

/// The planes of a plane-coded object's payload, read a stripe at a time: raw planes where they lie, compressed
/// ones decompressed stripe by stripe into slots of a small scratch buffer (slot p for plane p). Decoding so holds
/// `planes × stripeLength` bytes besides its output, not a second copy of the content (64 MiB per worker for the
/// store's largest chunks), and the interleaving reads planes that are still in cache.
final class PlaneStripes {
    /// Elements per stripe.
    static let stripeLength = 256 << 10
    /// Consumed payload is handed to `release` in steps of at least this many bytes.
    static let releaseStep = 4 << 20

    private enum Source {
        case raw(UnsafePointer<UInt8>)
        case compressed(ZstdFrameReader)
    }

    let planeLength: Int
    private let name: String
    private var sources: [Source] = []
    /// Each plane's bytes in the payload.
    private var planeBytes: [UnsafeRawBufferPointer] = []
    private let scratch: ScratchBuffer
    private var position = 0
    private let release: ((UnsafeRawBufferPointer) -> Void)?
    private var released: [Int]

    /// - Parameter release: called with payload bytes the reader is done with (a mapped file evicts them).
    init(
        _ payload: UnsafeRawBufferPointer, header: StoredObject, name: String,
        release: ((UnsafeRawBufferPointer) -> Void)? = nil
    ) throws(StoreError) {
        let planes = header.elementSize
        let tableLength = 8 * planes
        guard header.rawLength > 0, header.rawLength % UInt64(planes) == 0, payload.count >= tableLength else {
            throw StoreError(.corruptObject, "object \(name) has a damaged plane table")
        }
        planeLength = Int(header.rawLength) / planes
        self.name = name
        self.release = release
        released = Array(repeating: 0, count: planes)
        scratch = ScratchPool.shared.take(planes * min(planeLength, Self.stripeLength))
        var cursor = tableLength
        for plane in 0..<planes {
            let entry = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 8 * plane, as: UInt64.self))
            let length = entry >> 1
            let compressed = entry & 1 == 1
            guard length <= UInt64(payload.count - cursor), compressed || length == UInt64(planeLength) else {
                throw StoreError(.corruptObject, "object \(name) has a damaged plane table")
            }
            let bytes = UnsafeRawBufferPointer(rebasing: payload[cursor..<(cursor + Int(length))])
            cursor += Int(length)
            planeBytes.append(bytes)
            if compressed {
                do {
                    sources.append(.compressed(try ZstdFrameReader(frame: bytes, contentSize: planeLength)))
                } catch {
                    throw StoreError(.corruptObject, "object \(name): plane \(plane) does not decompress: \(error)")
                }
            } else {
                sources.append(.raw(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)))
            }
        }
        guard cursor == payload.count else {
            throw StoreError(.corruptObject, "object \(name) has \(payload.count - cursor) bytes after its planes")
        }
    }

    /// The next `count` (at most `stripeLength`) bytes of every plane, valid until the next call.
    func next(_ count: Int) throws(StoreError) -> [UnsafePointer<UInt8>] {
        precondition(count <= Self.stripeLength && position + count <= planeLength)
        var pointers: [UnsafePointer<UInt8>] = []
        pointers.reserveCapacity(sources.count)
        for (plane, source) in sources.enumerated() {
            switch source {
            case .raw(let start):
                pointers.append(start + position)
                releaseBehind(plane, upTo: position + count)
            case .compressed(let reader):
                do {
                    try reader.read(into: UnsafeMutableRawBufferPointer(start: slot(plane), count: count))
                } catch {
                    throw StoreError(.corruptObject, "object \(name): plane \(plane) does not decompress: \(error)")
                }
                pointers.append(UnsafePointer(slot(plane)))
                releaseBehind(plane, upTo: reader.framePosition)
            }
        }
        position += count
        return pointers
    }

    /// Checks, once every stripe was read, that each compressed plane ended where its table entry says.
    func finish() throws(StoreError) {
        for (plane, source) in sources.enumerated() {
            guard case .compressed(let reader) = source else { continue }
            do {
                try reader.finish()
            } catch {
                throw StoreError(.corruptObject, "object \(name): plane \(plane) does not decompress: \(error)")
            }
        }
    }

    /// Plane p's scratch slot.
    func slot(_ plane: Int) -> UnsafeMutablePointer<UInt8> {
        (scratch.pointer + plane * min(planeLength, Self.stripeLength)).assumingMemoryBound(to: UInt8.self)
    }

    private func releaseBehind(_ plane: Int, upTo consumed: Int) {
        guard let release, consumed - released[plane] >= Self.releaseStep else { return }
        release(UnsafeRawBufferPointer(rebasing: planeBytes[plane][released[plane]..<consumed]))
        released[plane] = consumed
    }

    /// Reads every stripe of `planes` (several plane sets read in step, e.g. a delta's and its base's) and hands
    /// them to `body` with the index of the stripe's first element.
    static func forEachStripe(
        _ planes: [PlaneStripes], _ body: (_ first: Int, _ count: Int, [[UnsafePointer<UInt8>]]) -> Void
    ) throws(StoreError) {
        let planeLength = planes[0].planeLength
        var first = 0
        while first < planeLength {
            let count = min(stripeLength, planeLength - first)
            var stripes: [[UnsafePointer<UInt8>]] = []
            for set in planes { stripes.append(try set.next(count)) }
            body(first, count, stripes)
            first += count
        }
        for set in planes { try set.finish() }
    }
}

/// `target[i] = a[i] ^ b[i]`; `target` may be `a`.
func xorBytes(
    _ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, into target: UnsafeMutablePointer<UInt8>, count: Int
) {
    let words = count / 8
    let (x, y, z) = (UnsafeRawPointer(a), UnsafeRawPointer(b), UnsafeMutableRawPointer(target))
    for index in 0..<words {
        let value =
            x.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)
            ^ y.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)
        z.storeBytes(of: value, toByteOffset: 8 * index, as: UInt64.self)
    }
    for index in (8 * words)..<count { target[index] = a[index] ^ b[index] }
}

/// Splits each element's bytes into planes, XORed with `xor` first when given: plane p of `target` (planes of
/// `content.count / elementSize` bytes, one after the other) holds byte p of every element.
///
/// The 2- and 4-byte cases are plain loops over words without optionals inside, which LLVM vectorizes (6–10 GB/s
/// here); the generic loop is a fallback for other widths.
func groupPlanes(
    _ content: UnsafeRawBufferPointer, xor: UnsafeRawBufferPointer?, elementSize: Int,
    into target: UnsafeMutablePointer<UInt8>
) {
    let count = content.count / elementSize
    guard count > 0, let source = content.baseAddress else { return }
    switch (elementSize, xor?.baseAddress) {
    case (4, nil): groupWords(source, count, target)
    case (4, let other?): groupWords(source, xoring: other, count, target)
    case (2, nil): groupHalves(source, count, target)
    case (2, let other?): groupHalves(source, xoring: other, count, target)
    default:
        let bytes = source.assumingMemoryBound(to: UInt8.self)
        let otherBytes = xor?.baseAddress?.assumingMemoryBound(to: UInt8.self)
        for plane in 0..<elementSize {
            let planeStart = target + plane * count
            for index in 0..<count {
                let at = index * elementSize + plane
                planeStart[index] = bytes[at] ^ (otherBytes?[at] ?? 0)
            }
        }
    }
}

private func groupWords(_ source: UnsafeRawPointer, _ count: Int, _ target: UnsafeMutablePointer<UInt8>) {
    let (p0, p1, p2, p3) = (target, target + count, target + 2 * count, target + 3 * count)
    for index in 0..<count {
        let word = source.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)
        p0[index] = UInt8(truncatingIfNeeded: word)
        p1[index] = UInt8(truncatingIfNeeded: word >> 8)
        p2[index] = UInt8(truncatingIfNeeded: word >> 16)
        p3[index] = UInt8(truncatingIfNeeded: word >> 24)
    }
}

private func groupWords(
    _ source: UnsafeRawPointer, xoring other: UnsafeRawPointer, _ count: Int, _ target: UnsafeMutablePointer<UInt8>
) {
    let (p0, p1, p2, p3) = (target, target + count, target + 2 * count, target + 3 * count)
    for index in 0..<count {
        let word =
            source.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)
            ^ other.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)
        p0[index] = UInt8(truncatingIfNeeded: word)
        p1[index] = UInt8(truncatingIfNeeded: word >> 8)
        p2[index] = UInt8(truncatingIfNeeded: word >> 16)
        p3[index] = UInt8(truncatingIfNeeded: word >> 24)
    }
}

private func groupHalves(_ source: UnsafeRawPointer, _ count: Int, _ target: UnsafeMutablePointer<UInt8>) {
    let (p0, p1) = (target, target + count)
    for index in 0..<count {
        let half = source.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)
        p0[index] = UInt8(truncatingIfNeeded: half)
        p1[index] = UInt8(truncatingIfNeeded: half >> 8)
    }
}

private func groupHalves(
    _ source: UnsafeRawPointer, xoring other: UnsafeRawPointer, _ count: Int, _ target: UnsafeMutablePointer<UInt8>
) {
    let (p0, p1) = (target, target + count)
    for index in 0..<count {
        let half =
            source.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)
            ^ other.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)
        p0[index] = UInt8(truncatingIfNeeded: half)
        p1[index] = UInt8(truncatingIfNeeded: half >> 8)
    }
}

/// Inverse of `groupPlanes`: element i of `target` is made of byte i of each plane in `sources`, XORed with `xor`.
func interleavePlanes(
    _ sources: [UnsafePointer<UInt8>], count: Int, xor: UnsafeRawBufferPointer?, into target: UnsafeMutableRawPointer
) {
    switch (sources.count, xor?.baseAddress) {
    case (4, nil): interleaveWords(sources[0], sources[1], sources[2], sources[3], count, target)
    case (4, let other?): interleaveWords(sources[0], sources[1], sources[2], sources[3], xoring: other, count, target)
    case (2, nil): interleaveHalves(sources[0], sources[1], count, target)
    case (2, let other?): interleaveHalves(sources[0], sources[1], xoring: other, count, target)
    default:
        let bytes = target.assumingMemoryBound(to: UInt8.self)
        let otherBytes = xor?.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let size = sources.count
        for (plane, source) in sources.enumerated() {
            for index in 0..<count {
                let at = index * size + plane
                bytes[at] = source[index] ^ (otherBytes?[at] ?? 0)
            }
        }
    }
}

private func interleaveWords(
    _ p0: UnsafePointer<UInt8>, _ p1: UnsafePointer<UInt8>, _ p2: UnsafePointer<UInt8>, _ p3: UnsafePointer<UInt8>,
    _ count: Int, _ target: UnsafeMutableRawPointer
) {
    for index in 0..<count {
        let word = UInt32(p0[index]) | UInt32(p1[index]) << 8 | UInt32(p2[index]) << 16 | UInt32(p3[index]) << 24
        target.storeBytes(of: word, toByteOffset: 4 * index, as: UInt32.self)
    }
}

private func interleaveWords(
    _ p0: UnsafePointer<UInt8>, _ p1: UnsafePointer<UInt8>, _ p2: UnsafePointer<UInt8>, _ p3: UnsafePointer<UInt8>,
    xoring other: UnsafeRawPointer, _ count: Int, _ target: UnsafeMutableRawPointer
) {
    for index in 0..<count {
        let word = UInt32(p0[index]) | UInt32(p1[index]) << 8 | UInt32(p2[index]) << 16 | UInt32(p3[index]) << 24
        target.storeBytes(
            of: word ^ other.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self), toByteOffset: 4 * index,
            as: UInt32.self)
    }
}

private func interleaveHalves(
    _ p0: UnsafePointer<UInt8>, _ p1: UnsafePointer<UInt8>, _ count: Int, _ target: UnsafeMutableRawPointer
) {
    for index in 0..<count {
        target.storeBytes(of: UInt16(p0[index]) | UInt16(p1[index]) << 8, toByteOffset: 2 * index, as: UInt16.self)
    }
}

private func interleaveHalves(
    _ p0: UnsafePointer<UInt8>, _ p1: UnsafePointer<UInt8>, xoring other: UnsafeRawPointer, _ count: Int,
    _ target: UnsafeMutableRawPointer
) {
    for index in 0..<count {
        let half = UInt16(p0[index]) | UInt16(p1[index]) << 8
        target.storeBytes(
            of: half ^ other.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self), toByteOffset: 2 * index,
            as: UInt16.self)
    }
}
