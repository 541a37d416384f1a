/// A small, fast, deterministic random number generator (SplitMix64).
///
/// Swift's `SystemRandomNumberGenerator` cannot be seeded; everything in east
/// that draws random numbers (example selection, sampling, data generation,
/// weight initialisation) takes one of these so that a run is repeatable from
/// its seed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    /// A generator for one named stream of a run, e.g. `(seed, questionIndex)`,
    /// so that a question's draws do not depend on which other questions were
    /// processed first (workers see questions in any order).
    public init(seed: UInt64, stream: UInt64) {
        var mixer = SeededGenerator(seed: seed ^ 0x9E37_79B9_7F4A_7C15)
        state = mixer.next() ^ (stream &* 0xD1B5_4A32_D192_ED03)
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform Float in [0, 1) with 24 random bits.
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// A uniform Double in [0, 1) with 53 random bits.
    public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }
}
