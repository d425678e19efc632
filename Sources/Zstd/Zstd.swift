import CZstd

/// An error reported by libzstd, with the library's own name for it.
package struct ZstdError: Error, Sendable, Equatable, CustomStringConvertible {
    package var message: String
    package var description: String { "zstd: \(message)" }

    init(code: Int) { self.message = String(cString: ZSTD_getErrorName(code)) }
    init(_ message: String) { self.message = message }
}

/// The zstd frame format, one frame per call.
///
/// Contexts are created per call; they are cheap next to the megabytes a tensor object usually holds, and a
/// stateless API keeps callers free to compress on any thread.
package enum Zstd {
    /// The default level of the `zstd` command (3).
    package static let defaultLevel = Int(ZSTD_CLEVEL_DEFAULT)

    /// Compresses `input` into one frame that records its content size.
    ///
    /// The corresponding C function is `ZSTD_compress2`.
    package static func compress(_ input: UnsafeRawBufferPointer, level: Int = defaultLevel) throws(ZstdError)
        -> [UInt8]
    {
        guard let context = ZSTD_createCCtx() else { throw ZstdError("out of memory") }
        defer { ZSTD_freeCCtx(context) }
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, Int32(level))
        ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
        let bound = ZSTD_compressBound(input.count)
        var status = 0
        let output = [UInt8](unsafeUninitializedCapacity: bound) { out, initialized in
            status = ZSTD_compress2(context, out.baseAddress, out.count, input.baseAddress, input.count)
            initialized = ZSTD_isError(status) != 0 ? 0 : status
        }
        if ZSTD_isError(status) != 0 { throw ZstdError(code: status) }
        return output
    }

    /// The most bytes `compress(_:into:level:checksum:)` can write for `count` input bytes.
    package static func compressBound(_ count: Int) -> Int { ZSTD_compressBound(count) }

    /// Compresses `input` into one frame written at the start of `output` (which must hold at least
    /// `compressBound(input.count)` bytes to be sure of success) and returns the frame's length.
    ///
    /// - Parameters:
    ///   - checksum: whether the frame carries zstd's own XXH64 of its content; callers that verify a stronger digest
    ///     of the content themselves leave it out and save a pass.
    ///   - huffmanLiterals: Huffman-code literals even at negative levels, which otherwise store them raw. With a
    ///     very fast level (-100) this makes zstd an entropy coder that barely looks for repeats: on the exponent
    ///     bytes of float tensors it compresses better than level 1 at 2.5–3× the speed (both ways).
    package static func compress(
        _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, level: Int = defaultLevel,
        checksum: Bool = true, huffmanLiterals: Bool = false
    ) throws(ZstdError) -> Int {
        guard let context = ZSTD_createCCtx() else { throw ZstdError("out of memory") }
        defer { ZSTD_freeCCtx(context) }
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, Int32(level))
        ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, checksum ? 1 : 0)
        if huffmanLiterals {
            let status = czstd_force_huffman_literals(context)
            if ZSTD_isError(status) != 0 { throw ZstdError(code: status) }
        }
        let status = ZSTD_compress2(context, output.baseAddress, output.count, input.baseAddress, input.count)
        if ZSTD_isError(status) != 0 { throw ZstdError(code: status) }
        return status
    }

    package static func compress(_ input: [UInt8], level: Int = defaultLevel) throws -> [UInt8] {
        try input.withUnsafeBytes { try compress($0, level: level) }
    }

    /// Decompresses one frame whose content size is recorded, refusing frames that claim more than
    /// `maximumSize` bytes (a hostile frame must not make us allocate terabytes).
    ///
    /// The corresponding C functions are `ZSTD_getFrameContentSize` and `ZSTD_decompressDCtx`.
    package static func decompress(_ frame: UnsafeRawBufferPointer, maximumSize: Int) throws(ZstdError) -> [UInt8] {
        let size = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        if size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > UInt64(maximumSize) {
            throw ZstdError("frame content size is unknown, invalid or above \(maximumSize) bytes")
        }
        guard let context = ZSTD_createDCtx() else { throw ZstdError("out of memory") }
        defer { ZSTD_freeDCtx(context) }
        var written = 0
        let output = [UInt8](unsafeUninitializedCapacity: Int(size)) { out, initialized in
            written = ZSTD_decompressDCtx(context, out.baseAddress, out.count, frame.baseAddress, frame.count)
            initialized = ZSTD_isError(written) != 0 ? 0 : written
        }
        if ZSTD_isError(written) != 0 { throw ZstdError(code: written) }
        if written != Int(size) { throw ZstdError("frame decompressed to \(written) bytes, header said \(size)") }
        return output
    }

    /// Decompresses one frame into `output`, which it must fill exactly: a frame that records another content size,
    /// or decodes to fewer or more bytes, is an error.
    package static func decompress(_ frame: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer)
        throws(ZstdError)
    {
        let size = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        guard size == UInt64(output.count) else {
            throw ZstdError("frame content size is unknown, invalid or not the expected \(output.count) bytes")
        }
        guard let context = ZSTD_createDCtx() else { throw ZstdError("out of memory") }
        defer { ZSTD_freeDCtx(context) }
        let written = ZSTD_decompressDCtx(context, output.baseAddress, output.count, frame.baseAddress, frame.count)
        if ZSTD_isError(written) != 0 { throw ZstdError(code: written) }
        if written != output.count { throw ZstdError("frame decompressed to \(written) bytes, header said \(size)") }
    }

    /// The content size a frame's header records, or nil when the bytes do not start with a frame that records one.
    ///
    /// The corresponding C function is `ZSTD_getFrameContentSize`.
    package static func frameContentSize(_ frame: UnsafeRawBufferPointer) -> UInt64? {
        let size = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        return size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ? nil : size
    }

    /// The most content one frame of `count` bytes can decode to: a block (at most 128 KiB of content) costs at
    /// least 3 bytes of block header and 1 of data. Bounds what a hostile frame can make a caller allocate.
    package static func maximumContentSize(ofFrameBytes count: Int) -> UInt64 {
        UInt64(count / 3 + 1) * 131_072
    }

    package static func decompress(_ frame: [UInt8], maximumSize: Int) throws -> [UInt8] {
        try frame.withUnsafeBytes { try decompress($0, maximumSize: maximumSize) }
    }
}

/// One frame decompressed a piece at a time into the caller's buffers, so that a consumer that needs the content
/// only in passing (interleaving byte planes, hashing) holds a piece of it, not all of it. The context's own
/// memory is the frame's window (2 MiB at the default level for large inputs; the content size when smaller).
///
/// The corresponding C functions are `ZSTD_createDCtx`, `ZSTD_decompressStream` and `ZSTD_freeDCtx`.
package final class ZstdFrameReader {
    private let context: OpaquePointer
    private let frame: UnsafeRawBufferPointer
    private var consumed = 0
    private var produced = 0
    private let contentSize: Int
    /// ZSTD_decompressStream said the frame is complete (its checksum, when it has one, held).
    private var ended = false

    /// A reader of `frame`, which must record a content size of exactly `contentSize` bytes.
    package init(frame: UnsafeRawBufferPointer, contentSize: Int) throws(ZstdError) {
        let recorded = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        guard recorded == UInt64(contentSize) else {
            throw ZstdError("frame content size is unknown, invalid or not the expected \(contentSize) bytes")
        }
        guard let context = ZSTD_createDCtx() else { throw ZstdError("out of memory") }
        self.context = context
        self.frame = frame
        self.contentSize = contentSize
    }

    deinit { ZSTD_freeDCtx(context) }

    /// Fills `output` with the next `output.count` bytes of content.
    package func read(into output: UnsafeMutableRawBufferPointer) throws(ZstdError) {
        guard produced + output.count <= contentSize else {
            throw ZstdError("asked for content past the frame's \(contentSize) bytes")
        }
        var out = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
        var input = ZSTD_inBuffer(src: frame.baseAddress, size: frame.count, pos: consumed)
        while out.pos < out.size {
            let before = (input.pos, out.pos)
            let status = ZSTD_decompressStream(context, &out, &input)
            if ZSTD_isError(status) != 0 { throw ZstdError(code: status) }
            if status == 0 { ended = true }
            if out.pos < out.size && (ended || before == (input.pos, out.pos)) {
                throw ZstdError("frame ended after \(produced + out.pos) of its \(contentSize) bytes")
            }
        }
        consumed = input.pos
        produced += output.count
    }

    /// Checks that the frame ended with its content (its checksum held) and that no bytes follow it.
    package func finish() throws(ZstdError) {
        guard produced == contentSize else {
            throw ZstdError("read \(produced) of the frame's \(contentSize) bytes")
        }
        let spare = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)
        defer { spare.deallocate() }
        var input = ZSTD_inBuffer(src: frame.baseAddress, size: frame.count, pos: consumed)
        while !ended {
            var out = ZSTD_outBuffer(dst: spare, size: 1, pos: 0)
            let before = input.pos
            let status = ZSTD_decompressStream(context, &out, &input)
            if ZSTD_isError(status) != 0 { throw ZstdError(code: status) }
            if out.pos > 0 { throw ZstdError("frame holds more than its recorded \(contentSize) bytes") }
            if status == 0 {
                ended = true
            } else if input.pos == before {
                throw ZstdError("frame is truncated: it ends before its epilogue")
            }
        }
        consumed = input.pos
        guard consumed == frame.count else {
            throw ZstdError("\(frame.count - consumed) bytes follow the frame")
        }
    }

    /// Bytes of the frame read so far.
    package var framePosition: Int { consumed }
}
