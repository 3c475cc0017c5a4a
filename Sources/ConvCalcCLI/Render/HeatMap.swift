import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// The effective-receptive-field picture: paths from one output to each input position,
/// drawn in the terminal with a 9-step ASCII ramp; a blank inside the frame is a hole.
enum HeatMap {
    static let ramp = Array(".:-=+*#%@")

    /// - Parameters:
    ///   - paths: the path counts (2-D: rows H, columns W; 1-D: one row; 3-D: H × W with D
    ///     summed), per dimension or joint.
    ///   - layout: its width is the columns available; wide fields are scaled down, each
    ///     character then showing the maximum over a square of positions.
    static func render(_ paths: FieldPaths?, dims: Int, layout: TextLayout, skipped: String?) -> String {
        guard let paths else { return "heat map: not drawn (\(skipped ?? "too large"))\n" }
        guard let picture = Picture(paths, dims: dims) else {
            return "heat map: the field is the whole input (a global layer); nothing to draw\n"
        }
        guard picture.rows > 0, picture.columns > 0 else { return "heat map: the output reads no input\n" }
        return draw(picture, dims: dims, layout: layout)
    }

    /// The picture as a function of (row, column) over a rows × columns box: each
    /// character's value is the most over its square of positions.
    struct Picture {
        let rows: Int
        let columns: Int
        /// The input positions of row 0 and column 0 (1-D: row 0 stands for the one row).
        let origin: (row: Int, column: Int)
        let cell: (_ r: Range<Int>, _ c: Range<Int>) -> Double

        /// Nil for the whole input (a global layer).
        init?(_ paths: FieldPaths, dims: Int) {
            switch paths {
            case .whole:
                return nil
            case let .separable(profiles):
                let counts = profiles.map(\.counts)
                let rowCounts: [Double], columnCounts: [Double]
                var factor = 1.0
                switch dims {
                case 1:
                    (rowCounts, columnCounts) = ([1], counts[0])
                    origin = (0, profiles[0].origin)
                case 2:
                    (rowCounts, columnCounts) = (counts[0], counts[1])
                    origin = (profiles[0].origin, profiles[1].origin)
                default:
                    (rowCounts, columnCounts) = (counts[1], counts[2])
                    factor = counts[0].reduce(0, +)
                    origin = (profiles[1].origin, profiles[2].origin)
                }
                (rows, columns) = (rowCounts.count, columnCounts.count)
                // All-ones counts are non-negative: the most of a product is the product of the
                // mosts, so each dimension is binned once.
                var binnedRows: [Int: Double] = [:], binnedColumns: [Int: Double] = [:]
                cell = { r, c in
                    if binnedRows[r.lowerBound] == nil { binnedRows[r.lowerBound] = rowCounts[r].max() ?? 0 }
                    if binnedColumns[c.lowerBound] == nil { binnedColumns[c.lowerBound] = columnCounts[c].max() ?? 0 }
                    return binnedRows[r.lowerBound]! * binnedColumns[c.lowerBound]! * factor
                }
            case let .joint(grid):
                // Joint counts come from branches, so 2-D or 3-D (summed over D).
                let n = grid.shape.count
                let (rowCount, columnCount) = (grid.shape[n - 2], grid.shape[n - 1])
                let depth = n == 3 ? grid.shape[0] : 1
                let plane = rowCount * columnCount
                var summed = [Double](repeating: 0, count: grid.counts.isEmpty ? 0 : plane)
                for d in 0..<(grid.counts.isEmpty ? 0 : depth) {
                    for i in 0..<plane { summed[i] += grid.counts[d * plane + i] }
                }
                (rows, columns) = (rowCount, columnCount)
                origin = (grid.origin[n - 2], grid.origin[n - 1])
                cell = { r, c in
                    var most = 0.0
                    for row in r { for column in c { most = max(most, summed[row * columnCount + column]) } }
                    return most
                }
            }
        }
    }

    /// The picture in the terminal: a frame, the ramp, the legend, and a note when scaled down.
    static func draw(_ picture: Picture, dims: Int, layout: TextLayout) -> String {
        let available = max(layout.width - 4, 8)
        let cellWidth = picture.columns * 2 <= available ? 2 : 1
        let bin = cellWidth == 2 ? 1 : (picture.columns + available - 1) / available
        func bins(_ count: Int) -> [Range<Int>] { stride(from: 0, to: count, by: bin).map { $0..<min($0 + bin, count) } }
        let (rowBins, columnBins) = (bins(picture.rows), bins(picture.columns))
        let values = rowBins.map { r in columnBins.map { c in picture.cell(r, c) } }
        let peak = values.joined().max() ?? 0
        var lines: [String] = []
        let axes = dims == 1 ? "positions left to right" : "rows \(DimensionNames.label(dims - 2, of: dims)), columns \(DimensionNames.label(dims - 1, of: dims))" + (dims == 3 ? ", summed over D" : "")
        lines += LineFit.prose("paths from one output to each input position (all-ones weights; \(axes)):", layout: layout)
        let border = "  +" + String(repeating: "-", count: columnBins.count * cellWidth) + "+"
        lines.append(border)
        for row in values {
            var line = "  |"
            for value in row {
                let mark: Character = value > 0 ? ramp[min(ramp.count - 1, Int((Double(ramp.count) * value / peak).rounded(.up)) - 1)] : " "
                line += String(repeating: String(mark), count: cellWidth)
            }
            lines.append(line + "|")
        }
        lines.append(border)
        lines += legend(peak: peak, layout: layout)
        if bin > 1 {
            lines += LineFit.prose("scaled down: each character is the most over \(bin)x\(bin) positions, so holes narrower than a character do not show (the coverage line counts them)", layout: layout, hang: 0)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A path count as text: whole numbers exactly while they fit a double's integers.
    static func count(_ value: Double) -> String { value < 9e15 ? "\(Int(value))" : "\(value)" }

    /// What the marks mean: blank, the peak, and each mark's share of the most, as many
    /// marks a line as fit.
    static func legend(peak: Double, layout: TextLayout) -> [String] {
        let peakText = count(peak)
        var lines = LineFit.prose("legend: blank = no path (a hole); @ = the most, \(peakText) paths; share of the most:", layout: layout)
        let shares = ramp.enumerated().map { "\($0.element) ≤\(Int((100 * Double($0.offset + 1) / Double(ramp.count)).rounded()))%" }
        let margin = "        "
        var line = margin
        for share in shares {
            let longer = line == margin ? line + share : line + "  " + share
            if line != margin, !layout.fits(longer) {
                lines.append(line)
                line = margin + share
            } else {
                line = longer
            }
        }
        return lines + [line]
    }
}
