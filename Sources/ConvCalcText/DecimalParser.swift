import ConvCalcCore
import ConvCalcEngine
/// Exact, fast decimal-to-double conversion for the matrix reader.
///
/// Grammar: `[+-]? (digits [. digits*] | . digits) ([eE] [+-]? digits)?`, the numbers
/// `strtod` accepts in decimal, without hex, `nan` or `inf` (the reader handles those words).
///
/// The result is the double nearest the decimal value, ties to even, bit-identical to
/// `strtod`: Clinger's fast path when the significand and the power of ten are both exact
/// doubles, otherwise the Eisel–Lemire algorithm (D. Lemire, "Number Parsing at a Gigabyte per
/// Second", Software: Practice and Experience 51(8), 2021; as fast_float 8, which needs no
/// fallback for significands of up to 19 digits: N. Mushtak and D. Lemire, "Fast number
/// parsing without fallback", 2023). Longer significands go through the standard library.
public enum DecimalParser {
    /// The value of the `count` bytes at `start`, or nil when they are not a decimal number.
    /// Magnitudes beyond the double range give ±infinity; below it, ±0 (as `strtod`).
    @inline(__always)
    public static func parse(_ start: UnsafePointer<UInt8>, count: Int) -> Double? {
        guard let (value, length) = prefix(start, limit: count), length == count else { return nil }
        return value
    }

    /// An exponent `e±N` (or `E`) at `index`: its value, saturated far beyond any double, and
    /// where it ends; nil when there is none (an `e` without digits is not part of the number).
    @inline(__always)
    static func exponentPart(_ start: UnsafePointer<UInt8>, at index: Int, limit: Int) -> (Int, Int)? {
        guard index < limit && (start[index] | 0x20) == 0x65 else { return nil }   // e E
        var at = index + 1
        var negative = false
        if at < limit && (start[at] == 0x2D || start[at] == 0x2B) {
            negative = start[at] == 0x2D
            at += 1
        }
        var value = 0
        let digitsStart = at
        while at < limit {
            let d = start[at] &- 0x30
            guard d < 10 else { break }
            if value < 100_000 { value = value * 10 + Int(d) }
            at += 1
        }
        return at > digitsStart ? (negative ? -value : value, at) : nil
    }

    /// The longest decimal number at the start of the `limit` bytes at `start`: its value and
    /// length, or nil when none starts there. One pass over the bytes.
    @inline(__always)
    public static func prefix(_ start: UnsafePointer<UInt8>, limit: Int) -> (Double, Int)? {
        var index = 0
        var negative = false
        if limit > 0 && (start[0] == 0x2D || start[0] == 0x2B) {   // - +
            negative = start[0] == 0x2D
            index = 1
        }
        var significand: UInt64 = 0
        var digits = 0            // significant digits (after leading zeros), all in `significand` if ≤ 19
        var exponent = 0          // decimal exponent of the last digit
        var seenDigit = false
        // Leading zeros, then the integer part.
        while index < limit && start[index] == 0x30 {
            seenDigit = true
            index += 1
        }
        while index < limit {
            let d = start[index] &- 0x30
            guard d < 10 else { break }
            significand = significand &* 10 &+ UInt64(d)
            digits += 1
            index += 1
        }
        seenDigit = seenDigit || digits > 0
        if index < limit && start[index] == 0x2E {   // .
            index += 1
            if digits == 0 {
                while index < limit && start[index] == 0x30 {
                    seenDigit = true
                    exponent -= 1
                    index += 1
                }
            }
            let fractionStart = index
            while index < limit {
                let d = start[index] &- 0x30
                guard d < 10 else { break }
                significand = significand &* 10 &+ UInt64(d)
                index += 1
            }
            let fractionDigits = index - fractionStart
            digits += fractionDigits
            exponent -= fractionDigits
            seenDigit = seenDigit || fractionDigits > 0
        }
        guard seenDigit else { return nil }
        if let (power, end) = exponentPart(start, at: index, limit: limit) {
            exponent += power
            index = end
        }
        if digits > 19 {
            // More than 19 significant digits (rare): the standard library rounds them exactly.
            let text = String(decoding: UnsafeBufferPointer(start: start, count: index), as: UTF8.self)
            guard let value = Double(text) else { return nil }
            return (value, index)
        }
        let magnitude = value(significand: significand, exponent: exponent)
        return (negative ? -magnitude : magnitude, index)
    }

    /// Exact powers of ten as doubles (10^0 ... 10^22).
    static let exactPowers: UnsafePointer<Double> = permanent([
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
        1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ])

    /// `powersOfFive128` at a fixed address: lookups without array bookkeeping in the hot loop.
    static let powersOfFive: UnsafePointer<UInt64> = permanent(powersOfFive128)

    static func permanent<T>(_ values: [T]) -> UnsafePointer<T> {
        let memory = UnsafeMutablePointer<T>.allocate(capacity: values.count)   // kept for the process's life
        memory.initialize(from: values, count: values.count)
        return UnsafePointer(memory)
    }

    /// The double nearest `w · 10^q`.
    @inline(__always)
    static func value(significand w: UInt64, exponent q: Int) -> Double {
        if w == 0 || q < -342 { return 0 }
        if q > 308 { return .infinity }
        // Clinger: w and 10^|q| exact, one correctly rounded operation.
        if w <= 1 << 53 && q >= -22 && q <= 22 {
            return q < 0 ? Double(w) / exactPowers[-q] : Double(w) * exactPowers[q]
        }
        return eiselLemire(w, q)
    }

    /// fast_float's `compute_float<binary64>`: the correctly rounded double of `w · 10^q`,
    /// w ≠ 0 and −342 ≤ q ≤ 308.
    static func eiselLemire(_ significand: UInt64, _ q: Int) -> Double {
        let leadingZeros = significand.leadingZeroBitCount
        let w = significand << UInt64(leadingZeros)
        let index = 2 * (q + 342)
        let table = powersOfFive
        var product = w.multipliedFullWidth(by: table[index])
        // 55 bits of precision needed (52 + 3): refine with the low half when they are all ones.
        if product.high & 0x1FF == 0x1FF {
            let second = w.multipliedFullWidth(by: table[index + 1])
            let (low, carry) = product.low.addingReportingOverflow(second.high)
            product.low = low
            if carry { product.high &+= 1 }
        }
        let upperBit = Int(product.high >> 63)
        let shift = UInt64(upperBit + 64 - 52 - 3)
        var mantissa = product.high >> shift
        // power(q) = floor(q · log2(10)) + 63; the binary exponent biased by 1023.
        var power2 = (((152_170 + 65_536) * q) >> 16) + 63 + upperBit - leadingZeros + 1023
        if power2 <= 0 {
            // Subnormal.
            if -power2 + 1 >= 64 { return 0 }
            mantissa >>= UInt64(-power2 + 1)
            mantissa += mantissa & 1
            mantissa >>= 1
            power2 = mantissa < (1 << 52) ? 0 : 1
            return Double(bitPattern: UInt64(power2) << 52 | (mantissa & ((1 << 52) - 1)))
        }
        // Exactly half way between two doubles with an even lower one: round down (ties to even).
        if product.low <= 1 && q >= -4 && q <= 23 && mantissa & 3 == 1 && (mantissa << shift) == product.high {
            mantissa &= ~1
        }
        mantissa += mantissa & 1
        mantissa >>= 1
        if mantissa >= 2 << 52 {
            mantissa = 1 << 52
            power2 += 1
        }
        mantissa &= ~(1 << 52)
        if power2 >= 0x7FF { return .infinity }
        return Double(bitPattern: UInt64(power2) << 52 | mantissa)
    }
}
