import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// `run --explain --draw svg`: one output element and what feeds it, from the same terms
/// `run --explain` writes out (`Convolution.terms`). Per input channel of its group, the
/// padded input (a transposed convolution's: the input itself) with every value, the cells
/// read outlined and each marked with the weight it is multiplied by; the kernel; the
/// output, the element marked; and the sum, term by term.
extension ConvolutionExplanation {
    func svg(at: String?) throws -> String {
        try checkSize()
        let (o, i, j) = try element(at)
        let terms = Convolution.terms(plan, input, kernel, output: o, row: i, column: j)
        let spec = plan.spec
        let n = formatter.number
        let output = Convolution.run(plan, input, kernel, bias: bias)
        let name = plan.outputChannels > 1 ? "y[\(o)][\(i), \(j)]" : "y[\(i), \(j)]"
        let operation = spec.transposed ? "transposed convolution (PyTorch conv_transpose2d)"
            : spec.flip ? "true convolution (MATLAB conv2: the kernel turned by 180°)" : "cross-correlation (PyTorch conv2d)"
        var document = SVGDocument(width: 0, height: 0, title: "\(name): \(operation)")
        var y = 20
        document.body.append(SVGDocument.text("\(name) = \(n(output[o][i, j])): \(operation)", x: 16, y: y, className: "title"))
        y += 22
        // The channels the element reads, each a padded grid with its taps.
        let channels = Array(Set(terms.map(\.channel))).sorted()
        var width = 0
        for channel in channels.isEmpty ? [0] : channels {
            let placed = channelGrid(channel, terms: terms.filter { $0.channel == channel }, element: name, y: y)
            document.body += placed.parts
            width = max(width, placed.width)
            y += placed.height + 12
        }
        for (index, block) in kernel.enumerated() where terms.isEmpty || terms.contains(where: { $0.block == index }) {
            let used = spec.flip && !spec.transposed ? block.rotated180() : block
            let label = (spec.flip && !spec.transposed ? "kernel turned by 180° (as used)" : "kernel k") + (kernel.count > 1 ? " block \(index)" : "")
            let placed = valueGrid(used, label: label, x: 16, y: y, shaded: { _, _ in false }, outlined: { _, _ in false }, note: { _, _ in nil })
            document.body += placed.parts
            y += placed.height + 12
        }
        let placed = valueGrid(output[o], label: "output y\(output.count > 1 ? "[\(o)]" : "") \(plan.outputRows)×\(plan.outputColumns)", x: 16, y: y,
                               shaded: { _, _ in false }, outlined: { $0 == i && $1 == j }, note: { _, _ in nil })
        document.body += placed.parts
        width = max(width, placed.width)
        y += placed.height + 18
        let sum = terms.map { "\(factor($0.value))·\(factor($0.weight))" }.joined(separator: " + ")
        let text = "\(name) = " + (terms.isEmpty ? "0 (no input reaches it)" : sum) + (bias.map { " + bias \(factor($0[o]))" } ?? "") + " = \(n(output[o][i, j]))"
        for line in SVGDocument.wrap(text, columns: 100) {
            document.body.append(SVGDocument.text(line, x: 16, y: y))
            y += 16
        }
        document.width = max(width + 32, 720)
        document.height = y + 8
        return document.text
    }

    /// One input channel's padded grid (for a transposed convolution, the input) with every
    /// value, padding shaded whatever fills it, the values `terms` read outlined with their weights.
    func channelGrid(_ channel: Int, terms: [ConvolutionTerm], element: String, y: Int) -> (parts: [String], width: Int, height: Int) {
        let suffix = input.count > 1 ? "[\(channel)]" : ""
        let values: Matrix, shaded: [[Bool]], label: String
        if plan.spec.transposed {
            values = input[channel]
            shaded = Array(repeating: Array(repeating: false, count: values.columns), count: values.rows)
            label = "input x\(suffix) \(values.rows)×\(values.columns): the inputs whose kernel reaches \(element)"
        } else {
            values = PaddedInput.padded(input[channel], plan).values
            let (r, c) = (plan.rowStep.pad, plan.columnStep.pad)
            shaded = (0..<values.rows).map { row in
                (0..<values.columns).map { column in
                    row < r.before || row >= r.before + plan.inputRows || column < c.before || column >= c.before + plan.inputColumns
                }
            }
            let size = "\(values.rows)×\(values.columns)"
            label = r.before + r.after + c.before + c.after == 0 ? "input x\(suffix) \(size)"
                : "padded input xp\(suffix) \(size) (\(plan.spec.paddingMode.rawValue) padding shaded)"
        }
        let weights = Dictionary(terms.map { ([$0.paddedRow, $0.paddedColumn], $0.weight) }, uniquingKeysWith: { a, _ in a })
        return valueGrid(values, label: label, x: 16, y: y, shaded: { shaded[$0][$1] },
                         outlined: { weights[[$0, $1]] != nil }, note: { weights[[$0, $1]].map { "×" + formatter.number($0) } })
    }

    /// A factor in parentheses when negative: `5·(-2)`.
    func factor(_ value: Double) -> String { value < 0 ? "(\(formatter.number(value)))" : formatter.number(value) }

    /// A matrix drawn with its values: a label, then a cell per value, some shaded, some
    /// outlined with a note under the value (the weight a tap multiplies by).
    func valueGrid(_ m: Matrix, label: String, x: Int, y: Int, shaded: (Int, Int) -> Bool, outlined: (Int, Int) -> Bool,
                   note: (Int, Int) -> String?) -> (parts: [String], width: Int, height: Int) {
        var longest = 1
        for r in 0..<m.rows { for c in 0..<m.columns { longest = max(longest, formatter.number(m[r, c]).count, (note(r, c)?.count ?? 0)) } }
        let cellWidth = max(28, longest * 7 + 8), cellHeight = 30
        var parts = [SVGDocument.text(label, x: x, y: y + 12)]
        let top = y + 18
        for r in 0..<m.rows {
            for c in 0..<m.columns {
                let (cx, cy) = (x + c * cellWidth, top + r * cellHeight)
                parts.append(SVGDocument.rect(x: cx, y: cy, width: cellWidth, height: cellHeight, className: "cell " + (shaded(r, c) ? "padding" : "value-cell"),
                                              extra: shaded(r, c) ? "" : ##" fill="#ffffff""##))
                parts.append(SVGDocument.text(formatter.number(m[r, c]), x: cx + cellWidth / 2, y: cy + 13, className: "value"))
                if outlined(r, c) {
                    parts.append(SVGDocument.rect(x: cx, y: cy, width: cellWidth, height: cellHeight, className: "mark"))
                }
                if let text = note(r, c) {
                    parts.append(SVGDocument.text(text, x: cx + cellWidth / 2, y: cy + 26, className: "value weight"))
                }
            }
        }
        return (parts, max(m.columns * cellWidth, SVGDocument.textWidth(label)), 18 + m.rows * cellHeight)
    }
}
