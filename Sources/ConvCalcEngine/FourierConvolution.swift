#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ConvKernels
#if arch(x86_64)
import ConvKernelsAVX2
import ConvKernelsAVX512
#endif
import ConvCalcCore

/// How `convcalc run` computes the convolution.
public enum ConvolutionMethod: String, CaseIterable, Sendable {
    /// Sums of products, vectorised (`DirectConvolution`): exact order, best for small kernels.
    case direct
    /// Fast Fourier transforms over tiles (`FourierConvolution`): cost nearly flat in the kernel size.
    case fft
    /// The one estimated to be faster (`FourierConvolution.prefersFourier`).
    case auto
}

extension KernelLevel {
    @inline(__always)
    func fourierColumns(re: UnsafeMutablePointer<Double>, im: UnsafeMutablePointer<Double>, n: Int, width: Int, rowStride: Int,
                        twiddles: FourierConvolution.Twiddles, inverse: Bool) {
        twiddles.re.withUnsafeBufferPointer { tr in
            twiddles.im.withUnsafeBufferPointer { ti in
                let (a, b) = (tr.baseAddress!, ti.baseAddress!)
                switch self {
                #if arch(x86_64)
                case .avx512: ConvKernelsAVX512.fourierColumns(re: re, im: im, n: n, width: width, rowStride: rowStride, twiddleRe: a, twiddleIm: b, inverse: inverse)
                case .avx2: ConvKernelsAVX2.fourierColumns(re: re, im: im, n: n, width: width, rowStride: rowStride, twiddleRe: a, twiddleIm: b, inverse: inverse)
                #endif
                default: ConvKernels.fourierColumns(re: re, im: im, n: n, width: width, rowStride: rowStride, twiddleRe: a, twiddleIm: b, inverse: inverse)
                }
            }
        }
    }

    /// `largestMagnitude` of `ConvKernels*/FourierKernels.swift` at this level.
    @inline(__always)
    func largestMagnitude(_ values: UnsafePointer<Double>, count: Int) -> (largest: Double, finite: Bool) {
        switch self {
        #if arch(x86_64)
        case .avx512: return ConvKernelsAVX512.largestMagnitude(values, count: count)
        case .avx2: return ConvKernelsAVX2.largestMagnitude(values, count: count)
        #endif
        default: return ConvKernels.largestMagnitude(values, count: count)
        }
    }

    /// `fourierRowStrips` of `ConvKernels*/FourierKernels.swift` at this level.
    @inline(__always)
    func fourierRowStrips(re: UnsafeMutablePointer<Double>, im: UnsafeMutablePointer<Double>, n: Int, m: Int, rowStride: Int,
                          twiddles: FourierConvolution.Twiddles, spectrumRe: UnsafeMutablePointer<Double>, spectrumIm: UnsafeMutablePointer<Double>,
                          bufferRe: UnsafeMutablePointer<Double>, bufferIm: UnsafeMutablePointer<Double>, multiply: Bool) {
        twiddles.re.withUnsafeBufferPointer { tr in
            twiddles.im.withUnsafeBufferPointer { ti in
                let (a, b) = (tr.baseAddress!, ti.baseAddress!)
                switch self {
                #if arch(x86_64)
                case .avx512: ConvKernelsAVX512.fourierRowStrips(re: re, im: im, n: n, m: m, rowStride: rowStride, twiddleRe: a, twiddleIm: b, spectrumRe: spectrumRe,
                                                                 spectrumIm: spectrumIm, bufferRe: bufferRe, bufferIm: bufferIm, multiply: multiply)
                case .avx2: ConvKernelsAVX2.fourierRowStrips(re: re, im: im, n: n, m: m, rowStride: rowStride, twiddleRe: a, twiddleIm: b, spectrumRe: spectrumRe,
                                                             spectrumIm: spectrumIm, bufferRe: bufferRe, bufferIm: bufferIm, multiply: multiply)
                #endif
                default: ConvKernels.fourierRowStrips(re: re, im: im, n: n, m: m, rowStride: rowStride, twiddleRe: a, twiddleIm: b, spectrumRe: spectrumRe,
                                                      spectrumIm: spectrumIm, bufferRe: bufferRe, bufferIm: bufferIm, multiply: multiply)
                }
            }
        }
    }

    @inline(__always)
    func multiplyAccumulateSpectra(accRe: UnsafeMutablePointer<Double>, accIm: UnsafeMutablePointer<Double>,
                                   aRe: UnsafePointer<Double>, aIm: UnsafePointer<Double>,
                                   bRe: UnsafePointer<Double>, bIm: UnsafePointer<Double>, count: Int) {
        switch self {
        #if arch(x86_64)
        case .avx512: ConvKernelsAVX512.multiplyAccumulateSpectra(accRe: accRe, accIm: accIm, aRe: aRe, aIm: aIm, bRe: bRe, bIm: bIm, count: count)
        case .avx2: ConvKernelsAVX2.multiplyAccumulateSpectra(accRe: accRe, accIm: accIm, aRe: aRe, aIm: aIm, bRe: bRe, bIm: bIm, count: count)
        #endif
        default: ConvKernels.multiplyAccumulateSpectra(accRe: accRe, accIm: accIm, aRe: aRe, aIm: aIm, bRe: bRe, bIm: bIm, count: count)
        }
    }
}

/// The convolution through the discrete Fourier transform, tile by tile (overlap–save).
///
/// Every case of `run` is first written as a stride-1 correlation of an extended input E with
/// the dilated kernel: `z(u, v) = Σ_{a, b} E(u + a, v + b) · K(a, b)`.
/// - forward: E is the input padded as the padding mode says; `y(i, j) = z(i·sh, j·sw)`;
/// - transposed: E is the input with `s − 1` zeros inserted between values and offset by
///   `ke − 1 − pb`, K the kernel turned by 180°; `y = z` (PyTorch `conv_transpose2d`).
/// E is cut into `N × M` tiles (powers of two) overlapping by the kernel's extent; the
/// circular correlation of a tile with K, through FFTs, is exact on its first
/// `(N − keh + 1) × (M − kew + 1)` outputs. Two tiles travel in one complex transform (one
/// as the real part, one as the imaginary part: the kernel is real, so the results separate
/// the same way). Channels sum in the frequency domain. Results agree with the direct
/// method to rounding (about 1e-15 of the largest |E|·Σ|K|); inf, −inf and nan in the input
/// are read as 0 and their outputs summed again directly (`OperandSurvey`, `FourierPatch`).
public enum FourierConvolution {
    /// `exp(-2piik/n)` for k < n (the radix-4 steps read `w^3j`, j < n/4).
    struct Twiddles {
        let re: [Double]
        let im: [Double]
        init(_ n: Int) {
            re = (0..<max(1, n)).map { k in cos(2 * Double.pi * Double(k) / Double(n)) }
            im = (0..<max(1, n)).map { k in -sin(2 * Double.pi * Double(k) / Double(n)) }
        }
    }

    /// The stride-1 correlation that gives the output, per dimension.
    struct Axis {
        /// Dilated kernel extent `ke`.
        var extent: Int
        /// z positions needed: `0 ..< needed`; output i sits at z(i·stride).
        var needed: Int
        var stride: Int
        /// False when E would be too long to index (a huge stride or dilation): FFT not offered.
        var supported: Bool
        /// Tile length (a power of two ≥ 8 and ≥ extent) and useful outputs per tile.
        var tile = 8
        var useful: Int { tile - extent + 1 }
        var tiles: Int { tileCount(tile) }
        /// E index → input index, or −1 for a zero; length `needed + extent − 1`. Made by
        /// `makeSource()` only when the FFT runs (choosing and sizing need no more than sizes).
        var source: [Int] = []
        private let step: DimensionStep
        private let transposed: Bool
        private let mode: PaddingMode

        init(_ step: DimensionStep, kernel: Int, transposed: Bool, mode: PaddingMode) {
            (self.step, self.transposed, self.mode) = (step, transposed, mode)
            extent = step.dilation * (kernel - 1) + 1
            stride = transposed ? 1 : step.stride
            let (span, overflow) = (step.output - 1).multipliedReportingOverflow(by: stride)
            needed = transposed ? step.output : (overflow ? Int.max : span + 1)
            supported = !overflow && needed <= 1 << 24 && needed + extent - 1 <= 1 << 24
        }

        /// Fills `source`.
        mutating func makeSource() {
            let (step, mode) = (self.step, self.mode)
            if transposed {
                let offset = extent - 1 - step.pad.before
                source = (0..<(needed + extent - 1)).map { p in
                    let q = p - offset
                    guard q >= 0, q % step.stride == 0, q / step.stride < step.input else { return -1 }
                    return q / step.stride
                }
            } else {
                source = (0..<(needed + extent - 1)).map { mode.source($0 - step.pad.before, step.input) ?? -1 }
            }
        }

        /// Tiles of length `n` needed to cover the axis.
        func tileCount(_ n: Int) -> Int {
            Convolution.countUpTo(needed, step: n - extent + 1)
        }
    }

    /// Tile sizes minimising the estimated work; nil when a tile would not fit the limits.
    /// `rowLimit`: tile heights above it are left out (the smallest that fits the kernel stays).
    static func tiles(_ rows: Axis, _ columns: Axis, rowLimit: Int = 4096) -> (Int, Int, Double)? {
        guard rows.supported, columns.supported else { return nil }
        func candidates(_ axis: Axis, limit: Int = 4096) -> [Int] {
            var sizes: [Int] = []
            var n = 8
            while n <= 4096 {
                if n >= axis.extent && (n <= limit || sizes.isEmpty) { sizes.append(n) }
                if n >= axis.needed + axis.extent - 1 { break }   // one tile covers everything
                n *= 2
            }
            return sizes
        }
        var best: (Int, Int, Double)?
        for n in candidates(rows, limit: rowLimit) {
            for m in candidates(columns) {
                let tileCount = Double(rows.tileCount(n)) * Double(columns.tileCount(m))
                let points = Double(n * m)
                let work = (tileCount / 2).rounded(.up) * points * Double(n.trailingZeroBitCount + m.trailingZeroBitCount + 4) * cachePenalty(n, m)
                if best == nil || work < best!.2 { best = (n, m, work) }
            }
        }
        return best
    }

    /// How much slower a point of an n x m tile transforms when its 8-column strips (`n` rows
    /// of 128 bytes) or its 8-row strips (`m` lanes, `fourierRowStrips`) outgrow the 48 KiB L1
    /// data cache: measured per point and per log2(n*m) on one core of a 2-vCPU AVX-512 Xeon
    /// (2 MiB L2), 0.36-0.53 ns for n, m <= 256, 0.55-0.63 with n = 512, 0.72-0.89 with
    /// m = 512, 0.92 with both (512 x 512 transformed at 11 GFLOP/s, 256 x 256 at 27).
    /// In the whole pipeline (`--threads 1`, 4096^2, K 15 and 31), a tile of 256 x 256 (its
    /// 1 MiB spectrum and its 1 MiB of buffers together past the L2 cache) took 1.2-1.4 times
    /// as long per point as 128 x 128, 128 x 256 or 256 x 128: a further 1.3 from n*m = 2^16.
    static func cachePenalty(_ n: Int, _ m: Int) -> Double {
        (n * m >= 1 << 16 ? 1.3 : 1) * (n > 256 ? 1.4 : 1) * (m > 256 ? 1.8 : 1)
    }

    /// The estimated time ratio decides `auto`: direct costs a multiply–add per tap and output,
    /// FFT about `(Cin + Cout)·N·M·(log2(N·M) + 4)` per pair of N×M tiles plus
    /// `1.5·Cout·Cin/g·N·M` for the products; one FFT unit is weighed as `fourierWeight`
    /// direct multiply–adds (measured on 64² to 2048² inputs with kernels 3 to 31: the two
    /// methods break even near 17×17 kernels since the direct method blocks rows, `sumTapRows`),
    /// or as `rowsWeight` for a plan that runs in tile rows (one channel, taller than
    /// `Convolution.choiceHeight`: the two break even near K 11 to 13 there).
    public static func prefersFourier(_ plan: ConvolutionPlan) -> Bool {
        guard let work = estimate(plan) else { return false }
        let taps = Double(plan.inputsPerGroup) * Double(plan.kernelRows) * Double(plan.kernelColumns)
        let channelsOut = Double(plan.outputChannels)
        let direct = channelsOut * Double(plan.outputRows) * Double(plan.outputColumns) * (plan.spec.transposed ? taps / Double(plan.rowStep.stride * plan.columnStep.stride) : taps)
        return work * (FourierRows.applies(plan) ? rowsWeight(columns: plan.inputColumns) : fourierWeight) < direct
    }

    /// Direct multiply-adds one FFT work unit costs when the FFT runs in tile rows
    /// (`FourierRows`: one channel, taller than `Convolution.choiceHeight`), by the width W:
    /// `4.5 + 0.5*log2(W / 512)`, kept within 4.5 ... 6. Measured on a 2-vCPU AVX-512 Xeon
    /// with `--threads 1` pinned to one CPU (the other was busy; min of 9, 5 and 3 runs of
    /// allocate + compute), 'same' padding, K 5 to 31: the weights that leave `auto` within
    /// 3% of the faster method at every K were 3.5-4.5 at 512^2, 3-7 at 2048^2 and 5.5-6.5 at
    /// 4096^2 (the direct method gains on the FFT as the rows widen: its row blocks stay in
    /// cache, the FFT reads every input band twice and its tiles' spectra); FFT from K 11 at
    /// 512^2, K 13 at 2048^2 and 4096^2. (`fourierWeight`, 11, was measured with the radix-2 FFT.)
    static func rowsWeight(columns: Int) -> Double {
        min(6, max(4.5, 4.5 + 0.5 * log2(Double(max(1, columns)) / 512)))
    }

    /// FFT work units of one complex product of spectra when a run multiplies several kernel
    /// spectra (several channels): they stream from memory (64 channel pairs of 64×64 tiles
    /// are 67 MB) instead of one staying in cache. Measured against the register-blocked
    /// direct method on 64→64 3×3 56², 256→256 1×1 28², 16→16 7×7 112² and 8→8 11×11 96²
    /// (the FFT was 2–10 times slower than the product weight of 1.5 estimated).
    static let spectrumProductWeight = 15.0

    /// Direct multiply-adds one FFT work unit costs for the whole-input FFT (in tile rows:
    /// `rowsWeight`; measured; see `prefersFourier`). With the
    /// register-blocked direct method (`sumTapRows`), 2 threads, 2048 x 2048, auto's plan
    /// weighed at 4096 rows: direct 0.050 ns per multiply-add at K 15 and 0.055 at K 19 (47.5
    /// and 82.4 ms, its first touch of the output included), FFT 0.62 ns per unit at K 19
    /// (68.3 ms): 11 to 12, so direct up to K 17 and FFT from K 19 at 512 to 4096 columns
    /// (before the blocking, 5: FFT from K 11, 1.3 times slower than direct at 4096 x 4096, K 15).
    static let fourierWeight = 11.0

    /// Direct multiply–adds (as `ConvolutionPlan.directMultiplyAdds` counts them, vectorised)
    /// one multiply–add of `FourierPatch.apply` (scalar, tap by tap) costs: measured on a
    /// 2048² input with a 31×31 kernel and 100 inf, about 1.1 ns against 0.05 ns.
    static let patchWeight = 20.0

    /// How far the FFT's intermediate sums can grow over the largest finite |x|: the tile's
    /// N·M points times max(1, Cin/g·Σ|k|) times 16 (the complex pair, the products' two
    /// terms, rounding); infinity when the FFT cannot run the plan. The FFT's sums stay finite
    /// when `|x|·factor + |bias| < the largest double` (`OperandSurvey.magnitudesFit`); the
    /// direct sums then stay finite too, so on finite values the two methods agree to
    /// rounding. Beyond it the FFT could give nan or inf where the direct sum is finite (on a
    /// 100² input with a 15×15 kernel it does from |x| ≈ 1e307; the bound lets 1e300
    /// through there, not 1e306).
    static func magnitudeFactor(_ plan: ConvolutionPlan, largestKernelSum: Double) -> Double {
        guard let (n, m, _) = tileSizes(plan) else { return .infinity }
        return 16 * Double(n * m) * max(1, Double(plan.inputsPerGroup) * largestKernelSum)
    }

    /// The method that runs for these values, and for the FFT the outputs it sums again.
    ///
    /// First the sizes decide (`Convolution.method(_:_:)`). If that is the FFT: a kernel
    /// holding inf or nan, or values that could overflow the FFT's sums
    /// (`OperandSurvey.magnitudesFit`), send the run to the direct method; an input holding inf or nan keeps the FFT when
    /// summing the outputs they reach again (at `patchWeight` per multiply–add, plus the
    /// FFT's own cost for `auto`) costs less than the direct method, or when the direct
    /// method is beyond `Convolution.workLimit` and the recomputation is not.
    ///
    /// - Throws: `ConvolutionError.fourierCannot` when the values rule the FFT out and the
    ///   direct method would take more than `Convolution.workLimit` multiply–adds.
    ///
    /// A plan that runs in tile rows (`FourierRows`) keeps the FFT whenever the kernel is
    /// finite and nothing above throws: its tile rows decide for themselves (direct, patch).
    static func choose(_ plan: ConvolutionPlan, _ asked: ConvolutionMethod, _ survey: OperandSurvey) throws -> (ConvolutionMethod, FourierPatch?) {
        let choice = try chooseWhole(plan, asked, survey)
        guard Convolution.method(plan, asked) == .fft, survey.kernelIsFinite, FourierRows.applies(plan) else { return choice }
        return (.fft, nil)
    }

    /// `choose` for the whole input at once.
    static func chooseWhole(_ plan: ConvolutionPlan, _ asked: ConvolutionMethod, _ survey: OperandSurvey) throws -> (ConvolutionMethod, FourierPatch?) {
        guard Convolution.method(plan, asked) == .fft else { return (.direct, nil) }
        let direct = plan.directMultiplyAdds
        let directAllowed = direct <= Convolution.workLimit
        let reason: String
        if !survey.kernelIsFinite {
            reason = "the kernel holds inf or nan, which the FFT would spread to every output"
        } else if !survey.magnitudesFit {
            let largest = survey.largestInput.map { "input values as large as \($0)" } ?? "these values"
            reason = "\(largest) (kernel sums up to \(survey.largestKernelSum)) could overflow the FFT's intermediate sums"
        } else if survey.nonFiniteCount == 0 {
            return (.fft, nil)
        } else if let patch = survey.patch {
            let fourier = asked == .auto ? (estimate(plan) ?? .infinity) * fourierWeight : 0
            if fourier + patch.multiplyAdds * patchWeight < direct || (!directAllowed && patch.multiplyAdds <= Convolution.workLimit) {
                return (.fft, patch)
            }
            reason = "the input holds \(survey.nonFiniteCount) inf or nan values, and summing again the \(patch.positions * plan.outputsPerGroup) outputs they reach would take \(Int(patch.multiplyAdds)) multiply–adds"
        } else {
            reason = "the input holds \(survey.nonFiniteCount) inf or nan values, too many to sum again the outputs they reach"
        }
        guard directAllowed else { throw ConvolutionError.fourierCannot(reason: reason, multiplyAdds: direct) }
        return (.direct, nil)
    }

    /// Doubles the FFT buffers hold: kernel spectra, and per thread (two counted) the tiles'.
    public static func bufferValues(_ plan: ConvolutionPlan) -> Int? {
        tileSizes(plan).flatMap { bufferValues(plan, n: $0.0, m: $0.1) }
    }

    /// The tile sizes a plan runs with: `tiles` for its axes, or for a plan that runs in tile
    /// rows (`FourierRows.applies`) the sizes for the plan `auto` weighs
    /// (`Convolution.choicePlan`), which depend on the kernel, padding and width, not the height;
    /// their height at most `2^20 / W` (64 at least, or the least that holds the kernel), so a
    /// streamed run holds about 2^20 values of input rows, whatever the sizes would save (under
    /// 1% at 4096 x 4096 with 31 x 31).
    static func tileSizes(_ plan: ConvolutionPlan) -> (Int, Int, Double)? {
        if FourierRows.applies(plan), let choice = Convolution.choicePlan(plan) {
            let (rows, columns) = axes(choice)
            return tiles(rows, columns, rowLimit: max(64, (1 << 20) / max(1, plan.inputColumns)))
        }
        let (rows, columns) = axes(plan)
        return tiles(rows, columns)
    }

    static func bufferValues(_ plan: ConvolutionPlan, n: Int, m: Int) -> Int? {
        let spectra = Double(n * m) * 2 * Double(plan.blockCount + 2 * (plan.inputChannels + 3))
        return spectra < 1e18 ? Int(spectra) : nil
    }

    /// FFT work units of a plan, nil when too large for memory.
    static func estimate(_ plan: ConvolutionPlan) -> Double? {
        let (rows, columns) = axes(plan)
        guard rows.supported, columns.supported, let (n, m, _) = tileSizes(plan), let spectra = bufferValues(plan, n: n, m: m),
              spectra <= Convolution.elementLimit else { return nil }
        // In tile rows (`FourierRows`) the tiles pair within a row.
        let pairs = FourierRows.applies(plan)
            ? Double(rows.tileCount(n)) * (Double(columns.tileCount(m)) / 2).rounded(.up)
            : (Double(rows.tileCount(n)) * Double(columns.tileCount(m)) / 2).rounded(.up)
        let perChannel = pairs * Double(n * m) * Double(n.trailingZeroBitCount + m.trailingZeroBitCount + 4)
        let kernelPairs = plan.outputChannels * plan.inputsPerGroup
        let products = pairs * Double(n * m) * Double(kernelPairs) * (kernelPairs > 1 ? spectrumProductWeight : 1.5)
        return perChannel * Double(plan.inputChannels + plan.outputChannels) + products
    }

    static func axes(_ plan: ConvolutionPlan) -> (Axis, Axis) {
        (Axis(plan.rowStep, kernel: plan.kernelRows, transposed: plan.spec.transposed, mode: plan.spec.paddingMode),
         Axis(plan.columnStep, kernel: plan.kernelColumns, transposed: plan.spec.transposed, mode: plan.spec.paddingMode))
    }

    /// Whether the FFT method can run this plan within the memory limits.
    public static func fits(_ plan: ConvolutionPlan) -> Bool { estimate(plan) != nil }

    /// The 2-D transforms of one n × m tile size: rows padded by 8 values (power-of-two
    /// strides would put a column's values in one cache set); a spectrum is stored m × n.
    struct TileTransform {
        let n: Int
        let m: Int
        let natural: Int
        let turned: Int
        /// Values of one tile buffer (either layout).
        let size: Int
        let rowTwiddles: Twiddles
        let columnTwiddles: Twiddles
        let level: KernelLevel

        init(n: Int, m: Int, level: KernelLevel) {
            (self.n, self.m, self.level) = (n, m, level)
            (natural, turned) = (m + 8, n + 8)
            size = max(n * natural, m * turned)
            (rowTwiddles, columnTwiddles) = (Twiddles(n), Twiddles(m))
        }

        /// Forward 2-D transform of an n × m tile: columns, transpose, columns (spectrum m × n).
        func forward(_ re: UnsafeMutablePointer<Double>, _ im: UnsafeMutablePointer<Double>, _ scratch: UnsafeMutablePointer<Double>) {
            level.fourierColumns(re: re, im: im, n: n, width: m, rowStride: natural, twiddles: rowTwiddles, inverse: false)
            transpose(re, scratch, rows: n, columns: m, from: natural, to: turned)
            transpose(im, scratch, rows: n, columns: m, from: natural, to: turned)
            level.fourierColumns(re: re, im: im, n: m, width: n, rowStride: turned, twiddles: columnTwiddles, inverse: false)
        }

        func inverse(_ re: UnsafeMutablePointer<Double>, _ im: UnsafeMutablePointer<Double>, _ scratch: UnsafeMutablePointer<Double>) {
            level.fourierColumns(re: re, im: im, n: m, width: n, rowStride: turned, twiddles: columnTwiddles, inverse: true)
            transpose(re, scratch, rows: m, columns: n, from: turned, to: natural)
            transpose(im, scratch, rows: m, columns: n, from: turned, to: natural)
            level.fourierColumns(re: re, im: im, n: n, width: m, rowStride: natural, twiddles: rowTwiddles, inverse: true)
        }
    }

    /// - Parameters:
    ///   - kernels: the blocks, already turned by 180° for `--flip`; finite.
    ///   - finiteOnly: read inf, −inf and nan input values as 0 (their outputs are then
    ///     summed again by `FourierPatch`); false when the input is known to be finite.
    static func run(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernels: [Matrix], bias: [Double]?, execution: Execution,
                    finiteOnly: Bool = false, into outBase: UnsafeMutablePointer<Double>) {
        var (rows, columns) = axes(plan)
        let (n, m, _) = tiles(rows, columns)!
        rows.tile = n
        columns.tile = m
        rows.makeSource()
        columns.makeSource()
        let transform = TileTransform(n: n, m: m, level: execution.level)
        let (kernelRe, kernelIm) = kernelSpectra(plan, kernels, transform)
        // Output tiles, in pairs.
        let tileList = (0..<rows.tiles).flatMap { tr in (0..<columns.tiles).map { tc in (tr, tc) } }
        let pairCount = (tileList.count + 1) / 2
        let threads = pairCount < 2 ? 1 : execution.threads
        // Inputs and kernel spectra pinned for the whole run.
        Pinned.baseAddresses(input.map(\.values) + [kernelRe, kernelIm]) { pointers in
            let inputs = Array(pointers.dropLast(2))
            let spectra = (re: pointers[pointers.count - 2], im: pointers[pointers.count - 1])
            ParallelRanges.run(count: pairCount, threads: threads) { range in
                let pairs = range.map { pair in (tileList[2 * pair], 2 * pair + 1 < tileList.count ? tileList[2 * pair + 1] : nil) }
                convolve(pairs, plan, inputs: inputs, kernels: spectra, bias: bias, transform: transform, axes: (rows, columns),
                         finiteOnly: finiteOnly, into: outBase)
            }
        }
    }

    /// Kernel spectra: K(a, b) (dilated) at ((−a) mod n, (−b) mod m), scaled by 1/(n·m), one
    /// tile per block.
    static func kernelSpectra(_ plan: ConvolutionPlan, _ kernels: [Matrix], _ transform: TileTransform) -> ([Double], [Double]) {
        let (n, m, size, natural) = (transform.n, transform.m, transform.size, transform.natural)
        var kernelRe = [Double](repeating: 0, count: kernels.count * size)
        var kernelIm = [Double](repeating: 0, count: kernels.count * size)
        var scratch = [Double](repeating: 0, count: size)
        let flipForTransposed = plan.spec.transposed
        let scale = 1 / Double(n * m)
        kernelRe.withUnsafeMutableBufferPointer { kr in
            kernelIm.withUnsafeMutableBufferPointer { ki in
                scratch.withUnsafeMutableBufferPointer { scratch in
                    for (block, k) in kernels.enumerated() {
                        let re = kr.baseAddress! + block * size, im = ki.baseAddress! + block * size
                        for a in 0..<k.rows {
                            for b in 0..<k.columns {
                                let (sa, sb) = flipForTransposed ? (k.rows - 1 - a, k.columns - 1 - b) : (a, b)
                                let u = (n - (a * plan.rowStep.dilation) % n) % n, v = (m - (b * plan.columnStep.dilation) % m) % m
                                re[u * natural + v] = k[sa, sb] * scale
                            }
                        }
                        transform.forward(re, im, scratch.baseAddress!)
                    }
                }
            }
        }
        return (kernelRe, kernelIm)
    }

    /// Output tiles two at a time (one as the real part, one as the imaginary part of each
    /// transform): the inputs' spectra, multiplied by each output's kernel spectra and summed
    /// over its inputs, transformed back into the output planes.
    static func convolve(_ pairs: [((Int, Int), (Int, Int)?)], _ plan: ConvolutionPlan, inputs: [UnsafePointer<Double>],
                         kernels: (re: UnsafePointer<Double>, im: UnsafePointer<Double>), bias: [Double]?, transform: TileTransform,
                         axes: (rows: Axis, columns: Axis), finiteOnly: Bool, into outBase: UnsafeMutablePointer<Double>) {
        let (cin, size, natural) = (plan.inputChannels, transform.size, transform.natural)
        let outputPlane = plan.outputRows * plan.outputColumns
        let spectraRe = UnsafeMutablePointer<Double>.allocate(capacity: cin * size)
        let spectraIm = UnsafeMutablePointer<Double>.allocate(capacity: cin * size)
        let accRe = UnsafeMutablePointer<Double>.allocate(capacity: size)
        let accIm = UnsafeMutablePointer<Double>.allocate(capacity: size)
        let scratch = UnsafeMutablePointer<Double>.allocate(capacity: size)
        for p in [spectraRe, spectraIm] { p.initialize(repeating: 0, count: cin * size) }
        scratch.initialize(repeating: 0, count: size)
        defer { for p in [spectraRe, spectraIm, accRe, accIm, scratch] { p.deallocate() } }
        for (first, second) in pairs {
            for ch in 0..<cin {
                let re = spectraRe + ch * size, im = spectraIm + ch * size
                fill(re, stride: natural, input: inputs[ch], columns: plan.inputColumns, tile: first, rows: axes.rows, columnAxis: axes.columns,
                     finiteOnly: finiteOnly)
                if let second {
                    fill(im, stride: natural, input: inputs[ch], columns: plan.inputColumns, tile: second, rows: axes.rows, columnAxis: axes.columns,
                         finiteOnly: finiteOnly)
                } else {
                    im.update(repeating: 0, count: size)
                }
                transform.forward(re, im, scratch)
            }
            for o in 0..<plan.outputChannels {
                accRe.update(repeating: 0, count: size)
                accIm.update(repeating: 0, count: size)
                for ch in plan.inputs(of: o) {
                    let block = plan.block(input: ch, output: o)!
                    transform.level.multiplyAccumulateSpectra(accRe: accRe, accIm: accIm, aRe: spectraRe + ch * size, aIm: spectraIm + ch * size,
                                                              bRe: kernels.re + block * size, bIm: kernels.im + block * size, count: size)
                }
                transform.inverse(accRe, accIm, scratch)
                let start = bias?[o] ?? 0
                let plane = outBase + o * outputPlane
                extract(accRe, stride: natural, tile: first, rows: axes.rows, columnAxis: axes.columns, into: plane, outputColumns: plan.outputColumns, start: start)
                if let second {
                    extract(accIm, stride: natural, tile: second, rows: axes.rows, columnAxis: axes.columns, into: plane, outputColumns: plan.outputColumns, start: start)
                }
            }
        }
    }

    /// When every input, weight and bias is an integer: a bound on any output's magnitude.
    /// `finiteOnly`: inf, −inf and nan input values count as the 0 the FFT reads for them
    /// (their outputs are summed again afterwards). An inf, −inf or nan bias makes its own
    /// channel inf, −inf or nan, which rounding leaves as they are: the other channels are
    /// still integers.
    static func integerBound(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernels: [Matrix], bias: [Double]?, finiteOnly: Bool = false) -> Double? {
        func integral(_ x: Double) -> Bool { x == x.rounded() && abs(x) < 0x1p52 }
        guard kernels.allSatisfy({ $0.values.allSatisfy(integral) }), (bias ?? []).allSatisfy({ integral($0) || !$0.isFinite }),
              input.allSatisfy({ $0.values.allSatisfy { integral($0) || (finiteOnly && !$0.isFinite) } }) else { return nil }
        let largestInput = input.map { $0.values.reduce(0) { $1.isFinite ? max($0, abs($1)) : $0 } }.max() ?? 0
        let largestKernelSum = kernels.map { $0.values.map(abs).reduce(0, +) }.max() ?? 0
        return largestInput * largestKernelSum * Double(plan.inputsPerGroup) + (bias ?? []).reduce(0) { $1.isFinite ? max($0, abs($1)) : $0 }
    }

    /// Writes tile `(tr, tc)` of E (zeros outside the input) into an n × m block;
    /// `finiteOnly`: inf, −inf and nan as 0 too.
    static func fill(_ tile: UnsafeMutablePointer<Double>, stride: Int, input: UnsafePointer<Double>, columns width: Int,
                     tile position: (Int, Int), rows: Axis, columnAxis: Axis, finiteOnly: Bool) {
        let (n, m) = (rows.tile, columnAxis.tile)
        let u0 = position.0 * rows.useful, v0 = position.1 * columnAxis.useful
        for u in 0..<n {
            let row = tile + u * stride
            let p = u0 + u
            let sr = p < rows.source.count ? rows.source[p] : -1
            guard sr >= 0 else {
                row.update(repeating: 0, count: m)
                continue
            }
            columnAxis.source.withUnsafeBufferPointer { sources in
                fillRow(row, from: input + sr * width, sources: sources, first: v0, count: m, finiteOnly: finiteOnly)
            }
        }
    }

    /// One row of a tile: `row[v]` is input column `sources[first + v]` of `inputRow`, 0 where
    /// that is -1 (padding) or past the sources; `finiteOnly`: inf, -inf and nan as 0 too.
    @inline(__always)
    static func fillRow(_ row: UnsafeMutablePointer<Double>, from inputRow: UnsafePointer<Double>, sources: UnsafeBufferPointer<Int>,
                        first v0: Int, count m: Int, finiteOnly: Bool) {
        for v in 0..<m {
            let q = v0 + v
            let sc = q < sources.count ? sources[q] : -1
            row[v] = sc >= 0 ? inputRow[sc] : 0
        }
        if finiteOnly {
            for v in 0..<m where !row[v].isFinite { row[v] = 0 }
        }
    }

    /// Copies the useful outputs of a tile (z positions that are output positions) out.
    static func extract(_ z: UnsafeMutablePointer<Double>, stride m: Int, tile position: (Int, Int), rows: Axis, columnAxis: Axis,
                        into plane: UnsafeMutablePointer<Double>, outputColumns: Int, start: Double) {
        let u0 = position.0 * rows.useful, v0 = position.1 * columnAxis.useful
        let u1 = min(u0 + rows.useful, rows.needed), v1 = min(v0 + columnAxis.useful, columnAxis.needed)
        var i = Convolution.countUpTo(u0, step: rows.stride)
        while i * rows.stride < u1 {
            let zRow = z + (i * rows.stride - u0) * m
            let outRow = plane + i * outputColumns
            var j = Convolution.countUpTo(v0, step: columnAxis.stride)
            while j * columnAxis.stride < v1 {
                outRow[j] = start + zRow[j * columnAxis.stride - v0]
                j += 1
            }
            i += 1
        }
    }

    /// Transposes a rows × columns block (rows `from` apart) in place through `scratch`; the
    /// result's rows are `to` apart.
    static func transpose(_ a: UnsafeMutablePointer<Double>, _ scratch: UnsafeMutablePointer<Double>, rows: Int, columns: Int, from: Int, to: Int) {
        let block = 8
        var r0 = 0
        while r0 < rows {
            var c0 = 0
            while c0 < columns {
                for r in r0..<min(r0 + block, rows) {
                    for c in c0..<min(c0 + block, columns) { scratch[c * to + r] = a[r * from + c] }
                }
                c0 += block
            }
            r0 += block
        }
        a.update(from: scratch, count: columns * to)
    }
}

/// What the operands' values hold that decides whether the FFT may run, and which outputs it
/// must leave to the direct sum: found in one pass over the input, before the run.
///
/// The FFT mixes every value of a tile into every output of the tile, so one inf or nan would
/// turn a whole tile into nan. The FFT therefore reads non-finite input values as 0, and the
/// outputs whose window reads one are summed again afterwards, tap by tap in the direct
/// method's order (`FourierPatch`); those outputs are always inf, −inf or nan, and they come
/// out exactly as the direct method gives them. A non-finite kernel value reaches every
/// output: the direct method runs. Finite values so large that the FFT's intermediate sums
/// could overflow (`FourierConvolution.magnitudeFactor`) also send the run to the direct method.
public struct OperandSurvey: Sendable {
    /// Per input channel, the positions `row·W + column` of its inf, −inf and nan values,
    /// ascending; nil when there are more than `OperandSurvey.recordLimit` in all.
    public let nonFinite: [[Int]]?
    /// How many input values are inf, −inf or nan.
    public let nonFiniteCount: Int
    /// Whether the FFT's sums stay finite for these values (`FourierConvolution.magnitudeFactor`).
    public let magnitudesFit: Bool
    /// The largest magnitude of a finite input value, when the scan measured it (when it met
    /// inf, nan or a value beyond the FFT's bound); nil otherwise.
    public let largestInput: Double?
    /// Whether every kernel value is finite.
    public let kernelIsFinite: Bool
    /// The largest Σ|k| of a kernel block (finite values).
    public let largestKernelSum: Double
    /// The largest magnitude of a finite bias value.
    public let largestBias: Double
    /// The outputs to sum again after the FFT; nil when the input is finite, the kernel is
    /// not, the FFT cannot run this plan, or marking them would pass `FourierPatch.markLimit`.
    let patch: FourierPatch?

    /// Non-finite positions recorded at most (beyond, the direct method runs): a sixteenth
    /// of the input values, and at least 2^16.
    static func recordLimit(_ values: Int) -> Int { max(1 << 16, values / 16) }

    /// Surveys the operands of `plan`: the kernel and bias first, then the input in one pass
    /// (on `threads` threads from 2^20 values).
    public init(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernel: [Matrix], bias: [Double]?, threads: Int = 1) {
        kernelIsFinite = kernel.allSatisfy { $0.values.allSatisfy(\.isFinite) }
        largestKernelSum = kernel.map { $0.values.reduce(0) { $1.isFinite ? $0 + abs($1) : $0 } }.max() ?? 0
        largestBias = (bias ?? []).reduce(0) { $1.isFinite ? max($0, abs($1)) : $0 }
        // The input fits when |x|·factor < room; x·scale overflows about where |x| passes room/factor.
        let factor = FourierConvolution.magnitudeFactor(plan, largestKernelSum: largestKernelSum)
        let room = Double.greatestFiniteMagnitude - largestBias
        let scale = factor * (Double.greatestFiniteMagnitude / room)
        let total = input.reduce(0) { $0 + $1.values.count }
        let limit = OperandSurvey.recordLimit(total)
        var positions: [[Int]] = []
        var count = 0
        var largest: Double?
        for channel in input {
            let found = channel.values.withUnsafeBufferPointer {
                OperandSurvey.scan($0, scale: scale, threads: $0.count < 1 << 20 ? 1 : threads, limit: max(0, limit - count))
            }
            positions.append(found.positions)
            count += found.count
            if let measured = found.largest { largest = max(largest ?? 0, measured) }
        }
        nonFinite = count <= limit ? positions : nil
        nonFiniteCount = count
        largestInput = largest
        magnitudesFit = (largest ?? 0) * factor < room   // false for inf and nan
        if count > 0, let nonFinite, kernelIsFinite, FourierConvolution.fits(plan) {
            patch = FourierPatch(plan, nonFinite: nonFinite)
        } else {
            patch = nil
        }
    }

    /// One channel: where its non-finite values are (up to `limit` of them) and how many, and
    /// its largest finite magnitude when some value is non-finite or `|x|·scale` overflows (nil
    /// when neither). Two lanes in four chains at a time: `x·scale − x·scale` is nan exactly
    /// for those, so a lane that met one stays nan; only a part holding one is read again
    /// value by value. As fast as the memory (1.5 ms for 2^22 values; measuring every
    /// magnitude took 2.7).
    static func scan(_ values: UnsafeBufferPointer<Double>, scale: Double, threads: Int, limit: Int) -> (largest: Double?, positions: [Int], count: Int) {
        let count = values.count
        guard let base = values.baseAddress, count > 0 else { return (nil, [], 0) }
        let parts = max(1, min(threads, count))
        let largest = UnsafeMutablePointer<Double?>.allocate(capacity: parts)
        let found = UnsafeMutablePointer<[Int]>.allocate(capacity: parts)
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: parts)
        largest.initialize(repeating: nil, count: parts)
        found.initialize(repeating: [], count: parts)
        counts.initialize(repeating: 0, count: parts)
        defer {
            largest.deinitialize(count: parts)
            largest.deallocate()
            found.deinitialize(count: parts)
            found.deallocate()
            counts.deallocate()
        }
        ParallelRanges.run(count: parts, threads: parts) { range in
            for part in range {
                let start = part * count / parts, end = (part + 1) * count / parts
                let c = SIMD2<Double>(repeating: scale)
                var b0 = SIMD2<Double>(repeating: 0), b1 = b0, b2 = b0, b3 = b0
                var m = start
                while m + 8 <= end {
                    let p = UnsafeRawPointer(base + m)
                    let v0 = p.loadUnaligned(as: SIMD2<Double>.self) * c, v1 = p.loadUnaligned(fromByteOffset: 16, as: SIMD2<Double>.self) * c
                    let v2 = p.loadUnaligned(fromByteOffset: 32, as: SIMD2<Double>.self) * c, v3 = p.loadUnaligned(fromByteOffset: 48, as: SIMD2<Double>.self) * c
                    b0 += v0 - v0; b1 += v1 - v1; b2 += v2 - v2; b3 += v3 - v3
                    m += 8
                }
                var clean = (b0 + b1 + b2 + b3).sum() == 0
                for index in m..<end where !(base[index] * scale).isFinite { clean = false }
                if clean { continue }
                // Value by value: the finite magnitudes, and the positions of the others.
                var positions: [Int] = []
                var n = 0
                var biggest = 0.0
                for index in start..<end {
                    let x = base[index]
                    if x.isFinite {
                        biggest = max(biggest, abs(x))
                    } else {
                        if n < limit { positions.append(index) }
                        n += 1
                    }
                }
                (largest[part], counts[part], found[part]) = (biggest, n, positions)
            }
        }
        var positions: [Int] = []
        var total = 0
        var biggest: Double?
        for part in 0..<parts {
            total += counts[part]
            if positions.count < limit { positions += found[part].prefix(limit - positions.count) }
            if let measured = largest[part] { biggest = max(biggest ?? 0, measured) }
        }
        return (biggest, positions, total)
    }
}

/// The outputs whose window reads a non-finite input value, per group of channels, and their
/// recomputation after the FFT: the same sum as the direct method's, tap by tap in its order
/// (`Convolution.forEachTap`: bias, then input channel, kernel row, kernel column, padding
/// zeros skipped).
struct FourierPatch: Sendable {
    /// Per group: a bit per output position `i·Wout + j` (shared by the group's output
    /// channels), or nil when no input channel of the group holds a non-finite value.
    let marks: [[UInt64]?]
    /// Output positions marked, over all groups (each stands for the group's output channels).
    let positions: Int
    /// Multiply–adds of the recomputation: positions × output channels per group × taps.
    let multiplyAdds: Double

    /// Positions marked at most, counting repeats (a bit set costs about a nanosecond).
    static let markLimit = 1 << 28

    /// Marks the outputs that read a non-finite value; nil past `markLimit`.
    init?(_ plan: ConvolutionPlan, nonFinite: [[Int]]) {
        var (rows, columns) = FourierConvolution.axes(plan)
        rows.makeSource()
        columns.makeSource()
        let width = plan.inputColumns
        var flaggedRows = [Bool](repeating: false, count: plan.inputRows)
        var flaggedColumns = [Bool](repeating: false, count: width)
        for channel in nonFinite {
            for position in channel {
                flaggedRows[position / width] = true
                flaggedColumns[position % width] = true
            }
        }
        guard let rowReach = FourierPatch.reach(rows, dilation: plan.rowStep.dilation, kernel: plan.kernelRows, flagged: flaggedRows),
              let columnReach = FourierPatch.reach(columns, dilation: plan.columnStep.dilation, kernel: plan.kernelColumns, flagged: flaggedColumns)
        else { return nil }
        let outputColumns = plan.outputColumns
        let plane = plan.outputRows * outputColumns
        var marks: [[UInt64]?] = Array(repeating: nil, count: plan.groups)
        var marked = 0, work = 0
        for group in 0..<plan.groups {
            let channels = (group * plan.inputsPerGroup)..<((group + 1) * plan.inputsPerGroup)
            guard channels.contains(where: { !nonFinite[$0].isEmpty }) else { continue }
            var bits = [UInt64](repeating: 0, count: (plane + 63) / 64)
            for channel in channels {
                for position in nonFinite[channel] {
                    guard let outRows = rowReach[position / width], let outColumns = columnReach[position % width] else { continue }
                    work += outRows.count * outColumns.count
                    if work > FourierPatch.markLimit { return nil }
                    for i in outRows {
                        for j in outColumns {
                            let index = i * outputColumns + j
                            let bit = UInt64(1) << UInt64(index & 63)
                            if bits[index >> 6] & bit == 0 {
                                bits[index >> 6] |= bit
                                marked += 1
                            }
                        }
                    }
                }
            }
            marks[group] = bits
        }
        self.marks = marks
        positions = marked
        let taps = Double(plan.inputsPerGroup) * Double(plan.kernelRows) * Double(plan.kernelColumns)
        multiplyAdds = Double(marked) * Double(plan.outputsPerGroup) * taps
    }

    /// Per flagged input index along one axis: the output indices whose window reads it.
    /// Every position p of the extended input E that reads it (the padding modes copy values
    /// into the border) reaches the outputs `i` with `i·stride = p − a·dilation`. Nil past
    /// 2^24 steps (an edge value copied into a huge replicate padding, read by a huge kernel).
    static func reach(_ axis: FourierConvolution.Axis, dilation: Int, kernel: Int, flagged: [Bool]) -> [Int: [Int]]? {
        var reach: [Int: [Int]] = [:]
        var work = 0
        for (p, s) in axis.source.enumerated() where s >= 0 && flagged[s] {
            work += kernel
            if work > 1 << 24 { return nil }
            for a in 0..<kernel {
                let u = p - a * dilation
                guard u >= 0, u < axis.needed, u % axis.stride == 0 else { continue }
                reach[s, default: []].append(u / axis.stride)
            }
        }
        for key in Array(reach.keys) { reach[key] = Array(Set(reach[key]!)).sorted() }
        return reach
    }

    /// Overwrites the marked outputs with the direct sum: `bias[o]`, then every tap that reads
    /// an input value, `+= k · x`, in the direct method's order (input channel, kernel row,
    /// kernel column). The input index each kernel row and column reads comes from
    /// `Convolution.tap`, the definition `forEachTap` uses, once per output row and column.
    func apply(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernels: [Matrix], bias: [Double]?, threads: Int,
               into outBase: UnsafeMutablePointer<Double>) {
        let outputColumns = plan.outputColumns
        let plane = plan.outputRows * outputColumns
        let (kh, kw, width) = (plan.kernelRows, plan.kernelColumns, plan.inputColumns)
        let parallel = multiplyAdds < 4e6 ? 1 : threads
        Pinned.baseAddresses(input.map(\.values) + kernels.map(\.values)) { pointers in
            let inputPointers = Array(pointers[0..<input.count]), kernelPointers = Array(pointers[input.count...])
            for (group, bits) in marks.enumerated() {
                guard let bits else { continue }
                let outputs = (group * plan.outputsPerGroup)..<((group + 1) * plan.outputsPerGroup)
                ParallelRanges.run(count: plan.outputRows, threads: parallel) { range in
                    let rowStarts = UnsafeMutablePointer<Int>.allocate(capacity: kh)   // input row · width, or −1
                    let sources = UnsafeMutablePointer<Int>.allocate(capacity: kw)     // input column, or −1
                    defer {
                        rowStarts.deallocate()
                        sources.deallocate()
                    }
                    do {
                        for i in range {
                            var index = i * outputColumns
                            let end = index + outputColumns
                            var tabled = false
                            while index < end {
                                let word = bits[index >> 6] >> UInt64(index & 63)
                                if word == 0 {
                                    index = (index | 63) + 1   // the rest of this word is clear
                                    continue
                                }
                                index += word.trailingZeroBitCount
                                guard index < end else { break }
                                if !tabled {
                                    for a in 0..<kh {
                                        rowStarts[a] = Convolution.tap(plan.rowStep, plan.spec, output: i, kernel: a, inputs: plan.inputRows).source.map { $0 * width } ?? -1
                                    }
                                    tabled = true
                                }
                                let j = index - i * outputColumns
                                for b in 0..<kw {
                                    sources[b] = Convolution.tap(plan.columnStep, plan.spec, output: j, kernel: b, inputs: width).source ?? -1
                                }
                                for o in outputs {
                                    var sum = bias?[o] ?? 0
                                    for channel in plan.inputs(of: o) {
                                        let k = kernelPointers[plan.block(input: channel, output: o)!], x = inputPointers[channel]
                                        for a in 0..<kh where rowStarts[a] >= 0 {
                                            let row = x + rowStarts[a], weights = k + a * kw
                                            for b in 0..<kw where sources[b] >= 0 { sum += weights[b] * row[sources[b]] }
                                        }
                                    }
                                    outBase[o * plane + index] = sum
                                }
                                index += 1
                            }
                        }
                    }
                }
            }
        }
    }
}
