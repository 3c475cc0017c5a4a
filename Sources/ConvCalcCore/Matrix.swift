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
    /// More values than `limit` (memory): refused before they are stored.
    case tooManyValues(limit: Int, line: Int)

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
        case let .tooManyValues(limit, line):
            return "\(line):1: more than \(limit) values, the most convcalc run reads here (2^28 at most, fewer when memory is short)"
        }
    }

    public var category: ErrorCategory { .data }

    /// The same error at another line (a scan of part of a file counts lines from its start).
    func atLine(_ line: Int) -> MatrixTextError {
        switch self {
        case let .notANumber(token, _, column): return .notANumber(token: token, line: line, column: column)
        case let .outOfRange(token, _, column): return .outOfRange(token: token, line: line, column: column)
        case let .tooManyValues(limit, _): return .tooManyValues(limit: limit, line: line)
        default: return self
        }
    }
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
        var text = text
        return try text.withUTF8 { try parseBlocks(bytes: $0) }
    }

    /// What one stretch of whole lines holds: its numbers in order, and per line the count of
    /// numbers (a row), `blank` or `commentOnly`; the first bad number stops the scan.
    struct LineScan {
        static let blank = 0, commentOnly = -1
        var values: [Double] = []
        var lines: [Int] = []
        /// The first number that is not one, at a line of this stretch (1-based).
        var error: MatrixTextError?
        var errorLine = Int.max
        var stated: [Int]?
    }

    /// Parses matrix text given as bytes, splitting the number scanning over `threads`
    /// threads (line ranges); the result and the first error are those of a single scan.
    /// At most `valueLimit` numbers are read (`tooManyValues` beyond): memory for them is
    /// reserved up front, so the limit is what keeps a huge file from exhausting memory.
    public static func parseBlocks(bytes: UnsafeBufferPointer<UInt8>, threads: Int = 1,
                                   valueLimit: Int = Convolution.elementLimit) throws -> Blocks {
        // Cut at line starts into parts of about equal size.
        let parts = bytes.count < 1 << 20 ? 1 : max(1, threads)
        var cuts = [0]
        for part in 1..<max(parts, 1) {
            var at = part * bytes.count / parts
            while at < bytes.count && bytes[at - 1] != 0x0A { at += 1 }
            if at > cuts.last! && at < bytes.count { cuts.append(at) }
        }
        cuts.append(bytes.count)
        var scans = [LineScan](repeating: LineScan(), count: cuts.count - 1)
        scans.withUnsafeMutableBufferPointer { results in
            let out = results.baseAddress!
            ParallelRanges.run(count: cuts.count - 1, threads: cuts.count - 1) { range in
                for part in range {
                    out[part] = scan(UnsafeBufferPointer(rebasing: bytes[cuts[part]..<cuts[part + 1]]),
                                     limit: max(1, valueLimit / (cuts.count - 1)), reported: valueLimit)
                }
            }
        }
        return try assemble(scans)
    }

    /// Rows into blocks, in file order, with the structural checks (ragged rows, block shapes)
    /// and the number errors of the scans at their global line numbers.
    static func assemble(_ scans: [LineScan]) throws -> Blocks {
        var matrices: [Matrix] = []
        var separators: [Int] = []
        var stated: [Int]?
        var columns = -1, rows = 0
        var firstRowLine = 0, firstBlockLine = 0
        var blankLine: Int?
        var block: [Double] = []
        var blockStart: (scan: Int, value: Int) = (0, 0)
        var lineBase = 0
        func finishBlock(_ scan: Int, _ value: Int) throws {
            guard rows > 0 else { return }
            if blockStart.scan == scan && blockStart.value == 0 && value == scans[scan].values.count && scans.count == 1 {
                block = scans[scan].values   // the whole scan is this block: no copy
            } else {
                block = []
                block.reserveCapacity(rows * columns)
                var (s, v) = blockStart
                while s < scan || (s == scan && v < value) {
                    let end = s == scan ? value : scans[s].values.count
                    block.append(contentsOf: scans[s].values[v..<end])
                    (s, v) = (s + 1, 0)
                }
            }
            let matrix = Matrix(rows: rows, columns: columns, values: block)
            if let first = matrices.first, first.rows != matrix.rows || first.columns != matrix.columns {
                throw MatrixTextError.blockShape(line: firstBlockLine, rows: matrix.rows, columns: matrix.columns,
                                                 expectedRows: first.rows, expectedColumns: first.columns)
            }
            matrices.append(matrix)
            (columns, rows) = (-1, 0)
        }
        for (index, part) in scans.enumerated() {
            var value = 0
            for (offset, count) in part.lines.enumerated() {
                let line = lineBase + offset + 1
                if offset + 1 >= part.errorLine { break }
                if count > 0 {
                    if let blank = blankLine, rows > 0 {
                        separators.append(blank)
                        try finishBlock(index, value)
                    }
                    if rows == 0 { blockStart = (index, value) }
                    if columns < 0 {
                        columns = count
                        firstRowLine = line
                        if rows == 0 { firstBlockLine = line }
                    } else if count != columns {
                        throw MatrixTextError.ragged(line: line, count: count, expected: columns, firstLine: firstRowLine)
                    }
                    rows += 1
                    value += count
                    blankLine = nil
                } else if count == LineScan.blank && rows > 0 && blankLine == nil {
                    blankLine = line
                }
            }
            if let error = part.error { throw error.atLine(lineBase + part.errorLine) }
            if stated == nil { stated = part.stated }
            lineBase += part.lines.count
        }
        try finishBlock(scans.count - 1, scans[scans.count - 1].values.count)
        guard !matrices.isEmpty else { throw MatrixTextError.empty }
        return Blocks(matrices: matrices, separatorLines: separators, statedShape: stated)
    }

    /// Scans whole lines: numbers, per-line counts, `# shape` comments, the first bad token.
    static func scan(_ bytes: UnsafeBufferPointer<UInt8>, limit: Int = Convolution.elementLimit, reported: Int = Convolution.elementLimit) -> LineScan {
        var result = LineScan()
        guard let base = bytes.baseAddress, bytes.count > 0 else { return result }
        // At most one number per two bytes ("1 1 1"): address space only, until written.
        let capacity = min(bytes.count / 2 + 1, limit)
        result.values = LargeArray.doubles(capacity: capacity) { values in
            scan(base, count: bytes.count, into: values, capacity: capacity, limit: reported, &result)
        }
        return result
    }

    /// The scan itself: numbers into `values` (room for `capacity`), returns how many.
    static func scan(_ base: UnsafePointer<UInt8>, count end: Int, into values: UnsafeMutablePointer<Double>, capacity: Int, limit: Int,
                     _ result: inout LineScan) -> Int {
        var stored = 0
        var index = 0
        var line = 1
        while index <= end {
            var count = 0
            var comment = false
            let lineStart = index
            while index < end && base[index] != 0x0A {
                let byte = base[index]
                if byte == 0x23 {   // '#'
                    comment = true
                    let start = index
                    while index < end && base[index] != 0x0A { index += 1 }
                    if count == 0 && result.stated == nil
                        && UnsafeBufferPointer(start: base + lineStart, count: start - lineStart).allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                        result.stated = statedShape(String(decoding: UnsafeBufferPointer(start: base + start + 1, count: index - start - 1), as: UTF8.self))
                    }
                    break
                }
                if byte == 0x20 || byte == 0x09 || byte == 0x2C || byte == 0x0D {
                    index += 1
                    continue
                }
                let start = index
                guard stored < capacity else {
                    result.lines.append(count)
                    result.error = .tooManyValues(limit: limit, line: line)
                    result.errorLine = line
                    return stored
                }
                if let (value, length) = DecimalParser.prefix(base + start, limit: end - start), value.isFinite,
                   start + length == end || isSeparator(base[start + length]) {
                    values[stored] = value
                    stored += 1
                    index += length
                } else {
                    while index < end && !isSeparator(base[index]) { index += 1 }
                    let token = String(decoding: UnsafeBufferPointer(start: base + start, count: index - start), as: UTF8.self)
                    do {
                        values[stored] = try number(token, line: line, column: start - lineStart + 1)
                        stored += 1
                    } catch let error as MatrixTextError {
                        result.lines.append(count)
                        result.error = error
                        result.errorLine = line
                        return stored
                    } catch {
                        preconditionFailure("number throws MatrixTextError only")
                    }
                }
                count += 1
            }
            // A stretch that ends with '\n' has no line after it.
            if index == end && lineStart == end && end > 0 && base[end - 1] == 0x0A { break }
            result.lines.append(count > 0 ? count : (comment ? LineScan.commentOnly : LineScan.blank))
            index += 1   // past '\n'
            line += 1
        }
        return stored
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
        var token = token
        guard let value = token.withUTF8({ DecimalParser.parse($0.baseAddress!, count: $0.count) }) else {
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
