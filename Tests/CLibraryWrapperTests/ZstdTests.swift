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
}
