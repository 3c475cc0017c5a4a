import ConvCalcCore

/// The single-channel forward FFT in rows of tiles (overlap-save in row bands): the one
/// function the whole run (`Convolution.run`) and the stream (`BandConvolution`) both call, so
/// a streamed FFT run prints the whole run's bytes in memory proportional to (N + ke)*W.
///
/// With E the padded input (row p of E is input row `mode.source(p - pb, H)`, zeros past
/// `pb + H + pa`), tile row t holds E's rows `t*U ..< t*U + N` (U = N - keh + 1 useful rows)
/// and gives the outputs i with `i*sh` in `t*U ..< (t+1)*U`. N and M depend on the kernel,
/// the padding and the width only (`FourierConvolution.tileSizes`: the sizes for the plan
/// `Convolution.choicePlan` weighs), and the tiles of a tile row are paired (real and
/// imaginary part of one transform) within that row, left to right. Everything that depends
/// on values is decided per tile row from its own N rows (`Decision`):
/// - an N-row block holding a finite |x| with `|x|*factor + |b|` past the largest double
///   (`FourierConvolution.magnitudeFactor`) is computed by the direct method;
/// - one holding inf or nan: the FFT reads them as 0 and the outputs that read one are summed
///   again tap by tap (`FourierPatch` on the band), unless that costs more than the direct
///   method on the band (`patchWeight` per multiply-add), which then runs;
/// - integer inputs, weights and bias with `max|x|*sum|k| + |b| < 2^40`: outputs rounded to
///   integers (the old whole-input rule, per tile row: as exact or more).
/// A tile row's outputs are thus a function of its N rows, the kernel, bias and width alone.
struct FourierRows {
    let n: Int
    let m: Int
    /// Useful rows per tile row: `n - extent + 1`.
    let useful: Int
    let extent: Int
    let rowStride: Int
    let padBefore: Int
    let columns: FourierConvolution.Axis
    let width: Int
    let outputColumns: Int
    let columnPad: PadPair
    /// The kernel as the FFT uses it (turned for `--flip`); the band direct runs unflipped.
    let block: Matrix
    let spec: ConvolutionSpec
    let bias: Double?
    let transform: FourierConvolution.TileTransform
    let spectrum: (re: [Double], im: [Double])
    let execution: Execution
    /// `|x|*factor < room` keeps the FFT's sums finite.
    let factor: Double
    let room: Double
    /// Sum |k| when every weight and the bias are integers (rounding allowed), else nil.
    let integerKernelSum: Double?

    /// Whether a plan runs in tile rows: one input channel, one kernel block, forward, taller
    /// than `Convolution.choiceHeight` (the height from which `auto` weighs a fixed plan).
    static func applies(_ plan: ConvolutionPlan) -> Bool {
        plan.inputChannels == 1 && plan.blockCount == 1 && !plan.spec.transposed && plan.inputRows > Convolution.choiceHeight
            && Convolution.choicePlan(plan) != nil
    }

    /// - Parameter block: the kernel as the FFT uses it (already turned by 180 degrees for `--flip`).
    /// nil when the FFT cannot run the plan or it does not run in tile rows.
    init?(_ plan: ConvolutionPlan, block: Matrix, bias: Double?, execution: Execution) {
        guard FourierRows.applies(plan), let (n, m, _) = FourierConvolution.tileSizes(plan) else { return nil }
        var (rows, columns) = FourierConvolution.axes(plan)
        columns.tile = m
        columns.makeSource()
        rows.tile = n
        (self.n, self.m, useful, extent, rowStride) = (n, m, rows.useful, rows.extent, rows.stride)
        (padBefore, self.columns, width, outputColumns, columnPad) = (plan.rowStep.pad.before, columns, plan.inputColumns, plan.outputColumns, plan.columnStep.pad)
        self.block = block
        var spec = plan.spec
        spec.flip = false
        (self.spec, self.bias, self.execution) = (spec, bias, execution)
        transform = FourierConvolution.TileTransform(n: n, m: m, level: execution.level)
        let spectra = FourierConvolution.kernelSpectra(plan, [block], transform)
        spectrum = (spectra.0, spectra.1)
        let kernelSum = block.values.reduce(0) { $0 + abs($1) }
        factor = 16 * Double(n * m) * max(1, kernelSum)
        room = Double.greatestFiniteMagnitude - abs(bias ?? 0)
        func integral(_ x: Double) -> Bool { x == x.rounded() && abs(x) < 0x1p52 }
        integerKernelSum = block.values.allSatisfy(integral) && integral(bias ?? 0) ? kernelSum : nil
    }

    /// The first output row of tile row t.
    func firstOutput(_ t: Int) -> Int { Convolution.countUpTo(t * useful, step: rowStride) }

    /// E's rows tile rows `tiles` read: `t0*U ..< (t1 - 1)*U + N`.
    func paddedRows(_ tiles: Range<Int>) -> Range<Int> {
        (tiles.lowerBound * useful)..<((tiles.upperBound - 1) * useful + n)
    }

    /// Tile rows of an output `rows` high.
    func tileRows(outputRows: Int) -> Int {
        Convolution.countUpTo((outputRows - 1) * rowStride + 1, step: useful)
    }

    /// What runs for one tile row.
    enum Decision {
        case none
        case fourier(finiteOnly: Bool, round: Bool, patch: FourierPatch?, band: BandOperand?)
        case direct
    }

    /// A band of output rows as an input matrix of its own (`BandConvolution.compute`'s form):
    /// the rows it reads, zero rows above and below as row padding.
    struct BandOperand {
        let plan: ConvolutionPlan
        let input: Matrix
    }
}

extension FourierRows {
    /// Output rows `outputs` (clipped to `outputRows`) of tile rows `tiles`, written from `out`
    /// (output row `firstOutput(tiles.lowerBound)`). `rows[p - paddedRows(tiles).lowerBound]` is
    /// E's row p, nil for zeros.
    func compute(tiles: Range<Int>, rows: UnsafePointer<UnsafePointer<Double>?>, outputRows: Int,
                 into out: UnsafeMutablePointer<Double>) throws {
        guard !tiles.isEmpty else { return }
        let base = firstOutput(tiles.lowerBound)
        let decisions = UnsafeMutablePointer<Decision>.allocate(capacity: tiles.count)
        decisions.initialize(repeating: .none, count: tiles.count)
        defer {
            decisions.deinitialize(count: tiles.count)
            decisions.deallocate()
        }
        let failure = UnsafeMutablePointer<Error?>.allocate(capacity: 1)
        failure.initialize(to: nil)
        defer { failure.deinitialize(count: 1); failure.deallocate() }
        let parallel = tiles.count < 2 ? 1 : execution.threads
        ParallelRanges.run(count: tiles.count, threads: parallel) { range in
            for k in range {
                do {
                    decisions[k] = try decide(tile: tiles.lowerBound + k, rows: rows + k * useful, outputRows: outputRows)
                } catch {
                    failure.pointee = error
                }
            }
        }
        if let error = failure.pointee { throw error }
        // The FFT: every pair of tiles of every tile row it runs for, on every thread.
        var pairs: [(Int, Int, Bool)] = []
        let perRow = columns.tiles
        for k in 0..<tiles.count {
            guard case let .fourier(finiteOnly, _, _, _) = decisions[k] else { continue }
            for c in stride(from: 0, to: perRow, by: 2) { pairs.append((k, c, finiteOnly)) }
        }
        let threads = pairs.count < 2 ? 1 : execution.threads
        ParallelRanges.run(count: pairs.count, threads: threads) { range in
            transformPairs(pairs[range], tiles: tiles, rows: rows, outputRows: outputRows, base: base, into: out)
        }
        try complete(tiles: tiles, decisions: decisions, rows: rows, outputRows: outputRows, base: base, into: out)
    }

    /// After the FFT: each tile row's rounding and patch, or its direct run.
    func complete(tiles: Range<Int>, decisions: UnsafeMutablePointer<Decision>, rows: UnsafePointer<UnsafePointer<Double>?>,
                  outputRows: Int, base: Int, into out: UnsafeMutablePointer<Double>) throws {
        for k in 0..<tiles.count {
            let t = tiles.lowerBound + k
            let outputs = firstOutput(t)..<min(firstOutput(t + 1), outputRows)
            let target = out + (outputs.lowerBound - base) * outputColumns
            switch decisions[k] {
            case .none: break
            case let .fourier(_, round, patch, band):
                if round {
                    for index in 0..<(outputs.count * outputColumns) { target[index] = target[index].rounded() + 0 }
                }
                if let patch, let band {
                    patch.apply(band.plan, [band.input], [block], bias: bias.map { [$0] }, threads: execution.threads, into: target)
                }
            case .direct:
                guard let band = try bandOperand(outputs, rows: rows + k * useful, first: t * useful) else {
                    target.update(repeating: bias ?? 0, count: outputs.count * outputColumns)
                    continue
                }
                let result = Convolution.run(band.plan, [band.input], [block], bias: bias.map { [$0] },
                                             execution: Execution(level: execution.level, threads: execution.threads, method: .direct))[0]
                result.values.withUnsafeBufferPointer { target.update(from: $0.baseAddress!, count: $0.count) }
            }
        }
    }

    /// The decision for tile row t from its N rows (`rows[u]` is E's row t*U + u).
    func decide(tile t: Int, rows: UnsafePointer<UnsafePointer<Double>?>, outputRows: Int) throws -> Decision {
        let outputs = firstOutput(t)..<min(firstOutput(t + 1), outputRows)
        guard !outputs.isEmpty else { return .none }
        var largest = 0.0, nonFinite = 0, integral = integerKernelSum != nil
        for u in 0..<n {
            guard let row = rows[u] else { continue }
            for v in 0..<width {
                let x = row[v]
                if x.isFinite {
                    largest = max(largest, abs(x))
                    if integral && !(x == x.rounded() && abs(x) < 0x1p52) { integral = false }
                } else {
                    nonFinite += 1
                }
            }
        }
        guard largest * factor < room else { return .direct }
        let round = integral && largest * integerKernelSum! + abs(bias ?? 0) < 0x1p40
        guard nonFinite > 0 else { return .fourier(finiteOnly: false, round: round, patch: nil, band: nil) }
        guard let band = try bandOperand(outputs, rows: rows, first: t * useful) else { return .direct }
        var positions: [Int] = []
        for (index, x) in band.input.values.enumerated() where !x.isFinite { positions.append(index) }
        guard let patch = FourierPatch(band.plan, nonFinite: [positions]),
              patch.multiplyAdds * FourierConvolution.patchWeight < band.plan.directMultiplyAdds else { return .direct }
        return .fourier(finiteOnly: true, round: round, patch: patch, band: band)
    }

    /// Output rows `outputs` as a band input (E's rows `outputs.lowerBound*sh ... (last)*sh +
    /// ke - 1`, `rows[p - first]` E's row p): nil rows before and after become row padding.
    /// Nil when every row is padding (each output is then its bias).
    func bandOperand(_ outputs: Range<Int>, rows: UnsafePointer<UnsafePointer<Double>?>, first: Int) throws -> BandOperand? {
        let span = (outputs.lowerBound * rowStride - first)..<((outputs.upperBound - 1) * rowStride + extent - first)
        var lower = span.lowerBound, upper = span.upperBound
        while lower < upper && rows[lower] == nil { lower += 1 }
        while upper > lower && rows[upper - 1] == nil { upper -= 1 }
        guard lower < upper else { return nil }
        var values: [Double] = []
        values.reserveCapacity((upper - lower) * width)
        for u in lower..<upper {
            if let row = rows[u] {
                values.append(contentsOf: UnsafeBufferPointer(start: row, count: width))
            } else {
                values.append(contentsOf: repeatElement(0.0, count: width))   // never: rows are contiguous
            }
        }
        var bandSpec = spec
        bandSpec.padding = .explicit([PadPair(lower - span.lowerBound, span.upperBound - upper), columnPad])
        let plan = try ConvolutionPlan(inputChannels: 1, rows: upper - lower, columns: width, kernelBlocks: 1, kernelRows: block.rows,
                                       kernelColumns: block.columns, stated: nil, biasCount: bias == nil ? nil : 1, spec: bandSpec)
        guard plan.outputRows == outputs.count, plan.outputColumns == outputColumns else { throw BandConvolution.BandError.bandShape }
        return BandOperand(plan: plan, input: Matrix(rows: upper - lower, columns: width, values: values))
    }

    /// Pairs of tiles `(tile row k, column tiles c and c + 1)`: filled, transformed,
    /// multiplied by the kernel's spectrum, transformed back, and their useful outputs copied.
    func transformPairs(_ pairs: ArraySlice<(Int, Int, Bool)>, tiles: Range<Int>, rows: UnsafePointer<UnsafePointer<Double>?>,
                        outputRows: Int, base: Int, into out: UnsafeMutablePointer<Double>) {
        let size = transform.size
        let buffers = UnsafeMutablePointer<Double>.allocate(capacity: 5 * size)
        buffers.initialize(repeating: 0, count: 5 * size)
        defer { buffers.deallocate() }
        let (re, im, accRe, accIm, scratch) = (buffers, buffers + size, buffers + 2 * size, buffers + 3 * size, buffers + 4 * size)
        spectrum.re.withUnsafeBufferPointer { kr in
            spectrum.im.withUnsafeBufferPointer { ki in
                for (k, c, finiteOnly) in pairs {
                    let tileRows = rows + k * useful
                    fill(re, rows: tileRows, column: c, finiteOnly: finiteOnly)
                    if c + 1 < columns.tiles {
                        fill(im, rows: tileRows, column: c + 1, finiteOnly: finiteOnly)
                    } else {
                        im.update(repeating: 0, count: size)
                    }
                    transform.forward(re, im, scratch)
                    accRe.update(repeating: 0, count: size)
                    accIm.update(repeating: 0, count: size)
                    transform.level.multiplyAccumulateSpectra(accRe: accRe, accIm: accIm, aRe: re, aIm: im, bRe: kr.baseAddress!,
                                                              bIm: ki.baseAddress!, count: size)
                    transform.inverse(accRe, accIm, scratch)
                    let t = tiles.lowerBound + k
                    extract(accRe, tile: t, column: c, outputRows: outputRows, into: out, base: base)
                    if c + 1 < columns.tiles { extract(accIm, tile: t, column: c + 1, outputRows: outputRows, into: out, base: base) }
                }
            }
        }
    }

    /// Writes column tile c of a tile row (`rows[u]`, E's rows) into an n x m block (rows
    /// `natural` apart); `finiteOnly`: inf, -inf and nan as 0.
    func fill(_ tile: UnsafeMutablePointer<Double>, rows: UnsafePointer<UnsafePointer<Double>?>, column c: Int, finiteOnly: Bool) {
        let stride = transform.natural
        let v0 = c * columns.useful
        columns.source.withUnsafeBufferPointer { sources in
            for u in 0..<n {
                let row = tile + u * stride
                guard let inputRow = rows[u] else {
                    row.update(repeating: 0, count: m)
                    continue
                }
                FourierConvolution.fillRow(row, from: inputRow, sources: sources, first: v0, count: m, finiteOnly: finiteOnly)
            }
        }
    }

    /// Copies the useful outputs of tile (t, c) to `out` (output row `base` first), bias added.
    func extract(_ z: UnsafeMutablePointer<Double>, tile t: Int, column c: Int, outputRows: Int, into out: UnsafeMutablePointer<Double>, base: Int) {
        let stride = transform.natural
        let start = bias ?? 0
        let u0 = t * useful, v0 = c * columns.useful
        let v1 = min(v0 + columns.useful, columns.needed)
        var i = firstOutput(t)
        let end = min(firstOutput(t + 1), outputRows)
        while i < end {
            let zRow = z + (i * rowStride - u0) * stride
            let outRow = out + (i - base) * outputColumns
            var j = Convolution.countUpTo(v0, step: columns.stride)
            while j * columns.stride < v1 {
                outRow[j] = start + zRow[j * columns.stride - v0]
                j += 1
            }
            i += 1
        }
    }

    /// The whole run: every tile row of `input` (padded as the plan says) into `out`.
    func run(_ plan: ConvolutionPlan, _ input: Matrix, into out: UnsafeMutablePointer<Double>) throws {
        let height = plan.inputRows
        let total = tileRows(outputRows: plan.outputRows)
        let padded = paddedRows(0..<total)
        let end = plan.rowStep.pad.before + height + plan.rowStep.pad.after
        try input.values.withUnsafeBufferPointer { values in
            let base = values.baseAddress!
            let pointers: [UnsafePointer<Double>?] = padded.map { p in
                guard p < end, let r = spec.paddingMode.source(p - padBefore, height) else { return nil }
                return base + r * width
            }
            try pointers.withUnsafeBufferPointer { try compute(tiles: 0..<total, rows: $0.baseAddress!, outputRows: plan.outputRows, into: out) }
        }
    }
}
