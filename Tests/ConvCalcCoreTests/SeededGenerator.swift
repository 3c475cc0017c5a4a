import Foundation

/// SplitMix64: a small seeded generator, so a random test runs the same cases every time and
/// a failing case can be run again from its seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The seed of the random tests: `CONVCALC_SEED` (a decimal number) when set, else a fixed
/// default, so `swift test` checks the same cases on every run.
let testSeed: UInt64 = ProcessInfo.processInfo.environment["CONVCALC_SEED"].flatMap { UInt64($0) } ?? 20261124

/// Put in every failure message of a random test: the seed and how to run it again.
let seedNote = "seed \(testSeed) (CONVCALC_SEED=\(testSeed) to run it again)"

/// `CONVCALC_LONG=1`: the long versions of the slowest random tests (more cases).
let longTests = ProcessInfo.processInfo.environment["CONVCALC_LONG"] == "1"
