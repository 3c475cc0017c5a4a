/// The most spatial dimensions a layer may have (1-D, 2-D or 3-D, as PyTorch `Conv{1,2,3}d`).
public let maxSpatialDimensions = 3

/// A size given per spatial dimension: `3` (every dimension), `1x7` (H×W), `16x112x112` (D×H×W).
///
/// One value applies to every dimension; otherwise there is one value per dimension,
/// outermost first, as PyTorch orders `(D, H, W)`.
public struct DimSize: Equatable, Sendable, CustomStringConvertible {
    public var values: [Int]

    public init(_ values: [Int]) { self.values = values }
    public init(_ value: Int) { self.values = [value] }

    /// True when one value stands for every dimension.
    public var isUniform: Bool { values.count == 1 }

    /// The value for each of `dims` dimensions.
    public func expanded(to dims: Int) -> [Int] {
        values.count == 1 ? Array(repeating: values[0], count: dims) : values
    }

    public var description: String { values.map(String.init).joined(separator: "x") }

    /// The per-dimension parts of `32x32`; `32×32` (the sign convcalc prints) and `32X32`
    /// are read the same way.
    static func dimensionParts(_ text: String) -> [Substring] {
        text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "x" || $0 == "×" || $0 == "X" })
    }

    /// A size written as a Python tuple, `224,224` or `(224, 224)` (also `[224, 224]`), in
    /// convcalc's form, `224x224`; other text unchanged. For option values only: in a layer
    /// token, commas separate keys.
    public static func fromTuple(_ text: String) -> String {
        var body = Substring(text.trimmingWhitespace())
        if let first = body.first, let last = body.last, body.count >= 2, (first == "(" && last == ")") || (first == "[" && last == "]") {
            body = body.dropFirst().dropLast()
        }
        guard body.contains(",") || body.count != text.count else { return text }
        var parts = body.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingWhitespace() }
        if parts.count > 1, parts.last == "" { parts.removeLast() }   // `(3,)`, a Python 1-tuple
        return parts.joined(separator: "x")
    }

    /// Parses `N` or `NxN[xN]` with every value at least `minimum`.
    ///
    /// - Throws: `LayerError.malformedValue` for text that is not of that form
    ///   (`3x`, `x3`, `3.5`, `abc`, more than three parts), `LayerError.outOfRange`
    ///   for values below `minimum` or beyond 64 bits.
    public static func parse(_ text: String, subject: Subject, minimum: Int) throws -> DimSize {
        let expected = minimum > 0
            ? "a whole number ≥ \(minimum), or one per dimension as HxW or DxHxW (e.g. 3, 1x7)"
            : "a whole number ≥ 0, or one per dimension as HxW or DxHxW (e.g. 1, 0x1)"
        let parts = DimSize.dimensionParts(text)
        guard !text.isEmpty, parts.count <= maxSpatialDimensions else {
            throw LayerError.malformedValue(subject, value: text, expected: expected)
        }
        var values: [Int] = []
        for part in parts {
            values.append(try parseInteger(String(part), subject: subject, whole: text, range: minimum...Int.max, expected: expected))
        }
        return DimSize(values)
    }
}

/// Parses one integer in `range`; `whole` is the full value, for the message.
///
/// A leading `-` makes a well-formed but out-of-range value (exit 1), anything else
/// that is not digits is malformed (exit 2); digits beyond 64 bits are out of range.
func parseInteger(_ text: String, subject: Subject, whole: String? = nil, range: ClosedRange<Int>, expected: String) throws -> Int {
    let whole = whole ?? text
    let text = text.hasPrefix("−") ? "-" + text.dropFirst() : text   // U+2212, the minus sign of typeset text
    let digits = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
    guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
        throw LayerError.malformedValue(subject, value: whole, expected: expected)
    }
    guard let value = Int(text) else {
        throw LayerError.outOfRange(subject, value: whole, requirement: .fitsIn64Bits)
    }
    guard value >= range.lowerBound else {
        throw LayerError.outOfRange(subject, value: whole, requirement: .atLeast(range.lowerBound))
    }
    guard value <= range.upperBound else {
        throw LayerError.outOfRange(subject, value: whole, requirement: .within(range))
    }
    return value
}

/// Padding as written: explicit amounts per dimension, or a named rule.
///
/// Forms: `N` (both sides of every dimension), `HxW`, `before:after` (every dimension),
/// `b:axb:a` per dimension (`0:1x1:1`), or `same`, `valid`, `full`.
public enum Padding: Equatable, Sendable, CustomStringConvertible {
    /// (before, after) per dimension; one pair stands for every dimension.
    case explicit([PadPair])
    /// TensorFlow / PyTorch `padding='same'`: output ⌈in/s⌉, the odd one extra after.
    case same
    /// No padding.
    case valid
    /// `ke − 1` on each side: every overlap of kernel and input (MATLAB/NumPy 'full').
    case full

    public static let zero = Padding.explicit([PadPair(0, 0)])
    /// The rules written as a word (`same`, `valid`, `full`): what `parse` reads by name.
    public static let named: [Padding] = [.same, .valid, .full]

    public var description: String {
        switch self {
        case .same: return "same"
        case .valid: return "valid"
        case .full: return "full"
        case let .explicit(pairs): return pairs.map(\.description).joined(separator: "x")
        }
    }

    /// How many dimensions the explicit form names (1 for the uniform forms).
    public var dimensionCount: Int {
        if case let .explicit(pairs) = self { return pairs.count }
        return 1
    }

    /// Parses every form listed above.
    ///
    /// - Throws: `LayerError.malformedValue` or `.outOfRange` (negative amounts).
    public static func parse(_ text: String, subject: Subject) throws -> Padding {
        if let rule = named.first(where: { $0.description == text }) { return rule }
        let expected = "N ≥ 0 on both sides, " + LayerSchema.paddingShapes
        let parts = DimSize.dimensionParts(text)
        guard !text.isEmpty, parts.count <= maxSpatialDimensions else {
            throw LayerError.malformedValue(subject, value: text, expected: expected)
        }
        var pairs: [PadPair] = []
        for part in parts {
            let sides = part.split(separator: ":", omittingEmptySubsequences: false)
            guard sides.count == 1 || sides.count == 2 else {
                throw LayerError.malformedValue(subject, value: text, expected: expected)
            }
            let numbers = try sides.map {
                try parseInteger(String($0), subject: subject, whole: text, range: 0...Int.max, expected: expected)
            }
            pairs.append(PadPair(numbers[0], numbers.count == 2 ? numbers[1] : numbers[0]))
        }
        return .explicit(pairs)
    }
}

/// Padding on the two sides of one dimension.
public struct PadPair: Equatable, Sendable, CustomStringConvertible {
    public var before: Int
    public var after: Int

    public init(_ before: Int, _ after: Int) {
        self.before = before
        self.after = after
    }

    public var isSymmetric: Bool { before == after }
    public var description: String { isSymmetric ? "\(before)" : "\(before):\(after)" }
}
