import ConvCalcCore
import ConvCalcEngine
/// The shortest decimal that reads back to a double, by Schubfach: R. Giulietti, "The
/// Schubfach way to render doubles" (2020, revised 2022), the algorithm of Java 19's
/// `Double.toString` (`jdk.internal.math.DoubleToDecimal`), followed step by step here.
///
/// For a finite positive double v = c 2^q, let R be its rounding interval (the reals that
/// round to v: half an ulp either side, closed when c is even). With k = floor(log10 of the
/// ulp-spacing) the interval holds at least one multiple of 10^k and at most two of the
/// candidates s 10^k, (s + 1) 10^k with s = floor(v / 10^k); if one of ten times coarser
/// (10 s' 10^k) is in R it is shorter. Every comparison is on 4 v / 10^k, 4 (v -+ half ulp)
/// / 10^k, computed as rounded-to-odd products of c 2^q with a 126-bit g ~ 10^-k
/// (`roundToOdd`), exact enough that each test gives the true answer. The result is the
/// shortest decimal in R and, among those, the closest to v (ties to an even digit), the
/// same digits as Swift's own printer (SwiftDtoa, `Double.description`).
///
/// g comes from the Eisel-Lemire table (`powersOfFive128`, 5^-342 ... 5^324): 10^e =
/// 5^e 2^e, so the 128-bit entry for 5^e is 4 g - 4 + (0...3) (see
/// Tests/fixtures/generate_powers_of_five.py, which checks it for every e used); the split
/// words are worked out once (`DecimalParser.Tables.schubfachPowers`).
enum ShortestDigits {
    /// The shortest decimal of the finite, nonzero `value` (sign ignored): digits f and
    /// exponent e with |v| = f 10^e; f may end in zeros (callers strip them).
    @inline(__always)
    static func decimal(_ value: Double, powers: UnsafePointer<UInt64>) -> (digits: UInt64, exponent: Int) {
        let bits = value.bitPattern
        let fraction = bits & (1 << 52 &- 1)
        let biased = Int(truncatingIfNeeded: (bits >> 52) & 0x7FF)
        if biased != 0 {
            return decimal(q: biased &- 1075, c: 1 << 52 | fraction, powers: powers)
        }
        return decimal(q: -1074, c: fraction, powers: powers)   // subnormal
    }

    /// Java's `toDecimal(q, c, dk)`: the shortest decimal in the rounding interval of c 2^q.
    /// One change: Java keeps at least two digits (`4.9E-324`; it tries 10 s' only for
    /// s >= 100 and scales the two smallest subnormals by 10), `description` does not
    /// (`5e-324`), so 10 s' is tried for s >= 10 and no value is scaled. That is sound: the
    /// interval is narrower than 10^(k+1) (10^k <= 2^q < 10^(k+1)), so it never holds both
    /// 10 s' and 10 t', and when it holds neither, s or t are the shortest.
    @inline(__always)
    static func decimal(q: Int, c: UInt64, powers: UnsafePointer<UInt64>) -> (digits: UInt64, exponent: Int) {
        let out: UInt64 = c & 1                              // an odd c: interval open
        let cb = c << 2
        let cbr = cb &+ 2
        let cbl: UInt64
        let k: Int
        if c != 1 << 52 || q == -1074 {
            cbl = cb &- 2
            k = floorLog10Pow2(q)
        } else {                                             // a power of two: the interval below is half as wide
            cbl = cb &- 1
            k = floorLog10ThreeQuartersPow2(q)
        }
        let h = UInt64(truncatingIfNeeded: q &+ floorLog2Pow10(-k) &+ 2)   // 1...4
        let index = 2 &* (292 &- k)                          // g of 10^-k in `Tables.schubfachPowers`
        let g1 = powers[index], g0 = powers[index &+ 1]
        let vb = roundToOdd(g1, g0, cb &<< h)
        let vbl = roundToOdd(g1, g0, cbl &<< h)
        let vbr = roundToOdd(g1, g0, cbr &<< h)
        let s = vb >> 2
        // The three outcomes are computed without branches (which one holds depends on the
        // digits: a branch on it would be mispredicted often), then one is selected.
        // s' = floor(s / 10) by a multiplication (exact for s < 10^17, Java's table).
        let sp10 = 10 &* s.multipliedFullWidth(by: 115_292_150_460_684_698 << 4).high
        let tp10 = sp10 &+ 10
        let upin = vbl &+ out <= sp10 << 2
        let wpin = (tp10 << 2) &+ out <= vbr
        let shorter = s >= 10 && upin != wpin                // exactly one of 10 s', 10 t' in the interval
        let t = s &+ 1
        let uin = vbl &+ out <= s << 2
        let win = (t << 2) &+ out <= vbr
        // Both of s, t in the interval: the closer to v, the even one on a tie.
        let cmp = Int64(bitPattern: vb &- ((s &+ t) << 1))
        let towardS = UInt64(bitPattern: cmp) >> 63 | (cmp == 0 ? ~s & 1 : 0)   // below the midpoint, or on it with s even
        let closer = select(towardS != 0, s, t)
        let digits = select(shorter, select(upin, sp10, tp10), select(uin != win, select(uin, s, t), closer))
        return (digits, k)
    }

    /// `condition ? a : b` by masks, so that it cannot become a branch.
    @inline(__always)
    static func select(_ condition: Bool, _ a: UInt64, _ b: UInt64) -> UInt64 {
        let mask = 0 &- UInt64(condition ? 1 : 0)
        return b ^ ((a ^ b) & mask)
    }

    /// floor(q log10 2), exact for the exponents of doubles and far beyond (Java's
    /// MathUtils.flog10pow2; the three below were checked for |q| <= 1200 with exact powers).
    @inline(__always)
    static func floorLog10Pow2(_ q: Int) -> Int { (q &* 661_971_961_083) >> 41 }

    /// floor(q log10 2 + log10(3/4)) (Java's flog10threeQuartersPow2).
    @inline(__always)
    static func floorLog10ThreeQuartersPow2(_ q: Int) -> Int { (q &* 661_971_961_083 &- 274_743_187_321) >> 41 }

    /// floor(e log2 10) (Java's flog2pow10).
    @inline(__always)
    static func floorLog2Pow10(_ e: Int) -> Int { (e &* 913_124_641_741) >> 38 }

    /// g = floor(10^e 2^-r) + 1 with 2^125 <= g < 2^126, split into its top 63 bits and its
    /// low 63 bits (Java's g1, g0), for -292 <= e <= 324; from the 128-bit entry of 5^e.
    static func g(_ e: Int, powersOfFive table: UnsafePointer<UInt64>) -> (UInt64, UInt64) {
        let index = 2 &* (e &+ 342)
        var high = table[index]
        var low = table[index &+ 1]
        // Entries of 5^-27 ... 5^-1 are floor + 1 untruncated: one less is the floor.
        let roundedUp: UInt64 = e < 0 && e >= -27 ? 1 : 0
        let (lowDown, borrow) = low.subtractingReportingOverflow(roundedUp)
        low = lowDown
        if borrow { high &-= 1 }
        // g = (entry >> 2) + 1 in 128 bits, then split at bit 63.
        var gLow = high << 62 | low >> 2
        var gHigh = high >> 2
        let (next, carry) = gLow.addingReportingOverflow(1)
        gLow = next
        if carry { gHigh &+= 1 }
        return (gHigh << 1 | gLow >> 63, gLow & (1 << 63 &- 1))
    }

    /// floor(g cp / 2^127), with its lowest bit set when the rest is not zero ("round to odd";
    /// Java's `rop`); g = g1 2^63 + g0, cp < 2^60.
    @inline(__always)
    static func roundToOdd(_ g1: UInt64, _ g0: UInt64, _ cp: UInt64) -> UInt64 {
        let x1 = g0.multipliedFullWidth(by: cp).high
        let y = g1.multipliedFullWidth(by: cp)
        let z = (y.low >> 1) &+ x1                           // below 2^64: y.low / 2 < 2^63, x1 < 2^59
        let vbp = y.high &+ (z >> 63)
        return vbp | ((z & (1 << 63 &- 1)) &+ (1 << 63 &- 1)) >> 63
    }
}

/// Shortest digits as text, in the form of Swift's `Double.description` (SwiftDtoa): `0.1`,
/// `123.456`, `0.0001`, `1e-05`, `1.2345678901234568e+17`, `100.0`, `5e-324`.
/// Exponential when the value is below 10^-4 or above 2^53, a decimal point otherwise.
enum ShortestText {
    /// Writes the finite `value` at `cursor` and returns how many bytes it wrote (at most 24;
    /// eight-byte stores reach up to 25 bytes from `cursor`, the rest overwritten later).
    @inline(always)
    static func write(_ value: Double, to cursor: UnsafeMutablePointer<UInt8>, tables: DecimalParser.Tables) -> Int {
        cursor.pointee = 0x2D   // -, kept only for a negative value (no branch on the sign)
        let p = cursor + Int(truncatingIfNeeded: value.bitPattern >> 63)
        if value == 0 {
            store(0x302E_30, at: p)   // "0.0"
            return p + 3 - cursor
        }
        let (digits, exponent) = ShortestDigits.decimal(value, powers: tables.schubfachPowers)
        let (digitText, power) = text(of: digits, exponent: exponent, tables: tables)
        let (upperText, lowerText) = (digitText.upper, digitText.lower)
        let lowerDigits = lowerText &- 0x3030_3030_3030_3030, upperDigits = upperText &- 0x3030_3030_3030_3030
        let trailingZeros = lowerDigits != 0 ? lowerDigits.leadingZeroBitCount >> 3
            : upperDigits != 0 ? 8 &+ upperDigits.leadingZeroBitCount >> 3 : 16
        let significant = 17 &- trailingZeros
        if power < -4 || value.magnitude > 0x1p53 {
            return p - cursor + exponential(digitText, significant: significant, power: power, at: p)
        }
        return p - cursor + decimal(digitText, significant: significant, power: power, at: p)
    }

    typealias DigitText = (first: UInt8, upper: UInt64, lower: UInt64)

    /// The 17 digit places of `digits` as text (trailing zeros added), and the power of ten
    /// of the first: the value is d.ddd 10^power. A normal double's digits have 16 or 17
    /// (Schubfach's s is c 2^q / 10^k, c >= 2^52, 1 <= 2^q / 10^k < 10): they are split at
    /// 10^8 with no scaling first, the 16-digit text being the 17-digit layout moved one byte
    /// down, chosen by a mask (16 and 17 digits come about equally often: a branch on it
    /// would be mispredicted). Subnormals' fewer digits are counted and scaled to 17.
    @inline(__always)
    static func text(of digits: UInt64, exponent: Int, tables: DecimalParser.Tables) -> (DigitText, power: Int) {
        if digits >= 1_000_000_000_000_000 {
            let long = digits >= 10_000_000_000_000_000
            let high = digits / 100_000_000, low = digits &- high &* 100_000_000
            let first = high / 100_000_000, rest = high &- first &* 100_000_000   // first: 0 for 16 digits
            let highText = eightDigitText(rest), lowText = eightDigitText(low)
            let longBit = UInt64(long ? 1 : 0), mask = 0 &- longBit
            let firstText = (first &+ 0x30) & mask | highText & 0xFF & ~mask
            let upper = highText & mask | (highText >> 8 | lowText << 56) & ~mask
            let lower = lowText & mask | (lowText >> 8 | 0x30 << 56) & ~mask
            return ((UInt8(truncatingIfNeeded: firstText), upper, lower), exponent &+ 15 &+ Int(truncatingIfNeeded: longBit))
        }
        let length = digitCount(digits, tables: tables)
        let f = digits &* tables.powersOfTen[17 &- length]
        let first = f / 10_000_000_000_000_000              // the divisions are independent
        let firstEight = f / 100_000_000                    // (multiplications by inverses)
        let lower = f &- firstEight &* 100_000_000
        let upper = firstEight &- first &* 100_000_000
        return ((UInt8(truncatingIfNeeded: first) &+ 0x30, eightDigitText(upper), eightDigitText(lower)), exponent &+ length &- 1)
    }

    /// `d.ddde-05`, `de+300`: the point only with more than one digit, the exponent's sign
    /// always, and at least two of its digits.
    @inline(__always)
    static func exponential(_ digits: DigitText, significant: Int, power: Int, at p: UnsafeMutablePointer<UInt8>) -> Int {
        p.pointee = digits.first
        p[1] = 0x2E   // .
        store(digits.upper, at: p + 2)
        store(digits.lower, at: p + 10)
        var at = significant > 1 ? significant &+ 1 : 1
        p[at] = 0x65   // e
        p[at &+ 1] = power < 0 ? 0x2D : 0x2B
        let magnitude = power < 0 ? 0 &- power : power
        at &+= 2
        if magnitude >= 100 {
            p[at] = 0x30 &+ UInt8(truncatingIfNeeded: magnitude / 100)
            at &+= 1
        }
        let tens = magnitude / 10 % 10
        p[at] = 0x30 &+ UInt8(truncatingIfNeeded: tens)
        p[at &+ 1] = 0x30 &+ UInt8(truncatingIfNeeded: magnitude &- magnitude / 10 &* 10)
        return at &+ 2
    }

    /// `0.000123`, `123.456`, `100.0` (power -4 ... 15): the digits with the point moved
    /// into them by shifted stores, no loop and no reading back of what was just written.
    /// Below 1 (power < 0) and from 1 up, the same stores at places chosen by masks, not by
    /// a branch (which was mispredicted for about a third of normally distributed values,
    /// 6 ns a value): below 1 the digits go after `0.000`, and the stores that move the
    /// digits after the point write them again where they are.
    @inline(__always)
    static func decimal(_ digits: DigitText, significant: Int, power: Int, at p: UnsafeMutablePointer<UInt8>) -> Int {
        let below = power &>> 63                   // -1 below 1, else 0
        let lead = (1 &- power) & below            // where the digits start: after "0.000"
        let shift = power & ~below                 // digits before the point, less one
        let moved = 1 &+ below                     // 1: the digits after the point move right
        store(0x3030_3030_3030_2E30, at: p)        // "0.000000", overwritten from 1 up
        let q = p + lead
        q.pointee = digits.first
        store(digits.upper, at: q + 1)
        store(digits.lower, at: q + 9)
        if significant <= power &+ 1 {   // an integer (Double.description's form): its digits, then ".0"
            p[power &+ 1] = 0x2E
            p[power &+ 2] = 0x30
            return power &+ 3
        }
        if shift < 8 {
            store(digits.upper &>> UInt64(truncatingIfNeeded: shift &* 8), at: q + (shift &+ 1 &+ moved))
            store(digits.lower, at: q + (9 &+ moved))
        } else {
            store(digits.lower &>> UInt64(truncatingIfNeeded: (shift &- 8) &* 8), at: q + (shift &+ 2))
        }
        p[shift &+ 1] = 0x2E   // .
        return significant &+ lead &+ moved
    }

    /// How many decimal digits `n` (1 <= n < 10^17) has.
    @inline(__always)
    static func digitCount(_ n: UInt64, tables: DecimalParser.Tables) -> Int {
        let guess = ShortestDigits.floorLog10Pow2(64 &- n.leadingZeroBitCount)   // digits of 2^bits, or one fewer
        return n >= tables.powersOfTen[guess] ? guess &+ 1 : guess
    }

    /// The eight decimal digits of `n` < 10^8 (leading zeros included) as ASCII, first digit
    /// in the low byte: halves, quarters and digits split in parallel lanes (SWAR). Each split
    /// of lanes x into q = floor(x / d) (a multiply-and-shift: x/100 = x 10486 >> 20 for
    /// x < 10^4, x/10 = x 103 >> 10 for x < 100) and x - d q in the next lane up is one more
    /// multiplication: (x << w) - q ((d << w) - 1) = q + ((x - d q) << w), lane by lane.
    @inline(__always)
    static func eightDigitText(_ n: UInt64) -> UInt64 {
        let high = n / 10_000
        var lanes = (n << 32) &- high &* 42_949_672_959_999                     // 4 + 4 digits: (10^4 << 32) - 1
        let hundreds = ((lanes &* 10_486) >> 20) & 0x0000_007F_0000_007F
        lanes = (lanes << 16) &- hundreds &* 6_553_599                           // 2 + 2 + 2 + 2: (100 << 16) - 1
        let tens = ((lanes &* 103) >> 10) & 0x000F_000F_000F_000F
        lanes = (lanes << 8) &- tens &* 2_559                                    // 8 digits: (10 << 8) - 1
        return lanes | 0x3030_3030_3030_3030
    }

    /// Eight bytes at `p`, the low byte first (any alignment).
    @inline(__always)
    static func store(_ word: UInt64, at p: UnsafeMutablePointer<UInt8>) {
        UnsafeMutableRawPointer(p).storeBytes(of: word.littleEndian, as: UInt64.self)
    }
}
