import ConvCalcCore
import ConvCalcEngine
/// A mistake in matrix text, located at `line:column` of its source.
public enum MatrixTextError: UserFacingError, Equatable {
    case notANumber(token: String, line: Int, column: Int)
    case outOfRange(token: String, line: Int, column: Int)
    case ragged(line: Int, count: Int, expected: Int, firstLine: Int)
    case empty
    case channels(line: Int)
    case blockShape(line: Int, rows: Int, columns: Int, expectedRows: Int, expectedColumns: Int)
    case malformedInline(String)
    /// More values than `limit` (memory): refused before they are stored; the position is
    /// that of the first value beyond the limit.
    case tooManyValues(limit: Int, line: Int, column: Int)
    /// A comma with no value before it on its line, after another comma, or at the line's end.
    case emptyCell(EmptyCell, line: Int, column: Int)
    /// A `# shape …` comment whose shape is not whole numbers ≥ 1 separated by `x`.
    case badShape(text: String, reason: String, line: Int, column: Int)
    /// Matrix JSON that is malformed or not a regular array of numbers.
    case json(reason: String, line: Int, column: Int)

    /// Where an empty cell is: the comma it is found at starts the row, follows a comma, or ends the row.
    public enum EmptyCell: Sendable, Equatable {
        case leading, between, trailing
    }

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
        case let .tooManyValues(limit, line, column):
            return "\(line):\(column): more than \(limit) values, the most convcalc run reads here (2^28 at most, fewer when memory is short)"
        case let .emptyCell(position, line, column):
            let what: String
            switch position {
            case .leading: what = "the row starts with a comma"
            case .between: what = "two commas with no value between them"
            case .trailing: what = "the row ends with a comma"
            }
            return "\(line):\(column): empty cell: \(what); every cell needs a number (write nan for a missing value); commas go only between values"
        case let .json(reason, line, column):
            return "\(line):\(column): \(reason) (JSON matrix: {\"data\": [[1, 2], [3, 4]]}, or the bare array)"
        case let .badShape(text, reason, line, column):
            return "\(line):\(column): '# shape \(text)' states no valid shape: \(reason); write sizes of 1 or more separated by x, e.g. # shape 4x2x3x3 (Cout x Cin/g x kh x kw)"
        }
    }

    public var category: ErrorCategory { .data }

    /// The same error at another line (a scan of part of a file counts lines from its start).
    func atLine(_ line: Int) -> MatrixTextError {
        switch self {
        case let .notANumber(token, _, column): return .notANumber(token: token, line: line, column: column)
        case let .outOfRange(token, _, column): return .outOfRange(token: token, line: line, column: column)
        case let .tooManyValues(limit, _, column): return .tooManyValues(limit: limit, line: line, column: column)
        case let .emptyCell(position, _, column): return .emptyCell(position, line: line, column: column)
        case let .badShape(text, reason, _, column): return .badShape(text: text, reason: reason, line: line, column: column)
        default: return self
        }
    }
}

/// The text matrix format (SPEC §6): one row a line; values separated by spaces, tabs or
/// commas; `#` to the end of the line is a comment; leading and trailing blank lines are
/// ignored; numbers in decimal or scientific notation, `nan`, `inf`, `-inf`. Lines end with
/// LF, CRLF or a lone CR; a UTF-8 byte-order mark at the start is skipped. A comma needs a
/// value on each side (an empty CSV cell is an error, as in NumPy's loadtxt).
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
        /// Every matrix's values, one matrix after another, in one array (the numbers of the
        /// text in order), when the parse was asked to keep them (`keepValues`) and read them
        /// as one array: a layer's kernel in PyTorch's layout, which the channel-blocked method
        /// reads where it lies. Nil otherwise.
        public var values: [Double]?

        public init(matrices: [Matrix], separatorLines: [Int], statedShape: [Int]?, values: [Double]? = nil) {
            self.matrices = matrices
            self.separatorLines = separatorLines
            self.statedShape = statedShape
            self.values = values
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
    /// `keepValues`: the result's `values` too (text, not JSON), at the cost of a second copy
    /// of every value when there are several matrices.
    public static func parseBlocks(bytes: UnsafeBufferPointer<UInt8>, threads: Int = 1,
                                   valueLimit: Int = Convolution.elementLimit, keepValues: Bool = false) throws -> Blocks {
        var bytes = bytes
        if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF {
            bytes = UnsafeBufferPointer(rebasing: bytes[3...])   // a UTF-8 byte-order mark
        }
        if MatrixJSON.isJSON(bytes) { return try MatrixJSON.parse(bytes, valueLimit: valueLimit) }
        var blocks = try parseLines(bytes, threads: threads, valueLimit: valueLimit)
        if !keepValues { blocks.values = nil }
        return blocks
    }

    static func parseLines(_ bytes: UnsafeBufferPointer<UInt8>, threads: Int, valueLimit: Int) throws -> Blocks {
        // Cut at line starts into parts of about equal size (never between CR and LF).
        let parts = bytes.count < 1 << 20 ? 1 : max(1, threads)
        var cuts = [0]
        for part in 1..<max(parts, 1) {
            var at = part * bytes.count / parts
            while at < bytes.count && !(bytes[at - 1] == 0x0A || (bytes[at - 1] == 0x0D && bytes[at] != 0x0A)) { at += 1 }
            if at > cuts.last! && at < bytes.count { cuts.append(at) }
        }
        cuts.append(bytes.count)
        guard cuts.count > 2 else { return try assemble([scan(bytes, limit: valueLimit, reported: valueLimit)]) }
        var scans = scanParts(bytes, cuts: cuts, valueLimit: valueLimit)
        if scans.contains(where: { if case .tooManyValues = $0.error { return true } else { return false } }) {
            // A part holds more than its share of the limit: whether, and where, the whole
            // passes it is what one scan from the start finds (rare: files near the limit).
            scans = []
            return try parseLines(bytes, threads: 1, valueLimit: valueLimit)
        }
        return try assemble(scans)
    }

    /// The parts between `cuts` scanned on a thread each. The first part's numbers go
    /// straight into an array with room for all; when every part is free of errors, the
    /// others' numbers are appended to it (both threads copying) and one scan with all the
    /// lines is returned: no array of the whole is made and filled again (a copy, and a page
    /// fault for each 4 KiB of fresh memory). Otherwise the scans of the parts, in order.
    static func scanParts(_ bytes: UnsafeBufferPointer<UInt8>, cuts: [Int], valueLimit: Int) -> [LineScan] {
        let partCount = cuts.count - 1
        let share = max(1, valueLimit / partCount)
        var scans = [LineScan](repeating: LineScan(), count: partCount)
        var merged: LineScan?
        let room = min(bytes.count / 2 + 1, valueLimit)   // at most one number per two bytes
        let whole = LargeArray.doubles(capacity: room) { out in
            var firstCount = 0
            scans.withUnsafeMutableBufferPointer { results in
                let scansOut = results.baseAddress!
                ParallelRanges.run(count: partCount, threads: partCount) { range in
                    for part in range {
                        let slice = UnsafeBufferPointer(rebasing: bytes[cuts[part]..<cuts[part + 1]])
                        if part > 0 {
                            scansOut[part] = scan(slice, limit: share, reported: valueLimit)
                        } else if let base = slice.baseAddress {
                            firstCount = scan(base, count: slice.count, into: out, capacity: min(slice.count / 2 + 1, share),
                                              limit: valueLimit, &scansOut[0])
                        }
                    }
                }
            }
            let total = scans.dropFirst().reduce(firstCount) { $0 + $1.values.count }
            guard scans.allSatisfy({ $0.error == nil }), total <= room else {
                scans[0].values = Array(UnsafeBufferPointer(start: out, count: firstCount))
                return 0
            }
            appendValues(of: scans.dropFirst(), to: out + firstCount)
            merged = LineScan(values: [], lines: scans.flatMap(\.lines), error: nil, errorLine: .max,
                              stated: scans.lazy.compactMap(\.stated).first)
            return total
        }
        guard var merged else { return scans }
        merged.values = whole
        return [merged]
    }

    /// The values of `scans`, one after another, copied to `destination` by two threads.
    static func appendValues(of scans: ArraySlice<LineScan>, to destination: UnsafeMutablePointer<Double>) {
        let arrays = scans.map(\.values).filter { !$0.isEmpty }
        guard !arrays.isEmpty else { return }
        Pinned.baseAddresses(arrays) { sources in
            var pieces: [(from: UnsafePointer<Double>, to: UnsafeMutablePointer<Double>, count: Int)] = []
            var at = destination
            for (source, array) in zip(sources, arrays) {
                let half = array.count / 2
                pieces.append((source, at, half))
                pieces.append((source + half, at + half, array.count - half))
                at += array.count
            }
            ParallelRanges.run(count: pieces.count, threads: 2) { range in
                for piece in pieces[range] { piece.to.update(from: piece.from, count: piece.count) }
            }
        }
    }

    /// Rows into blocks, in file order, with the structural checks (`BlockAssembly`: ragged
    /// rows, block shapes) and the number errors of the scans at their global line numbers.
    static func assemble(_ scans: [LineScan]) throws -> Blocks {
        var matrices: [Matrix] = []
        var separators: [Int] = []
        var stated: [Int]?
        var assembly = BlockAssembly()
        var blockStart: (scan: Int, value: Int) = (0, 0)
        var lineBase = 0
        func finishBlock(_ scan: Int, _ value: Int) throws {
            guard assembly.rows > 0 else { return }
            let matrix = Matrix(rows: assembly.rows, columns: assembly.columns,
                                values: gather(scans, from: blockStart, to: (scan, value), count: assembly.rows * assembly.columns))
            try assembly.closeBlock()
            matrices.append(matrix)
        }
        for (index, part) in scans.enumerated() {
            var value = 0
            for (offset, count) in part.lines.enumerated() {
                let line = lineBase + offset + 1
                if offset + 1 >= part.errorLine { break }
                if count > 0 {
                    if let blank = assembly.separator {
                        separators.append(blank)
                        try finishBlock(index, value)
                    }
                    if try assembly.addRow(line: line, count: count) { blockStart = (index, value) }
                    value += count
                } else if count == LineScan.blank {
                    assembly.blank(line: line)
                }
            }
            if let error = part.error { throw error.atLine(lineBase + part.errorLine) }
            if stated == nil { stated = part.stated }
            lineBase += part.lines.count
        }
        try finishBlock(scans.count - 1, scans[scans.count - 1].values.count)
        guard !matrices.isEmpty else { throw MatrixTextError.empty }
        return Blocks(matrices: matrices, separatorLines: separators, statedShape: stated, values: scans.count == 1 ? scans[0].values : nil)
    }

    /// The values of the scans from `start` up to `end` (scan, value index), in order: one
    /// block's. The whole of a single scan is taken without a copy.
    static func gather(_ scans: [LineScan], from start: (scan: Int, value: Int), to end: (scan: Int, value: Int), count: Int) -> [Double] {
        if start.scan == end.scan && start.value == 0 && end.value == scans[end.scan].values.count && scans.count == 1 {
            return scans[end.scan].values
        }
        var block: [Double] = []
        block.reserveCapacity(count)
        var (s, v) = start
        while s < end.scan || (s == end.scan && v < end.value) {
            let stop = s == end.scan ? end.value : scans[s].values.count
            block.append(contentsOf: scans[s].values[v..<stop])
            (s, v) = (s + 1, 0)
        }
        return block
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
        let tables = DecimalParser.Tables.shared
        while index <= end {
            let lineStart = index
            let scanned = scanLine(base, end: end, into: values, capacity: capacity, limit: limit, stored: &stored, index: &index,
                                   line: line, tables: tables, &result)
            if let error = scanned.error {
                result.lines.append(scanned.count)
                result.error = error
                result.errorLine = line
                return stored
            }
            // A stretch that ends with a line end has no line after it.
            if index == end && lineStart == end && end > 0 && (base[end - 1] == 0x0A || base[end - 1] == 0x0D) { break }
            result.lines.append(scanned.count > 0 ? scanned.count : (scanned.comment ? LineScan.commentOnly : LineScan.blank))
            // Past the line end: CRLF is one.
            index += index + 1 < end && base[index] == 0x0D && base[index + 1] == 0x0A ? 2 : 1
            line += 1
        }
        return stored
    }

    /// One line from `index` up to its end: its numbers into `values`, how many, whether it
    /// held a comment, or the first thing wrong on it.
    @inline(__always)
    static func scanLine(_ base: UnsafePointer<UInt8>, end: Int, into values: UnsafeMutablePointer<Double>, capacity: Int, limit: Int,
                         stored: inout Int, index: inout Int, line: Int, tables: DecimalParser.Tables,
                         _ result: inout LineScan) -> (count: Int, comment: Bool, error: MatrixTextError?) {
        var count = 0
        var comment = false
        var comma = -1   // where the comma since the last value (or the line start) is, if any
        let lineStart = index
        while index < end {
            let byte = base[index]
            if byte == 0x20 || byte == 0x09 {
                index += 1
                continue
            }
            // Numbers start above ',' or with '+'; one test keeps them off the rare paths.
            if byte <= 0x2C && byte != 0x2B {
                if byte == 0x2C {   // ','
                    if count == 0 || comma >= 0 {
                        return (count, comment, .emptyCell(count == 0 ? .leading : .between, line: line, column: index - lineStart + 1))
                    }
                    comma = index
                    index += 1
                    continue
                }
                if byte == 0x0A || byte == 0x0D { break }   // LF, CR (or CRLF)
            }
            if byte == 0x23 {   // '#'
                comment = true
                let start = index
                index = lineEnd(base, from: index, end: end)
                if count == 0, let problem = readShape(base, comment: start, end: index, into: &result) {   // a comment line
                    return (count, comment, .badShape(text: problem.text, reason: problem.reason, line: line,
                                                      column: start + 1 + problem.offset - lineStart + 1))
                }
                break
            }
            guard stored < capacity else {
                return (count, comment, .tooManyValues(limit: limit, line: line, column: index - lineStart + 1))
            }
            // %.17g's forms first (40 bytes may be read: only away from the end), then any decimal.
            var (value, length) = (0.0, 0)
            if end &- index >= 40 {
                (value, length) = DecimalParser.longFractionPrefix(base + index, limit: end &- index, tables: tables)
                if length == 0 { (value, length) = DecimalParser.shortFractionPrefix(base + index, limit: end &- index, tables: tables) }
            }
            if length == 0, let parsed = DecimalParser.prefix(base + index, limit: end &- index, tables: tables) { (value, length) = parsed }
            if length > 0, value.isFinite, index + length == end || isSeparator(base[index + length]) {
                values[stored] = value
                index += length
            } else {
                switch slowNumber(base, from: index, end: end, line: line, column: index - lineStart + 1) {
                case let .success((value, next)): (values[stored], index) = (value, next)
                case let .failure(error): return (count, comment, error)
                }
            }
            stored += 1
            count += 1
            // A comma or a space right after the value is taken here, saving a turn of the loop.
            comma = -1
            if index < end {
                let after = base[index]
                if after == 0x2C { comma = index }
                if after == 0x2C || after == 0x20 { index += 1 }
            }
        }
        if comma >= 0 { return (count, comment, .emptyCell(.trailing, line: line, column: comma - lineStart + 1)) }
        return (count, comment, nil)
    }

    /// Where the line that `index` is on ends (at its LF or CR, or `end`).
    @inline(__always)
    static func lineEnd(_ base: UnsafePointer<UInt8>, from index: Int, end: Int) -> Int {
        var index = index
        while index < end && base[index] != 0x0A && base[index] != 0x0D { index += 1 }
        return index
    }

    /// A comment line from `#` at `start` to `end`: a `# shape …` statement is kept in
    /// `result` (the first one wins); what is wrong with a malformed one is returned.
    static func readShape(_ base: UnsafePointer<UInt8>, comment start: Int, end: Int, into result: inout LineScan) -> ShapeProblem? {
        switch statedShape(UnsafeBufferPointer(start: base + start + 1, count: end - start - 1)) {
        case nil: return nil
        case let .success(shape)?:
            if result.stated == nil { result.stated = shape }
            return nil
        case let .failure(problem)?: return problem
        }
    }

    /// A token the fast parser leaves (`nan`, `inf`, `1e400`, a word): read up to the next
    /// separator, with its value and where it ends, or the error that names it.
    static func slowNumber(_ base: UnsafePointer<UInt8>, from start: Int, end: Int, line: Int, column: Int) -> Result<(Double, Int), MatrixTextError> {
        var index = start
        while index < end && !isSeparator(base[index]) { index += 1 }
        let token = String(decoding: UnsafeBufferPointer(start: base + start, count: index - start), as: UTF8.self)
        do {
            return .success((try number(token, line: line, column: column), index))
        } catch let error as MatrixTextError {
            return .failure(error)
        } catch {
            preconditionFailure("number throws MatrixTextError only")
        }
    }

    /// What is wrong with a stated shape: the shape's text, its offset in the comment, why.
    struct ShapeProblem: Error {
        var text: String
        var offset: Int
        var reason: String
    }

    /// The shape a comment states, as `shape 4x2x3x3` (or `shape: …`; a `:`, `,`, `;` or `.`
    /// right after the shape and text after it are allowed). Nil when the comment states no
    /// shape: its first word is not `shape`, or the next word does not start with a digit or
    /// a sign. A stated shape must be whole numbers ≥ 1 that fit in 64 bits, joined by `x`.
    static func statedShape(_ comment: UnsafeBufferPointer<UInt8>) -> Result<[Int], ShapeProblem>? {
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        var i = 0
        while i < comment.count && isSpace(comment[i]) { i += 1 }
        let keyword = Array("shape".utf8)
        guard comment.count - i >= keyword.count, Array(comment[i..<(i + keyword.count)]) == keyword else { return nil }
        i += keyword.count
        if i < comment.count && comment[i] == UInt8(ascii: ":") { i += 1 }
        guard i < comment.count, isSpace(comment[i]) else { return nil }
        while i < comment.count && isSpace(comment[i]) { i += 1 }
        let start = i
        while i < comment.count && !isSpace(comment[i]) { i += 1 }
        var word = Array(comment[start..<i])
        if let last = word.last, Array(":,;.".utf8).contains(last) { word.removeLast() }
        guard let first = word.first, (0x30...0x39).contains(first) || first == UInt8(ascii: "-") || first == UInt8(ascii: "+") else {
            return nil
        }
        let text = String(decoding: word, as: UTF8.self)
        func problem(_ reason: String) -> Result<[Int], ShapeProblem> {
            .failure(ShapeProblem(text: text, offset: start, reason: reason))
        }
        var shape: [Int] = []
        for part in word.split(separator: UInt8(ascii: "x"), omittingEmptySubsequences: false) {
            let size = String(decoding: part, as: UTF8.self)
            if part.isEmpty { return problem("a size is missing (an x with no number on one side)") }
            guard part.allSatisfy({ (0x30...0x39).contains($0) }) else {
                return problem(part.first == UInt8(ascii: "-") ? "\(size) is negative" : "'\(size)' is not a whole number")
            }
            guard let value = Int(size) else { return problem("\(size) does not fit in 64 bits") }
            guard value >= 1 else { return problem("a size is 0") }
            shape.append(value)
        }
        return .success(shape)
    }

    /// Space, tab, comma, LF, CR or '#': one bit each in a 64-bit mask of the bytes below 64.
    @inline(__always)
    static func isSeparator(_ byte: UInt8) -> Bool {
        let separators: UInt64 = 1 << 0x20 | 1 << 0x09 | 1 << 0x2C | 1 << 0x0A | 1 << 0x0D | 1 << 0x23
        return byte < 64 && (separators >> UInt64(byte)) & 1 != 0
    }

    /// The value a word stands for as a number (`nan`, `inf`, `-inf`, `infinity`, signed or
    /// not, any case); nil for any other token.
    public static func word(_ token: String) -> Double? {
        switch token.lowercased() {
        case "nan", "+nan", "-nan": return .nan
        case "inf", "+inf", "infinity", "+infinity": return .infinity
        case "-inf", "-infinity": return -.infinity
        default: return nil
        }
    }

    /// One number: decimal or scientific notation, `nan`, `inf`, `-inf` (any case).
    static func number(_ token: String, line: Int, column: Int) throws -> Double {
        // U+2212, the minus sign of typeset text (papers, the source documents), reads as '-'.
        if token.contains("−") { return try number(String(token.map { $0 == "−" ? "-" : $0 }), line: line, column: column) }
        if let value = word(token) { return value }
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
        // Each row on a line of its own; errors then name the row as the line. A comma after a
        // row's last value is allowed here, as in Python and MATLAB literals.
        return try parse(rowsText.map { row -> String in
            let trimmed = row.trimmingWhitespace()
            if trimmed.isEmpty { return "#" }
            return trimmed.hasSuffix(",") ? String(row[..<row.lastIndex(of: ",")!]) : row
        }.joined(separator: "\n"))
    }
}
