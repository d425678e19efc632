import PBRCore
import TestSupport
import Testing
import XXHash

@Suite struct XXHashTests {
    // Reference digests printed by Python's xxhash 3.6 (`xxhash.xxh3_128_hexdigest`), not by pbrepo.
    @Test(arguments: [
        ("", "99aa06d3014798d86001c324468d497f"),
        ("a", "a96faf705af16834e6c632b61e964e1f"),
        ("abc", "06b05ab6733a618578af5f94892f3950"),
    ])
    func knownDigests(input: String, expected: String) {
        #expect(xxh3_128(Array(input.utf8)).description == expected)
    }

    /// The chunked hasher's digests against one-shot digests of the slices, for pieces that cut chunks anywhere
    /// (and sizes of one chunk exactly, and less: no chunks then).
    @Test(arguments: [(100_003, 4096), (3 * 65_536, 65_536), (65_536, 65_536), (1000, 4096), (4_000_000, 1_500_000)])
    func chunkedDigestsAreTheDigestsOfTheSlices(length: Int, chunkBytes: Int) {
        var generator = SplitMix64(seed: UInt64(length))
        let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let expected = stride(from: 0, to: length, by: chunkBytes).map {
            xxh3_128(Array(bytes[$0..<min(length, $0 + chunkBytes)]))
        }
        for pieceSize in [1000, 4095, 65_537, length] {
            var hasher = XXH3ChunkedHasher(chunkBytes: chunkBytes)
            var start = 0
            while start < length {
                let end = min(start + pieceSize, length)
                Array(bytes[start..<end]).withUnsafeBytes { hasher.update($0) }
                start = end
            }
            let digests = hasher.finalize()
            #expect(digests.whole == xxh3_128(bytes), "piece size \(pieceSize)")
            #expect(digests.chunks == (expected.count > 1 ? expected : []), "piece size \(pieceSize)")
        }
    }

    @Test func streamingEqualsOneShotWhateverThePieces() {
        var generator = SplitMix64(seed: 7)
        let bytes = (0..<100_003).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let whole = xxh3_128(bytes)
        for pieceSize in [1, 7, 64, 240, 241, 4096, 65_537] {
            var hasher = XXH3Hasher()
            var start = 0
            while start < bytes.count {
                let end = min(start + pieceSize, bytes.count)
                hasher.update(Array(bytes[start..<end]))
                start = end
            }
            #expect(hasher.finalize() == whole, "piece size \(pieceSize)")
        }
    }

    @Test func hexRoundTrips() throws {
        let digest = XXH3Digest(high: 0x0123_4567_89ab_cdef, low: 0x1)
        #expect(digest.description == "0123456789abcdef0000000000000001")
        #expect(XXH3Digest(hex: digest.description) == digest)
        #expect(XXH3Digest(hex: "xyz") == nil)
        #expect(digest.bytes.count == 16 && digest.bytes.first == 0x01 && digest.bytes.last == 0x01)
    }
}
