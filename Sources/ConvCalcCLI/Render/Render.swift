import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// Sizes as users write them: `28` when the stack was uniform and all values agree, else `28x26`.
enum SizeText {
    static func format(_ values: [Int], uniform: Bool) -> String {
        if uniform, let first = values.first, values.allSatisfy({ $0 == first }) { return "\(first)" }
        return values.map(String.init).joined(separator: "x")
    }

    /// Padding as `--p` takes it: `1`, `0:1`, `1x0:1`.
    static func padding(_ pairs: [PadPair], uniform: Bool) -> String {
        if uniform, let first = pairs.first, pairs.allSatisfy({ $0 == first }) { return first.description }
        return pairs.map(\.description).joined(separator: "x")
    }
}

/// A JSON value written with keys in the order given (stable output for scripts and tests).
indirect enum JSON {
    case number(Int)
    case double(Double)
    case string(String)
    case bool(Bool)
    case null
    case array([JSON])
    case object([(String, JSON)])

    static func ints(_ values: [Int]) -> JSON { .array(values.map { .number($0) }) }

    var text: String {
        switch self {
        case let .number(n): return "\(n)"
        case let .double(d): return d.isFinite ? "\(d)" : "null"
        case let .string(s): return JSON.quote(s)
        case let .bool(b): return b ? "true" : "false"
        case .null: return "null"
        case let .array(items): return "[" + items.map(\.text).joined(separator: ", ") + "]"
        case let .object(pairs):
            return "{" + pairs.map { JSON.quote($0.0) + ": " + $0.1.text }.joined(separator: ", ") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// Word wrapping at a given width; help is wrapped at 80 columns whatever the terminal, so
/// it reads the same everywhere (`LineFit` fits the commands' output to `TextLayout.width`).
enum TextWrap {
    static let width = 80

    /// Wraps `text` into lines of at most `width` columns, the first prefixed by `first`,
    /// the rest by `rest` (both count toward the width); `measure` gives a word's columns
    /// (`TextLayout.columns`, for ASCII output).
    static func wrap(_ text: String, width: Int = width, first: String = "", rest: String = "",
                     measure: (String) -> Int = { $0.count }) -> [String] {
        var lines: [String] = []
        var line = first
        var used = measure(first)
        var lineHasWord = false
        for word in text.split(separator: " ") {
            let columns = measure(String(word))
            if lineHasWord && used + 1 + columns > width {
                lines.append(line)
                line = rest
                used = measure(rest)
                lineHasWord = false
            }
            line += (lineHasWord ? " " : "") + word
            used += (lineHasWord ? 1 : 0) + columns
            lineHasWord = true
        }
        lines.append(line)
        return lines
    }

    /// Pads `text` with spaces to `width` columns.
    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}

/// An aligned plain-text table: two spaces between columns, no trailing spaces.
enum TextTable {
    /// The table, each column as wide as its widest cell measured by `measure` (the output's
    /// characters: `TextLayout.columns`).
    static func render(header: [String], rows: [[String]], rightAligned: Set<Int> = [],
                       measure: (String) -> Int = { $0.count }) -> [String] {
        let widths = columnWidths(header: header, rows: rows, measure: measure)
        return ([header] + rows).map { row in
            var cells: [String] = []
            for (column, cell) in row.enumerated() {
                let gap = String(repeating: " ", count: widths[column] - measure(cell))
                cells.append(rightAligned.contains(column) ? gap + cell : cell + gap)
            }
            var line = cells.joined(separator: "  ")
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }
    }

    static func columnWidths(header: [String], rows: [[String]], measure: (String) -> Int) -> [Int] {
        header.indices.map { column in ([header] + rows).map { measure($0[column]) }.max() ?? 0 }
    }

    /// A table laid out for a width: its lines, how many rows had their token broken, whether
    /// it fits, and how wide it is unbroken.
    struct Fit {
        var lines: [String]
        var brokenRows: Int
        var fits: Bool
        var naturalWidth: Int
    }

    /// The table fitted to `layout.width` by breaking the layer tokens of column `tokens`
    /// after commas onto continuation rows (indented two more than the token), the other
    /// columns left blank there. Numbers are never broken: a table that cannot fit stays wider.
    static func fitted(header: [String], rows: [[String]], rightAligned: Set<Int>, tokens column: Int,
                       layout: TextLayout) -> Fit {
        let widths = columnWidths(header: header, rows: rows, measure: layout.columns)
        let natural = widths.reduce(0, +) + 2 * (widths.count - 1)
        guard natural > layout.width else {
            return Fit(lines: render(header: header, rows: rows, rightAligned: rightAligned, measure: layout.columns),
                       brokenRows: 0, fits: true, naturalWidth: natural)
        }
        let budget = max(layout.width - (natural - widths[column]), layout.columns(header[column]))
        var expanded: [[String]] = []
        var broken = 0
        for row in rows {
            let indent = LineFit.leadingSpaces(row[column])
            let pieces = LineFit.token(String(row[column].dropFirst(indent)), width: budget - indent, layout: layout)
            if pieces.count > 1 { broken += 1 }
            for (index, piece) in pieces.enumerated() {
                var line = index == 0 ? row : Array(repeating: "", count: row.count)
                line[column] = String(repeating: " ", count: indent + (index == 0 ? 0 : 2)) + piece
                expanded.append(line)
            }
        }
        let lines = render(header: header, rows: expanded, rightAligned: rightAligned, measure: layout.columns)
        return Fit(lines: lines, brokenRows: broken, fits: lines.allSatisfy(layout.fits), naturalWidth: natural)
    }
}

extension JSON {
    /// The `"tree"` of a report: its layers and merges in order, merges holding their branches,
    /// so a script can rebuild the nesting. A layer is `{"index": N, ...layer}` (N 1-based, as
    /// in `layers`); a merge is `{"merge": "add", "concat" or "split", ...merge, "branches": [[...], ...]}`.
    static func tree<L, M>(_ results: [StackResult<L, M>], layer: (Int, L) -> [(String, JSON)],
                           merge: (MergeKind, M) -> [(String, JSON)]) -> JSON {
        .array(StackTree.reduce(results, layer: { index, value, _ in
            JSON.object([("index", .number(index + 1))] + layer(index, value))
        }, merge: { kind, value, branches, _ in
            JSON.object([("merge", .string(kind.name))] + merge(kind, value) + [("branches", .array(branches.map { .array($0) }))])
        }))
    }
}

extension Layer {
    /// `"origin": ["stage(64,3,1)", "bottleneck(64,1)"]` for a layer a block use or repeat
    /// produced; nothing for a layer written as it is.
    var originPairs: [(String, JSON)] {
        (origin.isEmpty ? [] : [("origin", .array(origin.map(JSON.string)))]) + (node.map { [("node", JSON.string($0))] } ?? [])
    }
}
