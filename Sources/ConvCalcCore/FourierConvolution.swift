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
/// method to rounding (about 1e-15 of the largest |E|·Σ|K|).
public enum FourierConvolution {
    /// `exp(−2πik/n)` for k < n/2.
    struct Twiddles {
        let re: [Double]
        let im: [Double]
        init(_ n: Int) {
            re = (0..<max(1, n / 2)).map { k in cos(2 * Double.pi * Double(k) / Double(n)) }
            im = (0..<max(1, n / 2)).map { k in -sin(2 * Double.pi * Double(k) / Double(n)) }
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
    static func tiles(_ rows: Axis, _ columns: Axis) -> (Int, Int, Double)? {
        guard rows.supported, columns.supported else { return nil }
        func candidates(_ axis: Axis) -> [Int] {
            var sizes: [Int] = []
            var n = 8
            while n <= 4096 {
                if n >= axis.extent { sizes.append(n) }
                if n >= axis.needed + axis.extent - 1 { break }   // one tile covers everything
                n *= 2
            }
            return sizes
        }
        var best: (Int, Int, Double)?
        for n in candidates(rows) {
            for m in candidates(columns) {
                let tileCount = Double(rows.tileCount(n)) * Double(columns.tileCount(m))
                let points = Double(n * m)
                let work = (tileCount / 2).rounded(.up) * points * Double(n.trailingZeroBitCount + m.trailingZeroBitCount + 4)
                if best == nil || work < best!.2 { best = (n, m, work) }
            }
        }
        return best
    }

    /// The estimated time ratio decides `auto`: direct costs a multiply–add per tap and output,
    /// FFT about `(Cin + Cout)·N·M·(log2(N·M) + 4)` per pair of N×M tiles plus
    /// `1.5·Cout·Cin/g·N·M` for the products; one FFT unit is weighed as `fourierWeight`
    /// direct multiply–adds (measured on 64² to 2048² inputs with kernels 3 to 31: the two
    /// methods break even near 13×13 kernels; bench/RESULTS.md).
    public static func prefersFourier(_ plan: ConvolutionPlan) -> Bool {
        guard let work = estimate(plan) else { return false }
        let taps = Double(plan.inputsPerGroup) * Double(plan.kernelRows) * Double(plan.kernelColumns)
        let channelsOut = Double(plan.outputChannels)
        let direct = channelsOut * Double(plan.outputRows) * Double(plan.outputColumns) * (plan.spec.transposed ? taps / Double(plan.rowStep.stride * plan.columnStep.stride) : taps)
        return work * fourierWeight < direct
    }

    /// Direct multiply–adds one FFT work unit costs (measured; see `prefersFourier`).
    static let fourierWeight = 5.0

    /// Doubles the FFT buffers hold: kernel spectra, and per thread (two counted) the tiles'.
    public static func bufferValues(_ plan: ConvolutionPlan) -> Int? {
        let (rows, columns) = axes(plan)
        return tiles(rows, columns).flatMap { bufferValues(plan, n: $0.0, m: $0.1) }
    }

    static func bufferValues(_ plan: ConvolutionPlan, n: Int, m: Int) -> Int? {
        let spectra = Double(n * m) * 2 * Double(plan.blockCount + 2 * (plan.inputChannels + 3))
        return spectra < 1e18 ? Int(spectra) : nil
    }

    /// FFT work units of a plan, nil when too large for memory.
    static func estimate(_ plan: ConvolutionPlan) -> Double? {
        let (rows, columns) = axes(plan)
        guard let (n, m, perChannel) = tiles(rows, columns), let spectra = bufferValues(plan, n: n, m: m),
              spectra <= Convolution.elementLimit else { return nil }
        let pairs = (Double(rows.tileCount(n)) * Double(columns.tileCount(m)) / 2).rounded(.up)
        let products = pairs * Double(n * m) * Double(plan.outputChannels * plan.inputsPerGroup) * 1.5
        return perChannel * Double(plan.inputChannels + plan.outputChannels) + products
    }

    static func axes(_ plan: ConvolutionPlan) -> (Axis, Axis) {
        (Axis(plan.rowStep, kernel: plan.kernelRows, transposed: plan.spec.transposed, mode: plan.spec.paddingMode),
         Axis(plan.columnStep, kernel: plan.kernelColumns, transposed: plan.spec.transposed, mode: plan.spec.paddingMode))
    }

    /// Whether the FFT method can run this plan within the memory limits.
    public static func fits(_ plan: ConvolutionPlan) -> Bool { estimate(plan) != nil }

    /// - Parameter kernels: the blocks, already turned by 180° for `--flip`.
    static func run(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernels: [Matrix], bias: [Double]?, execution: Execution,
                    into outBase: UnsafeMutablePointer<Double>) {
        var (rows, columns) = axes(plan)
        let (n, m, _) = tiles(rows, columns)!
        rows.tile = n
        columns.tile = m
        rows.makeSource()
        columns.makeSource()
        // Rows are padded by 8 values: power-of-two strides would put a column's values in one cache set.
        let (natural, turned) = (m + 8, n + 8)
        let size = max(n * natural, m * turned)
        let rowTwiddles = Twiddles(n), columnTwiddles = Twiddles(m)
        let level = execution.level
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
        // Kernel spectra: K(a, b) (dilated) at ((−a) mod n, (−b) mod m), scaled by 1/(n·m).
        let blocks = kernels.count
        var kernelRe = [Double](repeating: 0, count: blocks * size)
        var kernelIm = [Double](repeating: 0, count: blocks * size)
        let scratchShared = UnsafeMutablePointer<Double>.allocate(capacity: size)
        scratchShared.initialize(repeating: 0, count: size)
        defer { scratchShared.deallocate() }
        let flipForTransposed = plan.spec.transposed
        let scale = 1 / Double(n * m)
        kernelRe.withUnsafeMutableBufferPointer { kr in
            kernelIm.withUnsafeMutableBufferPointer { ki in
                for block in 0..<blocks {
                    let re = kr.baseAddress! + block * size, im = ki.baseAddress! + block * size
                    let k = kernels[block]
                    for a in 0..<k.rows {
                        for b in 0..<k.columns {
                            let (sa, sb) = flipForTransposed ? (k.rows - 1 - a, k.columns - 1 - b) : (a, b)
                            let u = (n - (a * plan.rowStep.dilation) % n) % n, v = (m - (b * plan.columnStep.dilation) % m) % m
                            re[u * natural + v] = k[sa, sb] * scale
                        }
                    }
                    forward(re, im, scratchShared)
                }
            }
        }
        // Output tiles, in pairs.
        let tileList = (0..<rows.tiles).flatMap { tr in (0..<columns.tiles).map { tc in (tr, tc) } }
        let pairCount = (tileList.count + 1) / 2
        let outputPlane = plan.outputRows * plan.outputColumns
        let threads = pairCount < 2 ? 1 : execution.threads
        let inputPointers = input.map { $0.values.withUnsafeBufferPointer { $0.baseAddress! } }
        do {
            withExtendedLifetime((input, kernelRe, kernelIm)) {
                let kRe = kernelRe.withUnsafeBufferPointer { $0.baseAddress! }
                let kIm = kernelIm.withUnsafeBufferPointer { $0.baseAddress! }
                ParallelRanges.run(count: pairCount, threads: threads) { range in
                    let cin = plan.inputChannels
                    let spectraRe = UnsafeMutablePointer<Double>.allocate(capacity: cin * size)
                    let spectraIm = UnsafeMutablePointer<Double>.allocate(capacity: cin * size)
                    let accRe = UnsafeMutablePointer<Double>.allocate(capacity: size)
                    let accIm = UnsafeMutablePointer<Double>.allocate(capacity: size)
                    let scratch = UnsafeMutablePointer<Double>.allocate(capacity: size)
                    for p in [spectraRe, spectraIm] { p.initialize(repeating: 0, count: cin * size) }
                    scratch.initialize(repeating: 0, count: size)
                    defer { for p in [spectraRe, spectraIm, accRe, accIm, scratch] { p.deallocate() } }
                    for pair in range {
                        let first = tileList[2 * pair]
                        let second: (Int, Int)? = 2 * pair + 1 < tileList.count ? tileList[2 * pair + 1] : nil
                        for ch in 0..<cin {
                            let re = spectraRe + ch * size, im = spectraIm + ch * size
                            fill(re, stride: natural, input: inputPointers[ch], columns: plan.inputColumns, tile: first, rows: rows, columnAxis: columns)
                            if let second {
                                fill(im, stride: natural, input: inputPointers[ch], columns: plan.inputColumns, tile: second, rows: rows, columnAxis: columns)
                            } else {
                                im.update(repeating: 0, count: size)
                            }
                            forward(re, im, scratch)
                        }
                        for o in 0..<plan.outputChannels {
                            accRe.update(repeating: 0, count: size)
                            accIm.update(repeating: 0, count: size)
                            for ch in plan.inputs(of: o) {
                                let block = plan.block(input: ch, output: o)!
                                level.multiplyAccumulateSpectra(accRe: accRe, accIm: accIm, aRe: spectraRe + ch * size, aIm: spectraIm + ch * size,
                                                                bRe: kRe + block * size, bIm: kIm + block * size, count: size)
                            }
                            inverse(accRe, accIm, scratch)
                            let start = bias?[o] ?? 0
                            let plane = outBase + o * outputPlane
                            extract(accRe, stride: natural, tile: first, rows: rows, columnAxis: columns, into: plane, outputColumns: plan.outputColumns, start: start)
                            if let second {
                                extract(accIm, stride: natural, tile: second, rows: rows, columnAxis: columns, into: plane, outputColumns: plan.outputColumns, start: start)
                            }
                        }
                    }
                }
            }
        }
    }

    /// When every input, weight and bias is an integer: a bound on any output's magnitude.
    static func integerBound(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernels: [Matrix], bias: [Double]?) -> Double? {
        func integral(_ values: [Double]) -> Bool { values.allSatisfy { $0 == $0.rounded() && abs($0) < 0x1p52 } }
        guard kernels.allSatisfy({ integral($0.values) }), integral(bias ?? []), input.allSatisfy({ integral($0.values) }) else { return nil }
        let largestInput = input.map { $0.values.map(abs).max() ?? 0 }.max() ?? 0
        let largestKernelSum = kernels.map { $0.values.map(abs).reduce(0, +) }.max() ?? 0
        return largestInput * largestKernelSum * Double(plan.inputsPerGroup) + (bias?.map(abs).max() ?? 0)
    }

    /// Writes tile `(tr, tc)` of E (zeros outside the input) into an n × m block.
    static func fill(_ tile: UnsafeMutablePointer<Double>, stride: Int, input: UnsafePointer<Double>, columns width: Int,
                     tile position: (Int, Int), rows: Axis, columnAxis: Axis) {
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
            let inputRow = input + sr * width
            columnAxis.source.withUnsafeBufferPointer { sources in
                for v in 0..<m {
                    let q = v0 + v
                    let sc = q < sources.count ? sources[q] : -1
                    row[v] = sc >= 0 ? inputRow[sc] : 0
                }
            }
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
