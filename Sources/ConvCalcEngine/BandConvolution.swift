import ConvCalcCore

/// A single-channel forward convolution computed in row bands as its input rows arrive
/// (`convcalc run` as a filter): memory proportional to the kernel's row extent times the
/// width, whatever the input's height.
///
/// Output row i reads the padded rows `P = i·sh + a·dh − pb` (a = 0 ..< kh) through the padding
/// mode (`PaddingMode.source`). A band of output rows `i0 ..< i1` needs padded rows
/// `P0 = i0·sh − pb` to `P1 = (i1 − 1)·sh + dh·(kh − 1) − pb`. It is computed by the in-memory
/// direct method (`DirectConvolution`, through `Convolution.run`) on a band matrix:
/// - zeros: the input rows `max(0, P0) ..< min(H, P1 + 1)` with the rest of `P0 ... P1` as
///   row padding, so the same kernel rows are skipped as in the whole run;
/// - reflect, replicate, circular: the rows `P0 ... P1` written out (each the input row its
///   mode names) and no row padding; these modes never skip a tap.
/// Columns keep the run's own padding. Every output element is therefore the same sum, in the
/// same order, of the same values as in the whole run: the bits are the same (each direct
/// output is computed on its own, so cutting the rows into bands changes nothing).
///
/// What the stream cannot know before its end decides nothing that is printed early: the
/// padding above the input must not depend on the height (`streams`), output rows are
/// computed only once every row they read has arrived, and the last rows (which read the
/// padding below, through the height) when the input ends. Circular padding below reads the
/// first rows again: they are kept.
public final class BandConvolution {
    let kernel: Matrix
    public let columns: Int
    let spec: ConvolutionSpec
    let bias: Double?
    let execution: Execution
    /// The rows' step for a tall input (stride, dilation, padding above; the padding below and
    /// the output count come from the height at the end).
    let rowStep: DimensionStep
    let columnStep: DimensionStep
    /// Rows held before the first output: past them the height cannot make the run fail
    /// (padding wider than the input, no output row).
    public let minimumRows: Int
    /// Output rows computed at a time (tests set a few).
    public internal(set) var bandRows: Int
    /// Input rows `windowStart ..< rowsRead`, row-major.
    var window: [Double] = []
    var windowStart = 0
    public private(set) var rowsRead = 0
    /// The first rows (circular padding below reads them).
    var head: [Double] = []
    var headRows = 0
    /// The next output row to compute.
    public private(set) var nextOutput = 0
    /// The rows seen at the end (nil before `finish`).
    public private(set) var height: Int?
    /// The FFT in tile rows when the run's method is the FFT (`useFourier`); nil: direct.
    var fourier: FourierRows?
    /// The next tile row to compute (FFT).
    var nextTile = 0
    /// Tile rows computed at a time (FFT; tests set one).
    public internal(set) var tilesPerBand = 1

    /// Whether `spec` can run as a stream: forward, one group, and padding above the input
    /// that does not depend on its height (explicit, valid, full, or same with row stride 1;
    /// circular padding above reads the last rows, so it is not streamed).
    public static func streams(_ spec: ConvolutionSpec, kernelRows: Int) -> Bool {
        guard !spec.transposed, spec.groups == 1 else { return false }
        let rowStride = spec.stride.values.first ?? 1
        if spec.padding == .same && rowStride != 1 { return false }
        if spec.paddingMode == .circular {
            guard let step = try? probeSteps(spec, kernelRows: kernelRows, kernelColumns: 1, columns: 1 << 12) else { return false }
            return step.0.pad.before == 0
        }
        return true
    }

    /// Row and column steps for a tall input (2^20 rows), to read the padding from.
    static func probeSteps(_ spec: ConvolutionSpec, kernelRows: Int, kernelColumns: Int, columns: Int) throws -> (DimensionStep, DimensionStep) {
        try Convolution.steps(rows: 1 << 20, columns: columns, kernelRows: kernelRows, kernelColumns: kernelColumns, spec: spec)
    }

    /// - Throws: the errors of the whole run that do not depend on the height (a kernel
    ///   wider than the padded width, padding wider than the columns allow).
    public init(kernel: Matrix, columns: Int, spec: ConvolutionSpec, bias: Double?, execution: Execution) throws {
        (self.kernel, self.columns, self.spec, self.bias) = (kernel, columns, spec, bias)
        self.execution = Execution(level: execution.level, threads: execution.threads, method: .direct)
        (rowStep, columnStep) = try BandConvolution.probeSteps(spec, kernelRows: kernel.rows, kernelColumns: kernel.columns, columns: columns)
        let extent = rowStep.dilation * (kernel.rows - 1) + 1
        minimumRows = max(extent, rowStep.pad.before + 1, rowStep.pad.after + 1, 2) + 1
        // About 2^23 multiply-adds a band (both threads busy), at most 2^20 values and 1024
        // rows a band (rows come out soon after they can).
        let taps = max(1, kernel.rows * kernel.columns)
        let perRow = max(1, columnStep.output) * taps
        bandRows = max(1, min((1 << 23) / perRow + 1, (1 << 20) / max(1, columns) + 1, 1024))
    }

    /// Runs the FFT in tile rows (`FourierRows`, as the whole run of `plan`'s width and
    /// kernel does, whatever its height) instead of the direct method; false when `plan` does
    /// not run in tile rows (the whole run then reads the input whole) or rows were given.
    public func useFourier(_ plan: ConvolutionPlan) -> Bool {
        guard rowsRead == 0, plan.inputColumns == columns, kernel.values.allSatisfy(\.isFinite),
              let rows = FourierRows(plan, block: spec.flip ? kernel.rotated180() : kernel, bias: bias, execution: execution) else { return false }
        fourier = rows
        // About 2^20 values of useful rows a band.
        tilesPerBand = max(1, min(64, (1 << 20) / max(1, rows.useful * columns)))
        return true
    }

    /// The method the bands run.
    public var method: ConvolutionMethod { fourier == nil ? .direct : .fft }

    /// The last input row tile rows `tiles` read (FFT).
    func lastRow(_ tiles: Range<Int>, _ fourier: FourierRows) -> Int {
        fourier.paddedRows(tiles).upperBound - 1 - rowStep.pad.before
    }

    /// The padded rows output rows `band` read: `P0 ... P1`.
    func padded(_ band: Range<Int>) -> ClosedRange<Int> {
        let extent = rowStep.dilation * (kernel.rows - 1) + 1
        return (band.lowerBound * rowStep.stride - rowStep.pad.before)...((band.upperBound - 1) * rowStep.stride + extent - 1 - rowStep.pad.before)
    }

    /// Adds `count` rows (`count · columns` values) and hands every band now complete to
    /// `emit`, in order; false as soon as `emit` returns false.
    public func append(_ values: UnsafeBufferPointer<Double>, rows count: Int, emit: (Matrix) throws -> Bool) throws -> Bool {
        window.append(contentsOf: values.prefix(count * columns))
        rowsRead += count
        guard rowsRead >= minimumRows else { return true }
        if headRows == 0 && spec.paddingMode == .circular && rowStep.pad.after > 0 {
            headRows = rowStep.pad.after
            head = Array(window[0..<(headRows * columns)])   // nothing is dropped before the first band
        }
        if let fourier {
            while lastRow(nextTile..<(nextTile + tilesPerBand), fourier) < rowsRead {
                let band = try computeTiles(nextTile..<(nextTile + tilesPerBand), height: nil, outputRows: Int.max)
                nextTile += tilesPerBand
                guard try emitPieces(band, emit) else { return false }
            }
        }
        while fourier == nil, padded(nextOutput..<(nextOutput + bandRows)).upperBound < rowsRead {
            let band = try compute(nextOutput..<(nextOutput + bandRows), height: nil)
            nextOutput += bandRows
            guard try emit(band) else { return false }
        }
        trim()
        return true
    }

    /// The input has ended: the remaining output rows, in bands, to `emit`.
    ///
    /// - Throws: the whole run's errors that depend on the height (only when fewer than
    ///   `minimumRows` rows came).
    public func finish(emit: (Matrix) throws -> Bool) throws -> Bool {
        height = rowsRead
        let (rows, _) = try Convolution.steps(rows: rowsRead, columns: columns, kernelRows: kernel.rows, kernelColumns: kernel.columns, spec: spec)
        if let fourier {
            let total = fourier.tileRows(outputRows: rows.output)
            while nextTile < total {
                let end = min(total, nextTile + tilesPerBand)
                let band = try computeTiles(nextTile..<end, height: rowsRead, outputRows: rows.output)
                nextTile = end
                guard try emitPieces(band, emit) else { return false }
            }
            return true
        }
        while nextOutput < rows.output {
            let end = min(rows.output, nextOutput + bandRows)
            let band = try compute(nextOutput..<end, height: rowsRead)
            nextOutput = end
            guard try emit(band) else { return false }
        }
        return true
    }

    /// Drops the rows no later output reads: below the first row of the next band (row 0
    /// while the padding above reads rows), keeping the last `pa + 1` (the padding below
    /// reads them through the height).
    func trim() {
        let first = fourier.map { $0.paddedRows(nextTile..<(nextTile + 1)).lowerBound - rowStep.pad.before }
            ?? padded(nextOutput..<(nextOutput + 1)).lowerBound
        let keep = max(0, min(first, rowsRead - rowStep.pad.after - 1))
        let drop = keep - windowStart
        // Moved only when half the window can go: each row is moved about once.
        guard drop > 0, drop * 2 >= rowsRead - windowStart else { return }
        window.removeFirst(drop * columns)
        windowStart = keep
    }

    /// Input row `r` (known to be held).
    func row(_ r: Int) throws -> ArraySlice<Double> {
        if r >= windowStart && r < rowsRead { return window[((r - windowStart) * columns)..<((r - windowStart + 1) * columns)] }
        if r >= 0 && r < headRows { return head[(r * columns)..<((r + 1) * columns)] }
        throw BandError.rowNotHeld(r)
    }

    /// A band of FFT outputs (a tile row can be hundreds of rows) handed on in pieces of about
    /// 2^18 values, so the printed text of a piece stays small.
    func emitPieces(_ band: Matrix, _ emit: (Matrix) throws -> Bool) throws -> Bool {
        let step = max(1, (1 << 18) / max(1, band.columns))
        guard band.rows > step else { return try emit(band) }
        var start = 0
        while start < band.rows {
            let end = min(band.rows, start + step)
            let piece = Matrix(rows: end - start, columns: band.columns, values: Array(band.values[(start * band.columns)..<(end * band.columns)]))
            guard try emit(piece) else { return false }
            start = end
        }
        return true
    }

    /// Tile rows `tiles` (FFT) from the rows held; `height` nil while the input goes on (the
    /// rows they read have all come), `outputRows` the output's height once known.
    func computeTiles(_ tiles: Range<Int>, height: Int?, outputRows: Int) throws -> Matrix {
        guard let fourier else { throw BandError.bandShape }
        let end = height.map { rowStep.pad.before + $0 + rowStep.pad.after } ?? Int.max
        let count = min(fourier.firstOutput(tiles.upperBound), outputRows) - fourier.firstOutput(tiles.lowerBound)
        var out = [Double](repeating: 0, count: max(0, count) * columnStep.output)
        try window.withUnsafeBufferPointer { held in
            try head.withUnsafeBufferPointer { first in
                var pointers: [UnsafePointer<Double>?] = []
                for p in fourier.paddedRows(tiles) {
                    guard p < end, let r = spec.paddingMode.source(p - rowStep.pad.before, height ?? Int.max) else {
                        pointers.append(nil)
                        continue
                    }
                    if r >= windowStart && r < rowsRead, let base = held.baseAddress {
                        pointers.append(base + (r - windowStart) * columns)
                    } else if r >= 0 && r < headRows, let base = first.baseAddress {
                        pointers.append(base + r * columns)
                    } else {
                        throw BandError.rowNotHeld(r)
                    }
                }
                try out.withUnsafeMutableBufferPointer { target in
                    try pointers.withUnsafeBufferPointer {
                        try fourier.compute(tiles: tiles, rows: $0.baseAddress!, outputRows: outputRows, into: target.baseAddress!)
                    }
                }
            }
        }
        return Matrix(rows: max(0, count), columns: columnStep.output, values: out)
    }

    /// A row not held when a band needs it (a mistake in the band plan; never expected).
    public enum BandError: Error, Equatable { case rowNotHeld(Int), bandShape }

    /// Output rows `band`, from the rows held; `height` nil while the input goes on.
    public func compute(_ band: Range<Int>, height: Int?) throws -> Matrix {
        let span = padded(band)
        let limit = height ?? Int.max
        var values: [Double] = []
        var pads = PadPair(0, 0)
        if spec.paddingMode == .zeros {
            let (first, end) = (max(0, span.lowerBound), min(limit, span.upperBound + 1))
            guard first < end else {
                // Every tap in the padding: the sum is its start, as the direct method writes it
                // (nan with an inf or nan weight: 0·inf, `markPaddingProducts`).
                return Matrix(rows: band.count, columns: columnStep.output, repeating: kernel.values.allSatisfy(\.isFinite) ? bias ?? 0 : .nan)
            }
            values.reserveCapacity((end - first) * columns)
            for r in first..<end { values.append(contentsOf: try row(r)) }
            pads = PadPair(first - span.lowerBound, span.upperBound + 1 - end)
        } else {
            values.reserveCapacity(span.count * columns)
            for p in span {
                guard let r = spec.paddingMode.source(p, limit) else { throw BandError.rowNotHeld(p) }
                values.append(contentsOf: try row(r))
            }
        }
        var bandSpec = spec
        bandSpec.padding = .explicit([pads, columnStep.pad])
        let rows = values.count / max(1, columns)
        let plan = try ConvolutionPlan(inputChannels: 1, rows: rows, columns: columns, kernelBlocks: 1, kernelRows: kernel.rows,
                                       kernelColumns: kernel.columns, stated: nil, biasCount: bias == nil ? nil : 1, spec: bandSpec)
        guard plan.outputRows == band.count, plan.outputColumns == columnStep.output else { throw BandError.bandShape }
        return Convolution.run(plan, [Matrix(rows: rows, columns: columns, values: values)], [kernel], bias: bias.map { [$0] },
                               execution: execution)[0]
    }
}

extension Convolution {
    /// Inputs taller than this many rows choose `auto`'s method as if they had
    /// `choiceRows(columns:)` rows (one channel, one kernel block, forward), so a stream knows
    /// the choice once it has read this many rows, and the whole run makes the same one.
    public static let choiceHeight = 128

    /// The height `auto` weighs a tall single-channel input at: 4096 rows (fewer for a width
    /// past 2^15, keeping the output within the limits), at least `choiceHeight + 1`.
    static func choiceRows(columns: Int) -> Int {
        max(choiceHeight + 1, min(4096, (1 << 27) / max(1, columns)))
    }

    /// The plan `auto` weighs: `plan` itself, or for a tall single-channel forward input the
    /// same plan `choiceRows` high (nil when that plan cannot be made: the direct method).
    static func choicePlan(_ plan: ConvolutionPlan) -> ConvolutionPlan? {
        guard plan.inputChannels == 1, plan.blockCount == 1, !plan.spec.transposed, plan.inputRows > choiceHeight else { return plan }
        return try? ConvolutionPlan(inputChannels: 1, rows: choiceRows(columns: plan.inputColumns), columns: plan.inputColumns,
                                    kernelBlocks: 1, kernelRows: plan.kernelRows, kernelColumns: plan.kernelColumns,
                                    stated: nil, biasCount: nil, spec: plan.spec)
    }
}
