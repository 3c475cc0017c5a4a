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

    /// Runs a transposed plan (several output channels per group, finite kernel); false when
    /// the kernel holds inf or nan (nothing written).
    static func runTransposed(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernels: [Matrix], bias: [Double]?, level: KernelLevel,
                              threads: Int, into outBase: UnsafeMutablePointer<Double>) -> Bool {
        guard let planes = TransposedPlanes(plan), kernels.allSatisfy({ $0.values.allSatisfy(\.isFinite) }) else { return false }
        let values = LargeArray.doubles(count: planes.totalValues) { out in
            out.initialize(repeating: 0, count: planes.totalValues)
            for (channel, matrix) in input.enumerated() {
                matrix.values.withUnsafeBufferPointer { x in
                    for row in 0..<plan.inputRows {
                        (out + channel * planes.planeStride + (row + planes.top) * planes.planeColumns + planes.left)
                            .update(from: x.baseAddress! + row * plan.inputColumns, count: plan.inputColumns)
                    }
                }
            }
        }
        let area = plan.outputRows * plan.outputColumns
        values.withUnsafeBufferPointer { buffer in
            for rowPhase in planes.rows {
                for columnPhase in planes.columns {
                    guard rowPhase.taps.isEmpty || columnPhase.taps.isEmpty else {
                        runPhase(plan, planes, rowPhase, columnPhase, kernels, bias: bias, base: buffer.baseAddress!, level: level, threads: threads, into: outBase)
                        continue
                    }
                    // No kernel tap reaches these outputs: the bias alone.
                    for o in 0..<plan.outputChannels {
                        for m in 0..<rowPhase.count {
                            for n in 0..<columnPhase.count {
                                outBase[o * area + (rowPhase.first + m * plan.rowStep.stride) * plan.outputColumns + columnPhase.first + n * plan.columnStep.stride] = bias?[o] ?? 0
                            }
                        }
                    }
                }
            }
        }
        return true
    }

    /// One phase (ρ, φ): its taps' sources and packed weights, then every block (`runBlocks`).
    static func runPhase(_ plan: ConvolutionPlan, _ planes: TransposedPlanes, _ rowPhase: TransposedPhase, _ columnPhase: TransposedPhase,
                         _ kernels: [Matrix], bias: [Double]?, base: UnsafePointer<Double>, level: KernelLevel, threads: Int,
                         into outBase: UnsafeMutablePointer<Double>) {
        let placement = Placement(planeColumns: planes.planeColumns, rows: (rowPhase.first, plan.rowStep.stride, rowPhase.count),
                                  columns: (columnPhase.first, plan.columnStep.stride, columnPhase.count), outputColumns: plan.outputColumns)
        let shifts = columnPhase.taps.map(\.shift)
        let schedule = Schedule(plan, positions: placement.positions, tapsPerChannel: rowPhase.taps.count * columnPhase.taps.count,
                                footprintRows: rowPhase.taps.count, reach: shifts.max()! - shifts.min()!, level: level, threads: threads)
        let sources = UnsafeMutablePointer<UnsafePointer<Double>>.allocate(capacity: plan.groups * schedule.taps)
        defer { sources.deallocate() }
        for g in 0..<plan.groups {
            var t = g * schedule.taps
            for c in (g * plan.inputsPerGroup)..<((g + 1) * plan.inputsPerGroup) {
                for (_, rowShift) in rowPhase.taps {
                    for (_, columnShift) in columnPhase.taps {
                        sources[t] = base + c * planes.planeStride + (rowShift + planes.top) * planes.planeColumns + columnShift + planes.left
                        t += 1
                    }
                }
            }
        }
        // Tap t of a group: input channel t / (|A|·|B|) of the group, kernel row A[(t mod |A|·|B|) / |B|], column B[t mod |B|].
        let (rowTaps, columnTaps) = (rowPhase.taps.map(\.kernel), columnPhase.taps.map(\.kernel))
        // The kernel was checked finite by `runTransposed`, so the packing always succeeds.
        guard let weights = packedWeights(plan, schedule, parallel: false, threads: 1, write: { o, start, stride in
            var t = 0
            for c in plan.inputs(of: o) {
                let kernel = kernels[plan.block(input: c, output: o)!]
                for a in rowTaps {
                    for b in columnTaps {
                        start[t * stride] = kernel[a, b]
                        t += 1
                    }
                }
            }
            return true
        }) else { return }
        runBlocks(plan, schedule, placement, sources: sources, weights: weights, bias: bias, level: level, threads: threads, into: outBase)
    }
}
