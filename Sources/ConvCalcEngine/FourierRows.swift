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
    /// The kernel's spectrum (`kernelSpectrum`): n*m real parts, then n*m imaginary parts.
    let spectrum: AlignedDoubles
    /// Per column tile: the input column its m values start at when they are m consecutive
    /// input columns (no padding), else -1 (`fill` then reads them one by one).
    let contiguousStart: [Int]
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
        spectrum = FourierRows.kernelSpectrum(plan, block, transform)
        contiguousStart = (0..<columns.tiles).map { [columns] c in
            let first = c * columns.useful
            guard first + m <= columns.source.count, columns.source[first] >= 0 else { return -1 }
            let start = columns.source[first]
            return (0..<m).allSatisfy { columns.source[first + $0] == start + $0 } ? start : -1
        }
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
            let (most, count) = survey(row, count: width, integral: &integral)
            largest = max(largest, most)
            nonFinite += count
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

    /// One row's largest finite |x| and how many of its values are inf, -inf or nan; clears
    /// `integral` at a finite value that is not an integer below 2^52. Eight lanes at a time
    /// (`largestMagnitude` at the kernel level); only a row holding inf or nan is read again
    /// value by value.
    func survey(_ row: UnsafePointer<Double>, count: Int, integral: inout Bool) -> (largest: Double, nonFinite: Int) {
        var (largest, finite) = transform.level.largestMagnitude(row, count: count)
        var nonFinite = 0
        if !finite {
            largest = 0
            for index in 0..<count {
                let x = row[index]
                if x.isFinite {
                    largest = max(largest, abs(x))
                } else {
                    nonFinite += 1
                }
            }
        }
        if integral {
            for index in 0..<count where row[index].isFinite && !(row[index] == row[index].rounded() && abs(row[index]) < 0x1p52) {
                integral = false
                break
            }
        }
        return (largest, nonFinite)
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

    /// The kernel's spectrum in the order `transformPairs` multiplies by it: K(a, b) (dilated)
    /// at ((-a) mod n, (-b) mod m), scaled by 1/(n*m), transformed down the columns, then
    /// along the rows 8 at a time (`fourierRowStrips`: n/8 strips of m x 8 values).
    static func kernelSpectrum(_ plan: ConvolutionPlan, _ k: Matrix, _ transform: FourierConvolution.TileTransform) -> AlignedDoubles {
        let (n, m, natural) = (transform.n, transform.m, transform.natural)
        let spectrum = AlignedDoubles(count: 2 * n * m)
        let tile = AlignedDoubles(count: 2 * n * natural + 16 * m)
        let scale = 1 / Double(n * m)
        let (re, im, buffer) = (tile.pointer, tile.pointer + n * natural, tile.pointer + 2 * n * natural)
        for a in 0..<k.rows {
            for b in 0..<k.columns {
                let u = (n - (a * plan.rowStep.dilation) % n) % n, v = (m - (b * plan.columnStep.dilation) % m) % m
                re[u * natural + v] = k[a, b] * scale
            }
        }
        transform.level.fourierColumns(re: re, im: im, n: n, width: m, rowStride: natural, twiddles: transform.rowTwiddles, inverse: false)
        transform.level.fourierRowStrips(re: re, im: im, n: n, m: m, rowStride: natural, twiddles: transform.columnTwiddles,
                                         spectrumRe: spectrum.pointer, spectrumIm: spectrum.pointer + n * m, bufferRe: buffer,
                                         bufferIm: buffer + 8 * m, multiply: false)
        return spectrum
    }

    /// Pairs of tiles `(tile row k, column tiles c and c + 1)`, one as the real part and one
    /// as the imaginary part of a complex n x m tile: filled, transformed down the columns,
    /// along the rows, multiplied by the kernel's spectrum and back along the rows 8 rows at
    /// a time (`fourierRowStrips`), back down the columns, and their useful outputs copied.
    /// The buffers are 64-byte aligned (rows `natural` apart, a multiple of 8 values), so
    /// every 8-lane load reads one cache line (unaligned, the column steps took 3 times as long).
    func transformPairs(_ pairs: ArraySlice<(Int, Int, Bool)>, tiles: Range<Int>, rows: UnsafePointer<UnsafePointer<Double>?>,
                        outputRows: Int, base: Int, into out: UnsafeMutablePointer<Double>) {
        let (size, level, natural) = (n * transform.natural, transform.level, transform.natural)
        let buffers = AlignedDoubles(count: 2 * size + 16 * m)
        let (re, im, buffer) = (buffers.pointer, buffers.pointer + size, buffers.pointer + 2 * size)
        let (kr, ki) = (spectrum.pointer, spectrum.pointer + n * m)
        for (k, c, finiteOnly) in pairs {
            let tileRows = rows + k * useful
            fill(re, rows: tileRows, column: c, finiteOnly: finiteOnly)
            if c + 1 < columns.tiles {
                fill(im, rows: tileRows, column: c + 1, finiteOnly: finiteOnly)
            } else {
                im.update(repeating: 0, count: size)
            }
            level.fourierColumns(re: re, im: im, n: n, width: m, rowStride: natural, twiddles: transform.rowTwiddles, inverse: false)
            level.fourierRowStrips(re: re, im: im, n: n, m: m, rowStride: natural, twiddles: transform.columnTwiddles,
                                   spectrumRe: kr, spectrumIm: ki, bufferRe: buffer, bufferIm: buffer + 8 * m, multiply: true)
            level.fourierColumns(re: re, im: im, n: n, width: m, rowStride: natural, twiddles: transform.rowTwiddles, inverse: true)
            let t = tiles.lowerBound + k
            extract(re, tile: t, column: c, outputRows: outputRows, into: out, base: base)
            if c + 1 < columns.tiles { extract(im, tile: t, column: c + 1, outputRows: outputRows, into: out, base: base) }
        }
        withExtendedLifetime(buffers) {}
    }

    /// Writes column tile c of a tile row (`rows[u]`, E's rows) into an n x m block (rows
    /// `natural` apart); `finiteOnly`: inf, -inf and nan as 0.
    func fill(_ tile: UnsafeMutablePointer<Double>, rows: UnsafePointer<UnsafePointer<Double>?>, column c: Int, finiteOnly: Bool) {
        let stride = transform.natural
        let v0 = c * columns.useful
        let start = contiguousStart[c]
        columns.source.withUnsafeBufferPointer { sources in
            for u in 0..<n {
                let row = tile + u * stride
                guard let inputRow = rows[u] else {
                    row.update(repeating: 0, count: m)
                    continue
                }
                if start >= 0 {
                    row.update(from: inputRow + start, count: m)
                    if finiteOnly {
                        for v in 0..<m where !row[v].isFinite { row[v] = 0 }
                    }
                } else {
                    FourierConvolution.fillRow(row, from: inputRow, sources: sources, first: v0, count: m, finiteOnly: finiteOnly)
                }
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
            if columns.stride == 1 {
                for j in v0..<v1 { outRow[j] = start + zRow[j - v0] }
                i += 1
                continue
            }
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

/// Doubles in 64-byte aligned memory (a cache line; `fourierColumns` loads 8 at a time),
/// zero-filled, freed with the object.
final class AlignedDoubles: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Double>
    let count: Int

    init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 8, alignment: 64)
        pointer = raw.initializeMemory(as: Double.self, repeating: 0, count: count)
    }

    deinit { pointer.deallocate() }
}
