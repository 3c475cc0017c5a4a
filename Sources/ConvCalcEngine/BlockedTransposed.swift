import ConvCalcCore

/// Transposed layers with several output channels per group, register-blocked as the forward
/// ones are (`BlockedConvolution`), one output phase at a time.
///
/// Output row i of a transposed convolution sums, for the kernel rows a with
/// `(i + pb − a·dh) ≡ 0 (mod sh)`, input row `(i + pb − a·dh) / sh` (PyTorch
/// `conv_transpose2d`: input row p reaches output rows `p·sh − pb + a·dh`). For the rows
/// `i = ρ + m·sh` of phase ρ that is input row `m + δa`, `δa = (ρ + pb − a·dh) / sh`, the same
/// kernel rows for every m; columns alike. So phase (ρ, φ) is a flattened problem like the
/// forward layer's: planes are the input padded with zeros (`top` rows above, `left`
/// columns before, so that every `δ` is reached), tap (c, a, b) reads plane c at
/// `(δa + top)·Wq + δb + left`, and position `m·Wq + n` goes to output (ρ + m·sh, φ + n·sw).
/// The taps are summed in the order of `DirectConvolution`'s transposed rows (input channel,
/// kernel row, kernel column, ascending); taps outside the input multiply a stored zero.
extension BlockedConvolution {
    /// One phase along a dimension: its first output, how many outputs, and its kernel taps
    /// with the input shift `δ` each reads.
    struct TransposedPhase {
        let first: Int
        let count: Int
        let taps: [(kernel: Int, shift: Int)]
    }

    /// The phases of one dimension (those with outputs), each with its taps.
    static func transposedPhases(_ step: DimensionStep, kernel: Int, outputs: Int) -> [TransposedPhase] {
        (0..<min(step.stride, outputs)).map { phase in
            let taps = (0..<kernel).compactMap { a -> (kernel: Int, shift: Int)? in
                let reach = phase + step.pad.before - a * step.dilation
                let remainder = reach % step.stride
                guard remainder == 0 else { return nil }
                return (a, reach / step.stride)   // exact: the remainder is 0
            }
            return TransposedPhase(first: phase, count: Convolution.countUpTo(outputs - phase, step: step.stride), taps: taps)
        }
    }

    /// The zero padding before the input and the plane size that every phase's reads fit in.
    struct TransposedPlanes {
        let rows: [TransposedPhase]
        let columns: [TransposedPhase]
        let top: Int
        let left: Int
        let planeRows: Int
        let planeColumns: Int
        let planeStride: Int
        let totalValues: Int

        init?(_ plan: ConvolutionPlan) {
            rows = BlockedConvolution.transposedPhases(plan.rowStep, kernel: plan.kernelRows, outputs: plan.outputRows)
            columns = BlockedConvolution.transposedPhases(plan.columnStep, kernel: plan.kernelColumns, outputs: plan.outputColumns)
            func extent(_ phases: [TransposedPhase], inputs: Int) -> (before: Int, size: Int) {
                let before = max(0, -(phases.flatMap { $0.taps.map(\.shift) }.min() ?? 0))
                let reach = phases.map { phase in phase.count + (phase.taps.map(\.shift).max() ?? 0) + before }.max() ?? 0
                return (before, max(inputs + before, reach))
            }
            let (r, c) = (extent(rows, inputs: plan.inputRows), extent(columns, inputs: plan.inputColumns))
            (top, left, planeRows, planeColumns) = (r.before, c.before, r.size, c.size)
            guard let area = try? Checked.mul(planeRows, planeColumns), area <= Convolution.elementLimit,
                  let total = try? Checked.mul(plan.inputChannels, area + 64) else { return nil }
            (planeStride, totalValues) = (area + 64, total)
        }
    }

    /// Runs a transposed plan (several output channels per group); false when a weight that
    /// an output reads is inf or nan. Every phase's weights are packed before anything is
    /// written, so nothing is written then.
    static func runTransposed(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernels: [Matrix], bias: [Double]?, level: KernelLevel,
                              threads: Int, into outputs: OutputTargets) -> Bool {
        guard let planes = TransposedPlanes(plan) else { return false }
        let phases = planes.rows.flatMap { rowPhase in planes.columns.map { (rows: rowPhase, columns: $0) } }
        let summed = phases.filter { !$0.rows.taps.isEmpty && !$0.columns.taps.isEmpty }
        let schedules = summed.map { phaseLayout(plan, planes, $0.rows, $0.columns, rows: 0..<$0.rows.count, level: level).schedule }
        guard let weights = phaseWeights(plan, summed, schedules, kernels, threads: threads) else { return false }
        for phase in phases where phase.rows.taps.isEmpty || phase.columns.taps.isEmpty {
            writeBias(plan, phase.rows, phase.columns, bias: bias, into: outputs)
        }
        runBands(plan, input, planes, summed, weights: weights, bias: bias, level: level, threads: threads, into: outputs)
        return true
    }

    /// The phases in bands of phase rows (`bandRows`), taken by the threads one at a time: a
    /// thread makes the zero-padded input rows a band reads (`TransposedPlanes`'s rows, for
    /// every channel) in memory of its own, reused from band to band, then computes every
    /// phase's blocks of the band while those rows are in cache.
    static func runBands(_ plan: ConvolutionPlan, _ input: [Matrix], _ planes: TransposedPlanes, _ phases: [(rows: TransposedPhase, columns: TransposedPhase)],
                         weights: (values: [Double], starts: [Int]), bias: [Double]?, level: KernelLevel, threads: Int, into outputs: OutputTargets) {
        guard let phaseRows = phases.map(\.rows.count).max() else { return }
        // A band of phase rows m0 ..< m0 + n reads plane rows m0 ..< m0 + n + span.
        let span = planes.top + (planes.rows.flatMap { $0.taps.map(\.shift) }.max() ?? 0)
        let rows = bandRows(phaseRows, span: span, rowValues: plan.inputChannels * planes.planeColumns, threads: threads)
        let (bandStride, bands) = ((rows + span) * planes.planeColumns + 64, (phaseRows + rows - 1) / rows)
        let starts = blockStarts(plan, phaseLayout(plan, planes, phases[0].rows, phases[0].columns, rows: 0..<phases[0].rows.count, level: level).schedule, bias: bias)
        let tapCount = phases.reduce(0) { $0 + plan.inputChannels * $1.rows.taps.count * $1.columns.taps.count }
        // Each thread's rows are at most the whole padded input (`fits`); together at most `planeLimit`.
        let bandThreads = max(1, min(threads, planeLimit / max(1, plan.inputChannels * bandStride)))
        weights.values.withUnsafeBufferPointer { packed in
            SharedItems.run(count: bands, threads: bandThreads) { take in
                let buffer = UnsafeMutablePointer<Double>.allocate(capacity: plan.inputChannels * bandStride + 8)
                let sources = UnsafeMutablePointer<UnsafePointer<Double>>.allocate(capacity: max(1, tapCount))
                let acc = UnsafeMutablePointer<Double>.allocate(capacity: starts.count * level.channelBlockPositions)
                defer { buffer.deallocate(); sources.deallocate(); acc.deallocate() }
                let base = aligned(buffer)
                while let band = take() {
                    let first = band * rows
                    fillBand(plan, input, planes, rows: first..<(first + min(rows, phaseRows - first) + span), stride: bandStride, into: base)
                    var next = sources
                    for (index, phase) in phases.enumerated() where first < phase.rows.count {
                        let layout = phaseLayout(plan, planes, phase.rows, phase.columns, rows: first..<min(first + rows, phase.rows.count), level: level)
                        phaseSources(plan, planes, phase.rows, phase.columns, base: UnsafePointer(base), stride: bandStride, into: next)
                        let problem = Problem(schedule: layout.schedule, placement: layout.placement, sources: next,
                                              weights: WeightBlocks(packed: packed.baseAddress! + weights.starts[index], layout.schedule, groups: plan.groups))
                        for item in 0..<problem.schedule.items { computeItem(plan, problem, item, level, starts: starts, acc: acc, into: outputs) }
                        next += plan.inputChannels * phase.rows.taps.count * phase.columns.taps.count
                    }
                }
            }
        }
    }

    /// Plane rows `rows` of every channel (the input row `R − top` at column `left`, zeros
    /// elsewhere), `stride` values apart a channel, each followed by zeros to the stride. A
    /// band may lie wholly past the input (rows of output padding): zeros only.
    static func fillBand(_ plan: ConvolutionPlan, _ input: [Matrix], _ planes: TransposedPlanes, rows: Range<Int>, stride: Int,
                         into out: UnsafeMutablePointer<Double>) {
        let width = planes.planeColumns
        for c in 0..<plan.inputChannels {
            let plane = out + c * stride
            plane.update(repeating: 0, count: stride)
            input[c].values.withUnsafeBufferPointer { x in
                for row in Swift.stride(from: max(rows.lowerBound, planes.top), to: min(rows.upperBound, plan.inputRows + planes.top), by: 1) {
                    (plane + (row - rows.lowerBound) * width + planes.left).update(from: x.baseAddress! + (row - planes.top) * plan.inputColumns,
                                                                                  count: plan.inputColumns)
                }
            }
        }
    }

    /// The outputs of phase (ρ, φ) that no kernel tap reaches: the bias alone.
    static func writeBias(_ plan: ConvolutionPlan, _ rowPhase: TransposedPhase, _ columnPhase: TransposedPhase, bias: [Double]?,
                          into outputs: OutputTargets) {
        for o in 0..<plan.outputChannels {
            for m in 0..<rowPhase.count {
                for n in 0..<columnPhase.count {
                    outputs[o][(rowPhase.first + m * plan.rowStep.stride) * plan.outputColumns + columnPhase.first + n * plan.columnStep.stride] = bias?[o] ?? 0
                }
            }
        }
    }

    /// How phase rows `rows` of phase (ρ, φ) are cut and where their positions go: row m,
    /// column n of the phase is output (ρ + m·sh, φ + n·sw); position 0 is row `rows.lowerBound`.
    static func phaseLayout(_ plan: ConvolutionPlan, _ planes: TransposedPlanes, _ rowPhase: TransposedPhase, _ columnPhase: TransposedPhase,
                            rows: Range<Int>, level: KernelLevel) -> (schedule: Schedule, placement: Placement) {
        let firstRow = rowPhase.first + rows.lowerBound * plan.rowStep.stride
        let placement = Placement(planeColumns: planes.planeColumns, rows: (firstRow, plan.rowStep.stride, rows.count),
                                  columns: (columnPhase.first, plan.columnStep.stride, columnPhase.count), outputColumns: plan.outputColumns)
        let shifts = columnPhase.taps.map(\.shift)
        let schedule = Schedule(plan, positions: placement.positions, tapsPerChannel: rowPhase.taps.count * columnPhase.taps.count,
                                footprintRows: rowPhase.taps.count, reach: shifts.max()! - shifts.min()!, level: level, threads: 1)
        return (schedule, placement)
    }

    /// Where each tap of phase (ρ, φ) reads position 0: tap (c, a, b) reads plane c (`stride`
    /// values apart a channel) at `(δa + top)·Wq + δb + left`, input channels in order (group
    /// g's taps from g·taps on).
    static func phaseSources(_ plan: ConvolutionPlan, _ planes: TransposedPlanes, _ rowPhase: TransposedPhase, _ columnPhase: TransposedPhase,
                             base: UnsafePointer<Double>, stride: Int, into sources: UnsafeMutablePointer<UnsafePointer<Double>>) {
        var t = 0
        for c in 0..<plan.inputChannels {
            for (_, rowShift) in rowPhase.taps {
                for (_, columnShift) in columnPhase.taps {
                    sources[t] = base + c * stride + (rowShift + planes.top) * planes.planeColumns + columnShift + planes.left
                    t += 1
                }
            }
        }
    }

    /// Each phase's weights as `packedWeights` stores them (tap t of a group is input channel
    /// t / (|A|·|B|) of the group, kernel row A[(t mod |A|·|B|) / |B|], column B[t mod |B|]),
    /// one phase after another in one array, with where each phase starts. The kernel blocks
    /// are read once, in the order they are stored. Nil when a weight read is inf or nan.
    static func phaseWeights(_ plan: ConvolutionPlan, _ phases: [(rows: TransposedPhase, columns: TransposedPhase)],
                             _ schedules: [Schedule], _ kernels: [Matrix], threads: Int) -> (values: [Double], starts: [Int])? {
        let layout = PhaseWeightLayout(plan, phases, schedules)
        // The blocks in as many ranges as threads (from 4096 blocks), each noting whether its weights are finite.
        let parts = kernels.count < 4096 ? 1 : max(1, threads)
        var finite = [Bool](repeating: true, count: parts)
        // Every slot of a group's channels is written by `pack`; only the slots past a group's
        // last channel are zero-filled, so the fresh array is first touched on the threads.
        let packed = LargeArray.doubles(count: max(1, layout.starts.last!)) { out in
            if layout.starts.last! == 0 { out.initialize(to: 0) }
            layout.zeroPadding(out)
            kernels.withUnsafeBufferPointer { blocks in
                finite.withUnsafeMutableBufferPointer { finite in
                    let (blocks, finite) = (blocks, finite)
                    ParallelRanges.run(count: parts, threads: parts) { range in
                        for part in range {
                            finite[part] = layout.pack(blocks, (part * blocks.count / parts)..<((part + 1) * blocks.count / parts), into: out)
                        }
                    }
                }
            }
        }
        return finite.allSatisfy { $0 } ? (packed, layout.starts) : nil
    }

    /// Where `phaseWeights` puts each weight of each phase.
    struct PhaseWeightLayout {
        let plan: ConvolutionPlan
        /// Phase p's taps of an input channel are at places[placeStarts[p] ..< placeStarts[p + 1]] of its kernel block.
        let places: [Int]
        let placeStarts: [Int]
        /// Phase p's weights start at starts[p]; its blocks per group and taps.
        let starts: [Int]
        let blocksPerGroup: [Int]
        let taps: [Int]
        let channels: Int

        init(_ plan: ConvolutionPlan, _ phases: [(rows: TransposedPhase, columns: TransposedPhase)], _ schedules: [Schedule]) {
            self.plan = plan
            places = phases.flatMap { phase in phase.rows.taps.flatMap { a in phase.columns.taps.map { b in a.kernel * plan.kernelColumns + b.kernel } } }
            placeStarts = phases.reduce(into: [0]) { $0.append($0.last! + $1.rows.taps.count * $1.columns.taps.count) }
            starts = schedules.reduce(into: [0]) { $0.append($0.last! + plan.groups * $1.blocksPerGroup * $1.taps * $1.channels) }
            (blocksPerGroup, taps, channels) = (schedules.map(\.blocksPerGroup), schedules.map(\.taps), schedules.first?.channels ?? 1)
        }

        /// Zeros in every phase's slots past a group's last output channel (its last block's).
        func zeroPadding(_ out: UnsafeMutablePointer<Double>) {
            for p in 0..<taps.count {
                let (last, real) = (blocksPerGroup[p] - 1, plan.outputsPerGroup - (blocksPerGroup[p] - 1) * channels)
                for g in 0..<plan.groups {
                    BlockedConvolution.zeroSlots(out + starts[p] + (g * blocksPerGroup[p] + last) * taps[p] * channels,
                                                 taps: taps[p], channels: channels, from: real)
                }
            }
        }

        /// Packs kernel blocks `range` into `out`; whether the weights read are finite.
        func pack(_ blocks: UnsafeBufferPointer<Matrix>, _ range: Range<Int>, into out: UnsafeMutablePointer<Double>) -> Bool {
            var finite = true
            for index in range {
                // Block c·inner + j links input channel c to output channel g·(Cout/g) + j of c's group g.
                let (c, local) = (index / plan.inner, index % plan.inner)
                let (g, slot) = (c / plan.inputsPerGroup, c % plan.inputsPerGroup)
                blocks[index].values.withUnsafeBufferPointer { values in
                    for p in 0..<taps.count {
                        let count = placeStarts[p + 1] - placeStarts[p]
                        let start = out + starts[p] + ((g * blocksPerGroup[p] + local / channels) * taps[p] + slot * count) * channels + local % channels
                        for r in 0..<count {
                            let value = values[places[placeStarts[p] + r]]
                            finite = finite && value.isFinite
                            start[r * channels] = value
                        }
                    }
                }
            }
            return finite
        }
    }
}
