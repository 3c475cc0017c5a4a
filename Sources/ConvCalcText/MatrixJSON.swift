import ConvCalcCore
import ConvCalcEngine

/// Matrices written as JSON, so `run --format json` output reads back as input, as do NumPy's
/// and PyTorch's `tolist()` dumped with `json.dump`.
///
/// Accepted: an object with `"data"` (other keys are ignored, except that `"channels"`,
/// `"rows"` and `"columns"`, when present, must agree with the data), or the bare array.
/// The data nests one to three levels: `[...]` a vector (a 1×N matrix), `[[...], ...]` a
/// matrix (rows), `[[[...]]]` channels (C×H×W). Values are JSON numbers, or the strings
/// `"nan"`, `"inf"`, `"-inf"` that convcalc writes for them, or `NaN`, `Infinity`,
/// `-Infinity` as Python's `json` writes them (quoted or not, in any case).
enum MatrixJSON {
    /// Whether `bytes` start, after white space, with `{` or `[`: no text matrix does.
    static func isJSON(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = bytes.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) else { return false }
        return first == 0x7B || first == 0x5B
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, valueLimit: Int) throws -> MatrixText.Blocks {
        var reader = JSONMatrixReader(bytes: bytes, valueLimit: valueLimit)
        return try reader.document()
    }
}

/// A cursor over JSON text that collects the numbers of nested arrays and checks that they
/// form a regular shape.
struct JSONMatrixReader {
    let bytes: UnsafeBufferPointer<UInt8>
    let valueLimit: Int
    var index = 0
    var line = 1
    var lineStart = 0
    var values: [Double] = []
    /// The nesting level at which numbers occur (0: the outermost array holds numbers).
    var leafLevel: Int?
    /// The length every array at each level must have, from the first one complete there.
    var lengths: [Int?] = [nil, nil, nil]
    static let maximumLevels = 3

    init(bytes: UnsafeBufferPointer<UInt8>, valueLimit: Int) {
        self.bytes = bytes
        self.valueLimit = valueLimit
    }

    var column: Int { index - lineStart + 1 }

    func error(_ reason: String) -> MatrixTextError {
        .json(reason: reason, line: line, column: column)
    }

    mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x0A: line += 1; lineStart = index + 1
            case 0x20, 0x09, 0x0D: break
            default: return
            }
            index += 1
        }
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws {
        skipSpace()
        guard index < bytes.count, bytes[index] == byte else {
            throw error(index < bytes.count ? "expected \(what)" : "the JSON text ends early; expected \(what)")
        }
        index += 1
    }

    /// The whole document: the object or the bare array, then nothing but white space.
    mutating func document() throws -> MatrixText.Blocks {
        skipSpace()
        var stated: [String: Int] = [:]
        if index < bytes.count, bytes[index] == 0x7B {
            stated = try object()
        } else {
            try array(level: 0)
        }
        skipSpace()
        guard index == bytes.count else { throw error("text after the end of the JSON value") }
        return try blocks(stated: stated)
    }

    /// `{"key": value, ...}`: `"data"` read as the matrix, the sizes kept for the check,
    /// anything else skipped.
    mutating func object() throws -> [String: Int] {
        try expect(0x7B, "'{'")
        var stated: [String: Int] = [:]
        var sawData = false
        skipSpace()
        if index < bytes.count, bytes[index] == 0x7D { index += 1; throw error("a JSON matrix needs \"data\": [[...], ...]") }
        repeat {
            skipSpace()
            let key = try string()
            try expect(0x3A, "':' after the key")
            skipSpace()
            switch key {
            case "data":
                guard !sawData else { throw error("\"data\" is given twice") }
                sawData = true
                guard index < bytes.count, bytes[index] == 0x5B else { throw error("\"data\" must be an array of rows: [[1, 2], [3, 4]]") }
                try array(level: 0)
            case "channels", "rows", "columns":
                let value = try number()
                guard value >= 1, value <= Double(Int32.max), value == value.rounded() else { throw error("\"\(key)\" must be a whole number ≥ 1") }
                stated[key] = Int(value)
            default:
                try skipValue(depth: 0)
            }
            skipSpace()
            guard index < bytes.count else { throw error("the JSON text ends early; expected ',' or '}'") }
            index += 1
            if bytes[index - 1] == 0x7D { break }
            guard bytes[index - 1] == 0x2C else { index -= 1; throw error("expected ',' or '}'") }
        } while true
        guard sawData else { throw error("a JSON matrix needs \"data\": [[...], ...]") }
        return stated
    }

    /// An array at nesting `level`: numbers, or arrays one level deeper, never both.
    mutating func array(level: Int) throws {
        try expect(0x5B, "'['")
        guard level < Self.maximumLevels else { throw error("more than \(Self.maximumLevels) levels of arrays; data is [values], [[row], ...] or [[[row], ...], ...] (channels)") }
        var count = 0
        skipSpace()
        if index < bytes.count, bytes[index] == 0x5D { throw error("an empty array: every row needs a number") }
        repeat {
            skipSpace()
            guard index < bytes.count else { throw error("the JSON text ends early; expected a value") }
            let nested = bytes[index] == 0x5B
            if leafLevel == nil { leafLevel = nested ? nil : level }
            if nested {
                if let leafLevel, leafLevel <= level { throw error("an array where a number is expected (the first row holds numbers here)") }
                try array(level: level + 1)
            } else {
                if let leafLevel, leafLevel != level { throw error("a number where an array is expected (the data nests \(leafLevel + 1) levels deep)") }
                guard values.count < valueLimit else { throw MatrixTextError.tooManyValues(limit: valueLimit, line: line, column: column) }
                values.append(try number())
            }
            count += 1
            skipSpace()
            guard index < bytes.count else { throw error("the JSON text ends early; expected ',' or ']'") }
            index += 1
            if bytes[index - 1] == 0x5D { break }
            guard bytes[index - 1] == 0x2C else { index -= 1; throw error("expected ',' or ']'") }
        } while true
        guard level > 0 else { return }
        if let expected = lengths[level] {
            guard count == expected else {
                let what = level == leafLevel ? "row has \(count) value\(count == 1 ? "" : "s")" : "channel has \(count) row\(count == 1 ? "" : "s")"
                throw error("this \(what) but the first has \(expected); every one needs the same number")
            }
        } else {
            lengths[level] = count
        }
    }

    /// A JSON number, or a string naming a value JSON cannot write (`"nan"`, `"inf"`, `"-inf"`).
    mutating func number() throws -> Double {
        skipSpace()
        let start = index
        let startColumn = column
        if index < bytes.count, bytes[index] == 0x22 {
            let text = try string()
            guard let value = Self.named(text) else { throw MatrixTextError.notANumber(token: "\"\(text)\"", line: line, column: startColumn) }
            return value
        }
        while index < bytes.count, Self.isNumberByte(bytes[index]) { index += 1 }
        guard index > start else { throw error("expected a number") }
        let token = UnsafeBufferPointer(rebasing: bytes[start..<index])
        if let value = Self.named(String(decoding: token, as: UTF8.self)) { return value }
        guard let value = DecimalParser.parse(token.baseAddress!, count: token.count) else {
            throw MatrixTextError.notANumber(token: String(decoding: token, as: UTF8.self), line: line, column: startColumn)
        }
        guard value.isFinite else {
            throw MatrixTextError.outOfRange(token: String(decoding: token, as: UTF8.self), line: line, column: startColumn)
        }
        return value
    }

    /// `nan`, `inf`, `-inf`, and Python's `NaN`, `Infinity`, `-Infinity` (which its `json`
    /// writes unquoted), in any case.
    static func named(_ text: String) -> Double? {
        switch text.lowercased() {
        case "nan": return .nan
        case "inf", "+inf", "infinity", "+infinity": return .infinity
        case "-inf", "-infinity": return -.infinity
        default: return nil
        }
    }

    /// Letters, digits, sign, point and exponent: a number's characters (`nan` and `inf`
    /// unquoted are read too, as convcalc's text matrices write them).
    static func isNumberByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x2B || byte == 0x2E || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
    }

    /// A JSON string without escapes beyond `\"` and `\\` (keys and value names only).
    mutating func string() throws -> String {
        try expect(0x22, "a string in double quotes")
        let start = index
        while index < bytes.count, bytes[index] != 0x22 {
            if bytes[index] == 0x5C { index += 1 }
            if index < bytes.count, bytes[index] == 0x0A { throw error("a line end inside a string") }
            index += 1
        }
        guard index < bytes.count else { throw error("the JSON text ends inside a string") }
        index += 1
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<(index - 1)]), as: UTF8.self)
    }

    /// Any JSON value, skipped (an unknown key's); nesting is bounded.
    mutating func skipValue(depth: Int) throws {
        guard depth < 64 else { throw error("JSON nested more than 64 levels deep") }
        skipSpace()
        guard index < bytes.count else { throw error("the JSON text ends early; expected a value") }
        switch bytes[index] {
        case 0x22: _ = try string()
        case 0x5B, 0x7B:
            let close: UInt8 = bytes[index] == 0x5B ? 0x5D : 0x7D
            index += 1
            skipSpace()
            if index < bytes.count, bytes[index] == close { index += 1; return }
            repeat {
                if close == 0x7D { _ = try string(); try expect(0x3A, "':' after the key") }
                try skipValue(depth: depth + 1)
                skipSpace()
                guard index < bytes.count else { throw error("the JSON text ends early") }
                index += 1
                if bytes[index - 1] == close { return }
                guard bytes[index - 1] == 0x2C else { index -= 1; throw error("expected ',' or '\(close == 0x5D ? "]" : "}")'") }
                skipSpace()
            } while true
        default:
            let start = index
            while index < bytes.count, Self.isNumberByte(bytes[index]) { index += 1 }
            guard index > start else { throw error("expected a JSON value") }
        }
    }

    /// The numbers read, cut into channels of rows; the stated sizes checked.
    func blocks(stated: [String: Int]) throws -> MatrixText.Blocks {
        guard let leafLevel, !values.isEmpty else { throw MatrixTextError.empty }
        let columns = leafLevel == 0 ? values.count : lengths[leafLevel]!
        let rows = leafLevel == 0 ? 1 : leafLevel == 1 ? values.count / columns : lengths[1]!
        let channels = values.count / (rows * columns)
        for (key, actual) in [("channels", channels), ("rows", rows), ("columns", columns)] {
            if let given = stated[key], given != actual {
                throw MatrixTextError.json(reason: "\"\(key)\": \(given) disagrees with the data, which has \(actual)", line: 1, column: 1)
            }
        }
        let plane = rows * columns
        let matrices = (0..<channels).map { c in Matrix(rows: rows, columns: columns, values: Array(values[(c * plane)..<((c + 1) * plane)])) }
        return MatrixText.Blocks(matrices: matrices, separatorLines: Array(repeating: 1, count: channels - 1), statedShape: nil)
    }
}
