import ConvCalcCore
/// How positions outside the input are filled (PyTorch `padding_mode`).
public enum PaddingMode: String, CaseIterable, Sendable {
    /// Zeros.
    case zeros
    /// Mirror without repeating the edge: `[a b c]` padded by 2 is `c b | a b c | b a`. Needs padding < size.
    case reflect
    /// Repeat the edge value.
    case replicate
    /// Wrap around: `[a b c]` padded by 1 is `c | a b c | a`. Needs padding ≤ size.
    case circular

    /// The input position that padded position `p` (in −pb ..< n + pa) reads, or nil for zeros.
    @inline(__always)
    public func source(_ p: Int, _ n: Int) -> Int? {
        if p >= 0 && p < n { return p }
        switch self {
        case .zeros: return nil
        case .reflect: return p < 0 ? -p : 2 * (n - 1) - p
        case .replicate: return p < 0 ? 0 : n - 1
        case .circular: return p < 0 ? p + n : p - n
        }
    }
}

/// What `convcalc run` computes: geometry and options of one 2-D convolution.
public struct ConvolutionSpec: Sendable {
    public var stride: DimSize = DimSize(1)
    public var dilation: DimSize = DimSize(1)
    public var padding: Padding = .zero
    public var outputPadding: DimSize = DimSize(0)
    /// True convolution (kernel turned by 180°), as MATLAB `conv2` and SciPy `convolve2d`.
    public var flip = false
    /// Transposed convolution, as PyTorch `conv_transpose2d`.
    public var transposed = false
    public var paddingMode = PaddingMode.zeros
    /// Groups: output channel o reads the input channels of its group (depthwise when g = Cin).
    public var groups = 1

    public init() {}
}

/// A convolution that cannot run on these operands.
public enum ConvolutionError: UserFacingError, Equatable {
    /// The padding mode cannot fill this padding (`noun`: rows or columns of the input).
    case paddingTooWide(PaddingMode, padding: Int, size: Int, noun: String)
    /// A transposed convolution pads with zeros only.
    case transposedNeedsZeros
    /// The groups do not divide the input channels.
    case groupsDivideInput(channels: Int, groups: Int)
    /// The kernel's output channels are not a multiple of the groups.
    case groupsDivideOutput(channels: Int, groups: Int)
    /// A forward kernel's blocks are not a multiple of Cin/g.
    case kernelBlocks(blocks: Int, inputChannels: Int, groups: Int)
    /// One bias value per output channel.
    case biasCount(values: Int, outputChannels: Int)
    /// Kernel blocks that do not fit the channels, worded without naming options.
    case channels(String)
    case tooLarge(what: String, count: Int, limit: Int = Convolution.elementLimit)
    /// More direct multiply–adds than `Convolution.workLimit`; `fourier`: whether FFT could run it.
    case tooMuchWork(multiplyAdds: Double, fourier: Bool)
    /// The values rule the FFT out (`reason`) and the direct method would take more than
    /// `Convolution.workLimit` multiply–adds.
    case fourierCannot(reason: String, multiplyAdds: Double)
    /// An input or kernel with no matrix at all.
    case emptyOperand

    public var message: String { message(.options) }

    public func message(_ vocabulary: Vocabulary) -> String {
        let mode = Subject.convolution(.paddingMode).name(vocabulary)
        let groups = { (g: Int) in Subject.key(.g).setting("\(g)", vocabulary) }
        let plural = { (n: Int, noun: String) in "\(n) \(noun)\(n == 1 ? "" : "s")" }
        switch self {
        case .emptyOperand: return "no numbers: the matrix is empty"
        case let .paddingTooWide(kind, padding, size, noun):
            let limit = kind == .reflect ? "smaller than" : "no larger than"
            return "\(mode) \(kind.rawValue) needs padding \(limit) the input (PyTorch): padding \(padding) but the input has \(size) \(noun)"
        case .transposedNeedsZeros:
            return "\(Subject.convolution(.transposed).name(vocabulary)) allows \(mode) zeros only (PyTorch ConvTranspose supports only zeros)"
        case let .groupsDivideInput(channels, g):
            return "the input has \(plural(channels, "channel")), not divisible by \(groups(g)); the groups must divide the input channels"
        case let .groupsDivideOutput(channels, g):
            return "the kernel gives \(plural(channels, "output channel")), not divisible by \(groups(g)); give Cout × (Cin/g) blocks with Cout a multiple of the groups"
        case let .kernelBlocks(blocks, inputChannels, g):
            return "the kernel is Cout × (Cin/g) blocks (PyTorch Conv layout); \(plural(blocks, "block")) \(blocks == 1 ? "is" : "are") not a multiple of "
                + "Cin/g = \(inputChannels / g) (\(plural(inputChannels, "input channel")), \(plural(g, "group")))"
        case let .biasCount(values, outputChannels):
            return "\(Subject.convolution(.biasVector).name(vocabulary)) has \(plural(values, "value")) but there \(outputChannels == 1 ? "is" : "are") \(plural(outputChannels, "output channel")); give one value per output channel, or one value for all"
        case let .channels(text): return text
        case let .tooLarge(what, count, limit):
            let bytes = limit * MemoryLayout<Double>.size
            let size = bytes >= 1 << 30 ? "\(bytes >> 30) GiB" : "\(bytes >> 20) MiB"
            return "the \(what) would have \(count) values, more than the \(limit) (2^\(limit.trailingZeroBitCount) doubles, \(size)) convcalc run allows"
        case let .tooMuchWork(multiplyAdds, fourier):
            let advice = fourier
                ? "use \(Subject.convolution(.method).name(vocabulary)) auto or fft, which take this one in far fewer steps"
                : "the FFT method cannot take it either (a kernel extent above 4096, or a dimension past 2^24 positions); use a smaller input, padding or kernel"
            return "the direct method would take \(Int(multiplyAdds.rounded())) multiply–adds, more than the 2^38 (\(Int(Convolution.workLimit))) convcalc run does, some seconds of work; \(advice)"
        case let .fourierCannot(reason, multiplyAdds):
            return "the FFT cannot compute this convolution as the direct sum does: \(reason); the direct method would take \(Int(multiplyAdds.rounded())) multiply–adds, more than the 2^38 (\(Int(Convolution.workLimit))) convcalc run does; use a smaller input or kernel"
        }
    }
    public var category: ErrorCategory { .data }
}

/// The convolution itself (SPEC §6).
///
/// Cross-correlation by default, as PyTorch and TensorFlow `conv2d`:
/// `y[i, j] = Σ_{a, b} xp[i·sh + a·dh, j·sw + b·dw] · k[a, b]`, xp the padded input.
/// `flip` correlates with the kernel turned by 180°: true convolution (MATLAB `conv2`).
/// `transposed` scatters instead, as PyTorch `conv_transpose2d`:
/// `y[i·s + t·d − pb] += x[i] · k[t]` per dimension, the output cropped by the padding and
/// extended by the output padding.
///
/// Output sizes and padding follow `LayerGeometry` (the same arithmetic as `convcalc shape`).
/// When the input and the kernel are single rows, the convolution is 1-D: a single-number
/// padding then pads the two ends of the row only (as `conv1d`), and a transposed run's
/// single stride and output padding act along the row only (as `conv_transpose1d`).
public enum Convolution {
    /// The most values an output (or a padded row or column index) may have.
    public static let elementLimit = 1 << 28
    /// The most multiply–adds the direct method is given (2^38: seconds on a current CPU, so
    /// a mistaken size never looks like a hang).
    public static let workLimit = 0x1p38

    /// How many of 0, step, 2·step, … lie below `limit` (⌈limit/step⌉ for limit ≥ 0, else 0),
    /// without the overflow of `(limit + step − 1)/step` when the step is huge.
    @inline(__always)
    static func countUpTo(_ limit: Int, step: Int) -> Int {
        limit <= 0 ? 0 : (limit - 1) / step + 1
    }

    public static func run(_ input: Matrix, _ kernel: Matrix, _ spec: ConvolutionSpec, execution: Execution = Execution()) throws -> Matrix {
        try run([input], kernel: [kernel], spec: spec, execution: execution)[0]
    }

    /// y[i, j] = Σ xp[i·sh + a·dh, j·sw + b·dw] · k[a, b], reading padding through `mode`
    /// (zeros: every tap in the padding adds 0·k[a, b], so an inf or nan weight gives nan).
    static func correlate(_ x: Matrix, _ k: Matrix, _ r: DimensionStep, _ c: DimensionStep, mode: PaddingMode) -> Matrix {
        var y = Matrix(rows: r.output, columns: c.output)
        // Source index of every padded row and column once: no per-element branching on mode.
        let rowSource = (0..<(r.input + r.pad.before + r.pad.after)).map { mode.source($0 - r.pad.before, x.rows) ?? -1 }
        let columnSource = (0..<(c.input + c.pad.before + c.pad.after)).map { mode.source($0 - c.pad.before, x.columns) ?? -1 }
        x.values.withUnsafeBufferPointer { xv in
            k.values.withUnsafeBufferPointer { kv in
                y.values.withUnsafeMutableBufferPointer { yv in
                    for i in 0..<r.output {
                        for j in 0..<c.output {
                            var sum = 0.0
                            for a in 0..<k.rows {
                                let sr = rowSource[i * r.stride + a * r.dilation]
                                for b in 0..<k.columns {
                                    let sc = columnSource[j * c.stride + b * c.dilation]
                                    sum += (sr < 0 || sc < 0 ? 0 : xv[sr * x.columns + sc]) * kv[a * k.columns + b]
                                }
                            }
                            yv[i * y.columns + j] = sum
                        }
                    }
                }
            }
        }
        return y
    }

    /// y[o] += x[i]·k[t] for o = i·s + t·d − pb in each dimension (PyTorch conv_transpose2d).
    static func transposed(_ x: Matrix, _ k: Matrix, _ r: DimensionStep, _ c: DimensionStep) -> Matrix {
        var y = Matrix(rows: r.output, columns: c.output)
        x.values.withUnsafeBufferPointer { xv in
            k.values.withUnsafeBufferPointer { kv in
                y.values.withUnsafeMutableBufferPointer { yv in
                    for i in 0..<x.rows {
                        for a in 0..<k.rows {
                            let o = i * r.stride + a * r.dilation - r.pad.before
                            guard o >= 0 && o < r.output else { continue }
                            for j in 0..<x.columns {
                                let v = xv[i * x.columns + j]
                                for b in 0..<k.columns {
                                    let q = j * c.stride + b * c.dilation - c.pad.before
                                    guard q >= 0 && q < c.output else { continue }
                                    yv[o * y.columns + q] += v * kv[a * k.columns + b]
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }
}
