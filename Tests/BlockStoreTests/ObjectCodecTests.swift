import BlockStore
import Foundation
import TestSupport
import Testing
import XXHash

@Suite struct ObjectCodecTests {
    func floats(_ count: Int, seed: UInt64, noise: Float = 0) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        let values = (0..<count).map { index -> Float in
            Float(sin(Double(index) * 0.01)) * 0.05 + noise * Float(Int(generator.next() % 2001) - 1000) / 1000
        }
        return values.withUnsafeBytes { Array($0) }
    }

    func roundTrip(_ content: [UInt8], elementSize: Int, base: [UInt8]? = nil) throws -> (size: Int, codec: ObjectCodec) {
        let digest = xxh3_128(content)
        let encoded = try content.withUnsafeBytes { raw in
            try base.map { base in
                try base.withUnsafeBytes { b in
                    try StoredObject.encode(raw, digest: digest, elementSize: elementSize, base: (xxh3_128(base), b), level: 3)
                }
            } ?? StoredObject.encode(raw, digest: digest, elementSize: elementSize, base: nil, level: 3)
        }
        let decoded = try encoded.object.withUnsafeBytes { try StoredObject.decode($0, name: "test", base: base) }
        #expect(decoded == content)
        return (encoded.object.count, encoded.codec)
    }

    @Test func byteGroupingBeatsPlainZstdOnFloats() throws {
        let weights = floats(100_000, seed: 1, noise: 0.01)
        let grouped = try roundTrip(weights, elementSize: 4)
        #expect(grouped.codec == .byteGroupedZstd)
        let plain = try roundTrip(weights, elementSize: 1)
        #expect(grouped.size < plain.size)
    }

    @Test func aFineTuneCloseToItsBaseIsStoredAsItsXOR() throws {
        let base = floats(50_000, seed: 2, noise: 0.01)
        var tuned = base
        for index in stride(from: 0, to: tuned.count, by: 4) { tuned[index] ^= 0x03 }  // low mantissa bits changed
        let delta = try roundTrip(tuned, elementSize: 4, base: base)
        #expect(delta.codec == .xorBaseZstd)
        #expect(delta.size < tuned.count / 4)
    }

    @Test func incompressibleBytesAreStoredAsTheyAre() throws {
        var generator = SplitMix64(seed: 3)
        let noise = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let stored = try roundTrip(noise, elementSize: 1)
        #expect(stored.codec == .stored)
        #expect(stored.size == noise.count + StoredObject.headerLength)
    }

    @Test func damagedObjectsAreRefused() throws {
        let content = floats(1000, seed: 4)
        let encoded = try content.withUnsafeBytes {
            try StoredObject.encode($0, digest: xxh3_128(content), elementSize: 4, base: nil, level: 3)
        }
        for position in [0, 5, 9, 20, encoded.object.count - 1] {
            var damaged = encoded.object
            damaged[position] ^= 0x10
            #expect(throws: StoreError.self, "byte \(position)") {
                try damaged.withUnsafeBytes { try StoredObject.decode($0, name: "test") }
            }
        }
        #expect(throws: StoreError.self) { try [UInt8](repeating: 0, count: 10).withUnsafeBytes { try StoredObject.decode($0, name: "short") } }
    }
}
