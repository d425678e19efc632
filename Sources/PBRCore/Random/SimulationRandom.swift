import Glibc

/// The project's seeded random numbers (simulators, learners, synthetic data): xoshiro256** (Blackman & Vigna, 2018) seeded through SplitMix64, so a run is
/// reproducible bit for bit from its seed on any machine and Swift version (the system generator is never used).
///
/// Streams: `split(_:)` derives an independent generator for a named purpose (users, channels, requests, ...), so
/// adding draws to one part of the simulation does not shift the numbers every other part sees.
public struct SimulationRandom: RandomNumberGenerator, Sendable {
    private var s0, s1, s2, s3: UInt64

    public init(seed: UInt64) {
        var mixer = SplitMix64(seed: seed)
        s0 = mixer.next()
        s1 = mixer.next()
        s2 = mixer.next()
        s3 = mixer.next()
    }

    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// A generator for one purpose, independent of this one's state: seeded from the seed's stream and the label.
    public static func stream(seed: UInt64, _ label: String) -> SimulationRandom {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a over the label
        for byte in label.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return SimulationRandom(seed: seed ^ hash)
    }

    /// Uniform in [0, 1), 53 bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in [low, high).
    public mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * unit() }

    /// Standard normal (Box–Muller; one draw per call, the second value is discarded so that every call consumes
    /// exactly two uniforms).
    public mutating func normal() -> Double {
        let u1 = max(unit(), 0x1.0p-53)
        let u2 = unit()
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }
}

// Elementary functions straight from the C library (what swift-numerics' `Double.log`/`.cos` call too), named apart
// so that the generator's outputs do not depend on which overloads a caller's imports bring in.
@inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Glibc.cos(x) }

/// SplitMix64 (Steele, Lea & Flood, 2014): the seeding generator of `SimulationRandom`, and a small fast generator
/// for reproducible test and benchmark data.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
