import Foundation
import ConvCalcCore
import ConvCalcEngine

/// SplitMix64: a small seeded generator, so a random test runs the same cases every time and
/// a failing case can be run again from its seed.
public struct SeededGenerator: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The seed of the random tests: `CONVCALC_SEED` (a decimal number) when set, else a fixed
/// default, so `swift test` checks the same cases on every run.
public let testSeed: UInt64 = ProcessInfo.processInfo.environment["CONVCALC_SEED"].flatMap { UInt64($0) } ?? 20261124

/// Put in every failure message of a random test: the seed and how to run it again.
public let seedNote = "seed \(testSeed) (CONVCALC_SEED=\(testSeed) to run it again)"

/// `CONVCALC_LONG=1`: the long versions of the slowest random tests (more cases).
public let longTests = ProcessInfo.processInfo.environment["CONVCALC_LONG"] == "1"

/// A random 2-D convolution geometry of the kinds `run` serves: groups, channels, sizes,
/// kernel, stride, dilation, every padding form, and (forward) every padding mode.
public struct RandomGeometry {
    public var spec = ConvolutionSpec()
    public var groups: Int
    public var inputChannels: Int
    public var outputChannels: Int
    public var rows: Int
    public var columns: Int
    public var kernelRows: Int
    public var kernelColumns: Int

    /// Kernel blocks in PyTorch's layout: Cout × (Cin/g), transposed Cin × (Cout/g).
    public var blockCount: Int {
        spec.transposed ? inputChannels * (outputChannels / groups) : outputChannels * (inputChannels / groups)
    }

    public init(transposed: Bool, maxRows: Int, maxColumns: Int, using generator: inout SeededGenerator) {
        groups = Int.random(in: 1...2, using: &generator)
        inputChannels = groups * Int.random(in: 1...2, using: &generator)
        outputChannels = groups * Int.random(in: 1...2, using: &generator)
        rows = Int.random(in: 1...maxRows, using: &generator)
        columns = Int.random(in: 1...maxColumns, using: &generator)
        kernelRows = Int.random(in: 1...min(rows + 2, 9), using: &generator)
        kernelColumns = Int.random(in: 1...min(columns + 2, 11), using: &generator)
        spec.groups = groups
        spec.transposed = transposed
        spec.flip = Bool.random(using: &generator)
        spec.stride = DimSize([Int.random(in: 1...3, using: &generator), Int.random(in: 1...3, using: &generator)])
        spec.dilation = DimSize([Int.random(in: 1...2, using: &generator), Int.random(in: 1...3, using: &generator)])
        spec.padding = [Padding.explicit([PadPair(Int.random(in: 0...3, using: &generator), Int.random(in: 0...3, using: &generator)),
                                          PadPair(Int.random(in: 0...4, using: &generator), Int.random(in: 0...4, using: &generator))]),
                        .same, .valid, .full].randomElement(using: &generator)!
        if transposed {
            if case .explicit = spec.padding {} else { spec.padding = .zero }
        } else {
            spec.paddingMode = PaddingMode.allCases.randomElement(using: &generator)!
        }
    }
}
