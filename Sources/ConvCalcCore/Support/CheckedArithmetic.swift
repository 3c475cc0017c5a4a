/// Overflow-checked integer arithmetic for sizes and counts.
///
/// Swift traps on integer overflow, and its `/` truncates toward zero, so
/// `(4 - 5) / 2 + 1` is 1 where the size formulas need 0. Every size, parameter
/// and MAC computation in convcalc goes through these functions instead: they
/// throw `ArithmeticError.overflow` rather than trap, and divide with explicit
/// rounding (see swift-numerics `IntegerUtilities/DivideWithRounding.swift`).
public enum Checked {
    /// `a + b`, or throws when the sum does not fit in 64 bits.
    @inlinable
    public static func add(_ a: Int, _ b: Int) throws -> Int {
        let (r, o) = a.addingReportingOverflow(b)
        if o { throw ArithmeticError.overflow }
        return r
    }

    /// `a − b`, or throws when the difference does not fit in 64 bits.
    @inlinable
    public static func sub(_ a: Int, _ b: Int) throws -> Int {
        let (r, o) = a.subtractingReportingOverflow(b)
        if o { throw ArithmeticError.overflow }
        return r
    }

    /// `a · b`, or throws when the product does not fit in 64 bits.
    @inlinable
    public static func mul(_ a: Int, _ b: Int) throws -> Int {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        if o { throw ArithmeticError.overflow }
        return r
    }

    /// The product of all values (1 for none), overflow-checked.
    public static func product(_ values: [Int]) throws -> Int {
        try values.reduce(1) { try mul($0, $1) }
    }

    /// The sum of all values (0 for none), overflow-checked.
    public static func sum(_ values: [Int]) throws -> Int {
        try values.reduce(0) { try add($0, $1) }
    }

    /// ⌊a / b⌋ for b > 0: rounds toward −∞, unlike Swift's `/`.
    ///
    /// `floorDiv(-1, 2)` is −1, where `-1 / 2` is 0.
    @inlinable
    public static func floorDiv(_ a: Int, _ b: Int) -> Int {
        precondition(b > 0, "floorDiv needs a positive divisor")
        let q = a / b
        return (a % b != 0 && a < 0) ? q - 1 : q
    }

    /// ⌈a / b⌉ for b > 0: rounds toward +∞.
    @inlinable
    public static func ceilDiv(_ a: Int, _ b: Int) -> Int {
        precondition(b > 0, "ceilDiv needs a positive divisor")
        let q = a / b
        return (a % b != 0 && a > 0) ? q + 1 : q
    }

    /// The greatest common divisor of two non-negative integers (gcd(0, 0) = 0).
    public static func gcd(_ a: Int, _ b: Int) -> Int {
        var (x, y) = (a.magnitude, b.magnitude)
        while y != 0 { (x, y) = (y, x % y) }
        return Int(truncatingIfNeeded: x)
    }
}

/// A computation whose result does not fit in a 64-bit signed integer.
public enum ArithmeticError: Error, Equatable {
    case overflow
}
