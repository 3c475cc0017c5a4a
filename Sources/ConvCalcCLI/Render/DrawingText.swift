import ConvCalcCore

/// `shape --draw` in the terminal: each frame's caption, the source grid with the window's
/// taps, and the target grid with the frame's cell, side by side when they fit (1-D: one row
/// above the other). Two columns a cell; Unicode shapes, or ASCII with `--ascii`; colour
/// only when the layout says the output is a terminal that takes it.
enum DrawingText {
    /// A cell's mark: Unicode, ASCII, and the SGR colour code.
    struct Mark {
        let unicode: String
        let ascii: String
        let colour: String

        func text(_ layout: TextLayout) -> String {
            let glyph = layout.charset == .ascii ? ascii : unicode
            return layout.colour ? "\u{1B}[\(colour)m\(glyph)\u{1B}[0m" : glyph
        }
    }

    /// The mark of a cell of `kind`, covered by the frame's window (or its marked cell) or not.
    static func mark(_ kind: DrawnCell, covered: Bool) -> Mark {
        let lit = "1;33"
        switch kind {
        case .input, .output: return covered ? Mark(unicode: "■", ascii: "#", colour: lit) : Mark(unicode: "□", ascii: "o", colour: kind == .input ? "34" : "36")
        case .padding, .cropped: return covered ? Mark(unicode: "•", ascii: "*", colour: lit) : Mark(unicode: "·", ascii: ".", colour: "90")
        case .zero, .unreached: return covered ? Mark(unicode: "●", ascii: "@", colour: lit) : Mark(unicode: "○", ascii: "0", colour: kind == .zero ? "90" : "35")
        case .outside: return covered ? Mark(unicode: "▪", ascii: "+", colour: lit) : Mark(unicode: "▫", ascii: "-", colour: "90")
        }
    }

    static func render(_ picture: ShapeDrawing, layout: TextLayout) -> String {
        var lines = LineFit.prose(picture.title, layout: layout)
        for drawing in picture.drawings {
            lines.append("")
            for sentence in picture.description(drawing) { lines += LineFit.prose(sentence, layout: layout) }
            lines += LineFit.prose("legend: " + picture.legend(drawing).map { entry in
                mark(entry.kind, covered: entry.cover != .none).text(layout) + " " + entry.words
            }.joined(separator: "   "), layout: layout)
            if picture.selection == .composite {
                lines.append("")
                lines += LineFit.prose(drawing.view == .scatter ? "how many terms each output sums (0: no input reaches it, the bias only):"
                                                                : "how many windows read each input value (0: never read; padding and zeros are marked, not counted):", layout: layout)
                lines += panels(picture, drawing, frame: nil, layout: layout)
                continue
            }
            let (frames, note) = picture.shownFrames(drawing, text: true)
            for frame in frames {
                lines.append("")
                lines += LineFit.prose(picture.caption(drawing, frame: frame), layout: layout)
                lines += panels(picture, drawing, frame: frame, layout: layout)
            }
            if let note { lines += [""] + LineFit.prose("note: " + note, layout: layout) }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The two grids of a frame (nil: the composite), labelled, side by side when they fit.
    static func panels(_ picture: ShapeDrawing, _ drawing: LayerDrawing, frame: Int?, layout: TextLayout) -> [String] {
        let left = grid(picture, drawing, frame: frame, source: true, layout: layout)
        let right = grid(picture, drawing, frame: frame, source: false, layout: layout)
        let width = left.map(\.width).max() ?? 0, gap = 4
        guard drawing.axes.count == 2, width + gap + (right.map(\.width).max() ?? 0) <= layout.width else {
            return (left + right).map(\.text)
        }
        return (0..<max(left.count, right.count)).map { i in
            guard i < right.count else { return left[i].text }
            let l = i < left.count ? left[i] : (text: "", width: 0)
            return l.text + String(repeating: " ", count: width - l.width + gap) + right[i].text
        }
    }

    /// One grid's lines with their widths in columns: its label, then its rows, each cell two
    /// columns (or a count's width in the composite), the mark last.
    static func grid(_ picture: ShapeDrawing, _ drawing: LayerDrawing, frame: Int?, source: Bool,
                     layout: TextLayout) -> [(text: String, width: Int)] {
        let indices = frame.map(drawing.frameIndices)
        let windowHere = source == (drawing.view == .window)
        let counting = frame == nil && windowHere
        let (rows, columns) = drawing.gridSize(onSource: source)
        let cellWidth = counting ? max(2, String(drawing.largestOverlap).count + 1) : 2
        let label = " " + (source ? picture.sourceLabel(drawing) : picture.targetLabel(drawing))
        var lines = [(text: label, width: layout.columns(label))]
        for row in 0..<rows {
            var line = ""
            for column in 0..<columns {
                let position = drawing.position(row: row, column: column)
                if counting, let count = drawing.overlapCount(position) {
                    line += String(repeating: " ", count: cellWidth - String(count).count) + "\(count)"
                    continue
                }
                let covered = indices.map { covers(drawing, $0, position, window: windowHere) } ?? false
                line += String(repeating: " ", count: cellWidth - 1) + mark(drawing.cell(position, onSource: source), covered: covered).text(layout)
            }
            lines.append((line, columns * cellWidth))
        }
        return lines
    }

    /// Whether `position` is one of frame `indices`' taps (on the window's side) or its marked cell.
    static func covers(_ drawing: LayerDrawing, _ indices: [Int], _ position: [Int], window: Bool) -> Bool {
        zip(drawing.axes, zip(indices, position)).allSatisfy { axis, pair in
            window ? axis.taps(pair.0).contains(pair.1) : pair.0 == pair.1
        }
    }
}
