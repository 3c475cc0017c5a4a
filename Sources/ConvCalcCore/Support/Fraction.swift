/// An exact rational number with 64-bit parts, kept in lowest terms with a positive denominator.
///
/// Jumps and field centres become fractions after upsampling layers (a stride-2 transposed
/// convolution halves the jump); convcalc prints them as fractions, not rounded decimals.
public struct Fraction: Equatable, Hashable, Sendable, CustomStringConvertible, Comparable {
    public let numerator: Int
    public let denominator: Int

    /// `numerator/denominator` in lowest terms.
    ///
    /// - Throws: `ArithmeticError.overflow` when a part does not fit in 64 bits.
    public init(_ numerator: Int, _ denominator: Int = 1) throws {
        precondition(denominator != 0, "a fraction needs a non-zero denominator")
        guard numerator != Int.min, denominator != Int.min else { throw ArithmeticError.overflow }
        let g = Swift.max(Checked.gcd(numerator, denominator), 1)
        let sign = denominator < 0 ? -1 : 1
        self.numerator = sign * numerator / g
        self.denominator = sign * denominator / g
    }

    public static let zero = try! Fraction(0)
    public static let one = try! Fraction(1)

    public var doubleValue: Double { Double(numerator) / Double(denominator) }

    /// `3`, `1/2`, `−7/4` (with a true minus sign).
    public var description: String { text(minus: "−") }

    /// `3`, `1/2`, `-7/4`: the ASCII minus, for machines (JSON, which Python's `Fraction`
    /// and `float` read).
    public var asciiDescription: String { text(minus: "-") }

    func text(minus: String) -> String {
        let sign = numerator < 0 ? minus : ""
        let magnitude = numerator.magnitude
        return denominator == 1 ? "\(sign)\(magnitude)" : "\(sign)\(magnitude)/\(denominator)"
    }

    public func adding(_ other: Fraction) throws -> Fraction {
        let n = try Checked.add(Checked.mul(numerator, other.denominator), Checked.mul(other.numerator, denominator))
        return try Fraction(n, Checked.mul(denominator, other.denominator))
    }

    public func multiplied(by other: Fraction) throws -> Fraction {
        try Fraction(Checked.mul(numerator, other.numerator), Checked.mul(denominator, other.denominator))
    }

    public static func < (a: Fraction, b: Fraction) -> Bool {
        // Compare a/b and c/d through full-width products: never overflows.
        let left = a.numerator.multipliedFullWidth(by: b.denominator)
        let right = b.numerator.multipliedFullWidth(by: a.denominator)
        return left.high != right.high ? left.high < right.high : left.low < right.low
    }
}
