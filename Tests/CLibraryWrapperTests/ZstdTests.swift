import PBRCore
import TestSupport
import Testing
import Zstd

@Suite struct ZstdTests {
    @Test(arguments: [0, 1, 1000, 1 << 20])
    func roundTrip(size: Int) throws {
        var generator = SplitMix64(seed: UInt64(size))
        // Half random, half zeros: compressible but not trivially.
        let input = (0..<size).map { $0 % 2 == 0 ? UInt8(truncatingIfNeeded: generator.next() & 0x0F) : 0 }
        let frame = try Zstd.compress(input)
        if size >= 1000 { #expect(frame.count < input.count) }
        #expect(try Zstd.decompress(frame, maximumSize: size) == input)
    }

    @Test func refusesFramesLargerThanAllowed() throws {
        let frame = try Zstd.compress([UInt8](repeating: 1, count: 4096))
        #expect(throws: ZstdError.self) { try Zstd.decompress(frame, maximumSize: 4095) }
    }

    @Test func refusesGarbageAndCorruptedFrames() throws {
        #expect(throws: ZstdError.self) { try Zstd.decompress([1, 2, 3, 4, 5, 6, 7, 8], maximumSize: 100) }
        var frame = try Zstd.compress((0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        frame[frame.count / 2] ^= 0xFF
        #expect(throws: ZstdError.self) { try Zstd.decompress(frame, maximumSize: 10_000) }
    }

    @Test func compressesIntoAndDecompressesIntoCallerBuffers() throws {
        var generator = SplitMix64(seed: 9)
        let input = (0..<100_000).map { _ in UInt8(truncatingIfNeeded: generator.next() & 0x07) }
        var frame = [UInt8](repeating: 0, count: Zstd.compressBound(input.count))
        let length = try input.withUnsafeBytes { source in
            try frame.withUnsafeMutableBytes { try Zstd.compress(source, into: $0, level: 1, checksum: false) }
        }
        #expect(length > 0 && length < input.count / 2)
        frame.removeLast(frame.count - length)
        var output = [UInt8](repeating: 0, count: input.count)
        try frame.withUnsafeBytes { f in try output.withUnsafeMutableBytes { try Zstd.decompress(f, into: $0) } }
        #expect(output == input)
        // The output must be filled exactly: one byte short or long is refused.
        for wrongSize in [input.count - 1, input.count + 1] {
            var wrong = [UInt8](repeating: 0, count: wrongSize)
            #expect(throws: ZstdError.self) {
                try frame.withUnsafeBytes { f in try wrong.withUnsafeMutableBytes { try Zstd.decompress(f, into: $0) } }
            }
        }
        // Too small an output buffer for the frame is an error, not an overrun.
        var tiny = [UInt8](repeating: 0, count: 16)
        #expect(throws: ZstdError.self) {
            try input.withUnsafeBytes { source in
                try tiny.withUnsafeMutableBytes { try Zstd.compress(source, into: $0) }
            }
        }
    }

    /// The frame reader gives the same bytes as one-shot decompression in pieces of any size, and refuses what
    /// one-shot decompression refuses: a frame cut short, bytes after it, a damaged checksum, another content size.
    @Test func frameReaderReadsInPiecesAndRefusesDamagedFrames() throws {
        var generator = SplitMix64(seed: 21)
        let input = (0..<3_000_000).map { _ in UInt8(truncatingIfNeeded: generator.next() & 0x0F) }
        let frame = try Zstd.compress(input)
        func readAll(_ frame: [UInt8], contentSize: Int = 3_000_000, pieces: [Int]) throws -> [UInt8] {
            try frame.withUnsafeBytes { bytes in
                let reader = try ZstdFrameReader(frame: bytes, contentSize: contentSize)
                var output = [UInt8](repeating: 0, count: contentSize)
                var offset = 0
                var next = 0
                while offset < contentSize {
                    let count = min(pieces[next % pieces.count], contentSize - offset)
                    try output.withUnsafeMutableBytes {
                        try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[offset..<(offset + count)]))
                    }
                    offset += count
                    next += 1
                }
                try reader.finish()
                #expect(reader.framePosition == frame.count)
                return output
            }
        }
        #expect(try readAll(frame, pieces: [1 << 18]) == input)
        #expect(try readAll(frame, pieces: [1, 4097, 65_536, 1_000_003]) == input)
        #expect(throws: ZstdError.self) { try readAll(Array(frame.dropLast(5)), pieces: [1 << 18]) }
        #expect(throws: ZstdError.self) { try readAll(Array(frame.prefix(frame.count / 2)), pieces: [1 << 18]) }
        #expect(throws: ZstdError.self) { try readAll(frame + [0, 0, 0, 0], pieces: [1 << 18]) }
        var damaged = frame
        damaged[damaged.count - 1] ^= 0xFF  // the content checksum
        #expect(throws: ZstdError.self) { try readAll(damaged, pieces: [1 << 18]) }
        #expect(throws: ZstdError.self) { try readAll(frame, contentSize: 2_999_999, pieces: [1 << 18]) }
    }
}
