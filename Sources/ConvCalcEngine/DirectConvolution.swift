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

/// The direct method: every output element as a sum of products, vectorised across output
/// columns (`sumTaps`), rows shared among threads, no padded copy of the input for zero
/// padding with unit column stride (border columns are gathered with bounds checks, or
/// scattered from the input when there are more of them than input columns).
///
/// Forward: output row i of channel o is `bias[o] + Σ_{c, a, b} k[c, a, b] · E_c[rowSource(i·sh + a·dh)][j·sw + b·dw]`,
/// E the input extended by the padding (zeros, or the padding mode's copies). With a column
/// stride or a padding mode, E is copied as phase planes (column `m·sw + φ` of E is column m
/// of plane φ; only the phases the kernel reads), so every tap reads a contiguous run.
/// Transposed: output column `q = m·sw + φ` reads input column `(q + pb − b·dw)/sw` for the
/// kernel columns b where that division is exact: contiguous in m for each phase φ.
enum DirectConvolution {
    /// Runs the plan into `outBase` (every element written once) and returns the number of
    /// threads that computed.
    @discardableResult
    static func run(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernels: [Matrix], bias: [Double]?, execution: Execution,
                    into outBase: UnsafeMutablePointer<Double>) -> Int {
        let perGroup = plan.spec.transposed ? plan.inputsPerGroup : plan.inner
        let taps = perGroup * plan.kernelRows * plan.kernelColumns
        let phasePlanes = PhasePlanes(plan, input)
        let planes = phasePlanes?.planes ?? []
        let transposedTaps = plan.spec.transposed ? TransposedTaps(plan) : TransposedTaps()
        let rowCount = plan.outputChannels * plan.outputRows
        let work = Double(rowCount) * Double(plan.outputColumns) * Double(taps)
        let threads = max(1, min(work < threadWork ? 1 : execution.threads, rowCount))
        let blockRows = RowBlocks(plan, phasePlanes: phasePlanes, level: execution.level)
        // Every array pinned for the whole run: inputs, their phase planes, kernels.
        Pinned.baseAddresses(input.map(\.values) + planes + kernels.map(\.values)) { pointers in
            let operands = RowOperands(input: Array(pointers[0..<input.count]),
                                       planes: Array(pointers[input.count..<(input.count + planes.count)]),
                                       kernels: Array(pointers[(input.count + planes.count)...]), phasePlanes: phasePlanes)
            ParallelRanges.run(count: rowCount, threads: threads) { range in
                let scratch = TapScratch(taps: taps, rowSources: perGroup * (plan.kernelRows + execution.level.tapRowsPerCall), columns: plan.kernelColumns)
                defer { scratch.deallocate() }
                var item = range.lowerBound
                while item < range.upperBound {
                    let o = item / plan.outputRows, i = item % plan.outputRows
                    let start = bias?[o] ?? 0
                    let outRow = outBase + item * plan.outputColumns
                    if plan.spec.transposed {
                        transposedRow(plan, o: o, i: i, inputs: plan.inputs(of: o), start: start, outRow: outRow, input: operands.input,
                                      kernels: operands.kernels, groups: transposedTaps, sources: scratch.sources, weights: scratch.weights,
                                      rows: scratch.rows, offsets: scratch.offsets, level: execution.level)
                    } else if let blockRows, item + blockRows.rows <= range.upperBound, blockRows.covers(i, plan) {
                        forwardRows(plan, blockRows, o: o, i: i, start: start, outRow: outRow, operands, scratch, level: execution.level)
                        item += blockRows.rows
                        continue
                    } else {
                        forwardRow(plan, o: o, i: i, start: start, outRow: outRow, operands, scratch, level: execution.level)
                    }
                    item += 1
                }
            }
        }
        return threads
    }

    /// Direct multiply-adds below which one thread computes. Starting and joining a thread
    /// takes 9 us at best here (a pthread_create/pthread_join loop in C; 37-58 us on average
    /// while other processes ran), but the second thread also waits for a core and starts
    /// with a cold cache: measured with --timings (best of 11, 2 shared cores, K 3 and 7),
    /// two threads lost at 8e5 multiply-adds (128 x 128, K 7: 0.33 against 0.20 ms), broke
    /// even at 6e5 and 3.2e6 (256 x 256, K 3 and K 7) and won at 2.4e6 (512 x 512, K 3, its
    /// output's first touch shared: 1.07 against 1.24 ms). Before, one thread below 4e6.
    static let threadWork = 1e6

    /// The pinned operands of a run: inputs, their phase planes (if copied), kernels.
    struct RowOperands {
        let input: [UnsafePointer<Double>]
        let planes: [UnsafePointer<Double>]
        let kernels: [UnsafePointer<Double>]
        let phasePlanes: PhasePlanes?
    }

    /// Each thread's tap lists: where each tap reads (a run, or a row and an offset) and its
    /// weight; for `forwardRows`, the input rows of a block of output rows and the column offsets.
    struct TapScratch {
        let sources: UnsafeMutablePointer<UnsafePointer<Double>>
        let weights: UnsafeMutablePointer<Double>
        let rows: UnsafeMutablePointer<UnsafePointer<Double>>
        let offsets: UnsafeMutablePointer<Int>
        let rowSources: UnsafeMutablePointer<UnsafePointer<Double>>
        let columns: UnsafeMutablePointer<Int>

        init(taps: Int, rowSources rowCount: Int, columns columnCount: Int) {
            sources = .allocate(capacity: max(taps, 1))
            weights = .allocate(capacity: max(taps, 1))
            rows = .allocate(capacity: max(taps, 1))
            offsets = .allocate(capacity: max(taps, 1))
            rowSources = .allocate(capacity: max(rowCount, 1))
            columns = .allocate(capacity: max(columnCount, 1))
        }

        func deallocate() {
            sources.deallocate()
            weights.deallocate()
            rows.deallocate()
            offsets.deallocate()
            rowSources.deallocate()
            columns.deallocate()
        }
    }

    /// Register blocking (`sumTapRows`): `rows` consecutive output rows of one channel whose
    /// kernel rows all lie in the input share each loaded input row. Forward, zero padding,
    /// unit column stride (no phase planes), row stride and row dilation 1; nil otherwise.
    struct RowBlocks {
        let rows: Int
        /// The interior columns (every tap in the input), as `forwardRow` finds them.
        let interior: Range<Int>
        /// Interior columns `sumTapRows` computes (a multiple of its step); the rest by `sumTaps`.
        let blocked: Int

        init?(_ plan: ConvolutionPlan, phasePlanes: PhasePlanes?, level: KernelLevel) {
            let r = plan.rowStep
            guard !plan.spec.transposed, phasePlanes == nil, plan.spec.paddingMode == .zeros, r.stride == 1, r.dilation == 1 else { return nil }
            rows = level.tapRowsPerCall
            interior = DirectConvolution.interior(plan)
            blocked = interior.count - interior.count % level.tapRowColumns
            guard blocked > 0, plan.outputRows >= rows else { return nil }
        }

        /// Whether output rows `i ..< i + rows` are in one channel and read only input rows.
        func covers(_ i: Int, _ plan: ConvolutionPlan) -> Bool {
            let top = i - plan.rowStep.pad.before
            return i + rows <= plan.outputRows && top >= 0 && top + rows - 1 + plan.kernelRows - 1 < plan.inputRows
        }
    }

    /// The output columns where every tap of a forward zero-padded unit-stride row reads an
    /// input column (`j + b*dw - pl` in `0..<W` for every b): empty at the end when none do.
    static func interior(_ plan: ConvolutionPlan) -> Range<Int> {
        let c = plan.columnStep
        let lowest = c.pad.before
        let highest = min(plan.outputColumns, plan.inputColumns - (plan.kernelColumns - 1) * c.dilation + c.pad.before)
        return lowest < highest ? lowest..<highest : plan.outputColumns..<plan.outputColumns
    }

    /// Output rows `i ..< i + block.rows` of channel o (`RowBlocks.covers`): the first
    /// `block.blocked` interior columns by `sumTapRows`, then each row's other columns by
    /// `forwardRow`. The same taps in the same order as `forwardRow` alone: bit-identical.
    static func forwardRows(_ plan: ConvolutionPlan, _ block: RowBlocks, o: Int, i: Int, start: Double, outRow: UnsafeMutablePointer<Double>,
                            _ operands: RowOperands, _ scratch: TapScratch, level: KernelLevel) {
        let (kh, kw, c) = (plan.kernelRows, plan.kernelColumns, plan.columnStep)
        let span = kh + block.rows - 1
        let top = i - plan.rowStep.pad.before
        var g = 0
        for ch in plan.inputs(of: o) {
            let k = operands.kernels[plan.block(input: ch, output: o)!]
            (scratch.weights + g * kh * kw).update(from: k, count: kh * kw)
            for s in 0..<span {
                scratch.rowSources[g * span + s] = operands.input[ch] + (top + s) * plan.inputColumns + block.interior.lowerBound - c.pad.before
            }
            g += 1
        }
        for b in 0..<kw { scratch.columns[b] = b * c.dilation }
        level.sumTapRows(outRow + block.interior.lowerBound, outRowStride: plan.outputColumns, count: block.blocked, start: start,
                         sources: scratch.rowSources, kernelRows: kh, columns: scratch.columns, kernelColumns: kw, weights: scratch.weights, groups: g)
        for r in 0..<block.rows {
            forwardRow(plan, o: o, i: i + r, start: start, outRow: outRow + r * plan.outputColumns, operands, scratch, level: level,
                       interiorDone: block.blocked)
        }
    }

    /// With a column stride or a padding mode, the input extended by its padding, copied as
    /// phase planes per channel: column `m·sw + φ` of E is column m of plane φ (only the phases
    /// the kernel reads, only as far as the outputs reach). Nil when the input is read directly.
    struct PhasePlanes {
        var planes: [[Double]] = []
        var widths: [Int] = []
        /// Where each phase plane starts in a channel's planes.
        var bases: [Int] = []
        /// Kernel column b → its phase plane.
        var slotOfColumn: [Int] = []

        init?(_ plan: ConvolutionPlan, _ input: [Matrix]) {
            let (spec, c) = (plan.spec, plan.columnStep)
            guard !spec.transposed && (spec.paddingMode != .zeros || c.stride > 1) else { return nil }
            let extendedWidth = c.input + c.pad.before + c.pad.after
            let phases = Array(Set((0..<plan.kernelColumns).map { ($0 * c.dilation) % c.stride })).sorted()
            let reach = plan.outputColumns + ((plan.kernelColumns - 1) * c.dilation) / c.stride
            var base = 0
            for phase in phases {
                widths.append(min(Convolution.countUpTo(extendedWidth - phase, step: c.stride), reach))
                bases.append(base)
                base += widths.last! * plan.inputRows
            }
            slotOfColumn = (0..<plan.kernelColumns).map { phases.firstIndex(of: ($0 * c.dilation) % c.stride)! }
            let (widths, bases) = (widths, bases)
            planes = input.map { channel in
                LargeArray.doubles(count: base) { p in
                    channel.values.withUnsafeBufferPointer { x in
                        for (slot, phase) in phases.enumerated() {
                            for row in 0..<plan.inputRows {
                                let out = p + bases[slot] + row * widths[slot]
                                for m in 0..<widths[slot] {
                                    let s = spec.paddingMode.source(m * c.stride + phase - c.pad.before, plan.inputColumns)
                                    out[m] = s.map { x[row * plan.inputColumns + $0] } ?? 0
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Forward output row i of channel o: its taps (channel, kernel row, kernel column whose
    /// row is read) gathered, then summed by the kernel level; with zero padding and a unit
    /// stride the border columns, where some taps fall in the padding, apart.
    /// `interiorDone`: the first interior columns already computed (`forwardRows`).
    static func forwardRow(_ plan: ConvolutionPlan, o: Int, i: Int, start: Double, outRow: UnsafeMutablePointer<Double>,
                           _ operands: RowOperands, _ scratch: TapScratch, level: KernelLevel, interiorDone: Int = 0) {
        let (spec, r, c) = (plan.spec, plan.rowStep, plan.columnStep)
        var t = 0
        for ch in plan.inputs(of: o) {
            let k = operands.kernels[plan.block(input: ch, output: o)!]
            for a in 0..<plan.kernelRows {
                guard let sr = spec.paddingMode.source(i * r.stride + a * r.dilation - r.pad.before, plan.inputRows) else { continue }
                for b in 0..<plan.kernelColumns {
                    scratch.weights[t] = k[a * plan.kernelColumns + b]
                    let column = b * c.dilation
                    if let planes = operands.phasePlanes {
                        let slot = planes.slotOfColumn[b]
                        scratch.sources[t] = operands.planes[ch] + planes.bases[slot] + sr * planes.widths[slot] + column / c.stride
                    } else {
                        scratch.rows[t] = operands.input[ch] + sr * plan.inputColumns
                        scratch.offsets[t] = column - c.pad.before
                    }
                    t += 1
                }
            }
        }
        if operands.phasePlanes != nil {
            level.sumTaps(outRow, outStride: 1, count: plan.outputColumns, start: start, sources: scratch.sources, weights: scratch.weights, taps: t)
            return
        }
        // Zero padding, unit stride: j + offset must lie in 0..<W for every tap.
        let width = plan.inputColumns
        let interior = interior(plan)
        let first = interior.lowerBound + interiorDone
        if first < interior.upperBound {
            for u in 0..<t { scratch.sources[u] = scratch.rows[u] + first + scratch.offsets[u] }
            level.sumTaps(outRow + first, outStride: 1, count: interior.upperBound - first, start: start,
                          sources: scratch.sources, weights: scratch.weights, taps: t)
        }
        // Border columns: some taps fall in the padding.
        border(outRow, stride: 1, left: 0..<interior.lowerBound, right: interior.upperBound..<plan.outputColumns,
               start: start, taps: t, weights: scratch.weights, rows: scratch.rows, offsets: scratch.offsets, width: width)
    }

    /// The border outputs `left` and `right` (at `out[j·stride]`; some taps fall outside the
    /// input): gathered with bounds checks, or, when there are more of them than input
    /// columns (a kernel far wider than the input), scattered from the input: every tap times
    /// every input column once.
    @inline(__always)
    static func border(_ out: UnsafeMutablePointer<Double>, stride: Int, left: Range<Int>, right: Range<Int>, start: Double, taps: Int,
                       weights: UnsafeMutablePointer<Double>, rows: UnsafeMutablePointer<UnsafePointer<Double>>,
                       offsets: UnsafeMutablePointer<Int>, width: Int) {
        if left.count + right.count <= width {
            for j in left { out[j * stride] = borderSum(j, start: start, taps: taps, weights: weights, rows: rows, offsets: offsets, width: width) }
            for j in right { out[j * stride] = borderSum(j, start: start, taps: taps, weights: weights, rows: rows, offsets: offsets, width: width) }
            return
        }
        for j in left { out[j * stride] = start }
        for j in right { out[j * stride] = start }
        for u in 0..<taps {
            for column in 0..<width {
                let j = column - offsets[u]
                if left.contains(j) || right.contains(j) { out[j * stride] += weights[u] * rows[u][column] }
            }
        }
    }

    /// One border output: the taps whose column `j + offset` lies in the input, in tap order.
    @inline(__always)
    static func borderSum(_ j: Int, start: Double, taps: Int, weights: UnsafeMutablePointer<Double>,
                          rows: UnsafeMutablePointer<UnsafePointer<Double>>, offsets: UnsafeMutablePointer<Int>, width: Int) -> Double {
        var sum = start
        for u in 0..<taps {
            let column = j + offsets[u]
            if column >= 0 && column < width { sum += weights[u] * rows[u][column] }
        }
        return sum
    }

    /// Kernel rows and columns grouped for the transposed gather: output row i reads kernel rows
    /// with `(a·dh − pb) mod sh = i mod sh`; output column `m·sw + φ` reads kernel columns with
    /// `(b·dw − pb) mod sw = φ`. Only these are visited, so huge strides cost nothing extra.
    struct TransposedTaps {
        var rowsByPhase: [Int: [Int]] = [:]
        var columnsByPhase: [(phase: Int, columns: [Int])] = []

        init() {}

        init(_ plan: ConvolutionPlan) {
            let (r, c) = (plan.rowStep, plan.columnStep)
            func phase(_ x: Int, _ s: Int) -> Int { x % s < 0 ? x % s + s : x % s }   // no overflow for any stride
            for a in 0..<plan.kernelRows { rowsByPhase[phase(a * r.dilation - r.pad.before, r.stride), default: []].append(a) }
            var columns: [Int: [Int]] = [:]
            for b in 0..<plan.kernelColumns { columns[phase(b * c.dilation - c.pad.before, c.stride), default: []].append(b) }
            columnsByPhase = columns.keys.sorted().filter { $0 < plan.outputColumns }.map { ($0, columns[$0]!) }
        }
    }

    /// Output row i of channel o of a transposed convolution, one column phase at a time.
    @inline(__always)
    static func transposedRow(_ plan: ConvolutionPlan, o: Int, i: Int, inputs: Range<Int>, start: Double, outRow: UnsafeMutablePointer<Double>,
                              input: [UnsafePointer<Double>], kernels: [UnsafePointer<Double>], groups: TransposedTaps,
                              sources: UnsafeMutablePointer<UnsafePointer<Double>>, weights: UnsafeMutablePointer<Double>,
                              rows: UnsafeMutablePointer<UnsafePointer<Double>>, offsets: UnsafeMutablePointer<Int>, level: KernelLevel) {
        let (r, c) = (plan.rowStep, plan.columnStep)
        let width = plan.inputColumns
        outRow.update(repeating: start, count: plan.outputColumns)   // phases no kernel column reaches
        guard let kernelRows = groups.rowsByPhase[i % r.stride] else { return }
        for (phase, kernelColumns) in groups.columnsByPhase {
            let count = Convolution.countUpTo(plan.outputColumns - phase, step: c.stride)
            var t = 0
            var lowest = 0, highest = count
            for ch in inputs {
                let k = kernels[plan.block(input: ch, output: o)!]
                for a in kernelRows {
                    let pr = i + r.pad.before - a * r.dilation   // a multiple of the stride
                    guard pr >= 0, pr / r.stride < plan.inputRows else { continue }
                    let rowStart = input[ch] + (pr / r.stride) * width
                    for b in kernelColumns {
                        // Input column m + offset (the division is exact for this phase).
                        let pc = phase + c.pad.before - b * c.dilation
                        let offset = pc >= 0 ? pc / c.stride : -((-pc) / c.stride)
                        weights[t] = k[a * plan.kernelColumns + b]
                        rows[t] = rowStart
                        offsets[t] = offset
                        lowest = max(lowest, -offset)
                        highest = min(highest, width - offset)
                        t += 1
                    }
                }
            }
            guard t > 0 else { continue }
            let out = outRow + phase
            if lowest < highest {
                for u in 0..<t { sources[u] = rows[u] + lowest + offsets[u] }
                level.sumTaps(out + lowest * c.stride, outStride: c.stride, count: highest - lowest, start: start,
                              sources: sources, weights: weights, taps: t)
            } else {
                (lowest, highest) = (count, count)
            }
            // Border outputs: some taps fall outside the input.
            border(out, stride: c.stride, left: 0..<lowest, right: highest..<count,
                   start: start, taps: t, weights: weights, rows: rows, offsets: offsets, width: width)
        }
    }
}
