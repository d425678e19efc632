import BlockStore
import Foundation
import PBRCore
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

    func roundTrip(_ content: [UInt8], elementSize: Int, base: [UInt8]? = nil) throws -> (size: Int, codec: ObjectCodec)
    {
        let digest = xxh3_128(content)
        let encoded = try content.withUnsafeBytes { raw in
            try base.map { base in
                try base.withUnsafeBytes { b in
                    try StoredObject.encode(
                        raw, digest: digest, elementSize: elementSize, base: (xxh3_128(base), b), level: 3)
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
        #expect(grouped.codec == .planes)
        let plain = try roundTrip(weights, elementSize: 1)
        #expect(grouped.size < plain.size)
    }

    @Test func aFineTuneCloseToItsBaseIsStoredAsItsXOR() throws {
        let base = floats(50_000, seed: 2, noise: 0.01)
        var tuned = base
        for index in stride(from: 0, to: tuned.count, by: 4) { tuned[index] ^= 0x03 }  // low mantissa bits changed
        let delta = try roundTrip(tuned, elementSize: 4, base: base)
        #expect(delta.codec == .xorPlanes)
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
        #expect(throws: StoreError.self) {
            try [UInt8](repeating: 0, count: 10).withUnsafeBytes { try StoredObject.decode($0, name: "short") }
        }
    }
}

@Suite struct PlaneCodecTests {
    /// Floats-like content: a smooth top byte (compressible), noisy low bytes.
    func content(elements: Int, width: Int, seed: UInt64) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        var bytes = [UInt8](repeating: 0, count: elements * width)
        for element in 0..<elements {
            for byte in 0..<width {
                bytes[element * width + byte] =
                    byte == width - 1 ? UInt8(60 + element % 3) : UInt8(truncatingIfNeeded: generator.next())
            }
        }
        return bytes
    }

    func encode(_ content: [UInt8], width: Int, base: [UInt8]?) throws -> [UInt8] {
        try content.withUnsafeBytes { raw in
            if let base {
                return try base.withUnsafeBytes { b in
                    try StoredObject.encode(
                        raw, digest: xxh3_128(content), elementSize: width, base: (xxh3_128(base), b), level: 1
                    ).object
                }
            }
            return try StoredObject.encode(raw, digest: xxh3_128(content), elementSize: width, base: nil, level: 1)
                .object
        }
    }

    /// Every width the vector loops special-case and two they do not, with lengths that leave tails.
    @Test(arguments: [2, 3, 4, 8])
    func roundTripsEveryWidthAndLength(width: Int) throws {
        for elements in [1, 15, 16, 17, 31, 33, 1000, 4099] {
            let base = content(elements: elements, width: width, seed: UInt64(elements))
            var tuned = base
            var generator = SplitMix64(seed: 99)
            for index in stride(from: 0, to: tuned.count, by: width) where generator.next() % 3 == 0 {
                tuned[index] ^= 0x05
            }
            let plain = try encode(base, width: width, base: nil)
            let delta = try encode(tuned, width: width, base: base)
            #expect(
                try plain.withUnsafeBytes { try StoredObject.decode($0, name: "plain") } == base, "\(width)×\(elements)"
            )
            #expect(try delta.withUnsafeBytes { try StoredObject.decode($0, name: "delta", base: base) } == tuned)
            // The plane-domain path (base given as an object) agrees with the content path.
            var viaObject = [UInt8](repeating: 0, count: tuned.count)
            try delta.withUnsafeBytes { d in
                try plain.withUnsafeBytes { b in
                    try viaObject.withUnsafeMutableBytes {
                        try StoredObject.decode(d, name: "delta", baseObject: b, baseName: "plain", into: $0)
                    }
                }
            }
            #expect(viaObject == tuned, "\(width)×\(elements)")
        }
    }

    /// Objects whose planes span several of the decoder's stripes (256 Ki elements each) and end in a partial
    /// one: plain, delta against content and delta against the base object decode to their content, and a
    /// damaged compressed plane is refused.
    @Test(arguments: [2, 4])
    func planesLongerThanAStripeRoundTrip(width: Int) throws {
        let elements = 2 * (256 << 10) + 17
        let base = content(elements: elements, width: width, seed: 31)
        var tuned = base
        for index in stride(from: width - 1, to: tuned.count, by: 7 * width) { tuned[index] ^= 0x01 }
        let plain = try encode(base, width: width, base: nil)
        let delta = try encode(tuned, width: width, base: base)
        #expect(plain[5] == ObjectCodec.planes.rawValue && delta[5] == ObjectCodec.xorPlanes.rawValue)
        #expect(try plain.withUnsafeBytes { try StoredObject.decode($0, name: "plain") } == base)
        #expect(try delta.withUnsafeBytes { try StoredObject.decode($0, name: "delta", base: base) } == tuned)
        var viaObject = [UInt8](repeating: 0, count: tuned.count)
        try delta.withUnsafeBytes { d in
            try plain.withUnsafeBytes { b in
                try viaObject.withUnsafeMutableBytes {
                    try StoredObject.decode(d, name: "delta", baseObject: b, baseName: "plain", into: $0)
                }
            }
        }
        #expect(viaObject == tuned)
        // The top plane is the compressed one; flip a byte near the end of its frame.
        let tableEnd = StoredObject.headerLength + 8 * width
        let top = (0..<8).reduce(UInt64(0)) {
            $0 | UInt64(plain[StoredObject.headerLength + 8 * (width - 1) + $1]) << (8 * UInt64($1))
        }
        #expect(top & 1 == 1)
        var damaged = plain
        damaged[tableEnd + (width - 1) * elements + Int(top >> 1) - 6] ^= 0x5A
        #expect(throws: StoreError.self) { try damaged.withUnsafeBytes { try StoredObject.decode($0, name: "x") } }
    }

    @Test func planesHoldByteIOfEveryElementInOrder() throws {
        let elements = 5000
        let bytes = content(elements: elements, width: 4, seed: 7)
        let object = try encode(bytes, width: 4, base: nil)
        #expect(object[5] == ObjectCodec.planes.rawValue && object[6] == 4)
        // The three noisy planes are kept raw, so the payload shows them as they are.
        let table = (0..<4).map { plane in
            (0..<8).reduce(UInt64(0)) {
                $0 | UInt64(object[StoredObject.headerLength + 8 * plane + $1]) << (8 * UInt64($1))
            }
        }
        #expect(
            table[0] == UInt64(elements) << 1 && table[1] == UInt64(elements) << 1 && table[2] == UInt64(elements) << 1)
        #expect(table[3] & 1 == 1 && table[3] >> 1 < UInt64(elements) / 4)
        let start = StoredObject.headerLength + 32
        for plane in 0..<3 {
            let stored = Array(object[(start + plane * elements)..<(start + (plane + 1) * elements)])
            let expected = (0..<elements).map { bytes[4 * $0 + plane] }
            #expect(stored == expected, "plane \(plane)")
        }
    }

    @Test func damagedPlaneTablesAndOldCodecsAreRefused() throws {
        let object = try encode(content(elements: 3000, width: 4, seed: 8), width: 4, base: nil)
        func refused(_ bytes: [UInt8], _ what: String) {
            #expect(throws: StoreError.self, "\(what)") {
                try bytes.withUnsafeBytes { try StoredObject.decode($0, name: "x") }
            }
        }
        var lying = object
        lying[StoredObject.headerLength + 1] ^= 0x01  // plane 0 claims 512 more bytes
        refused(lying, "length")
        var flagged = object
        flagged[StoredObject.headerLength] |= 0x01  // a raw plane marked compressed
        refused(flagged, "flag")
        refused(Array(object.dropLast()), "truncated")
        refused(object + [0], "trailing byte")
        var odd = object
        odd[8] &+= 1  // raw length no longer a multiple of the element size
        refused(odd, "raw length")
        for oldCodec: UInt8 in [1, 2] {
            var old = object
            old[5] = oldCodec
            do {
                _ = try old.withUnsafeBytes { try StoredObject.decode($0, name: "old") }
                Issue.record("codec \(oldCodec) accepted")
            } catch let error as StoreError {
                #expect(error.message.contains("pre-release"), "\(error)")
            }
        }
    }
}
