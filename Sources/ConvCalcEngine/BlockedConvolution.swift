import ConvCalcCore

/// The direct method for layers with several output channels per group: register-blocked
/// across output channels and positions (`accumulateChannelBlock`), so each input value
/// loaded serves 4 or 6 output channels and each weight 16 or 32 positions.
///
/// The input is copied once, extended by its padding (zeros or the padding mode's copies),
/// as phase planes: plane (ρ, φ) of channel c holds `E_c[m·sh + ρ][n·sw + φ]`, m < Hq =
/// Hout + ⌊(kh − 1)·dh / sh⌋, n < Wq = Wout + ⌊(kw − 1)·dw / sw⌋. Output (i, j) is then
/// `b[o] + Σ_{c, a, b} k[o, c, a, b] · P_{c, ρ(a), φ(b)}[(i + ⌊a·dh/sh⌋)·Wq + j + ⌊b·dw/sw⌋]`
/// with ρ(a) = a·dh mod sh, φ(b) = b·dw mod sw: every tap is one fixed offset into a flat
/// plane, so positions run over whole rows at once ("flattened" planes; the Wq − Wout
/// columns past each row's end are computed and dropped).
///
/// Each output is the sum of its taps in DirectConvolution's order (input channel, kernel
/// row, kernel column), one fused multiply–add each, starting from the bias. Taps in the
/// padding multiply a stored zero instead of being skipped, which changes nothing when the
/// kernel is finite (w·0 = ±0 leaves a sum unchanged, and a sum that starts at +0 or a
/// non-zero bias is never −0); `applies` requires that, except where no tap reads padding
/// (`readsInputInPlace`: every tap of a stored output is then a term of the definition, and
/// an inf or nan weight gives the inf or nan the definition gives).
enum BlockedConvolution {
    /// Whether this method runs the plan: at least two output channels per group (forward:
    /// or several input channels), a finite kernel unless the input is read in place, no −0
    /// bias, and planes no larger than `planeLimit` values.
    static func applies(_ plan: ConvolutionPlan, _ kernels: [Matrix], bias: [Double]?) -> Bool {
        fits(plan, bias: bias) && (readsInputInPlace(plan) || kernels.allSatisfy { $0.values.allSatisfy(\.isFinite) })
    }

    /// `applies` but for the kernel's values (which `packedWeights` checks as it copies them).
    static func fits(_ plan: ConvolutionPlan, bias: [Double]?) -> Bool {
        if plan.spec.transposed {
            guard plan.outputsPerGroup >= 2, let planes = TransposedPlanes(plan), planes.totalValues <= planeLimit else { return false }
        } else {
            guard plan.outputsPerGroup >= 2 || plan.inputChannels > 1,
                  let planes = Geometry(plan, width: 32), planes.totalValues <= planeLimit else { return false }
        }
        return !(bias ?? []).contains { $0 == 0 && $0.sign == .minus }
    }

    /// The most values the phase planes may hold (2^27 doubles, 1 GiB): past it the row
    /// method, which reads the input in place, runs.
    static let planeLimit = 1 << 27


    /// Where the phase planes lie and where each tap reads.
    ///
    /// A 1×1 kernel reads one plane position per output position, so its planes are stored
    /// interleaved instead: block by block of `width` positions, the block of every channel
    /// in turn (`[block][channel][width]`), so one block's taps read one contiguous run, as a
    /// matrix product's packed panel (Goto and van de Geijn, "Anatomy of high-performance
    /// matrix multiplication", 2008); a tap's source then moves by C·width a block.
    struct Geometry {
        let rowPhases: [Int]
        let columnPhases: [Int]
        /// The plane row (and output row) the planes start at: 0, or a band's first row.
        let firstRow: Int
        /// Hq and Wq: a plane's rows and columns.
        let planeRows: Int
        let planeColumns: Int
        /// Values from one plane to the next: Hq·Wq and room for the last block's reads
        /// (interleaved: the block width).
        let planeStride: Int
        let channels: Int
        /// Flattened output positions computed: the last row ends at Wout.
        let positions: Int
        let totalValues: Int
        /// The positions of one block when the planes are interleaved, else nil.
        let interleavedWidth: Int?

        /// The planes of output rows `rows` (every row when nil).
        init?(_ plan: ConvolutionPlan, width: Int, rows: Range<Int>? = nil) {
            let (r, c) = (plan.rowStep, plan.columnStep)
            let outputRows = rows ?? 0..<plan.outputRows
            rowPhases = Array(Set((0..<plan.kernelRows).map { ($0 * r.dilation) % r.stride })).sorted()
            columnPhases = Array(Set((0..<plan.kernelColumns).map { ($0 * c.dilation) % c.stride })).sorted()
            firstRow = outputRows.lowerBound
            planeRows = outputRows.count + ((plan.kernelRows - 1) * r.dilation) / r.stride
            planeColumns = plan.outputColumns + ((plan.kernelColumns - 1) * c.dilation) / c.stride
            channels = plan.inputChannels
            positions = (outputRows.count - 1) * planeColumns + plan.outputColumns
            interleavedWidth = plan.kernelRows == 1 && plan.kernelColumns == 1 && plan.outputsPerGroup > 1 ? width : nil
            guard let area = try? Checked.mul(planeRows, planeColumns), area <= Convolution.elementLimit else { return nil }
            planeStride = interleavedWidth ?? area + 64
            let planes = channels * rowPhases.count * columnPhases.count
            let blocks = interleavedWidth.map { (area + $0 - 1) / $0 } ?? 1
            guard let total = try? Checked.mul(blocks, Checked.mul(planes, planeStride)) else { return nil }
            totalValues = total
        }

        /// The first value of plane (ρ slot, φ slot) of channel c (interleaved: of its first block).
        func plane(channel c: Int, rowSlot: Int, columnSlot: Int) -> Int {
            ((c * rowPhases.count + rowSlot) * columnPhases.count + columnSlot) * planeStride
        }

        /// Where tap (c, a, b) reads output position 0.
        func source(_ plan: ConvolutionPlan, channel c: Int, kernelRow a: Int, kernelColumn b: Int) -> Int {
            let (rowReach, columnReach) = (a * plan.rowStep.dilation, b * plan.columnStep.dilation)
            let rowSlot = rowPhases.firstIndex(of: rowReach % plan.rowStep.stride)!
            let columnSlot = columnPhases.firstIndex(of: columnReach % plan.columnStep.stride)!
            return plane(channel: c, rowSlot: rowSlot, columnSlot: columnSlot)
                + (rowReach / plan.rowStep.stride) * planeColumns + columnReach / plan.columnStep.stride
        }

        /// Values of a plane including the zeros after it: Hq·Wq + 64, or whole blocks.
        var paddedArea: Int {
            interleavedWidth.map { w in (planeRows * planeColumns + w - 1) / w * w } ?? planeStride
        }

        /// Writes `count` values of the plane starting at `plane` from position n on: from
        /// `values`, or zeros when nil (interleaved: cut at each block's end).
        func fill(_ out: UnsafeMutablePointer<Double>, plane: Int, at n: Int, count: Int, from values: UnsafePointer<Double>?) {
            guard let w = interleavedWidth else {
                if let values { (out + plane + n).update(from: values, count: count) } else { (out + plane + n).update(repeating: 0, count: count) }
                return
            }
            var done = 0
            while done < count {
                let position = n + done
                let piece = min(count - done, w - position % w)
                let target = out + plane + (position / w) * channels * w + position % w
                if let values { target.update(from: values + done, count: piece) } else { target.update(repeating: 0, count: piece) }
                done += piece
            }
        }
    }

    /// How the work is cut: positions in blocks of `width`, each block's input channels in
    /// chunks of `chunk` (whose reads stay in the first-level cache, and for kernels wider than
    /// 1×1 within 16 channels' pages, while every output channel block uses them), output channel blocks in `splits` parts when there are few position
    /// blocks, so both threads have work.
    struct Schedule {
        /// Positions and output channels of one kernel call (`accumulateChannelBlock`).
        let width: Int
        let channels: Int
        let taps: Int
        let tapsPerChannel: Int
        let chunk: Int
        let blocksPerGroup: Int
        let positionBlocks: Int
        let splits: Int
        var items: Int { positionBlocks * splits }

        /// - Parameters:
        ///   - tapsPerChannel: taps of one input channel (kh·kw forward; a transposed phase's).
        ///   - footprintRows: plane rows one input channel's taps read for a block.
        ///   - reach: plane columns past the block the taps read.
        init(_ plan: ConvolutionPlan, positions: Int, tapsPerChannel: Int, footprintRows: Int, reach: Int, level: KernelLevel, threads: Int) {
            (width, channels) = (level.channelBlockPositions, level.channelBlockChannels)
            self.tapsPerChannel = tapsPerChannel
            let inputsPerGroup = plan.inputsPerGroup
            taps = inputsPerGroup * tapsPerChannel
            let footprint = 8 * footprintRows * (width + reach + 1)
            chunk = max(4, min(inputsPerGroup, (24 << 10) / footprint, tapsPerChannel == 1 ? inputsPerGroup : 16))
            blocksPerGroup = (plan.outputsPerGroup + channels - 1) / channels
            positionBlocks = (positions + width - 1) / width
            let allBlocks = plan.groups * blocksPerGroup
            splits = max(1, min(allBlocks, (4 * threads + positionBlocks - 1) / positionBlocks))
        }

        /// A 1×1 kernel read in place (`runPointwise`): blocks of `pointwiseTilePositions`
        /// positions, a group's input channels in chunks of at most `pointwiseChunk`, the work
        /// never split by output channels.
        init(pointwise plan: ConvolutionPlan, level: KernelLevel) {
            (width, channels) = (level.pointwiseTilePositions, level.pointwiseTileChannels)
            (taps, tapsPerChannel, chunk) = (plan.inputsPerGroup, 1, min(plan.inputsPerGroup, BlockedConvolution.pointwiseChunk))
            blocksPerGroup = (plan.outputsPerGroup + channels - 1) / channels
            positionBlocks = (plan.outputRows * plan.outputColumns + width - 1) / width
            splits = 1
        }

        /// Block b's output channels (blocks over all groups): the first, and how many of its C
        /// are real (fewer in a group's last block, whose other rows are never stored).
        func outputs(ofBlock b: Int, _ plan: ConvolutionPlan) -> (first: Int, count: Int) {
            let local = (b % blocksPerGroup) * channels
            return ((b / blocksPerGroup) * plan.outputsPerGroup + local, min(channels, plan.outputsPerGroup - local))
        }

        /// The output channel blocks (over all groups) of split `part`.
        func blocks(_ part: Int, groups: Int) -> Range<Int> {
            let all = groups * blocksPerGroup
            return (part * all / splits)..<((part + 1) * all / splits)
        }
    }

    /// The threads a run of the plan uses (and `--timings` reports): one below 5·10^5
    /// multiply–adds, else the execution's.
    static func threadCount(_ plan: ConvolutionPlan, _ execution: Execution) -> Int {
        plan.directMultiplyAdds < 5e5 ? 1 : execution.threads
    }

    /// Runs the plan when `applies` holds, and returns whether it did (false: nothing was
    /// written), on `threadCount(plan, execution)` threads.
    ///
    /// - Parameter kernelValues: the values of `kernels`, block after block, in one array (as
    ///   a file holds them: PyTorch's layout), when the caller has them so: a forward layer's
    ///   weights are then read where they lie instead of copied (`WeightBlocks`).
    static func run(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernels: [Matrix], kernelValues: [Double]? = nil, bias: [Double]?,
                    execution: Execution, into outputs: OutputTargets) -> Bool {
        guard fits(plan, bias: bias) else { return false }
        let threads = threadCount(plan, execution)
        let kernelValues = kernelValues.flatMap { $0.count == kernels.count * (kernels.first?.values.count ?? 0) ? $0 : nil }
        if plan.spec.transposed {
            return runTransposed(plan, input, kernels, bias: bias, level: execution.level, threads: threads, into: outputs)
        }
        guard let geometry = Geometry(plan, width: execution.level.channelBlockPositions) else { return false }
        if plan.outputsPerGroup == 1 {
            return runChannelwise(plan, input, kernelValues ?? kernels.flatMap(\.values), bias: bias, level: execution.level,
                                  geometry: geometry, threads: threads, into: outputs)
        }
        // Taps in the padding multiply a stored zero: an inf or nan weight must not meet one.
        let readsNoPadding = readsInputInPlace(plan)
        let schedule = readsNoPadding
            ? Schedule(pointwise: plan, level: execution.level)
            : Schedule(plan, positions: geometry.positions, tapsPerChannel: plan.kernelRows * plan.kernelColumns,
                       footprintRows: plan.kernelRows, reach: (plan.kernelColumns - 1) * plan.columnStep.dilation / plan.columnStep.stride,
                       level: execution.level, threads: threads)
        if let values = kernelValues, readsNoPadding || allFinite(values) {
            runForward(plan, input, geometry, schedule, kernelInPlace: values, bias: bias, execution: execution, threads: threads, into: outputs)
            return true
        }
        guard let packed = kernels.withUnsafeBufferPointer({ blocks in
            packedWeights(plan, schedule, parallel: kernels.count >= 4096, threads: threads) { o, start, stride in
                // Output channel o's taps are its kernel blocks o·inner ..< (o + 1)·inner, in order.
                var (t, finite) = (0, true)
                for block in blocks[(o * plan.inner)..<((o + 1) * plan.inner)] {
                    block.values.withUnsafeBufferPointer { values in
                        for value in values {
                            finite = finite && value.isFinite
                            start[t * stride] = value
                            t += 1
                        }
                    }
                }
                return finite || readsNoPadding
            }
        }) else { return false }
        packed.withUnsafeBufferPointer { packed in
            runForward(plan, input, geometry, schedule, weights: WeightBlocks(packed: packed.baseAddress!, schedule, groups: plan.groups), bias: bias,
                       execution: execution, threads: threads, into: outputs)
        }
        return true
    }

    /// The forward layer with its weights read where they lie (`values`: PyTorch's layout,
    /// finite unless the input is read in place): no packed copy (`withWeightsInPlace`).
    static func runForward(_ plan: ConvolutionPlan, _ input: [Matrix], _ geometry: Geometry, _ schedule: Schedule, kernelInPlace values: [Double],
                           bias: [Double]?, execution: Execution, threads: Int, into outputs: OutputTargets) {
        withWeightsInPlace(values, plan, schedule) { blocks in
            runForward(plan, input, geometry, schedule, weights: blocks, bias: bias, execution: execution, threads: threads, into: outputs)
        }
    }

    /// `body` with the weight blocks of a kernel's values in place (a row of `schedule.taps`
    /// an output channel); the last block, when it has fewer than C rows, read from a copy
    /// with zero rows after (its rows would run past the array).
    static func withWeightsInPlace<R>(_ values: [Double], _ plan: ConvolutionPlan, _ schedule: Schedule, _ body: (WeightBlocks) -> R) -> R {
        let partial = plan.outputsPerGroup % schedule.channels
        let padded = partial == 0 ? [] : Array(values[(values.count - partial * schedule.taps)...])
            + [Double](repeating: 0, count: (schedule.channels - partial) * schedule.taps)
        return values.withUnsafeBufferPointer { rows in
            padded.withUnsafeBufferPointer { padded in
                body(WeightBlocks(rows: rows.baseAddress!, plan, schedule, last: partial == 0 ? nil : padded.baseAddress))
            }
        }
    }

    /// The forward layer with its weights found: the input read in place (`readsInputInPlace`) or in bands of planes.
    static func runForward(_ plan: ConvolutionPlan, _ input: [Matrix], _ geometry: Geometry, _ schedule: Schedule, weights: WeightBlocks,
                           bias: [Double]?, execution: Execution, threads: Int, into outputs: OutputTargets) {
        if readsInputInPlace(plan) {
            runPointwise(plan, input, schedule, weights: weights, bias: bias, level: execution.level, threads: threads, into: outputs)
        } else {
            runBands(plan, input, geometry, weights: weights, bias: bias, level: execution.level, threads: threads, into: outputs)
        }
    }

    /// Whether every value is finite: `x − x` is 0 for a finite x and nan for inf and nan,
    /// summed in vectors (no branch a value).
    static func allFinite(_ values: UnsafePointer<Double>, count: Int) -> Bool {
        let raw = UnsafeRawPointer(values)
        var (sum0, sum1) = (SIMD8<Double>(repeating: 0), SIMD8<Double>(repeating: 0))
        var i = 0
        while i + 16 <= count {
            let x0 = raw.loadUnaligned(fromByteOffset: 8 * i, as: SIMD8<Double>.self)
            let x1 = raw.loadUnaligned(fromByteOffset: 8 * i + 64, as: SIMD8<Double>.self)
            sum0 += x0 - x0
            sum1 += x1 - x1
            i += 16
        }
        var rest = 0.0
        while i < count {
            rest += values[i] - values[i]
            i += 1
        }
        return (sum0 + sum1).sum() + rest == 0
    }

    static func allFinite(_ values: [Double]) -> Bool {
        values.withUnsafeBufferPointer { allFinite($0.baseAddress!, count: $0.count) }
    }

    /// One flattened problem of `runBlocks` (the forward layer, or one phase of a transposed
    /// one): how it is cut, where its positions go, where each tap reads position 0, and its
    /// packed weights (`packedWeights`).
    struct Problem {
        let schedule: Schedule
        let placement: Placement
        let sources: UnsafePointer<UnsafePointer<Double>>
        let weights: WeightBlocks
    }

    /// Every block of positions and output channels of the problems, taken by the threads one
    /// at a time (`SharedItems`): the phases of a transposed layer share one pool of work.
    static func runBlocks(_ plan: ConvolutionPlan, _ problems: [Problem], bias: [Double]?, level: KernelLevel, threads: Int,
                          into outputs: OutputTargets) {
        guard let shape = problems.first?.schedule else { return }
        // Blocks of `channels` output channels, `blocksPerGroup` a group: the same in every problem.
        let starts = blockStarts(plan, shape, bias: bias)
        // Items ends[p - 1] ..< ends[p] are problem p's.
        let ends = problems.reduce(into: [Int]()) { $0.append(($0.last ?? 0) + $1.schedule.items) }
        SharedItems.run(count: ends.last!, threads: threads) { take in
            let acc = UnsafeMutablePointer<Double>.allocate(capacity: starts.count * shape.width)
            defer { acc.deallocate() }
            while let item = take() {
                let p = ends.firstIndex { item < $0 }!
                computeItem(plan, problems[p], item - (p == 0 ? 0 : ends[p - 1]), level, starts: starts, acc: acc, into: outputs)
            }
        }
    }

    /// Item `local` of a problem: one block of positions (and part of the output channel blocks).
    @inline(__always)
    static func computeItem(_ plan: ConvolutionPlan, _ problem: Problem, _ local: Int, _ level: KernelLevel, starts: [Double],
                            acc: UnsafeMutablePointer<Double>, into outputs: OutputTargets) {
        let (schedule, block) = (problem.schedule, local / problem.schedule.splits)
        let first = block * schedule.width
        computeBlock(plan, problem.placement, schedule, level, first: first, blocks: schedule.blocks(local % schedule.splits, groups: plan.groups),
                     starts: starts, sources: problem.sources, offset: first * problem.placement.offsetScale,
                     weights: problem.weights, acc: acc, into: outputs)
    }

    /// The biases each block's sums start at, per group and block of output channels (0 for
    /// the channels past a group's last).
    static func blockStarts(_ plan: ConvolutionPlan, _ schedule: Schedule, bias: [Double]?) -> [Double] {
        let perGroup = schedule.blocksPerGroup * schedule.channels
        return (0..<(plan.groups * perGroup)).map { index -> Double in
            let (g, local) = (index / perGroup, index % perGroup)
            return local < plan.outputsPerGroup ? bias?[g * plan.outputsPerGroup + local] ?? 0 : 0
        }
    }

    /// The forward layer in bands of output rows (`bandRows`), taken by the threads one at a
    /// time: a thread makes a band's planes (`Geometry` of the band's rows) in memory of its
    /// own, reused from band to band, then computes the band's blocks while the planes are in
    /// cache. The planes of the whole input are never made (at 64 channels of 56², 1.7 MB of
    /// fresh memory, whose first touch cost as much as a fifth of the arithmetic).
    static func runBands(_ plan: ConvolutionPlan, _ input: [Matrix], _ geometry: Geometry, weights: WeightBlocks, bias: [Double]?,
                         level: KernelLevel, threads: Int, into outputs: OutputTargets) {
        let rows = bandRows(plan, geometry, threads: threads)
        let width = level.channelBlockPositions
        let runs = columnRuns(plan, geometry)
        let (bands, largest) = ((plan.outputRows + rows - 1) / rows, Geometry(plan, width: width, rows: 0..<rows)!)
        let reach = (plan.kernelColumns - 1) * plan.columnStep.dilation / plan.columnStep.stride
        func schedule(_ band: Geometry) -> Schedule {
            Schedule(plan, positions: band.positions, tapsPerChannel: plan.kernelRows * plan.kernelColumns, footprintRows: plan.kernelRows,
                     reach: reach, level: level, threads: 1)
        }
        let starts = blockStarts(plan, schedule(largest), bias: bias)
        // Each thread's planes are at most the whole input's (`fits`); together at most `planeLimit`.
        let bandThreads = max(1, min(threads, planeLimit / max(1, largest.totalValues)))
        SharedItems.run(count: bands, threads: bandThreads) { take in
            let buffer = UnsafeMutablePointer<Double>.allocate(capacity: largest.totalValues + 8)
            let sources = UnsafeMutablePointer<UnsafePointer<Double>>.allocate(capacity: max(1, plan.groups * schedule(largest).taps))
            let acc = UnsafeMutablePointer<Double>.allocate(capacity: starts.count * width)
            defer { buffer.deallocate(); sources.deallocate(); acc.deallocate() }
            let planes = aligned(buffer)
            while let band = take() {
                let outputRows = (band * rows)..<min(plan.outputRows, (band + 1) * rows)
                let geometry = Geometry(plan, width: width, rows: outputRows)!
                for c in 0..<plan.inputChannels { fillPlanes(plan, input[c], slot: c, geometry, runs, into: planes) }
                let bandSchedule = schedule(geometry)
                tapSources(plan, geometry, base: UnsafePointer(planes), taps: bandSchedule.taps, into: sources)
                let placement = Placement(planeColumns: geometry.planeColumns, rows: (outputRows.lowerBound, 1, outputRows.count),
                                          columns: (0, 1, plan.outputColumns), outputColumns: plan.outputColumns,
                                          offsetScale: geometry.interleavedWidth == nil ? 1 : geometry.channels)
                let problem = Problem(schedule: bandSchedule, placement: placement, sources: sources, weights: weights)
                for item in 0..<problem.schedule.items { computeItem(plan, problem, item, level, starts: starts, acc: acc, into: outputs) }
            }
        }
    }

    /// Output rows of a band (`bandRows(_:span:rowValues:threads:)`, the kernel reaching
    /// `Hq − Hout` plane rows past a band's last).
    static func bandRows(_ plan: ConvolutionPlan, _ geometry: Geometry, threads: Int) -> Int {
        bandRows(plan.outputRows, span: geometry.planeRows - plan.outputRows,
                 rowValues: geometry.channels * geometry.rowPhases.count * geometry.columnPhases.count * geometry.planeColumns, threads: threads)
    }

    /// Rows of a band of `rows` rows whose planes hold `rowValues` values a row and `span`
    /// rows more than the band: at least `span + 1` rows (so the planes' copies are at most
    /// twice the input), a quarter of a thread's share of the rows (for a balanced split when
    /// a core is slowed), and planes of at most 1 MiB (in the second-level cache) when that
    /// allows more. Forward layers (output rows) and transposed ones (phase rows) alike.
    static func bandRows(_ rows: Int, span: Int, rowValues: Int, threads: Int) -> Int {
        let cached = (1 << 17) / max(1, rowValues) - span
        let shared = (rows + 4 * threads - 1) / (4 * threads)
        return max(1, min(rows, max(span + 1, min(shared, max(1, cached)))))
    }

    /// One output channel per group (depthwise and the like): nothing to share between output
    /// channels, so each thread makes one group's planes at a time, while they are in cache
    /// (the input is read once from memory), and sums each output row from them (`sumTaps`).
    static func runChannelwise(_ plan: ConvolutionPlan, _ input: [Matrix], _ weights: [Double], bias: [Double]?, level: KernelLevel,
                               geometry: Geometry, threads: Int, into outputs: OutputTargets) -> Bool {
        let taps = plan.inner * plan.kernelRows * plan.kernelColumns
        // Output channel o's weights, in the order of its taps: kernel blocks o·inner ..< (o + 1)·inner.
        guard allFinite(weights) else { return false }
        let runs = columnRuns(plan, geometry)
        let perGroup = geometry.plane(channel: plan.inner, rowSlot: 0, columnSlot: 0)
        weights.withUnsafeBufferPointer { weightBuffer in
            let shared = weightBuffer.baseAddress!
            ParallelRanges.run(count: plan.outputChannels, threads: threads) { range in
                // This thread's planes of one group's input channels, made just before use (in cache).
                let planes = UnsafeMutablePointer<Double>.allocate(capacity: perGroup)
                let sources = UnsafeMutablePointer<UnsafePointer<Double>>.allocate(capacity: max(taps, 1))
                defer { planes.deallocate(); sources.deallocate() }
                for o in range {
                    for (slot, c) in plan.inputs(of: o).enumerated() { fillPlanes(plan, input[c], slot: slot, geometry, runs, into: planes) }
                    var t = 0
                    for slot in 0..<plan.inner {
                        for a in 0..<plan.kernelRows {
                            for b in 0..<plan.kernelColumns {
                                sources[t] = UnsafePointer(planes) + geometry.source(plan, channel: slot, kernelRow: a, kernelColumn: b)
                                t += 1
                            }
                        }
                    }
                    storeChannel(plan, geometry, level, sources: sources, weights: shared + o * taps, taps: taps, start: bias?[o] ?? 0,
                                 into: outputs[o])
                }
            }
        }
        return true
    }

    /// One output channel: its taps summed by `sumTaps` straight into each output row (the
    /// flattened positions i·Wq ..< i·Wq + Wout), the sources moved a row at a time.
    @inline(__always)
    static func storeChannel(_ plan: ConvolutionPlan, _ geometry: Geometry, _ level: KernelLevel, sources: UnsafeMutablePointer<UnsafePointer<Double>>,
                             weights: UnsafePointer<Double>, taps: Int, start: Double, into out: UnsafeMutablePointer<Double>) {
        for i in 0..<plan.outputRows {
            level.sumTaps(out + i * plan.outputColumns, outStride: 1, count: plan.outputColumns, start: start, sources: sources, weights: weights, taps: taps)
            for t in 0..<taps { sources[t] += geometry.planeColumns }
        }
    }

    /// Positions `first ..< first + width` (read at `offset` from `sources`) of the output channel blocks `blocks`: each
    /// block's sums start at its bias, take the input channels chunk by chunk (the sums
    /// stay in `acc` between chunks, so the order of the terms is unchanged), then are stored.
    @inline(__always)
    static func computeBlock(_ plan: ConvolutionPlan, _ placement: Placement, _ schedule: Schedule, _ level: KernelLevel, first: Int, blocks: Range<Int>,
                             starts: [Double], sources: UnsafePointer<UnsafePointer<Double>>, offset: Int, weights: WeightBlocks,
                             acc: UnsafeMutablePointer<Double>, into outputs: OutputTargets) {
        let (width, blockChannels) = (schedule.width, schedule.channels)
        for block in blocks {
            for o in 0..<blockChannels {
                (acc + (block * blockChannels + o) * width).update(repeating: starts[block * blockChannels + o], count: width)
            }
        }
        let inputsPerGroup = plan.inputsPerGroup
        var c = 0
        while c < inputsPerGroup {
            let count = min(schedule.chunk, inputsPerGroup - c)
            for block in blocks {
                let g = block / schedule.blocksPerGroup
                level.accumulateChannelBlock(acc + block * blockChannels * width,
                                             sources: sources + g * schedule.taps + c * schedule.tapsPerChannel, offset: offset,
                                             weights: weights.block(block) + c * schedule.tapsPerChannel * weights.tapStride,
                                             rowStride: weights.kernelRowStride,
                                             taps: count * schedule.tapsPerChannel)
            }
            c += count
        }
        for block in blocks {
            let channels = schedule.outputs(ofBlock: block, plan)
            placement.store(acc + block * blockChannels * width, width: width, first: first, channels: channels.count,
                            into: outputs, channel: channels.first)
        }
    }

    /// Whether the input channels themselves serve as the planes: a 1×1 kernel with stride 1
    /// and no padding reads input position m for output position m, as a matrix product
    /// reads its right operand.
    static func readsInputInPlace(_ plan: ConvolutionPlan) -> Bool {
        plan.kernelRows == 1 && plan.kernelColumns == 1 && !plan.spec.transposed
            && [plan.rowStep, plan.columnStep].allSatisfy { $0.stride == 1 && $0.pad.before == 0 && $0.pad.after == 0 }
    }

    /// A 1×1 kernel read in place (`readsInputInPlace`) as a matrix product, `y[o] = b[o] +
    /// Σ_c w[o, c]·x[c]` over the flattened positions. The threads take blocks of P
    /// positions (`pointwiseTilePositions`) one at a time (`SharedItems`); a thread copies a
    /// block's positions of every input channel into its panel (a tap's P values together,
    /// 64-byte aligned; zeros past the last position), then runs `pointwiseTile` for every
    /// block of C output channels, whose sums go straight to the output (through scratch
    /// rows for a partial block of positions or channels). The taps are taken in chunks of
    /// at most `schedule.chunk` input channels, as equal as can be, each chunk over every block of output
    /// channels while its part of the panel is in the first-level cache; a later chunk goes
    /// on from the sums the earlier stored, so each sum's terms keep their order.
    static func runPointwise(_ plan: ConvolutionPlan, _ input: [Matrix], _ schedule: Schedule, weights: WeightBlocks, bias: [Double]?,
                             level: KernelLevel, threads: Int, into outputs: OutputTargets) {
        let (width, blockChannels, inputs, taps) = (schedule.width, schedule.channels, plan.inputChannels, plan.inputsPerGroup)
        let (positions, blocks) = (plan.outputRows * plan.outputColumns, plan.groups * schedule.blocksPerGroup)
        let starts = blockStarts(plan, schedule, bias: bias)
        let chunks = (taps + schedule.chunk - 1) / schedule.chunk
        Pinned.baseAddresses(of: input, \.values) { channels in
            SharedItems.run(count: schedule.positionBlocks, threads: threads) { take in
                // The panel, then scratch rows: C for each block of output channels.
                let buffer = UnsafeMutablePointer<Double>.allocate(capacity: (inputs + blocks * blockChannels) * width + 8)
                let scratch = UnsafeMutablePointer<UnsafeMutablePointer<Double>>.allocate(capacity: blocks * blockChannels)
                defer { buffer.deallocate(); scratch.deallocate() }
                let panel = aligned(buffer)
                for row in 0..<(blocks * blockChannels) { scratch[row] = panel + (inputs + row) * width }
                starts.withUnsafeBufferPointer { starts in
                    while let block = take() {
                        let (first, count) = (block * width, min(width, positions - block * width))
                        packPanel(channels, first: first, count: count, width: width, into: panel)
                        for chunk in 0..<chunks {
                            let (from, to) = (chunk * taps / chunks, (chunk + 1) * taps / chunks)
                            for b in 0..<blocks {
                                let channels = schedule.outputs(ofBlock: b, plan)
                                let whole = count == width && channels.count == blockChannels
                                level.pointwiseTile(whole ? outputs.channels + channels.first : UnsafePointer(scratch + b * blockChannels),
                                                    position: whole ? first : 0, panel: panel + (b / schedule.blocksPerGroup * taps + from) * width,
                                                    weights: weights.block(b) + from * weights.tapStride, rowStride: weights.kernelRowStride,
                                                    taps: to - from, starts: chunk == 0 ? starts.baseAddress! + b * blockChannels : nil)
                            }
                        }
                        copyScratch(plan, schedule, scratch, first: first, count: count, into: outputs)
                    }
                }
            }
        }
    }

    /// Input channels of one chunk of `runPointwise`'s taps: 128 channels of a 24-position
    /// panel are 24 KiB, half the first-level cache, beside the weights a call reads (8 KiB).
    static let pointwiseChunk = 128

    /// Positions `first ..< first + count` of every channel into `panel`, `width` values a
    /// channel (zeros after the count).
    @inline(__always)
    static func packPanel(_ channels: [UnsafePointer<Double>], first: Int, count: Int, width: Int, into panel: UnsafeMutablePointer<Double>) {
        for (c, channel) in channels.enumerated() {
            (panel + c * width).update(from: channel + first, count: count)
            (panel + c * width + count).update(repeating: 0, count: width - count)
        }
    }

    /// `runPointwise`'s sums left in scratch rows (a partial block of positions or channels)
    /// copied to the output: row o of block b holds output channel g·(C_out/g) + local + o.
    static func copyScratch(_ plan: ConvolutionPlan, _ schedule: Schedule, _ scratch: UnsafePointer<UnsafeMutablePointer<Double>>, first: Int,
                            count: Int, into outputs: OutputTargets) {
        for b in 0..<(plan.groups * schedule.blocksPerGroup) {
            let channels = schedule.outputs(ofBlock: b, plan)
            guard count < schedule.width || channels.count < schedule.channels else { continue }
            for o in 0..<channels.count {
                (outputs[channels.first + o] + first).update(from: scratch[b * schedule.channels + o], count: count)
            }
        }
    }

    /// Where each tap of each group reads output position 0, groups in order, taps in the
    /// order of the sum (input channel, kernel row, kernel column), into `sources` (groups · taps).
    static func tapSources(_ plan: ConvolutionPlan, _ geometry: Geometry, base: UnsafePointer<Double>, taps: Int,
                           into sources: UnsafeMutablePointer<UnsafePointer<Double>>) {
        for g in 0..<plan.groups {
            var t = g * taps
            for c in plan.inputs(of: g * plan.outputsPerGroup) {
                for a in 0..<plan.kernelRows {
                    for b in 0..<plan.kernelColumns {
                        sources[t] = base + geometry.source(plan, channel: c, kernelRow: a, kernelColumn: b)
                        t += 1
                    }
                }
            }
        }
    }

    /// Kernel weights in the order the blocked loop reads them: per group and block of C
    /// output channels, tap by tap (input channel, kernel row, kernel column), the C channels'
    /// weights together (zeros past the group's last channel). `write(o, start, stride)`
    /// stores output channel o's weight for its group's tap t at `start[t·stride]` and returns
    /// whether they may be used (finite, where a tap may read padding). Nil when a write
    /// returned false.
    ///
    /// The threads take whole blocks, so each writes (and first touches) its own part of the
    /// fresh array, and only the slots past a group's last channel are zero-filled.
    static func packedWeights(_ plan: ConvolutionPlan, _ schedule: Schedule, parallel: Bool, threads: Int,
                              write: (_ output: Int, _ start: UnsafeMutablePointer<Double>, _ stride: Int) -> Bool) -> [Double]? {
        let (blocksPerGroup, blockChannels, taps) = (schedule.blocksPerGroup, schedule.channels, schedule.taps)
        let blocks = plan.groups * blocksPerGroup
        // Many small kernel blocks are as many separate arrays: reading them is cache misses,
        // shared among the threads; each thread notes whether its weights are finite.
        let parts = parallel ? max(1, min(threads, blocks)) : 1
        let finite = UnsafeMutablePointer<Bool>.allocate(capacity: parts)
        defer { finite.deallocate() }
        finite.initialize(repeating: true, count: parts)
        let packed = LargeArray.doubles(count: blocks * taps * blockChannels) { packed in
            withoutActuallyEscaping(write) { write in
                ParallelRanges.run(count: parts, threads: parts) { range in
                    for part in range {
                        for block in (part * blocks / parts)..<((part + 1) * blocks / parts) {
                            let (start, channels) = (packed + block * taps * blockChannels, schedule.outputs(ofBlock: block, plan))
                            zeroSlots(start, taps: taps, channels: blockChannels, from: channels.count)
                            for local in 0..<channels.count {
                                finite[part] = write(channels.first + local, start + local, blockChannels) && finite[part]
                            }
                        }
                    }
                }
            }
        }
        return (0..<parts).allSatisfy { finite[$0] } ? packed : nil
    }

    /// Zeros in slots `from ..< channels` of each of the `taps` taps of a packed block
    /// (`channels` weights a tap): the channels past a group's last.
    static func zeroSlots(_ block: UnsafeMutablePointer<Double>, taps: Int, channels: Int, from real: Int) {
        guard real < channels else { return }
        for t in 0..<taps { (block + t * channels + real).initialize(repeating: 0, count: channels - real) }
    }

    /// Where `accumulateChannelBlock` finds the weights of each block of C output channels
    /// (over all groups): weight (o, t) of a block at `o·rowStride + t·tapStride` from the
    /// block's start (`block(_:)`; packed: rowStride 1, tapStride C, which the kernel is told
    /// by a row stride of 0), and the last block at `last` when that is given (its rows would
    /// run past the array).
    ///
    /// Two layouts: packed (`packedWeights`: a tap's `channels` weights together, zeros past
    /// a group's last channel), and a kernel read where it lies (PyTorch's layout, a row of
    /// `taps` weights an output channel: a group's last block, when partial, reads the next
    /// group's first rows, whose sums are not stored).
    struct WeightBlocks {
        let base: UnsafePointer<Double>
        /// The row stride `accumulateChannelBlock` takes: 0 when packed.
        var kernelRowStride: Int { tapStride == 1 ? rowStride : 0 }
        let rowStride: Int
        let tapStride: Int
        /// Values from a group's first block to the next group's, and from a block to the next of its group.
        let groupStep: Int
        let blockStep: Int
        let blocksPerGroup: Int
        let last: UnsafePointer<Double>?
        let lastBlock: Int

        /// The packed layout of `packedWeights` for `schedule`.
        init(packed: UnsafePointer<Double>, _ schedule: Schedule, groups: Int) {
            self.init(packed, rowStride: 1, tapStride: schedule.channels, groupStep: schedule.blocksPerGroup * schedule.taps * schedule.channels,
                      schedule, groups: groups, last: nil)
        }

        /// A kernel's values where they lie, a row of `schedule.taps` an output channel; the
        /// last block read from `last` (its real rows, then zeros) when given.
        init(rows: UnsafePointer<Double>, _ plan: ConvolutionPlan, _ schedule: Schedule, last: UnsafePointer<Double>?) {
            self.init(rows, rowStride: schedule.taps, tapStride: 1, groupStep: plan.outputsPerGroup * schedule.taps, schedule, groups: plan.groups, last: last)
        }

        /// Either layout: a block is C rows of the taps, `taps·C` values, whichever way they interleave.
        private init(_ base: UnsafePointer<Double>, rowStride: Int, tapStride: Int, groupStep: Int, _ schedule: Schedule, groups: Int,
                     last: UnsafePointer<Double>?) {
            (self.base, self.rowStride, self.tapStride, self.groupStep, self.last) = (base, rowStride, tapStride, groupStep, last)
            (blockStep, blocksPerGroup, lastBlock) = (schedule.taps * schedule.channels, schedule.blocksPerGroup, groups * schedule.blocksPerGroup - 1)
        }

        /// Weight (0, 0) of block `b`.
        @inline(__always)
        func block(_ b: Int) -> UnsafePointer<Double> {
            if b == lastBlock, let last { return last }
            return base + (b / blocksPerGroup) * groupStep + (b % blocksPerGroup) * blockStep
        }
    }

    /// Where flattened position m = i·Wq + j of a problem goes: output row `rowFirst + i·rowStep`,
    /// column `columnFirst + j·columnStep`, kept when j < `columns` (forward: rows and
    /// columns from 0 with step 1, j < Wout; a transposed phase (ρ, φ): ρ + i·sh, φ + j·sw).
    struct Placement {
        let planeColumns: Int
        let columns: Int
        let positions: Int
        let rowFirst: Int
        let rowStep: Int
        let columnFirst: Int
        let columnStep: Int
        /// How far a tap's source moves per position of a block's first (interleaved: C).
        let offsetScale: Int
        let outputColumns: Int

        init(_ geometry: Geometry, _ plan: ConvolutionPlan, offsetScale: Int) {
            (planeColumns, columns, positions) = (geometry.planeColumns, plan.outputColumns, geometry.positions)
            (rowFirst, rowStep, columnFirst, columnStep) = (0, 1, 0, 1)
            self.offsetScale = offsetScale
            outputColumns = plan.outputColumns
        }

        init(planeColumns: Int, rows: (first: Int, step: Int, count: Int), columns: (first: Int, step: Int, count: Int), outputColumns: Int,
             offsetScale: Int = 1) {
            (self.planeColumns, self.columns) = (planeColumns, columns.count)
            positions = (rows.count - 1) * planeColumns + columns.count
            (rowFirst, rowStep, columnFirst, columnStep) = (rows.first, rows.step, columns.first, columns.step)
            (self.offsetScale, self.outputColumns) = (offsetScale, outputColumns)
        }

        /// The blocked positions `first ..< first + width` of `channels` output channels from
        /// `channel` on, from `acc` (channel-major, `width` apart) to the output: each row's
        /// kept part at once.
        @inline(__always)
        func store(_ acc: UnsafeMutablePointer<Double>, width: Int, first: Int, channels: Int, into outputs: OutputTargets, channel: Int) {
            let end = first + min(width, positions - first)
            var m = first
            while m < end {
                let i = m / planeColumns, j = m - i * planeColumns
                let stop = min(end, (i + 1) * planeColumns)
                if j < columns {
                    let count = min(stop, i * planeColumns + columns) - m
                    let target = (rowFirst + i * rowStep) * outputColumns + columnFirst + j * columnStep
                    for o in 0..<channels {
                        let values = acc + o * width + (m - first)
                        if columnStep == 1 {
                            (outputs[channel + o] + target).update(from: values, count: count)
                        } else {
                            for q in 0..<count { outputs[channel + o][target + q * columnStep] = values[q] }
                        }
                    }
                }
                m = stop
            }
        }
    }

    /// The first 64-byte boundary at or after `pointer` (at most 7 doubles on).
    static func aligned<T>(_ pointer: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<T> {
        let address = UInt(bitPattern: pointer)
        return UnsafeMutablePointer(bitPattern: (address + 63) & ~63)!
    }

    /// A plane row as runs, per column phase: (length, first input column, or -1 for zeros):
    /// zeros, input columns in order (unit stride, zero padding), copies.
    static func columnRuns(_ plan: ConvolutionPlan, _ geometry: Geometry) -> [[(count: Int, source: Int)]] {
        let (c, mode) = (plan.columnStep, plan.spec.paddingMode)
        let extendedColumns = c.input + c.pad.before + c.pad.after
        return geometry.columnPhases.map { phase in
            var runs: [(count: Int, source: Int)] = []
            for n in 0..<geometry.planeColumns {
                let e = n * c.stride + phase
                let source = e < extendedColumns ? mode.source(e - c.pad.before, c.input) ?? -1 : -1
                if let last = runs.last, last.source == -1 ? source == -1 : source == last.source + last.count {
                    runs[runs.count - 1].count += 1
                } else {
                    runs.append((1, source))
                }
            }
            return runs
        }
    }

    /// The phase planes of one input channel, placed as channel `slot` of `out`, each row's
    /// runs (`columnRuns`) copied or zeroed at once.
    static func fillPlanes(_ plan: ConvolutionPlan, _ channel: Matrix, slot: Int, _ geometry: Geometry,
                           _ columnRuns: [[(count: Int, source: Int)]], into out: UnsafeMutablePointer<Double>) {
        let (r, c, mode) = (plan.rowStep, plan.columnStep, plan.spec.paddingMode)
        let extendedRows = r.input + r.pad.before + r.pad.after
        channel.values.withUnsafeBufferPointer { x in
            for (rowSlot, rowPhase) in geometry.rowPhases.enumerated() {
                for (columnSlot, runs) in columnRuns.enumerated() {
                    let plane = geometry.plane(channel: slot, rowSlot: rowSlot, columnSlot: columnSlot)
                    for m in 0..<geometry.planeRows {
                        let e = (geometry.firstRow + m) * r.stride + rowPhase
                        let source = e < extendedRows ? mode.source(e - r.pad.before, r.input) : nil
                        var n = m * geometry.planeColumns
                        for run in runs {
                            let values = source.flatMap { run.source >= 0 ? x.baseAddress! + $0 * c.input + run.source : nil }
                            geometry.fill(out, plane: plane, at: n, count: run.count, from: values)
                            n += run.count
                        }
                    }
                    let area = geometry.planeRows * geometry.planeColumns
                    geometry.fill(out, plane: plane, at: area, count: geometry.paddedArea - area, from: nil)
                }
            }
        }
    }
}
