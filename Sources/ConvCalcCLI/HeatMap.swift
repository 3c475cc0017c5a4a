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
    ///   - width: columns available; wide fields are scaled down, each character then
    ///     showing the maximum over a square of positions.
    static func render(_ paths: FieldPaths?, dims: Int, width: Int, skipped: String?) -> String {
        guard let paths else { return "heat map: not drawn (\(skipped ?? "too large"))\n" }
        let available = max(width - 4, 8)
        // The picture as a function of (row, column) over a rows × columns box, with the bin
        // (positions per character) and each character's value (the most over its square).
        let rowCount: Int, columnCount: Int
        var cell: (_ r: Range<Int>, _ c: Range<Int>) -> Double
        switch paths {
        case .whole:
            return "heat map: the field is the whole input (a global layer); nothing to draw\n"
        case let .separable(profiles):
            let counts = profiles.map(\.counts)
            let rows: [Double], columns: [Double]
            var factor = 1.0
            switch dims {
            case 1: (rows, columns) = ([1], counts[0])
            case 2: (rows, columns) = (counts[0], counts[1])
            default:
                (rows, columns) = (counts[1], counts[2])
                factor = counts[0].reduce(0, +)
            }
            (rowCount, columnCount) = (rows.count, columns.count)
            // All-ones counts are non-negative: the most of a product is the product of the
            // mosts, so each dimension is binned once.
            var binnedRows: [Int: Double] = [:], binnedColumns: [Int: Double] = [:]
            cell = { r, c in
                if binnedRows[r.lowerBound] == nil { binnedRows[r.lowerBound] = rows[r].max() ?? 0 }
                if binnedColumns[c.lowerBound] == nil { binnedColumns[c.lowerBound] = columns[c].max() ?? 0 }
                return binnedRows[r.lowerBound]! * binnedColumns[c.lowerBound]! * factor
            }
        case let .joint(grid):
            // Joint counts come from branches, so 2-D or 3-D (summed over D).
            let n = grid.shape.count
            (rowCount, columnCount) = (grid.shape[n - 2], grid.shape[n - 1])
            let depth = n == 3 ? grid.shape[0] : 1
            let plane = rowCount * columnCount
            var summed = [Double](repeating: 0, count: grid.counts.isEmpty ? 0 : plane)
            for d in 0..<(grid.counts.isEmpty ? 0 : depth) {
                for i in 0..<plane { summed[i] += grid.counts[d * plane + i] }
            }
            cell = { r, c in
                var most = 0.0
                for row in r { for column in c { most = max(most, summed[row * columnCount + column]) } }
                return most
            }
        }
        guard rowCount > 0, columnCount > 0 else { return "heat map: the output reads no input\n" }
        let cellWidth = columnCount * 2 <= available ? 2 : 1
        let bin = cellWidth == 2 ? 1 : (columnCount + available - 1) / available
        func bins(_ count: Int) -> [Range<Int>] { stride(from: 0, to: count, by: bin).map { $0..<min($0 + bin, count) } }
        let (rowBins, columnBins) = (bins(rowCount), bins(columnCount))
        let values = rowBins.map { r in columnBins.map { c in cell(r, c) } }
        let peak = values.joined().max() ?? 0
        var lines: [String] = []
        let axes = dims == 1 ? "positions left to right" : "rows \(DimensionNames.label(dims - 2, of: dims)), columns \(DimensionNames.label(dims - 1, of: dims))" + (dims == 3 ? ", summed over D" : "")
        lines.append("paths from one output to each input position (all-ones weights; \(axes)):")
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
        let peakText = peak < 9e15 ? "\(Int(peak))" : "\(peak)"
        lines.append("legend: blank = no path (a hole); @ = the most, \(peakText) paths; share of the most:")
        lines.append("        " + ramp.enumerated().map { "\($0.element) ≤\(Int((100 * Double($0.offset + 1) / Double(ramp.count)).rounded()))%" }.joined(separator: "  "))
        if bin > 1 {
            lines.append("scaled down: each character is the most over \(bin)x\(bin) positions, so holes narrower than")
            lines.append("a character do not show (the coverage line counts them)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
