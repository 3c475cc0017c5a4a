import ConvCalcCore

/// The effective-receptive-field picture: paths from one output to each input position,
/// drawn in the terminal with a 9-step ASCII ramp; a blank inside the frame is a hole.
enum HeatMap {
    static let ramp = Array(".:-=+*#%@")

    /// - Parameters:
    ///   - paths: per-dimension path counts (2-D: rows H, columns W; 1-D: one row;
    ///     3-D: H × W with D summed).
    ///   - width: columns available; wide fields are scaled down, each character then
    ///     showing the maximum over a square of positions.
    static func render(_ paths: [PathCounts?], dims: Int, width: Int, skipped: String?) -> String {
        if let skipped { return "heat map: not drawn (\(skipped))\n" }
        guard paths.allSatisfy({ $0 != nil }) else {
            return "heat map: the field is the whole input (a global layer); nothing to draw\n"
        }
        let counts = paths.map { $0!.counts }
        let rows: [Double], columns: [Double]
        var factor = 1.0
        switch dims {
        case 1: (rows, columns) = ([1], counts[0])
        case 2: (rows, columns) = (counts[0], counts[1])
        default:
            (rows, columns) = (counts[1], counts[2])
            factor = counts[0].reduce(0, +)
        }
        guard !rows.isEmpty, !columns.isEmpty else { return "heat map: the output reads no input\n" }
        let available = max(width - 4, 8)
        let cellWidth = columns.count * 2 <= available ? 2 : 1
        let bin = cellWidth == 2 ? 1 : (columns.count + available - 1) / available
        func binned(_ values: [Double]) -> [Double] {
            stride(from: 0, to: values.count, by: bin).map { values[$0..<min($0 + bin, values.count)].max() ?? 0 }
        }
        let (r, c) = (binned(rows), binned(columns))
        let peak = (rows.max() ?? 0) * (columns.max() ?? 0) * factor
        var lines: [String] = []
        let axes = dims == 1 ? "positions left to right" : "rows \(DimensionNames.label(dims - 2, of: dims)), columns \(DimensionNames.label(dims - 1, of: dims))" + (dims == 3 ? ", summed over D" : "")
        lines.append("paths from one output to each input position (all-ones weights; \(axes)):")
        let border = "  +" + String(repeating: "-", count: c.count * cellWidth) + "+"
        lines.append(border)
        for rowValue in r {
            var line = "  |"
            for columnValue in c {
                let value = rowValue * columnValue * factor
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
