import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// `convcalc run --explain`: the working of a small convolution, for students.
///
/// Shows the padded input (for a transposed convolution, the equivalent zero-inserted and
/// padded input of the direct form), one output element's sum written out term by term,
/// the output, and the convolution as a matrix A with y = A·vec(x).
struct ConvolutionExplanation {
    let plan: ConvolutionPlan
    let input: [Matrix]
    let kernel: [Matrix]
    let bias: [Double]?
    let formatter: MatrixFormatter
    /// The width text lines are broken to; the matrices are shown whole.
    let layout: TextLayout

    static let largest = 20

    func render(at: String?) throws -> String {
        try checkSize()
        let (o, i, j) = try element(at)
        return try working(o, i, j)
    }

    /// The limits of a working that shows every value and term.
    func checkSize() throws {
        guard plan.inputRows <= Self.largest, plan.inputColumns <= Self.largest,
              plan.outputRows <= 2 * Self.largest, plan.outputColumns <= 2 * Self.largest else {
            throw ExplanationLimit(message: "--explain shows every value, so it takes inputs up to \(Self.largest)x\(Self.largest) and outputs up to \(2 * Self.largest)x\(2 * Self.largest); this one is \(plan.inputRows)x\(plan.inputColumns) → \(plan.outputRows)x\(plan.outputColumns) (use --as-matrix, or drop --explain)")
        }
        let terms = plan.inputsPerGroup * plan.kernelRows * plan.kernelColumns
        guard terms <= Self.largest * Self.largest, plan.inputChannels <= 16, plan.outputChannels <= 16 else {
            throw ExplanationLimit(message: "--explain writes every term out, so it takes up to \(Self.largest * Self.largest) terms per output and 16 channels; this one has \(terms) terms and \(plan.inputChannels) → \(plan.outputChannels) channels (drop --explain)")
        }
    }

    /// The working for output element (o, i, j).
    func working(_ o: Int, _ i: Int, _ j: Int) throws -> String {
        let spec = plan.spec
        let multi = plan.inputChannels > 1 || plan.outputChannels > 1
        var lines: [String] = []
        let operation = spec.transposed ? "transposed convolution (PyTorch conv_transpose2d)"
            : spec.flip ? "true convolution (kernel turned by 180°, MATLAB conv2)" : "cross-correlation (PyTorch conv2d)"
        lines += prose(operation)
        lines += prose("input x: \(plan.inputChannels)x\(plan.inputRows)x\(plan.inputColumns)   kernel k: \(plan.kernelShape.map(String.init).joined(separator: "x"))\(plan.groups > 1 ? "   groups: \(plan.groups)" : "")")
        lines += prose("stride \(plan.rowStep.stride)x\(plan.columnStep.stride), dilation \(plan.rowStep.dilation)x\(plan.columnStep.dilation), padding \(plan.rowStep.pad)x\(plan.columnStep.pad)\(spec.transposed ? "" : " (\(spec.paddingMode.rawValue))")\(spec.transposed ? ", output padding \(plan.rowStep.outputPadding)x\(plan.columnStep.outputPadding)" : "")")
        lines += outputSize()
        lines.append("")
        if spec.flip {
            lines.append("kernel turned by 180° (what the correlation uses):")
            for (index, block) in kernel.enumerated() {
                if kernel.count > 1 { lines.append("  block \(index):") }
                lines += grid(block.rotated180(), marks: nil)
            }
            lines.append("")
        }
        if spec.transposed {
            lines += zeroInsertedView()
        } else {
            lines += paddedView()
        }
        lines.append("")
        lines += sum(o, i, j, multi: multi)
        lines.append("")
        let output = Convolution.run(plan, input, kernel, bias: bias)
        lines.append("output y (\(plan.outputChannels)x\(plan.outputRows)x\(plan.outputColumns)):")
        for (index, channel) in output.enumerated() {
            if output.count > 1 { lines.append("  channel \(index):") }
            lines += grid(channel, marks: nil)
        }
        lines.append("")
        lines += matrixView()
        return lines.joined(separator: "\n") + "\n"
    }

    /// `--at R,C` or `O,R,C`; the centre of channel 0 by default.
    func element(_ text: String?) throws -> (Int, Int, Int) {
        guard let text else { return (0, plan.outputRows / 2, plan.outputColumns / 2) }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.allSatisfy({ $0 != nil }), parts.count == 2 || parts.count == 3 else {
            throw LayerError.malformedValue(.option("--at"), value: text, expected: "ROW,COLUMN or CHANNEL,ROW,COLUMN, counted from 0")
        }
        let v = parts.map { $0! }
        let (o, i, j) = v.count == 3 ? (v[0], v[1], v[2]) : (0, v[0], v[1])
        guard (0..<plan.outputChannels).contains(o), (0..<plan.outputRows).contains(i), (0..<plan.outputColumns).contains(j) else {
            throw LayerError.outOfRange(.option("--at"), value: text,
                requirement: .rule("the output is \(plan.outputChannels)x\(plan.outputRows)x\(plan.outputColumns); count from 0"))
        }
        return (o, i, j)
    }

    /// The output size's working for rows and columns: one line, or one each when that is too wide.
    func outputSize() -> [String] {
        let type: LayerType = plan.spec.transposed ? .tconv : .conv
        let rows = ShapeWorking.output(plan.rowStep, type: type).replacingFirst("out = ", with: "")
        let columns = ShapeWorking.output(plan.columnStep, type: type).replacingFirst("out = ", with: "")
        let line = "output size: rows " + rows + "; columns " + columns
        guard !layout.fits(line) else { return [line] }
        return ["output size:"] + LineFit.equation("  rows " + rows, layout: layout) + LineFit.equation("  columns " + columns, layout: layout)
    }

    /// A line of text broken at spaces to the width (continuation lines two columns in).
    func prose(_ line: String) -> [String] { LineFit.prose(line, layout: layout) }

    /// Right-aligned rows, `·` where a position is padding.
    func grid(_ m: Matrix, marks: ((Int, Int) -> Bool)?) -> [String] {
        var cells: [[String]] = []
        for r in 0..<m.rows {
            cells.append((0..<m.columns).map { c in marks?(r, c) == true ? "·" : formatter.number(m[r, c]) })
        }
        let width = cells.flatMap { $0 }.map(\.count).max() ?? 1
        return cells.map { "  " + $0.map { String(repeating: " ", count: width - $0.count) + $0 }.joined(separator: " ") }
    }

    func paddedView() -> [String] {
        let (r, c) = (plan.rowStep, plan.columnStep)
        let rows = plan.inputRows + r.pad.before + r.pad.after, columns = plan.inputColumns + c.pad.before + c.pad.after
        var lines = prose("padded input xp (\(rows)x\(columns))" + (plan.spec.paddingMode == .zeros ? "; · marks a zero from padding:" : ", padding filled by \(plan.spec.paddingMode.rawValue):"))
        for (index, channel) in input.enumerated() {
            let padded = PaddedInput.padded(channel, plan)
            if input.count > 1 { lines.append("  channel \(index):") }
            lines += grid(padded.values, marks: { padded.isFilled[$0][$1] })
        }
        return lines
    }

    /// The direct form of a transposed convolution (`PaddedInput.zeroInserted`).
    func zeroInsertedView() -> [String] {
        var lines = prose("as a direct convolution: insert s − 1 zeros between input values, pad by d·(k − 1) − p on each side (and the output padding after), then correlate with the kernel turned by 180°.")
        let forms = input.map { PaddedInput.zeroInserted($0, plan) }
        guard let first = forms.first ?? nil else {
            lines += prose("(here the padding exceeds d·(k − 1), so the direct form would crop instead of pad; see the sum below)")
            return lines
        }
        lines += prose("zero-inserted, padded input (\(first.values.rows)x\(first.values.columns)); · marks an inserted or padding zero:")
        for (index, form) in forms.enumerated() {
            guard let form else { continue }
            if input.count > 1 { lines.append("  channel \(index):") }
            lines += grid(form.values, marks: { form.isFilled[$0][$1] })
        }
        return lines
    }

    func sum(_ o: Int, _ i: Int, _ j: Int, multi: Bool) -> [String] {
        let terms = Convolution.terms(plan, input, kernel, output: o, row: i, column: j)
        let n = formatter.number
        let name = multi ? "y[\(o)][\(i), \(j)]" : "y[\(i), \(j)]"
        func kernelIndex(_ t: ConvolutionTerm) -> String {
            let outer = t.block / plan.inner, inner = t.block % plan.inner
            return multi ? "k[\(outer),\(inner),\(t.kernelRow),\(t.kernelColumn)]" : "k[\(t.kernelRow),\(t.kernelColumn)]"
        }
        var lines: [String] = []
        let r = plan.rowStep, c = plan.columnStep
        if plan.spec.transposed {
            lines += prose("\(name): the sum of x[p, q]·k[a, b] over every input (p, q) and tap (a, b) with p·\(r.stride) + a·\(r.dilation) − \(r.pad.before) = \(i) and q·\(c.stride) + b·\(c.dilation) − \(c.pad.before) = \(j)" + (multi ? ", over the input channels of its group" : ""))
        } else {
            lines += prose("\(name) = Σ_a Σ_b xp[\(i)·\(r.stride) + a·\(r.dilation), \(j)·\(c.stride) + b·\(c.dilation)]·k[a, b]" + (multi ? ", summed over the input channels of its group" : ""))
        }
        guard !terms.isEmpty else {
            lines.append("  = 0 (no input reaches this element)" + (bias.map { " + bias \(n($0[o]))" } ?? ""))
            return lines
        }
        let symbolic = terms.map { t -> String in
            let x = multi ? "x\(plan.spec.transposed ? "" : "p")[\(t.channel)]" : (plan.spec.transposed ? "x" : "xp")
            return "\(x)[\(t.paddedRow),\(t.paddedColumn)]·\(kernelIndex(t))"
        }
        /// Negative factors in parentheses: `5·(-2)`.
        func factor(_ v: Double) -> String { v < 0 ? "(\(n(v)))" : n(v) }
        let numeric = terms.map { "\(factor($0.value))·\(factor($0.weight))" }
        var total = terms.reduce(0.0) { $0 + $1.value * $1.weight }
        var biasText = ""
        if let bias {
            total += bias[o]
            biasText = " + \(factor(bias[o]))"
        }
        lines += LineFit.fit("  = " + symbolic.joined(separator: " + ") + (bias != nil ? " + bias[\(o)]" : ""), layout: layout, indent: 4,
                             breaksBefore: ["+"])
        lines += LineFit.fit("  = " + numeric.joined(separator: " + ") + biasText, layout: layout, indent: 4, breaksBefore: ["+"])
        lines.append("  = \(n(total))")
        let padding = terms.filter { $0.sourceRow == nil }.count
        if padding > 0 { lines.append("  (\(padding) of the \(terms.count) terms read padding)") }
        return lines
    }

    func matrixView() -> [String] {
        let rows = plan.outputChannels * plan.outputRows * plan.outputColumns
        let columns = plan.inputChannels * plan.inputRows * plan.inputColumns
        var lines = prose("as a matrix: y = A·vec(x)\(bias != nil ? " + bias" : ""), vec reading \(plan.inputChannels > 1 ? "channels, then " : "")rows, then columns; A is \(rows)x\(columns).")
        if plan.spec.transposed {
            lines += prose("This A is Aᵀ of the forward convolution with the same kernel, stride, dilation and padding (the one taking a \(plan.outputRows)x\(plan.outputColumns) input to \(plan.inputRows)x\(plan.inputColumns)): the transposed convolution is its transpose, hence the name.")
        }
        guard rows <= 64, columns <= 64, let a = try? Convolution.matrix(plan, kernel: kernel) else {
            lines.append("(too large to show here; convcalc run --as-matrix prints it)")
            return lines
        }
        lines += grid(a, marks: nil)
        return lines
    }
}

/// An input too large to write out term by term: a limit on the data, not a usage error
/// (exit 1, as every other limit of `run`).
struct ExplanationLimit: UserFacingError {
    let message: String
    var category: ErrorCategory { .data }
}
