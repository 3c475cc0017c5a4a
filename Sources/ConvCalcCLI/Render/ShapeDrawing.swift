import ConvCalcCore

/// One layer as `shape --draw` shows it, for the terminal and SVG renderers alike: the views
/// (`LayerDrawing`, from the geometry the sizes come from), the frames chosen, and the words
/// of the title, labels, captions and legend.
struct ShapeDrawing {
    /// The most cells a grid may have along one axis: past it a picture is unreadable.
    static let cellLimit = 64
    /// The most frames a text drawing or a static SVG sheet shows; the rest are cut, with a note.
    static let frameLimit = 64

    enum Selection: Equatable {
        case all
        /// `--cell`: one output, by row and column (1-D: one index).
        case cell([Int])
        case composite
    }

    let token: String
    let layer: Layer
    let geometry: LayerGeometry
    let drawings: [LayerDrawing]
    let selection: Selection
    /// No `--in`: the input was chosen for the picture.
    let inputChosen: Bool

    /// - Throws: `ShapeError` for a layer that cannot be drawn or a grid past `cellLimit`;
    ///   `LayerError` for a `--cell` outside the output.
    init(layer: Layer, geometry: LayerGeometry, input: [Int]?, options: DrawOptions) throws {
        token = layer.token
        self.layer = layer
        self.geometry = geometry
        inputChosen = input == nil
        let size = try input ?? Self.chosenInput(geometry)
        let transposed = geometry.rule == .transposed
        drawings = try options.views.views(transposed: transposed).map {
            try LayerDrawing(geometry: geometry, input: size, view: $0, cellLimit: Self.cellLimit)
        }
        if options.composite {
            selection = .composite
        } else if let text = options.cell {
            selection = .cell(try Self.cell(text, output: drawings[0].axes.map(\.step.output)))
        } else {
            selection = .all
        }
    }

    /// An input for a picture when none is given: 5 (a transposed convolution's 3), or the
    /// least above that gives two outputs, along each dimension.
    static func chosenInput(_ geometry: LayerGeometry) throws -> [Int] {
        let start = geometry.rule == .transposed ? 3 : 5
        return try (0..<geometry.dims).map { dim in
            let sizes = start...cellLimit
            let fits = sizes.first { n in ((try? geometry.step(dim, input: n))?.output ?? 0) >= 2 }
                ?? sizes.first { n in ((try? geometry.step(dim, input: n))?.output ?? 0) >= 1 }
            guard let fits else {
                throw ShapeError.invalidGeometry("no input up to \(cellLimit) gives this layer an output to draw; give --in")
            }
            return fits
        }
    }

    /// `--cell R,C` (1-D: `I`), each within the output.
    static func cell(_ text: String, output: [Int]) throws -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.filter { $0 != " " }) }
        let shape = output.map(String.init).joined(separator: "×")
        guard parts.count == output.count, parts.allSatisfy({ $0 != nil }) else {
            throw LayerError.malformedValue(.option("--cell"), value: text,
                                            expected: output.count == 1 ? "one output index from 0" : "ROW,COLUMN of the output, counted from 0")
        }
        let cell = parts.map { $0! }
        guard zip(cell, output).allSatisfy({ (0..<$1).contains($0) }) else {
            throw LayerError.outOfRange(.option("--cell"), value: text,
                                        requirement: .rule("the output is \(shape); count from 0, up to \(output.map { String($0 - 1) }.joined(separator: ","))"))
        }
        return cell
    }

    /// The frames of `drawing` to show, in order: every one, or those of `--cell`.
    func frames(_ drawing: LayerDrawing) -> [Int] {
        switch selection {
        case .all, .composite: return Array(0..<drawing.frameCount)
        case let .cell(cell): return drawing.frames(reaching: cell)
        }
    }

    // MARK: Words

    static func size(_ values: [Int]) -> String { values.map(String.init).joined(separator: "×") }

    var input: [Int] { drawings[0].axes.map(\.step.input) }
    var output: [Int] { drawings[0].axes.map(\.step.output) }

    /// `conv:k=3,s=2,p=1: input 5×5 → output 3×3`.
    var title: String {
        "\(token): input \(Self.size(input)) → output \(Self.size(output))" + (inputChosen ? " (no --in: an input chosen for the picture)" : "")
    }

    /// A number per axis as one (`1`) when the axes agree, else per axis (`1×2`).
    static func perAxis(_ values: [Int]) -> String {
        Set(values).count == 1 ? "\(values[0])" : size(values)
    }

    /// `padding 1`, `padding 2:0`, `padding 1:2×0:1` (before:after per axis).
    func paddingWords(_ axes: [AxisDrawing]) -> String {
        let pairs = axes.map(\.step.pad)
        if pairs.allSatisfy({ $0 == PadPair(0, 0) }) { return "no padding" }
        if pairs.allSatisfy({ $0 == pairs[0] }) {
            return pairs[0].isSymmetric ? "padding \(pairs[0].before)" : "padding \(pairs[0].before) before, \(pairs[0].after) after"
        }
        return "padding " + pairs.map(\.description).joined(separator: "×") + " (before:after)"
    }

    /// What the view shows, in a sentence or two.
    func description(_ drawing: LayerDrawing) -> [String] {
        let axes = drawing.axes
        let kernel = Self.size(axes.map(\.step.kernel)), s = Self.perAxis(axes.map(\.step.stride))
        // "a 3×3 window", "a window of 3" (1-D).
        let (window, kernelWords) = axes.count == 1 ? ("window of \(kernel)", "kernel of \(kernel)") : ("\(kernel) window", "\(kernel) kernel")
        let d = Self.perAxis(axes.map(\.step.dilation)), ke = Self.perAxis(axes.map(\.step.effectiveKernel))
        let dilation = axes.contains { $0.step.dilation > 1 } ? ", dilation \(d): a tap every \(d) cells of a box \(ke) wide" : ""
        switch (geometry.rule, drawing.view) {
        case (.transposed, .window):
            let before = axes.map(\.step.zeroInsertionPadding.before), after = axes.map(\.step.zeroInsertionPadding.after)
            let crop = (before + after).contains { $0 < 0 } ? " (negative: that much of the stretched input is cropped)" : ""
            let zeros = axes.map { $0.step.stride - 1 }
            let inserted = zeros.allSatisfy { $0 == 0 } ? "no zeros inserted (stride 1)"
                : "s − 1 = \(Self.perAxis(zeros)) zero\(zeros == [1] || zeros == [1, 1] ? "" : "s") inserted between inputs (stride \(s))"
            return ["transposed, drawn as a stride-1 convolution: \(inserted), then padded by ke\u{A0}−\u{A0}1\u{A0}−\u{A0}p = \(Self.perAxis(before)) before and ke\u{A0}−\u{A0}1\u{A0}−\u{A0}p\u{A0}+\u{A0}op = \(Self.perAxis(after)) after\(crop); a \(window)\(dilation) with the kernel turned by 180°"]
                + directCounterpart(axes) + channelWords
        case (.transposed, .scatter):
            return ["transposed, drawn as each input adding its value times the \(kernelWords) (stride \(s)\(dilation)) onto the full result of (n\u{A0}−\u{A0}1)·s\u{A0}+\u{A0}ke cells; " + (axes.allSatisfy { $0.step.pad == PadPair(0, 0) } ? "with no padding, all of it is the output" : "\(paddingWords(axes)) crops it to the output") + (axes.contains { $0.step.outputPadding > 0 } ? ", and output padding \(Self.perAxis(axes.map(\.step.outputPadding))) adds cells at the end" : "")]
        default:
            var words = "a \(window), stride \(s)\(dilation), \(paddingWords(axes))"
            if geometry.ceilMode { words += ", ceil mode" }
            if geometry.type == .asym { words += "; asym is k×1 then 1×k, together this k×k window" }
            if geometry.type == .deform { words += "; the regular grid, before the learned offsets move each tap" }
            return [words] + channelWords
        }
    }

    /// How channels meet the window: every channel is read through the same window; groups
    /// choose which input channels an output channel reads (PyTorch's weight layout).
    var channelWords: [String] {
        switch layer.type {
        case .dwconv, .sepconv:
            let mixing = layer.type == .sepconv ? ", then a 1×1 conv mixes the channels" : layer.multiplier > 1 ? " (\(layer.multiplier) outputs per input channel)" : ""
            return ["depthwise: each output channel reads one input channel through this window" + mixing]
        case .conv where (layer.groups ?? 1) > 1, .tconv where (layer.groups ?? 1) > 1:
            let g = layer.groups ?? 1
            return ["groups g=\(g): the channels are split in \(g) groups; an output channel reads only the input channels of its group, each through this window"]
        default: return []
        }
    }

    /// "the transpose of conv k=3,s=2,p=1 taking 6×6 to 3×3", when that conv gives the input back.
    func directCounterpart(_ axes: [AxisDrawing]) -> [String] {
        let back = axes.map { a -> Int in
            let span = a.step.output + a.step.pad.before + a.step.pad.after - a.step.effectiveKernel
            return span < 0 ? 0 : span / a.step.stride + 1
        }
        guard back == input else { return [] }
        let pads = axes.map(\.step.pad)
        let p = pads.allSatisfy { $0 == pads[0] } ? pads[0].description : pads.map(\.description).joined(separator: "x")
        var keys = "k=\(Self.perAxis(axes.map(\.step.kernel)))".replacing("×", with: "x")
        if axes.contains(where: { $0.step.stride > 1 }) { keys += ",s=" + Self.perAxis(axes.map(\.step.stride)).replacing("×", with: "x") }
        if pads.contains(where: { $0.before > 0 || $0.after > 0 }) { keys += ",p=\(p)" }
        if axes.contains(where: { $0.step.dilation > 1 }) { keys += ",d=" + Self.perAxis(axes.map(\.step.dilation)).replacing("×", with: "x") }
        return ["its input \(Self.size(input)) is the output of conv:\(keys) on \(Self.size(output)), which this layer transposes"]
    }

    /// The source grid's label.
    func sourceLabel(_ drawing: LayerDrawing) -> String {
        let cells = Self.size(drawing.axes.map(\.source.count))
        let axes = drawing.axes
        switch (geometry.rule, drawing.view) {
        case (.transposed, .window):
            let before = axes.map(\.step.zeroInsertionPadding.before), after = axes.map(\.step.zeroInsertionPadding.after)
            var done: [String] = []
            if axes.contains(where: { $0.step.stride > 1 }) { done.append("zeros inserted") }
            if (before + after).contains(where: { $0 > 0 }) { done.append("padded") }
            if (before + after).contains(where: { $0 < 0 }) { done.append("cropped") }
            return "input \(Self.size(input))" + (done.isEmpty ? "" : ", " + done.joined(separator: ", ") + ": \(cells)")
        case (.transposed, .scatter): return "input \(Self.size(input))"
        default:
            let padded = axes.map { $0.step.pad.before + $0.step.input + $0.step.pad.after }
            let past = zip(axes, padded).map { $0.source.count - $1 }
            var label = "input \(Self.size(input))"
            if padded != input { label += ", \(paddingWords(axes)): \(Self.size(padded))" }
            if past.contains(where: { $0 > 0 }) { label += ", and \(Self.perAxis(past)) past the padding (ceil mode): \(cells)" }
            return label
        }
    }

    func targetLabel(_ drawing: LayerDrawing) -> String {
        // The full result, (n − 1)·s + ke, without the output padding drawn after it.
        let full = drawing.axes.map(\.step.fullTransposedLength)
        guard drawing.view == .scatter, full != output else { return "output \(Self.size(output))" }
        return "output \(Self.size(output)) (full result \(Self.size(full)))"
    }

    /// `output (0,1) reads input rows −1…1, columns 1…3` (coordinates outside the input are padding).
    func caption(_ drawing: LayerDrawing, frame: Int) -> String {
        let indices = drawing.frameIndices(frame)
        let subject = indices.count == 1 ? "\(indices[0])" : "(" + indices.map(String.init).joined(separator: ",") + ")"
        let names = drawing.axes.count == 1 ? ["positions"] : ["rows", "columns"]
        switch (geometry.rule, drawing.view) {
        case (.transposed, .window):
            let read = zip(drawing.axes, indices).map { axis, f in axis.taps(f).compactMap { axis.inputIndex(ofSource: $0) } }
            if read.contains(where: \.isEmpty) { return "output \(subject) reads only inserted zeros and padding: bias only" }
            return "output \(subject) reads input " + Self.positions(read, names: names)
        case (.transposed, .scatter):
            let written = zip(drawing.axes, indices).map { axis, f in axis.taps(f).map { $0 + axis.targetOrigin } }
            return "input \(subject) adds to output " + Self.positions(written, names: names)
        default:
            let read = zip(drawing.axes, indices).map { axis, f in axis.taps(f).map { $0 + axis.sourceOrigin } }
            return "output \(subject) reads input " + Self.positions(read, names: names) + outsideWords(drawing.axes, read)
        }
    }

    /// Positions per axis: `rows −1…1, columns 1…3` for runs; `rows 0, 2 and 4; columns 1`
    /// when the taps leave gaps (dilation), so a range never claims a position not read.
    static func positions(_ perAxis: [[Int]], names: [String]) -> String {
        let texts = perAxis.map { values -> (String, Bool) in
            let sorted = Array(Set(values)).sorted()
            guard let low = sorted.first, let high = sorted.last else { return ("none", false) }
            if high - low + 1 == sorted.count { return (low == high ? "\(low)" : "\(low)…\(high)", false) }
            if sorted.count <= 6 { return (sorted.dropLast().map(String.init).joined(separator: ", ") + " and \(high)", true) }
            return ("\(low)…\(high) every \(sorted[1] - low)", false)
        }
        let listed = texts.contains { $0.1 }
        return zip(names, texts).map { "\($0) \($1.0)" }.joined(separator: listed ? "; " : ", ")
    }

    /// What the taps outside the input are: ` (outside 0…5: padding)`, and past the padding
    /// (a ceil-mode pool's last window), empty when every tap reads the input.
    func outsideWords(_ axes: [AxisDrawing], _ read: [[Int]]) -> String {
        let n = axes.map(\.step.input)
        guard zip(read, n).contains(where: { taps, n in taps.contains { $0 < 0 || $0 >= n } }) else { return "" }
        let range = Self.perAxis(n.map { $0 - 1 }).replacing("×", with: ", ")
        let past = zip(axes, read).contains { axis, taps in taps.contains { $0 >= axis.step.input + axis.step.pad.after } }
        return " (outside 0…\(range): padding" + (past ? "; past the padding: the pool ignores it" : "") + ")"
    }

    /// One entry of a legend: a kind of cell, plain or covered (by a tap, or as the frame's
    /// marked cell), and what it means.
    struct LegendEntry {
        enum Cover { case none, tap, mark }
        let kind: DrawnCell
        let cover: Cover
        let words: String
    }

    /// The legend of `drawing`: each kind of cell it has, then each kind a tap covers, then
    /// the marked cell on the other grid.
    func legend(_ drawing: LayerDrawing) -> [LegendEntry] {
        let onSource = drawing.view == .window
        let kinds = Set(drawing.axes.flatMap { $0.source + $0.target })
        let windowKinds = Set(drawing.axes.flatMap { onSource ? $0.source : $0.target })
        var entries = DrawnCell.allCases.filter(kinds.contains).map { LegendEntry(kind: $0, cover: .none, words: Self.meaning($0)) }
        entries += DrawnCell.allCases.filter { windowKinds.contains($0) && $0 != .unreached }.map {
            LegendEntry(kind: $0, cover: .tap, words: (onSource ? "tap on " : "kernel tap on ") + Self.tapped($0))
        }
        entries.append(LegendEntry(kind: onSource ? .output : .input, cover: .mark,
                                   words: onSource ? "the output the window makes" : "the input the kernel comes from"))
        return entries
    }

    /// What a tap covers, after "tap on".
    static func tapped(_ kind: DrawnCell) -> String {
        switch kind {
        case .input: return "an input"
        case .padding: return "padding (reads 0)"
        case .zero: return "an inserted zero"
        case .outside: return "a cell past the padding (ignored)"
        case .output, .unreached: return "an output"
        case .cropped: return "a cropped cell"
        }
    }

    static func meaning(_ kind: DrawnCell) -> String {
        switch kind {
        case .input: return "input"
        case .padding: return "padding"
        case .zero: return "zero inserted by the stride"
        case .outside: return "past the padding (ceil mode)"
        case .output: return "output"
        case .cropped: return "cropped by the padding"
        case .unreached: return "output no input reaches (bias only)"
        }
    }

    /// The most cells the frames of a text drawing may have together (about 100 kB).
    static let textCellLimit = 40_000

    /// The frames shown and, when they are cut at `frameLimit` (and for text, at
    /// `textCellLimit` cells), a note saying so.
    func shownFrames(_ drawing: LayerDrawing, text: Bool = false) -> (frames: [Int], note: String?) {
        let all = frames(drawing)
        if all.isEmpty, case let .cell(cell) = selection {
            let name = cell.count == 1 ? "\(cell[0])" : "(" + cell.map(String.init).joined(separator: ",") + ")"
            return ([], "no input reaches output \(name): it holds the bias only (no frame to draw)")
        }
        let cells = drawing.axes.reduce(1) { $0 * $1.source.count } + drawing.axes.reduce(1) { $0 * $1.target.count }
        let limit = text ? min(Self.frameLimit, max(1, Self.textCellLimit / cells)) : Self.frameLimit
        guard all.count > limit else { return (all, nil) }
        return (Array(all.prefix(limit)),
                "the first \(limit) of \(all.count) frames are drawn; --cell R,C draws one, --composite all at once" + (text ? ", --draw svg --animate each in turn" : ""))
    }
}
