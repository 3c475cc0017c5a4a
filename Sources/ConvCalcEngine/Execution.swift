import ConvKernels
#if arch(x86_64)
import ConvKernelsAVX2
import ConvKernelsAVX512
#endif
import ConvCalcCore

/// Which compiled copy of the inner loop runs (`Sources/ConvKernels*`).
public enum KernelLevel: String, CaseIterable, Sendable {
    /// Baseline x86-64 (SSE2) or the target's default: runs on every CPU.
    case portable
    /// AVX2 with fused multiply–add (Intel Haswell, AMD Zen and later).
    case avx2
    /// AVX-512 F/CD/BW/DQ/VL (Intel Skylake-SP, AMD Zen 4 and later).
    case avx512

    /// The levels this build has (AVX copies exist on x86-64 only).
    public static var compiled: [KernelLevel] {
        #if arch(x86_64)
        return allCases
        #else
        return [.portable]
        #endif
    }

    /// The best level for a CPU with these feature flags (as `/proc/cpuinfo` spells them).
    /// Every feature the compiler may use for the target CPU must be present.
    public static func best(flags: Set<String>) -> KernelLevel {
        #if arch(x86_64)
        let haswell: Set<String> = ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "popcnt"]
        let skylakeServer = haswell.union(["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"])
        if flags.isSuperset(of: skylakeServer) { return .avx512 }
        if flags.isSuperset(of: haswell) { return .avx2 }
        #endif
        return .portable
    }

    @inline(__always)
    func sumTaps(_ out: UnsafeMutablePointer<Double>, outStride: Int, count: Int, start: Double,
                 sources: UnsafePointer<UnsafePointer<Double>>, weights: UnsafePointer<Double>, taps: Int) {
        switch self {
        #if arch(x86_64)
        case .avx512: ConvKernelsAVX512.sumTaps(out, outStride: outStride, count: count, start: start, sources: sources, weights: weights, taps: taps)
        case .avx2: ConvKernelsAVX2.sumTaps(out, outStride: outStride, count: count, start: start, sources: sources, weights: weights, taps: taps)
        #endif
        default: ConvKernels.sumTaps(out, outStride: outStride, count: count, start: start, sources: sources, weights: weights, taps: taps)
        }
    }
}

extension KernelLevel {
    /// Output rows one `sumTapRows` call computes at this level (`ConvKernels*/TapRows.swift`).
    var tapRowsPerCall: Int {
        switch self {
        #if arch(x86_64)
        case .avx512: return ConvKernelsAVX512.tapRowsPerCall
        case .avx2: return ConvKernelsAVX2.tapRowsPerCall
        #endif
        default: return ConvKernels.tapRowsPerCall
        }
    }

    /// Output columns per step of `sumTapRows` at this level.
    var tapRowColumns: Int {
        switch self {
        #if arch(x86_64)
        case .avx512: return ConvKernelsAVX512.tapRowColumns
        case .avx2: return ConvKernelsAVX2.tapRowColumns
        #endif
        default: return ConvKernels.tapRowColumns
        }
    }

    @inline(__always)
    func sumTapRows(_ out: UnsafeMutablePointer<Double>, outRowStride: Int, count: Int, start: Double, sources: UnsafePointer<UnsafePointer<Double>>,
                    kernelRows: Int, columns: UnsafePointer<Int>, kernelColumns: Int, weights: UnsafePointer<Double>, groups: Int) {
        switch self {
        #if arch(x86_64)
        case .avx512: ConvKernelsAVX512.sumTapRows(out, outRowStride: outRowStride, count: count, start: start, sources: sources, kernelRows: kernelRows,
                                                   columns: columns, kernelColumns: kernelColumns, weights: weights, groups: groups)
        case .avx2: ConvKernelsAVX2.sumTapRows(out, outRowStride: outRowStride, count: count, start: start, sources: sources, kernelRows: kernelRows,
                                               columns: columns, kernelColumns: kernelColumns, weights: weights, groups: groups)
        #endif
        default: ConvKernels.sumTapRows(out, outRowStride: outRowStride, count: count, start: start, sources: sources, kernelRows: kernelRows,
                                        columns: columns, kernelColumns: kernelColumns, weights: weights, groups: groups)
        }
    }
}

extension KernelLevel {
    /// Output channels one `accumulateChannelBlock` call computes at this level.
    var channelBlockChannels: Int {
        switch self {
        #if arch(x86_64)
        case .avx512: return ConvKernelsAVX512.channelBlockChannels
        case .avx2: return ConvKernelsAVX2.channelBlockChannels
        #endif
        default: return ConvKernels.channelBlockChannels
        }
    }

    /// Positions per output channel one `accumulateChannelBlock` call computes at this level.
    var channelBlockPositions: Int {
        switch self {
        #if arch(x86_64)
        case .avx512: return ConvKernelsAVX512.channelBlockPositions
        case .avx2: return ConvKernelsAVX2.channelBlockPositions
        #endif
        default: return ConvKernels.channelBlockPositions
        }
    }

    /// Output channels one `pointwiseTile` call computes at this level.
    var pointwiseTileChannels: Int {
        switch self {
        #if arch(x86_64)
        case .avx512: return ConvKernelsAVX512.pointwiseTileChannels
        case .avx2: return ConvKernelsAVX2.pointwiseTileChannels
        #endif
        default: return ConvKernels.pointwiseTileChannels
        }
    }

    /// Positions per output channel one `pointwiseTile` call computes at this level.
    var pointwiseTilePositions: Int {
        switch self {
        #if arch(x86_64)
        case .avx512: return ConvKernelsAVX512.pointwiseTilePositions
        case .avx2: return ConvKernelsAVX2.pointwiseTilePositions
        #endif
        default: return ConvKernels.pointwiseTilePositions
        }
    }

    @inline(__always)
    func pointwiseTile(_ outputs: UnsafePointer<UnsafeMutablePointer<Double>>, position: Int, panel: UnsafePointer<Double>,
                       weights: UnsafePointer<Double>, rowStride: Int, taps: Int, starts: UnsafePointer<Double>?) {
        switch self {
        #if arch(x86_64)
        case .avx512: ConvKernelsAVX512.pointwiseTile(outputs, position: position, panel: panel, weights: weights, rowStride: rowStride, taps: taps, starts: starts)
        case .avx2: ConvKernelsAVX2.pointwiseTile(outputs, position: position, panel: panel, weights: weights, rowStride: rowStride, taps: taps, starts: starts)
        #endif
        default: ConvKernels.pointwiseTile(outputs, position: position, panel: panel, weights: weights, rowStride: rowStride, taps: taps, starts: starts)
        }
    }

    @inline(__always)
    func accumulateChannelBlock(_ acc: UnsafeMutablePointer<Double>, sources: UnsafePointer<UnsafePointer<Double>>,
                                offset: Int, weights: UnsafePointer<Double>, rowStride: Int, taps: Int) {
        switch self {
        #if arch(x86_64)
        case .avx512: ConvKernelsAVX512.accumulateChannelBlock(acc, sources: sources, offset: offset, weights: weights, rowStride: rowStride, taps: taps)
        case .avx2: ConvKernelsAVX2.accumulateChannelBlock(acc, sources: sources, offset: offset, weights: weights, rowStride: rowStride, taps: taps)
        #endif
        default: ConvKernels.accumulateChannelBlock(acc, sources: sources, offset: offset, weights: weights, rowStride: rowStride, taps: taps)
        }
    }
}

/// How `convcalc run` computes: the kernel copy, the number of threads, the method.
public struct Execution: Sendable {
    public var level: KernelLevel
    public var threads: Int
    public var method: ConvolutionMethod

    public init(level: KernelLevel = .portable, threads: Int = 1, method: ConvolutionMethod = .auto) {
        self.level = level
        self.threads = max(1, threads)
        self.method = method
    }
}
