import ConvCalcCore

/// An input as the convolution reads it, for showing the working (`run --explain`): the same
/// padding sources (`PaddingMode.source`) the direct method reads through.
public struct PaddedInput: Sendable {
    public var values: Matrix
    /// `isFilled[r][c]`: the value is not the input's own (padding; for the zero-inserted
    /// form, an inserted or padding zero).
    public var isFilled: [[Bool]]

    /// `xp`: the input padded by the plan's padding, filled as its padding mode says.
    public static func padded(_ channel: Matrix, _ plan: ConvolutionPlan) -> PaddedInput {
        let (r, c) = (plan.rowStep, plan.columnStep)
        let rows = plan.inputRows + r.pad.before + r.pad.after, columns = plan.inputColumns + c.pad.before + c.pad.after
        var result = PaddedInput(values: Matrix(rows: rows, columns: columns),
                                 isFilled: [[Bool]](repeating: [Bool](repeating: true, count: columns), count: rows))
        for pr in 0..<rows {
            for pc in 0..<columns {
                if let sr = plan.spec.paddingMode.source(pr - r.pad.before, plan.inputRows),
                   let sc = plan.spec.paddingMode.source(pc - c.pad.before, plan.inputColumns) {
                    result.values[pr, pc] = channel[sr, sc]
                    result.isFilled[pr][pc] = false
                }
            }
        }
        return result
    }

    /// The direct form of a transposed convolution: s − 1 zeros between input values and
    /// d·(k − 1) − p zeros on each side (plus the output padding after), which a correlation
    /// with the kernel turned by 180° maps to the transposed convolution's output. Nil when the
    /// padding exceeds d·(k − 1) (the direct form would crop instead of pad).
    public static func zeroInserted(_ channel: Matrix, _ plan: ConvolutionPlan) -> PaddedInput? {
        let (r, c) = (plan.rowStep, plan.columnStep)
        let before = (rows: r.dilation * (plan.kernelRows - 1) - r.pad.before, columns: c.dilation * (plan.kernelColumns - 1) - c.pad.before)
        let after = (rows: r.dilation * (plan.kernelRows - 1) - r.pad.after + r.outputPadding,
                     columns: c.dilation * (plan.kernelColumns - 1) - c.pad.after + c.outputPadding)
        guard before.rows >= 0, before.columns >= 0, after.rows >= 0, after.columns >= 0 else { return nil }
        let rows = (plan.inputRows - 1) * r.stride + 1 + before.rows + after.rows
        let columns = (plan.inputColumns - 1) * c.stride + 1 + before.columns + after.columns
        var result = PaddedInput(values: Matrix(rows: rows, columns: columns),
                                 isFilled: [[Bool]](repeating: [Bool](repeating: true, count: columns), count: rows))
        for i in 0..<plan.inputRows {
            for j in 0..<plan.inputColumns {
                result.values[before.rows + i * r.stride, before.columns + j * c.stride] = channel[i, j]
                result.isFilled[before.rows + i * r.stride][before.columns + j * c.stride] = false
            }
        }
        return result
    }
}
