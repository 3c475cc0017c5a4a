/// A dense matrix of doubles, row-major and contiguous.
public struct Matrix: Equatable, Sendable {
    public let rows: Int
    public let columns: Int
    public var values: [Double]

    public init(rows: Int, columns: Int, values: [Double]) {
        precondition(values.count == rows * columns, "a matrix needs rows·columns values")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    public init(rows: Int, columns: Int, repeating value: Double = 0) {
        self.init(rows: rows, columns: columns, values: [Double](repeating: value, count: rows * columns))
    }

    public subscript(row: Int, column: Int) -> Double {
        get { values[row * columns + column] }
        set { values[row * columns + column] = newValue }
    }

    /// The matrix turned by 180°: true convolution correlates with this (MATLAB `rot90(k, 2)`).
    public func rotated180() -> Matrix {
        Matrix(rows: rows, columns: columns, values: values.reversed())
    }

    /// Rows as arrays (for tests and JSON).
    public var rowArrays: [[Double]] {
        (0..<rows).map { Array(values[($0 * columns)..<(($0 + 1) * columns)]) }
    }
}

/// A mistake in matrix text, located at `line:column` of its source.
public enum MatrixTextError: UserFacingError, Equatable {
    case notANumber(token: String, line: Int, column: Int)
    case outOfRange(token: String, line: Int, column: Int)
    case ragged(line: Int, count: Int, expected: Int, firstLine: Int)
    case empty
    case channels(line: Int)
    case blockShape(line: Int, rows: Int, columns: Int, expectedRows: Int, expectedColumns: Int)
    case malformedInline(String)

    public var message: String {
        switch self {
        case let .notANumber(token, line, column):
            return "\(line):\(column): '\(token)' is not a number; expected a decimal or scientific number, nan, inf or -inf"
        case let .outOfRange(token, line, column):
            return "\(line):\(column): \(token) is out of range for a double (magnitude up to about 1.8e308; write inf for infinity)"
        case let .ragged(line, count, expected, firstLine):
            return "\(line):1: this row has \(count) value\(count == 1 ? "" : "s") but the row on line \(firstLine) has \(expected); every row needs the same number"
        case .empty:
            return "no numbers: the matrix is empty"
        case let .channels(line):
            return "\(line):1: a blank line separates channels (C×H×W) here, where one matrix is expected"
        case let .blockShape(line, rows, columns, expectedRows, expectedColumns):
            return "\(line):1: this block is \(rows)x\(columns) but the first is \(expectedRows)x\(expectedColumns); every channel (block between blank lines) needs the same shape"
        case let .malformedInline(reason):
            return reason
        }
    }

    public var category: ErrorCategory { .data }
}

/// The text matrix format (SPEC §6): one row a line; values separated by spaces, tabs or
/// commas; `#` to the end of the line is a comment; leading and trailing blank lines are
/// ignored; numbers in decimal or scientific notation, `nan`, `inf`, `-inf`.
public enum MatrixText {
    /// Parses matrix text holding one matrix. Errors carry `line:column` (1-based); callers
    /// add the file name. A blank line between rows (several channels) is an error here.
    public static func parse(_ text: String) throws -> Matrix {
        let blocks = try parseBlocks(text)
        if blocks.matrices.count > 1 { throw MatrixTextError.channels(line: blocks.separatorLines[0]) }
        return blocks.matrices[0]
    }

    /// Matrices separated by blank lines (channels, or kernel blocks), and the shape a
    /// `# shape AxBxCxD` comment line states, if any.
    public struct Blocks: Sendable {
        public var matrices: [Matrix]
        /// The line of the first blank line after each block but the last.
        public var separatorLines: [Int]
        public var statedShape: [Int]?

        public init(matrices: [Matrix], separatorLines: [Int], statedShape: [Int]?) {
            self.matrices = matrices
            self.separatorLines = separatorLines
            self.statedShape = statedShape
        }
    }

    /// Parses blocks of rows separated by blank lines. Every block must have the same shape.
    public static func parseBlocks(_ text: String) throws -> Blocks {
        var matrices: [Matrix] = []
        var separators: [Int] = []
        var stated: [Int]?
        var values: [Double] = []
        var columns = -1
        var firstRowLine = 0
        var firstBlockLine = 0
        var rows = 0
        var blankLine: Int?   // a blank line seen since the last row
        var line = 1
        var utf8 = Array(text.utf8)
        utf8.append(UInt8(ascii: "\n"))
        var index = 0
        func finishBlock() throws {
            guard rows > 0 else { return }
            let matrix = Matrix(rows: rows, columns: columns, values: values)
            if let first = matrices.first, first.rows != matrix.rows || first.columns != matrix.columns {
                throw MatrixTextError.blockShape(line: firstBlockLine, rows: matrix.rows, columns: matrix.columns,
                                                 expectedRows: first.rows, expectedColumns: first.columns)
            }
            matrices.append(matrix)
            (values, columns, rows) = ([], -1, 0)
        }
        while index < utf8.count {
            var rowCount = 0
            var column = 1
            var comment = false
            let lineStart = index
            while index < utf8.count && utf8[index] != UInt8(ascii: "\n") {
                let byte = utf8[index]
                if byte == UInt8(ascii: "#") {
                    comment = true
                    let start = index
                    while index < utf8.count && utf8[index] != UInt8(ascii: "\n") { index += 1 }
                    if rowCount == 0 && utf8[lineStart..<start].allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) {
                        stated = stated ?? statedShape(String(decoding: utf8[(start + 1)..<index], as: UTF8.self))
                    }
                    break
                }
                if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: ",") || byte == UInt8(ascii: "\r") {
                    index += 1
                    column += 1
                    continue
                }
                let start = index
                while index < utf8.count, !isSeparator(utf8[index]) { index += 1 }
                let token = String(decoding: utf8[start..<index], as: UTF8.self)
                let value = try number(token, line: line, column: column)
                if rowCount == 0, let blank = blankLine, rows > 0 {
                    separators.append(blank)
                    try finishBlock()
                }
                values.append(value)
                rowCount += 1
                column += token.count
            }
            if rowCount > 0 {
                if columns < 0 {
                    columns = rowCount
                    firstRowLine = line
                    if rows == 0 { firstBlockLine = line }
                } else if rowCount != columns {
                    throw MatrixTextError.ragged(line: line, count: rowCount, expected: columns, firstLine: firstRowLine)
                }
                rows += 1
                blankLine = nil
            } else if !comment && rows > 0 && blankLine == nil {
                blankLine = line
            }
            index += 1   // past '\n'
            line += 1
        }
        try finishBlock()
        guard !matrices.isEmpty else { throw MatrixTextError.empty }
        return Blocks(matrices: matrices, separatorLines: separators, statedShape: stated)
    }

    /// `shape 4x2x3x3` in a comment, as numbers.
    static func statedShape(_ comment: String) -> [Int]? {
        let words = comment.split(separator: " ")
        guard words.count == 2, words[0] == "shape" else { return nil }
        let numbers = words[1].split(separator: "x").compactMap { Int($0) }
        return numbers.count == words[1].split(separator: "x").count && numbers.allSatisfy({ $0 > 0 }) ? numbers : nil
    }

    @inline(__always)
    static func isSeparator(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: ",")
            || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "#")
    }

    /// One number: decimal or scientific notation, `nan`, `inf`, `-inf` (any case).
    static func number(_ token: String, line: Int, column: Int) throws -> Double {
        switch token.lowercased() {
        case "nan", "+nan", "-nan": return .nan
        case "inf", "+inf", "infinity", "+infinity": return .infinity
        case "-inf", "-infinity": return -.infinity
        default: break
        }
        // Digits, one point, an exponent: nothing else (no hex, no '_').
        let allowed = token.utf8.allSatisfy { b in
            (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: ".") || b == UInt8(ascii: "e")
                || b == UInt8(ascii: "E") || b == UInt8(ascii: "+") || b == UInt8(ascii: "-")
        }
        guard allowed, let value = Double(token) else {
            throw MatrixTextError.notANumber(token: token, line: line, column: column)
        }
        guard value.isFinite else { throw MatrixTextError.outOfRange(token: token, line: line, column: column) }
        return value
    }

    /// Parses an inline matrix: `[1 2 3; 4 5 6]` (MATLAB rows) or `[[1, 2], [3, 4]]` (NumPy).
    public static func parseInline(_ text: String) throws -> Matrix {
        var body = text.trimmingWhitespace()
        guard body.hasPrefix("["), body.hasSuffix("]") else {
            throw MatrixTextError.malformedInline("an inline matrix is written in brackets, e.g. '[1 2 3; 4 5 6]'")
        }
        body = String(body.dropFirst().dropLast())
        var rowsText: [String]
        if body.contains("[") {
            // NumPy style: each row in its own brackets.
            rowsText = []
            var current = ""
            var depth = 0
            for ch in body {
                switch ch {
                case "[":
                    depth += 1
                    guard depth == 1 else { throw MatrixTextError.malformedInline("an inline matrix has at most two levels of brackets") }
                    current = ""
                case "]":
                    guard depth == 1 else { throw MatrixTextError.malformedInline("unbalanced ']' in the inline matrix") }
                    depth -= 1
                    rowsText.append(current)
                default:
                    if depth == 1 { current.append(ch) } else if !(ch == "," || ch == " " || ch == ";") {
                        throw MatrixTextError.malformedInline("'\(ch)' between rows of the inline matrix; write [[1, 2], [3, 4]] or [1 2; 3 4]")
                    }
                }
            }
            guard depth == 0 else { throw MatrixTextError.malformedInline("unbalanced '[' in the inline matrix") }
        } else {
            rowsText = body.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
            if rowsText.last?.trimmingWhitespace().isEmpty == true && rowsText.count > 1 { rowsText.removeLast() }
        }
        // Each row on a line of its own; errors then name the row as the line.
        return try parse(rowsText.map { $0.trimmingWhitespace().isEmpty ? "#" : $0 }.joined(separator: "\n"))
    }
}
