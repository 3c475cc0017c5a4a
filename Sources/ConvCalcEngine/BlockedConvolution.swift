import ConvCalcCore
import ConvKernels

/// The direct method for layers with several output channels per group: register-blocked
/// across output channels and positions (`accumulateChannelBlock`), so each input value
/// loaded serves 4 output channels and each weight 16 or 32 positions.
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
/// non-zero bias is never −0); `applies` requires that.
enum BlockedConvolution {
    /// Whether this method runs the plan: forward, at least two output channels per group,
    /// a finite kernel, no −0 bias, and phase planes no larger than `planeLimit` values.
    static func applies(_ plan: ConvolutionPlan, _ kernels: [Matrix], bias: [Double]?) -> Bool {
        fits(plan, bias: bias) && kernels.allSatisfy { $0.values.allSatisfy(\.isFinite) }
    }

    /// `applies` but for the kernel's values (which `packedWeights` checks as it copies them).
    static func fits(_ plan: ConvolutionPlan, bias: [Double]?) -> Bool {
        guard !plan.spec.transposed, plan.outputsPerGroup >= 2,
              let planes = Geometry(plan), planes.totalValues <= planeLimit else { return false }
        return !(bias ?? []).contains { $0 == 0 && $0.sign == .minus }
    }

    /// The most values the phase planes may hold (2^27 doubles, 1 GiB): past it the row
    /// method, which reads the input in place, runs.
    static let planeLimit = 1 << 27

    /// Output channels one kernel call computes (the same at every level).
    static let blockChannels = ConvKernels.channelBlockChannels

    /// Where the phase planes lie and where each tap reads.
    struct Geometry {
        let rowPhases: [Int]
        let columnPhases: [Int]
        /// Hq and Wq: a plane's rows and columns.
        let planeRows: Int
        let planeColumns: Int
        /// Values from one plane to the next: Hq·Wq and room for the last block's reads.
        let planeStride: Int
        let channels: Int
        /// Flattened output positions computed: the last row ends at Wout.
        let positions: Int
        let totalValues: Int

        init?(_ plan: ConvolutionPlan) {
            let (r, c) = (plan.rowStep, plan.columnStep)
            rowPhases = Array(Set((0..<plan.kernelRows).map { ($0 * r.dilation) % r.stride })).sorted()
            columnPhases = Array(Set((0..<plan.kernelColumns).map { ($0 * c.dilation) % c.stride })).sorted()
            planeRows = plan.outputRows + ((plan.kernelRows - 1) * r.dilation) / r.stride
            planeColumns = plan.outputColumns + ((plan.kernelColumns - 1) * c.dilation) / c.stride
            channels = plan.inputChannels
            positions = (plan.outputRows - 1) * planeColumns + plan.outputColumns
            guard let area = try? Checked.mul(planeRows, planeColumns), area <= Convolution.elementLimit else { return nil }
            planeStride = area + 64
            let planes = channels * rowPhases.count * columnPhases.count
            guard let total = try? Checked.mul(planes, planeStride) else { return nil }
            totalValues = total
        }

        /// The first value of plane (ρ slot, φ slot) of channel c.
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
    }

    /// How the work is cut: positions in blocks of `width`, each block's input channels in
    /// chunks of `chunk` (whose reads stay in the first-level cache while every output channel
    /// block uses them), output channel blocks in `splits` parts when there are few position
    /// blocks, so both threads have work.
    struct Schedule {
        let width: Int
        let taps: Int
        let tapsPerChannel: Int
        let chunk: Int
        let blocksPerGroup: Int
        let positionBlocks: Int
        let splits: Int
        var items: Int { positionBlocks * splits }

        init(_ plan: ConvolutionPlan, _ geometry: Geometry, width: Int, threads: Int) {
            self.width = width
            tapsPerChannel = plan.kernelRows * plan.kernelColumns
            taps = plan.inner * tapsPerChannel
            // A channel's reads for one block: kernel rows times the block and the kernel's reach.
            let footprint = 8 * plan.kernelRows * (width + (plan.kernelColumns - 1) * plan.columnStep.dilation / plan.columnStep.stride + 1)
            chunk = max(4, min(plan.inner, (24 << 10) / footprint))
            blocksPerGroup = (plan.outputsPerGroup + BlockedConvolution.blockChannels - 1) / BlockedConvolution.blockChannels
            positionBlocks = (geometry.positions + width - 1) / width
            let allBlocks = plan.groups * blocksPerGroup
            splits = max(1, min(allBlocks, (4 * threads + positionBlocks - 1) / positionBlocks))
        }

        /// The output channel blocks (over all groups) of split `part`.
        func blocks(_ part: Int, groups: Int) -> Range<Int> {
            let all = groups * blocksPerGroup
            return (part * all / splits)..<((part + 1) * all / splits)
        }
    }

    /// Runs the plan when `applies` holds, and returns whether it did (false: nothing was written).
    static func run(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernels: [Matrix], bias: [Double]?, execution: Execution,
                    into outBase: UnsafeMutablePointer<Double>) -> Bool {
        guard fits(plan, bias: bias), let geometry = Geometry(plan) else { return false }
        let threads = plan.directMultiplyAdds < 1e6 ? 1 : execution.threads
        let schedule = Schedule(plan, geometry, width: execution.level.channelBlockPositions, threads: threads)
        guard let weights = packedWeights(plan, kernels, blocksPerGroup: schedule.blocksPerGroup) else { return false }
        let planes = phasePlanes(plan, input, geometry, threads: threads)
        let starts = (0..<(plan.groups * schedule.blocksPerGroup * blockChannels)).map { index -> Double in
            let (g, local) = (index / (schedule.blocksPerGroup * blockChannels), index % (schedule.blocksPerGroup * blockChannels))
            return local < plan.outputsPerGroup ? bias?[g * plan.outputsPerGroup + local] ?? 0 : 0
        }
        planes.withUnsafeBufferPointer { planeBuffer in
            weights.withUnsafeBufferPointer { weightBuffer in
                let sources = tapSources(plan, geometry, base: planeBuffer.baseAddress!, taps: schedule.taps)
                defer { sources.deallocate() }
                let shared = (sources: UnsafePointer(sources), packed: weightBuffer.baseAddress!)
                ParallelRanges.run(count: schedule.items, threads: threads) { range in
                    let acc = UnsafeMutablePointer<Double>.allocate(capacity: plan.groups * schedule.blocksPerGroup * blockChannels * schedule.width)
                    defer { acc.deallocate() }
                    for item in range {
                        let first = (item / schedule.splits) * schedule.width
                        computeBlock(plan, geometry, schedule, execution.level, first: first, blocks: schedule.blocks(item % schedule.splits, groups: plan.groups),
                                     starts: starts, sources: shared.sources, weights: shared.packed, acc: acc, into: outBase)
                    }
                }
            }
        }
        return true
    }

    /// Positions `first ..< first + width` of the output channel blocks `blocks`: each
    /// block's sums start at its bias, take the input channels chunk by chunk (the sums
    /// stay in `acc` between chunks, so the order of the terms is unchanged), then are stored.
    @inline(__always)
    static func computeBlock(_ plan: ConvolutionPlan, _ geometry: Geometry, _ schedule: Schedule, _ level: KernelLevel, first: Int, blocks: Range<Int>,
                             starts: [Double], sources: UnsafePointer<UnsafePointer<Double>>, weights: UnsafePointer<Double>,
                             acc: UnsafeMutablePointer<Double>, into outBase: UnsafeMutablePointer<Double>) {
        let width = schedule.width
        for block in blocks {
            for o in 0..<blockChannels {
                (acc + (block * blockChannels + o) * width).update(repeating: starts[block * blockChannels + o], count: width)
            }
        }
        var c = 0
        while c < plan.inner {
            let count = min(schedule.chunk, plan.inner - c)
            for block in blocks {
                let g = block / schedule.blocksPerGroup
                level.accumulateChannelBlock(acc + block * blockChannels * width,
                                             sources: sources + g * schedule.taps + c * schedule.tapsPerChannel, offset: first,
                                             weights: weights + (block * schedule.taps + c * schedule.tapsPerChannel) * blockChannels,
                                             taps: count * schedule.tapsPerChannel)
            }
            c += count
        }
        let area = plan.outputRows * plan.outputColumns
        for block in blocks {
            let (g, local) = (block / schedule.blocksPerGroup, (block % schedule.blocksPerGroup) * blockChannels)
            store(acc + block * blockChannels * width, width: width, first: first, channels: min(blockChannels, plan.outputsPerGroup - local),
                  geometry, plan, into: outBase + (g * plan.outputsPerGroup + local) * area)
        }
    }

    /// Where each tap of each group reads output position 0, groups in order, taps in the
    /// order of the sum (input channel, kernel row, kernel column). The caller deallocates.
    static func tapSources(_ plan: ConvolutionPlan, _ geometry: Geometry, base: UnsafePointer<Double>, taps: Int) -> UnsafeMutablePointer<UnsafePointer<Double>> {
        let sources = UnsafeMutablePointer<UnsafePointer<Double>>.allocate(capacity: max(1, plan.groups * taps))
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
        return sources
    }

    /// Kernel weights in the order the blocked loop reads them: per group and block of 4
    /// output channels, tap by tap (input channel, kernel row, kernel column), the 4 channels'
    /// weights together (zeros past the group's last channel). Nil when a weight is inf or nan.
    static func packedWeights(_ plan: ConvolutionPlan, _ kernels: [Matrix], blocksPerGroup: Int) -> [Double]? {
        let taps = plan.inner * plan.kernelRows * plan.kernelColumns
        let area = plan.kernelRows * plan.kernelColumns
        var finite = true
        let packed = LargeArray.doubles(count: plan.groups * blocksPerGroup * taps * blockChannels) { packed in
            packed.initialize(repeating: 0, count: plan.groups * blocksPerGroup * taps * blockChannels)
            kernels.withUnsafeBufferPointer { blocks in
                for o in 0..<plan.outputChannels {
                    let (g, local) = (o / plan.outputsPerGroup, o % plan.outputsPerGroup)
                    let start = packed + ((g * blocksPerGroup + local / blockChannels) * taps) * blockChannels + local % blockChannels
                    for i in 0..<plan.inner {
                        blocks[o * plan.inner + i].values.withUnsafeBufferPointer { kernel in
                            for tap in 0..<area {
                                finite = finite && kernel[tap].isFinite
                                start[(i * area + tap) * blockChannels] = kernel[tap]
                            }
                        }
                    }
                }
            }
        }
        return finite ? packed : nil
    }

    /// The blocked positions `first ..< first + width` of `channels` output channels, from
    /// `acc` to the output: flattened position m is row m / Wq, column m mod Wq, kept when the
    /// column is below Wout.
    @inline(__always)
    static func store(_ acc: UnsafeMutablePointer<Double>, width: Int, first: Int, channels: Int, _ geometry: Geometry,
                      _ plan: ConvolutionPlan, into out: UnsafeMutablePointer<Double>) {
        let area = plan.outputRows * plan.outputColumns
        var i = first / geometry.planeColumns, j = first - i * geometry.planeColumns
        for q in 0..<min(width, geometry.positions - first) {
            if j < plan.outputColumns {
                let target = out + i * plan.outputColumns + j
                for o in 0..<channels { target[o * area] = acc[o * width + q] }
            }
            j += 1
            if j == geometry.planeColumns { (i, j) = (i + 1, 0) }
        }
    }

    /// The input extended by its padding, as phase planes (`Geometry`); positions past the
    /// extended input and each plane's tail are zeros.
    static func phasePlanes(_ plan: ConvolutionPlan, _ input: [Matrix], _ geometry: Geometry, threads: Int) -> [Double] {
        let (r, c, mode) = (plan.rowStep, plan.columnStep, plan.spec.paddingMode)
        let extendedRows = r.input + r.pad.before + r.pad.after, extendedColumns = c.input + c.pad.before + c.pad.after
        // Per column phase: the input column each plane column reads, or -1 for a zero.
        let columnSources: [[Int]] = geometry.columnPhases.map { phase in
            (0..<geometry.planeColumns).map { n in
                let e = n * c.stride + phase
                return e < extendedColumns ? mode.source(e - c.pad.before, c.input) ?? -1 : -1
            }
        }
        return LargeArray.doubles(count: geometry.totalValues) { out in
            ParallelRanges.run(count: geometry.channels, threads: min(threads, geometry.channels)) { channels in
                for channel in channels {
                    input[channel].values.withUnsafeBufferPointer { x in
                        for (rowSlot, rowPhase) in geometry.rowPhases.enumerated() {
                            for (columnSlot, sourcesOfColumns) in columnSources.enumerated() {
                                let plane = out + geometry.plane(channel: channel, rowSlot: rowSlot, columnSlot: columnSlot)
                                for m in 0..<geometry.planeRows {
                                    let e = m * r.stride + rowPhase
                                    let row = plane + m * geometry.planeColumns
                                    guard e < extendedRows, let source = mode.source(e - r.pad.before, r.input) else {
                                        row.initialize(repeating: 0, count: geometry.planeColumns)
                                        continue
                                    }
                                    let inputRow = x.baseAddress! + source * c.input
                                    for n in 0..<geometry.planeColumns {
                                        let s = sourcesOfColumns[n]
                                        row[n] = s >= 0 ? inputRow[s] : 0
                                    }
                                }
                                let tail = geometry.planeRows * geometry.planeColumns
                                (plane + tail).initialize(repeating: 0, count: geometry.planeStride - tail)
                            }
                        }
                    }
                }
            }
        }
    }
}
