import ConvCalcCore

/// `shape --draw svg`: a sheet of frames (or one animated frame, or the composite) per view.
///
/// Each grid is drawn once in `<defs>` and placed by `<use>`, so a sheet grows with its
/// frames' windows, not their grids. Every placed grid, window and mark carries `data-*`
/// attributes (the role, its top-left corner, the cell size, the layer coordinate of its
/// first cell; the frame's subject and taps), so a test can check each window against the
/// arithmetic without reading pixels.
enum DrawingSVG {
    static let cell = 20
    static let margin = 16
    static let gap = 48
    static let line = 16
    /// Wider sheets wrap their frames onto the next row.
    static let sheetWidth = 1400
    /// The most frames an animation captions one by one (each caption is an element).
    static let captionedFrames = 400

    static func render(_ picture: ShapeDrawing, animate: Bool) -> String {
        var document = SVGDocument(width: 0, height: 0, title: picture.title)
        var y = margin + 4
        var width = 0
        document.body.append(SVGDocument.text(picture.title, x: margin, y: y, className: "title"))
        y += line + 4
        for (number, drawing) in picture.drawings.enumerated() {
            let prefix = "v\(number)"
            document.body.append("<defs>")
            document.body.append(grid(drawing, source: true, id: prefix + "-source"))
            document.body.append(grid(drawing, source: false, id: prefix + "-target"))
            document.body.append(windowShape(drawing, id: prefix + "-window"))
            document.body.append("</defs>")
            for sentence in picture.description(drawing) {
                for part in SVGDocument.wrap(sentence, columns: 110) {
                    document.body.append(SVGDocument.text(part, x: margin, y: y, className: "note"))
                    width = max(width, SVGDocument.textWidth(part))
                    y += line
                }
            }
            y += 6
            let block = Block(picture: picture, drawing: drawing, prefix: prefix)
            let placed: (height: Int, width: Int)
            switch picture.selection {
            case .composite: placed = composite(block, into: &document, y: y)
            case .all where animate: placed = animated(block, into: &document, y: y)
            default: placed = sheet(block, into: &document, y: y)
            }
            y += placed.height + margin
            width = max(width, placed.width)
            let legend = legend(picture.legend(drawing), width: width, into: &document, y: y)
            width = max(width, legend.width)
            y = legend.bottom + 3 * margin   // a clear gap before the next view
        }
        document.width = max(width + 2 * margin, SVGDocument.textWidth(picture.title, size: 14) + 2 * margin)
        document.height = y
        return document.text
    }

    /// One frame's layout: the two grids' sizes and places, and the labels over them.
    struct Block {
        let picture: ShapeDrawing
        let drawing: LayerDrawing
        let prefix: String

        var sourceCells: [Int] { let size = drawing.gridSize(onSource: true); return [size.rows, size.columns] }
        var targetCells: [Int] { let size = drawing.gridSize(onSource: false); return [size.rows, size.columns] }
        var sourceLabel: String { picture.sourceLabel(drawing) }
        var targetLabel: String { picture.targetLabel(drawing) }
        /// The target grid's left edge.
        var targetX: Int { max(sourceCells[1] * cell, SVGDocument.textWidth(sourceLabel)) + gap }
        /// The grids' width, or the widest caption's.
        var width: Int {
            let captions = picture.shownFrames(drawing).frames.map { SVGDocument.textWidth(picture.caption(drawing, frame: $0)) }
            return max(targetX + max(targetCells[1] * cell, SVGDocument.textWidth(targetLabel)), captions.max() ?? 0)
        }
        /// The grids' top, under the caption and labels.
        static let gridY = 2 * line + 6
        var height: Int { Block.gridY + max(sourceCells[0], targetCells[0]) * cell + 4 }
        var windowOnSource: Bool { drawing.view == .window }
    }

    /// Rows × columns of a grid (a 1-D grid is one row).
    static func plane(_ counts: [Int]) -> [Int] { counts.count == 1 ? [1, counts[0]] : counts }

    /// Row and column of a position (a 1-D position is in row 0).
    static func rowColumn(_ position: [Int]) -> [Int] { position.count == 1 ? [0, position[0]] : position }

    /// The cells of one grid as a `<g>` with an id, each a `<rect>` of its kind's class.
    static func grid(_ drawing: LayerDrawing, source: Bool, id: String, counting: Bool = false) -> String {
        let (rows, columns) = drawing.gridSize(onSource: source)
        var cells = [#"<g id="\#(id)">"#]
        for row in 0..<rows {
            for column in 0..<columns {
                let position = drawing.position(row: row, column: column)
                let kind = drawing.cell(position, onSource: source)
                cells.append(SVGDocument.rect(x: column * cell, y: row * cell, width: cell, height: cell, className: "cell " + kind.rawValue))
                if counting, let count = drawing.overlapCount(position) {
                    // Smaller type for longer numbers, so three and four digits fit the cell.
                    let digits = String(count).count
                    cells.append(#"<text x="\#(column * cell + cell / 2)" y="\#(row * cell + cell / 2 + 4)" class="count" style="font-size:\#(digits <= 2 ? 11 : digits == 3 ? 8 : 6)px">\#(count)</text>"#)
                }
            }
        }
        cells.append("</g>")
        return cells.joined(separator: "\n")
    }

    /// A placed grid: a `<use>` of its definition with where it is and what its cells mean.
    static func use(_ block: Block, source: Bool, x: Int, y: Int) -> String {
        let axes = block.drawing.axes
        let origin = axes.map { source ? $0.sourceOrigin : $0.targetOrigin }.map(String.init).joined(separator: ",")
        let id = block.prefix + (source ? "-source" : "-target")
        return ##"<use href="#\##(id)" x="\##(x)" y="\##(y)" class="grid" data-role="\##(source ? "source" : "target")" data-x="\##(x)" data-y="\##(y)" data-cell="\##(cell)" data-origin="\##(origin)"/>"##
    }

    /// The labels and the two grids of a block at (x, y).
    static func grids(_ block: Block, x: Int, y: Int) -> [String] {
        [
            SVGDocument.text(block.sourceLabel, x: x, y: y + 2 * line),
            SVGDocument.text(block.targetLabel, x: x + block.targetX, y: y + 2 * line),
            SVGDocument.text("→", x: x + block.targetX - gap / 2 - 6, y: y + Block.gridY + 14),
            use(block, source: true, x: x, y: y + Block.gridY),
            use(block, source: false, x: x + block.targetX, y: y + Block.gridY),
        ]
    }

    /// The window's shape, once, in `<defs>`: its taps (every `d`-th cell) and its box, from
    /// the box's top-left corner. Every frame places it with a `<use>`.
    static func windowShape(_ drawing: LayerDrawing, id: String) -> String {
        let axes = drawing.axes
        let taps = plane2(axes.map { axis in (0..<axis.step.kernel).map { $0 * axis.step.dilation } })
        let box = plane(axes.map(\.step.effectiveKernel))
        var parts = [#"<g id="\#(id)">"#]
        for cells in taps {
            let (row, column) = cells.count == 1 ? (0, cells[0]) : (cells[0], cells[1])
            parts.append(SVGDocument.rect(x: column * cell, y: row * cell, width: cell, height: cell, className: "tap"))
        }
        parts.append(SVGDocument.rect(x: 0, y: 0, width: box[1] * cell, height: box[0] * cell, className: "box"))
        parts.append("</g>")
        return parts.joined(separator: "\n")
    }

    /// Frame `f`'s window (a `<use>` of its shape) and its mark on the other grid, at the
    /// block's (x, y); `inside` goes inside each (an animation).
    static func window(_ block: Block, frame f: Int, x: Int, y: Int, inside: (window: String, mark: String) = ("", "")) -> [String] {
        let axes = block.drawing.axes
        let indices = block.drawing.frameIndices(f)
        let on = block.windowOnSource
        let start = rowColumn(zip(axes, indices).map { $0.windowStart($1) }), marked = rowColumn(indices)
        let top = y + Block.gridY
        let layerTaps = plane2(zip(axes, indices).map { axis, i in axis.taps(i).map { $0 + (on ? axis.sourceOrigin : axis.targetOrigin) } })
            .map { $0.map(String.init).joined(separator: ",") }
        let subject = indices.map(String.init).joined(separator: ",")
        let windowX = x + (on ? 0 : block.targetX) + start[1] * cell, markX = x + (on ? block.targetX : 0) + marked[1] * cell
        let close = { (body: String, tag: String) in body.isEmpty ? "/>" : ">" + body + "</\(tag)>" }
        return [
            ##"<use href="#\##(block.prefix)-window" x="\##(windowX)" y="\##(top + start[0] * cell)" class="window" data-on="\##(on ? "source" : "target")" data-frame="\##(f)" data-subject="\##(subject)" data-taps="\##(layerTaps.joined(separator: " "))""##
                + close(inside.window, "use"),
            SVGDocument.rect(x: markX, y: top + marked[0] * cell, width: cell, height: cell, className: "mark", extra: #" data-cell="\#(subject)""#)
                .dropLast(2) + close(inside.mark, "rect"),
        ]
    }

    /// Every combination of the axes' values, the first axis outermost.
    static func plane2(_ perAxis: [[Int]]) -> [[Int]] {
        perAxis.reduce([[]]) { prefixes, values in prefixes.flatMap { prefix in values.map { prefix + [$0] } } }
    }

    /// The frames as a sheet, rows of blocks as wide as `sheetWidth` allows.
    static func sheet(_ block: Block, into document: inout SVGDocument, y: Int) -> (height: Int, width: Int) {
        let (frames, note) = block.picture.shownFrames(block.drawing)
        let stepX = block.width + gap, stepY = block.height + line + margin
        let perRow = max(1, min(frames.count, (sheetWidth - 2 * margin + gap) / stepX))
        for (i, f) in frames.enumerated() {
            let x = margin + (i % perRow) * stepX, top = y + (i / perRow) * stepY
            document.body.append(#"<g class="frame" data-view="\#(block.drawing.view.rawValue)" data-frame="\#(f)">"#)
            document.body.append(SVGDocument.text(block.picture.caption(block.drawing, frame: f), x: x, y: top + line - 4, className: "note"))
            document.body += grids(block, x: x, y: top)
            document.body += window(block, frame: f, x: x, y: top)
            document.body.append("</g>")
        }
        var height = ((frames.count + perRow - 1) / perRow) * stepY
        if let note {
            document.body.append(SVGDocument.text("note: " + note, x: margin, y: y + height, className: "note"))
            height += line
        }
        return (height, perRow * stepX - gap)
    }

    /// One frame whose window and mark move through every frame, a second each (SMIL,
    /// discrete), with each frame's caption shown in its second.
    static func animated(_ block: Block, into document: inout SVGDocument, y: Int) -> (height: Int, width: Int) {
        let drawing = block.drawing
        let count = drawing.frameCount
        let x = margin
        document.body.append(#"<g class="frame" data-view="\#(drawing.view.rawValue)" data-frame="0" data-animated="\#(count)">"#)
        if count <= captionedFrames {
            for f in 0..<count {
                let times = f == 0 ? (count == 1 ? ["visible"] : ["visible", "hidden"]) : f == count - 1 ? ["hidden", "visible"] : ["hidden", "visible", "hidden"]
                let keys = f == 0 ? (count == 1 ? ["0"] : ["0", fraction(1, count)]) : f == count - 1 ? ["0", fraction(f, count)] : ["0", fraction(f, count), fraction(f + 1, count)]
                document.body.append(#"<text x="\#(x)" y="\#(y + line - 4)" class="note" visibility="\#(f == 0 ? "visible" : "hidden")">\#(SVGDocument.escape(block.picture.caption(drawing, frame: f)))"#
                    + #"<animate attributeName="visibility" calcMode="discrete" values="\#(times.joined(separator: ";"))" keyTimes="\#(keys.joined(separator: ";"))" dur="\#(count)s" repeatCount="indefinite"/></text>"#)
            }
        } else {
            document.body.append(SVGDocument.text("each output in turn, a second each (\(count) frames)", x: x, y: y + line - 4, className: "note"))
        }
        document.body += grids(block, x: x, y: y)
        // Frame 0's window and mark, moved to each frame's place by a discrete translation.
        let offsets = (0..<count).map { f -> (window: String, mark: String) in
            let indices = drawing.frameIndices(f)
            let shift = rowColumn(zip(drawing.axes, indices).map { ($0.windowStart($1) - $0.windowStart(0)) * cell })
            let moved = rowColumn(indices.map { $0 * cell })
            return ("\(shift[1]),\(shift[0])", "\(moved[1]),\(moved[0])")
        }
        document.body += window(block, frame: 0, x: x, y: y,
                                inside: (SVGDocument.discrete("transform", values: offsets.map(\.window), transform: true),
                                         SVGDocument.discrete("transform", values: offsets.map(\.mark), transform: true)))
        document.body.append("</g>")
        return (block.height + line, block.width)
    }

    static func fraction(_ a: Int, _ b: Int) -> String {
        let value = Double(a) / Double(b)
        return String(Double(Int((value * 1e6).rounded())) / 1e6)
    }

    /// One picture: the window's side shows how many windows cover each cell.
    static func composite(_ block: Block, into document: inout SVGDocument, y: Int) -> (height: Int, width: Int) {
        let id = block.prefix + (block.windowOnSource ? "-source" : "-target")
        document.body.append("<defs>" + grid(block.drawing, source: block.windowOnSource, id: id + "-counts", counting: true) + "</defs>")
        document.body.append(#"<g class="frame composite" data-view="\#(block.drawing.view.rawValue)">"#)
        document.body.append(SVGDocument.text(block.drawing.view == .scatter ? "how many terms each output sums (0: no input reaches it, the bias only)"
                                                                              : "how many windows read each input value (0: never read)",
                                              x: margin, y: y + line - 4, className: "note"))
        var placed = grids(block, x: margin, y: y)
        let which = block.windowOnSource ? 3 : 4
        placed[which] = placed[which].replacing("href=\"#\(id)\"", with: "href=\"#\(id)-counts\"")
        document.body += placed
        document.body.append("</g>")
        return (block.height + line, block.width)
    }

    /// The legend: a swatch and the words for each entry, as many a row as fit the drawing's
    /// width (at least `legendWidth`); returns the bottom and the width used.
    static func legend(_ entries: [ShapeDrawing.LegendEntry], width: Int, into document: inout SVGDocument, y: Int) -> (bottom: Int, width: Int) {
        var x = margin, top = y, widest = 0
        let right = max(width, legendWidth)
        for entry in entries {
            let entryWidth = cell + 6 + SVGDocument.textWidth(entry.words) + 18
            if x > margin && x + entryWidth > right + margin { x = margin; top += cell + 6 }
            document.body.append(SVGDocument.rect(x: x, y: top, width: cell, height: cell, className: "cell " + entry.kind.rawValue))
            switch entry.cover {
            case .none: break
            case .tap: document.body.append(SVGDocument.rect(x: x, y: top, width: cell, height: cell, className: "tap"))
            case .mark: document.body.append(SVGDocument.rect(x: x, y: top, width: cell, height: cell, className: "mark"))
            }
            document.body.append(SVGDocument.text(entry.words, x: x + cell + 6, y: top + 14))
            x += entryWidth
            widest = max(widest, x - margin)
        }
        return (top + cell, widest)
    }

    /// The narrowest a legend's rows are allowed to be before they wrap.
    static let legendWidth = 640
}
