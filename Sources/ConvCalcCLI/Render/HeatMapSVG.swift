import ConvCalcCore

/// `rf --map --draw svg`: the paths from one output to each input position as a heat map,
/// holes white inside the field's box, the box's centre marked, and a legend of the colours.
/// The same counts as the terminal's heat map (`HeatMap.Picture`); fields wider than
/// `positionLimit` are binned, each cell the most over a square of positions.
enum HeatMapSVG {
    /// The most cells drawn along a side (each a `<rect>`); wider fields are binned.
    static let positionLimit = 100
    static let margin = 16
    /// Eight colours from pale yellow to dark red (ColorBrewer YlOrRd), by share of the most.
    static let ramp = ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"]

    static func render(_ paths: FieldPaths?, dims: Int, title: String, skipped: String?) throws -> String {
        guard let paths else { throw ShapeError.invalidGeometry("the heat map cannot be drawn: \(skipped ?? "the field is too large to count")") }
        guard let picture = HeatMap.Picture(paths, dims: dims) else {
            throw ShapeError.invalidGeometry("the field is the whole input (a global layer): there is no heat map to draw")
        }
        guard picture.rows > 0, picture.columns > 0 else { throw ShapeError.invalidGeometry("the output reads no input: there is no heat map to draw") }
        let bin = max((picture.rows + positionLimit - 1) / positionLimit, (picture.columns + positionLimit - 1) / positionLimit)
        let rowBins = bins(picture.rows, bin), columnBins = bins(picture.columns, bin)
        let cell = max(3, min(24, 640 / max(rowBins.count, columnBins.count)))
        let values = rowBins.map { r in columnBins.map { c in picture.cell(r, c) } }
        let peak = values.joined().max() ?? 0
        var document = SVGDocument(width: 0, height: 0, title: title)
        var y = margin + 4
        let titleLines = SVGDocument.wrap(title, columns: 90)
        for line in titleLines {
            document.body.append(SVGDocument.text(line, x: margin, y: y, className: "title"))
            y += 18
        }
        let axes = dims == 1 ? "input positions \(picture.origin.column)…\(picture.origin.column + picture.columns - 1)"
            : "input rows \(picture.origin.row)…\(picture.origin.row + picture.rows - 1), columns \(picture.origin.column)…\(picture.origin.column + picture.columns - 1)" + (dims == 3 ? ", summed over D" : "")
        let notes = ["paths from one output to each input position (all-ones weights); \(axes)",
                     "white: a hole, no path reaches it; the box is the field, + its centre" + (bin > 1 ? "; each cell is the most over \(bin)×\(bin) positions" : "")]
        for line in notes {
            document.body.append(SVGDocument.text(line, x: margin, y: y, className: "note"))
            y += 16
        }
        y += 4
        document.body.append(#"<g class="heat" data-x="\#(margin)" data-y="\#(y)" data-cell="\#(cell)" data-bin="\#(bin)" data-origin="\#(picture.origin.row),\#(picture.origin.column)" data-rows="\#(rowBins.count)" data-columns="\#(columnBins.count)">"#)
        for (r, row) in values.enumerated() {
            for (c, value) in row.enumerated() {
                let colour = value > 0 ? ramp[min(ramp.count - 1, Int((Double(ramp.count) * value / peak).rounded(.up)) - 1)] : "#ffffff"
                document.body.append(#"<rect x="\#(margin + c * cell)" y="\#(y + r * cell)" width="\#(cell)" height="\#(cell)" fill="\#(colour)" data-n="\#(HeatMap.count(value))"/>"#)
            }
        }
        document.body.append("</g>")
        let (width, height) = (columnBins.count * cell, rowBins.count * cell)
        document.body.append(SVGDocument.rect(x: margin, y: y, width: width, height: height, className: "box"))
        let (cx, cy) = (margin + width / 2, y + height / 2)
        document.body.append(##"<path d="M\##(cx - 6) \##(cy)h12M\##(cx) \##(cy - 6)v12" stroke="#002b36" stroke-width="2" class="centre"/>"##)
        y += height + 24
        y = legend(peak: peak, into: &document, y: y)
        document.width = ([width, legendWidth] + titleLines.map { SVGDocument.textWidth($0, size: 14) } + notes.map { SVGDocument.textWidth($0) }).max()! + 2 * margin
        document.height = y + margin
        return document.text
    }

    static func bins(_ count: Int, _ bin: Int) -> [Range<Int>] {
        stride(from: 0, to: count, by: bin).map { $0..<min($0 + bin, count) }
    }

    static let legendWidth = 260 + 40 + 62 * 8

    /// Each colour with the share of the most it stands for.
    static func legend(peak: Double, into document: inout SVGDocument, y: Int) -> Int {
        var x = margin
        let heading = "paths (the most: \(HeatMap.count(peak))):"
        document.body.append(SVGDocument.text(heading, x: x, y: y + 13))
        x += SVGDocument.textWidth(heading) + 12
        document.body.append(SVGDocument.rect(x: x, y: y, width: 18, height: 18, className: "cell", extra: ##" fill="#ffffff""##))
        document.body.append(SVGDocument.text("0", x: x + 22, y: y + 13))
        x += 40
        for (i, colour) in ramp.enumerated() {
            document.body.append(#"<rect x="\#(x)" y="\#(y)" width="18" height="18" fill="\#(colour)"/>"#)
            document.body.append(SVGDocument.text("≤\(Int((100 * Double(i + 1) / Double(ramp.count)).rounded()))%", x: x + 22, y: y + 13))
            x += 62
        }
        return y + 18
    }
}
