/// What one drawn cell stands for.
public enum DrawnCell: String, CaseIterable, Sendable {
    /// An input value.
    case input
    /// Implicit padding (zeros, or a pool's ignored values).
    case padding
    /// A zero inserted between inputs by a transposed convolution's stride.
    case zero
    /// Past the padding: only the last window of a ceil-mode pool reaches it.
    case outside
    /// An output value.
    case output
    /// A position of a transposed convolution's full result that its padding crops away.
    case cropped
    /// An output no input reaches (a transposed convolution's output padding past its
    /// padding): it holds the bias only.
    case unreached

    /// Which kind a 2-D cell shows when its row and its column disagree: the more unusual.
    static let precedence: [DrawnCell] = [.outside, .cropped, .padding, .unreached, .zero, .input, .output]

    static func combined(_ a: DrawnCell, _ b: DrawnCell) -> DrawnCell {
        precedence.first { $0 == a || $0 == b }!
    }
}

/// How a drawing shows a layer.
public enum DrawingView: String, CaseIterable, Sendable {
    /// A window sliding over the padded input (convolutions and pools), or for a transposed
    /// convolution over the zero-inserted, padded input at stride 1 (conv_arithmetic's view).
    case window
    /// A transposed convolution as each input spreading a scaled kernel onto the output.
    case scatter
}

/// One layer along one axis as a drawing shows it: a source row of cells and a target row,
/// and per frame a window of `k` taps (every `d`-th cell of a box `ke` wide) on one of them
/// and one marked cell on the other.
///
/// Window view of a convolution or pool (PyTorch `convNd`, `max_poolNd`): the source is the
/// input padded by `pb` and `pa`; frame `o` is output `o`, whose taps are padded cells
/// `o·s + t·d` (input `o·s − pb + t·d`), `t = 0 … k − 1`. A ceil-mode pool's last window may
/// reach past the padding (`outside`).
///
/// Window view of a transposed convolution (PyTorch `conv_transposeNd`): the input with
/// `s − 1` zeros inserted between values (`(n − 1)·s + 1` stretched positions, input `j` at
/// `j·s`), padded by `d·(k − 1) − pb` before and `d·(k − 1) − pa + op` after (negative:
/// cropped), under a stride-1 window: output `o`'s taps are stretched positions
/// `o − (d·(k − 1) − pb) + t·d`, multiplied by the kernel turned by 180°.
///
/// Scatter view of a transposed convolution: frame `j` is input `j`, which adds its value
/// times the kernel to outputs `j·s − pb + t·d`; the target is the full result,
/// `(n − 1)·s + ke` positions, of which `pb` before and `pa − op` after are cropped.
/// Output padding past the padding gives outputs no input reaches.
/// Sources: Dumoulin & Visin, "A guide to convolution arithmetic" (2016), §2–4; PyTorch's
/// ConvTranspose docs; `Tests/fixtures/draw_notes.md` (rules R1–R7).
public struct AxisDrawing: Equatable, Sendable {
    public let view: DrawingView
    /// The layer's arithmetic along this axis (`LayerGeometry.step`).
    public let step: DimensionStep
    public let source: [DrawnCell]
    public let target: [DrawnCell]
    /// The layer's coordinate of source and target cell 0: the input coordinate of the padded
    /// input's first cell (`−pb`), the stretched coordinate of the zero-inserted input's,
    /// or the output coordinate of the full transposed result's (`−pb`).
    public let sourceOrigin: Int
    public let targetOrigin: Int
    /// Frames: outputs (window view) or inputs (scatter view).
    public let frames: Int

    /// Whether the window lies on the source (window view) or the target (scatter view).
    public var windowOnSource: Bool { view == .window }

    /// The number of source and target cells `init` would draw, computed without drawing
    /// them (a size check before the arrays are made; every term fits, as `step` checked it).
    public static func cellCounts(step: DimensionStep, view: DrawingView) -> (source: Int, target: Int) {
        let n = step.input, out = step.output, ke = step.effectiveKernel
        switch (step.rule, view) {
        case (.transposed, .window): return (out + ke - 1, out)
        case (.transposed, .scatter): return (n, max(step.fullTransposedLength, step.pad.before + out))
        default: return (max(step.pad.before + n + step.pad.after, (out - 1) * step.stride + ke), out)
        }
    }

    public init(step: DimensionStep, view: DrawingView) {
        self.view = view
        self.step = step
        let n = step.input, out = step.output, s = step.stride, ke = step.effectiveKernel
        let (pb, pa) = (step.pad.before, step.pad.after)
        switch (step.rule, view) {
        case (.transposed, .window):
            let before = step.zeroInsertionPadding.before, stretched = (n - 1) * s + 1
            source = (0..<(out + ke - 1)).map { c in
                let q = c - before
                return q < 0 || q >= stretched ? .padding : q % s == 0 ? .input : .zero
            }
            sourceOrigin = -before
            target = Array(repeating: .output, count: out)
            targetOrigin = 0
            frames = out
        case (.transposed, .scatter):
            // Full-result cell c is reached when c = j·s + t·d for an input j and a tap t;
            // with gcd(s, d) > 1 some inside are not, and output padding past the padding
            // adds cells after it that none reach.
            let full = step.fullTransposedLength
            var reached = Array(repeating: false, count: max(full, pb + out))
            for j in 0..<n { for t in 0..<step.kernel { reached[j * s + t * step.dilation] = true } }
            source = Array(repeating: .input, count: n)
            sourceOrigin = 0
            target = reached.indices.map { c in
                c < pb || c >= pb + out ? .cropped : reached[c] ? .output : .unreached
            }
            targetOrigin = -pb
            frames = n
        default:
            let reach = max(pb + n + pa, (out - 1) * s + ke)
            source = (0..<reach).map { c in c < pb || (c >= pb + n && c < pb + n + pa) ? .padding : c < pb + n ? .input : .outside }
            sourceOrigin = -pb
            target = Array(repeating: .output, count: out)
            targetOrigin = 0
            frames = out
        }
    }

    /// The first cell of frame `f`'s window box (on the source in the window view, the
    /// target in the scatter view).
    public func windowStart(_ f: Int) -> Int {
        step.rule == .transposed && view == .window ? f : f * step.stride
    }

    /// The cells frame `f`'s window reads (or writes): `windowStart + t·d`.
    public func taps(_ f: Int) -> [Int] {
        (0..<step.kernel).map { windowStart(f) + $0 * step.dilation }
    }

    /// How many frames' windows cover each cell of the side the window is on: how often each
    /// input is read (window view; 0 for inputs never read), or how many terms each output
    /// sums (scatter view; the checkerboard of uneven overlap).
    public var overlap: [Int] {
        var counts = Array(repeating: 0, count: windowOnSource ? source.count : target.count)
        for f in 0..<frames {
            for cell in taps(f) where cell < counts.count { counts[cell] += 1 }
        }
        return counts
    }

    /// The input index of a source cell of the window view, nil for padding and zeros.
    public func inputIndex(ofSource cell: Int) -> Int? {
        guard source.indices.contains(cell), source[cell] == .input else { return nil }
        let q = cell + sourceOrigin
        return step.rule == .transposed && view == .window ? q / step.stride : q
    }
}

extension DimensionStep {
    /// A transposed step as the direct convolution it equals: the padding of the
    /// zero-inserted input, `ke − 1 − pb` before and `ke − 1 − pa + op` after (negative: cropped).
    public var zeroInsertionPadding: PadPair {
        PadPair(effectiveKernel - 1 - pad.before, effectiveKernel - 1 - pad.after + outputPadding)
    }

    /// A transposed step's full result before its padding crops it: `(n − 1)·s + ke`.
    public var fullTransposedLength: Int { (input - 1) * stride + effectiveKernel }
}

/// One layer drawn: one axis (1-D) or two (H, W), frames in row-major order from the
/// top-left, as conv_arithmetic and ezyang's visualizer step. Made from the same
/// `LayerGeometry.step` the sizes come from.
public struct LayerDrawing: Sendable {
    public let geometry: LayerGeometry
    public let view: DrawingView
    public let axes: [AxisDrawing]
    /// Each axis's `overlap`.
    let overlaps: [[Int]]

    /// - Parameter cellLimit: the most cells a grid may have along one axis.
    /// - Throws: `ShapeError.invalidGeometry` for a layer with no window to draw, a scatter
    ///   view of a layer that is not transposed, more than two spatial dimensions, or a grid
    ///   longer than `cellLimit`.
    public init(geometry: LayerGeometry, input: [Int], view: DrawingView, cellLimit: Int) throws {
        let name = geometry.type.rawValue
        guard geometry.rule == .window || geometry.rule == .transposed else {
            throw ShapeError.invalidGeometry("\(name) slides no window, so there is nothing to draw; --draw draws conv, dwconv, sepconv, asym, deform, maxpool, avgpool, pixelunshuffle and tconv layers")
        }
        guard view == .window || geometry.rule == .transposed else {
            throw ShapeError.invalidGeometry("the scatter view draws a transposed convolution (each input spreading the kernel); \(name) has windows only")
        }
        guard geometry.dims <= 2 else {
            throw ShapeError.invalidGeometry("--draw draws 1-D and 2-D layers; this one is \(geometry.dims)-D (give --dims 2 or an HxW size to draw one plane)")
        }
        let steps = try (0..<geometry.dims).map { try geometry.step($0, input: input[$0]) }
        for (dim, step) in steps.enumerated() {
            let counts = AxisDrawing.cellCounts(step: step, view: view)
            let longest = max(counts.source, counts.target)
            guard longest <= cellLimit else {
                let label = DimensionNames.label(dim, of: geometry.dims)
                throw ShapeError.invalidGeometry("a drawing of \(longest) cells\(label.isEmpty ? "" : " along " + label) (input \(step.input), output \(step.output)) is too large to read: --draw draws grids up to \(cellLimit) cells a side; give a smaller --in")
            }
        }
        self.geometry = geometry
        self.view = view
        axes = steps.map { AxisDrawing(step: $0, view: view) }
        overlaps = axes.map(\.overlap)
    }

    public var frameCount: Int { axes.reduce(1) { $0 * $1.frames } }

    /// The composite's number at a cell of the window's side: how many windows read an input
    /// (0: never read), or how many terms an output sums (0: no input reaches it); the product
    /// of the axes' counts. Nil for padding, inserted zeros, cropped and outside cells, which
    /// are marked, not counted.
    public var largestOverlap: Int { overlaps.reduce(1) { $0 * ($1.max() ?? 0) } }

    public func overlapCount(_ position: [Int]) -> Int? {
        let kind = cell(position, onSource: view == .window)
        guard kind == .input || kind == .output || kind == .unreached else { return nil }
        return zip(overlaps, position).reduce(1) { $0 * $1.0[$1.1] }
    }

    /// Frame `f`'s index along each axis (row-major: the last axis fastest).
    public func frameIndices(_ f: Int) -> [Int] {
        var rest = f
        var indices = Array(repeating: 0, count: axes.count)
        for axis in axes.indices.reversed() {
            indices[axis] = rest % axes[axis].frames
            rest /= axes[axis].frames
        }
        return indices
    }

    /// The frame whose indices along each axis are `indices`.
    public func frame(at indices: [Int]) -> Int {
        zip(indices, axes).reduce(0) { $0 * $1.1.frames + $1.0 }
    }

    /// The rows and columns of the source or target grid (a 1-D grid is one row).
    public func gridSize(onSource: Bool) -> (rows: Int, columns: Int) {
        let counts = axes.map { onSource ? $0.source.count : $0.target.count }
        return counts.count == 1 ? (1, counts[0]) : (counts[0], counts[1])
    }

    /// The position of a grid's cell at `row`, `column` (1-D: the column alone).
    public func position(row: Int, column: Int) -> [Int] {
        axes.count == 1 ? [column] : [row, column]
    }

    /// The kind of a source or target cell (row, column; 1-D: column only).
    public func cell(_ position: [Int], onSource: Bool) -> DrawnCell {
        let kinds = zip(position, axes).map { onSource ? $1.source[$0] : $1.target[$0] }
        return kinds.dropFirst().reduce(kinds[0], DrawnCell.combined)
    }

    /// The frames (outputs, or in the scatter view inputs) whose window covers `output`
    /// of the target: one frame for the window view, every input reaching it for the scatter.
    public func frames(reaching output: [Int]) -> [Int] {
        guard view == .scatter else { return [frame(at: output)] }
        let perAxis = zip(axes, output).map { axis, o in
            (0..<axis.frames).filter { axis.taps($0).contains(o - axis.targetOrigin) }
        }
        var result: [[Int]] = [[]]
        for choices in perAxis { result = result.flatMap { prefix in choices.map { prefix + [$0] } } }
        return result.map { frame(at: $0) }
    }
}
