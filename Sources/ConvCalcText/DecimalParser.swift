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

    /// An exponent `e±N` (or `E`) at `index`: its value, saturated from 2^50 on, and where it
    /// ends; nil when there is none (an `e` without digits is not part of the number). The
    /// bound lies beyond any token's length, not only beyond the double range: zeros after
    /// the point shift the exponent by their count (`0.` followed by 10^6 zeros and `1e1000000`
    /// is 1).
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
            if value < 1 << 50 { value = value * 10 + Int(d) }
            at += 1
        }
        return at > digitsStart ? (negative ? -value : value, at) : nil
    }

    /// The longest decimal number at the start of the `limit` bytes at `start`: its value and
    /// length, or nil when none starts there. One pass over the bytes.
    @inline(__always)
    public static func prefix(_ start: UnsafePointer<UInt8>, limit: Int) -> (Double, Int)? {
        prefix(start, limit: limit, tables: .shared)
    }

    /// `prefix` with the tables passed in (fetched once per scan, not per number). Digits are
    /// read eight at a time (`digitRun`); up to 19 of them (leading zeros included) make an
    /// exact 64-bit significand. Longer significands go to `longPrefix`.
    @inline(__always)
    static func prefix(_ start: UnsafePointer<UInt8>, limit: Int, tables: Tables) -> (Double, Int)? {
        var (negative, index) = leadingSign(start, limit: limit)
        var significand: UInt64 = 0
        let integerStart = index
        digitRun(start, at: &index, limit: limit, into: &significand, tables: tables)
        var digits = index &- integerStart
        var exponent = 0          // decimal exponent of the last digit
        if index < limit && start[index] == 0x2E {   // .
            index &+= 1
            let fractionStart = index
            digitRun(start, at: &index, limit: limit, into: &significand, tables: tables)
            exponent = fractionStart &- index
            digits &+= index &- fractionStart
        }
        guard digits > 0 else { return nil }
        if digits > 19 { return longPrefix(start, limit: limit) }
        if let (power, end) = exponentPart(start, at: index, limit: limit) {
            exponent &+= power
            index = end
        }
        let magnitude = value(significand: significand, exponent: exponent, tables: tables)
        return (negative ? -magnitude : magnitude, index)
    }

    /// The form `%.17g` writes, read without loops: `[+-]? d{0,7} . d{16,} ([eE] ...)?` with at
    /// most 19 digits in all: its value and length, or length 0 when the number has another
    /// form (the caller then takes `prefix`). Four words of eight bytes at places fixed by the
    /// integer's length (SWAR, see `nonDigitFlags`): the integer digits, two whole words of
    /// fraction digits, and a tail word whose digits are counted and read without a branch.
    /// Reads up to 40 bytes at `start`, whatever the number's length: the caller makes sure
    /// they are there (`limit` >= 40).
    @inline(always)
    static func longFractionPrefix(_ start: UnsafePointer<UInt8>, limit: Int, tables: Tables) -> (value: Double, length: Int) {
        guard let (negative, at, integerWord, integerDigits) = signAndIntegerWord(start) else { return (0, 0) }
        let fractionStart = at &+ integerDigits &+ 1
        let high = word(start + fractionStart), low = word(start + (fractionStart &+ 8))
        guard nonDigitFlags(high) | nonDigitFlags(low) == 0 else { return (0, 0) }
        let tail = word(start + (fractionStart &+ 16))
        let tailDigits = leadingDigitCount(tail)
        let fractionDigits = 16 &+ tailDigits
        guard integerDigits &+ fractionDigits <= 19 else { return (0, 0) }
        // At most 19 digits: no wrapping below, the &-operators only skip the checks.
        var significand = shortDigitsValue(integerWord, count: integerDigits) &* 10_000_000_000_000_000
        significand = significand &+ eightDigitValue(high) &* 100_000_000 &+ eightDigitValue(low)
        significand = significand &* tables.powersOfTen[tailDigits] &+ shortDigitsValue(tail, count: tailDigits)
        var index = fractionStart &+ fractionDigits
        let magnitude: Double
        let next = UInt8(truncatingIfNeeded: tail &>> (UInt64(truncatingIfNeeded: tailDigits) &* 8))   // the byte after the digits
        if next | 0x20 == 0x65, let (power, end) = exponentPart(start, at: index, limit: limit) {   // e E
            index = end
            magnitude = value(significand: significand, exponent: power &- fractionDigits, tables: tables)
        } else {
            // 10^-16 ... 10^-19: inside the table, never subnormal or infinite.
            magnitude = significand == 0 ? 0 : eiselLemire(significand, -fractionDigits, powersOfFive: tables.powersOfFive)
        }
        return (Double(bitPattern: magnitude.bitPattern | (negative ? 1 << 63 : 0)), index)
    }

    /// An optional leading `-` or `+`: whether it is `-`, and its length (0 or 1).
    @inline(__always)
    static func leadingSign(_ start: UnsafePointer<UInt8>, limit: Int) -> (negative: Bool, length: Int) {
        guard limit > 0, start[0] == 0x2D || start[0] == 0x2B else { return (false, 0) }   // - +
        return (start[0] == 0x2D, 1)
    }

    /// The start both word-at-a-time forms share: an optional sign (`at` is its length), then
    /// 0 to 7 integer digits read as one word and followed by a point; nil for another form.
    @inline(__always)
    static func signAndIntegerWord(_ start: UnsafePointer<UInt8>) -> (negative: Bool, at: Int, integerWord: UInt64, integerDigits: Int)? {
        let first = start[0]
        let negative = first == 0x2D
        let at = negative || first == 0x2B ? 1 : 0
        let integerWord = word(start + at)
        let integerDigits = leadingDigitCount(integerWord)
        guard integerDigits < 8, (integerWord &>> UInt64(truncatingIfNeeded: integerDigits &* 8)) & 0xFF == 0x2E else { return nil }   // .
        return (negative, at, integerWord, integerDigits)
    }

    /// The form `[+-]? d{0,7} . d{1,15} ([eE] ...)?` (at most 19 digits), which
    /// `longFractionPrefix` leaves: `%.17g` with trailing zeros dropped, shortest output.
    /// Two words of fraction digits, the second counted only when the first is all digits.
    /// Length 0: another form. Reads up to 32 bytes at `start` (`limit` >= 40 as above).
    @inline(never)
    static func shortFractionPrefix(_ start: UnsafePointer<UInt8>, limit: Int, tables: Tables) -> (value: Double, length: Int) {
        guard let (negative, at, integerWord, integerDigits) = signAndIntegerWord(start) else { return (0, 0) }
        let fractionStart = at &+ integerDigits &+ 1
        let high = word(start + fractionStart), low = word(start + (fractionStart &+ 8))
        let highDigits = leadingDigitCount(high)
        let lowDigits = highDigits == 8 ? leadingDigitCount(low) : 0
        let fractionDigits = highDigits &+ lowDigits
        let integer = leadingDigitsValue(integerWord, count: integerDigits)
        guard fractionDigits > 0, lowDigits < 8, (integer == 0 ? 0 : integerDigits) &+ fractionDigits <= 19 else { return (0, 0) }
        // At most 19 digits: no wrapping below, the &-operators only skip the checks.
        let fraction = highDigits == 8 ? eightDigitValue(high) &* tables.powersOfTen[lowDigits] &+ leadingDigitsValue(low, count: lowDigits)
            : leadingDigitsValue(high, count: highDigits)
        let significand = integer &* tables.powersOfTen[fractionDigits] &+ fraction
        var index = fractionStart &+ fractionDigits
        var exponent = -fractionDigits
        if let (power, end) = exponentPart(start, at: index, limit: limit) {
            exponent &+= power
            index = end
        }
        let magnitude = value(significand: significand, exponent: exponent, tables: tables)
        return (Double(bitPattern: magnitude.bitPattern | (negative ? 1 << 63 : 0)), index)
    }

    /// The value of the first `count` (0...7) digits of `word`: moved to the top of the word,
    /// '0's below, read as eight digits. No branch on `count` (0 gives 0): the move is two
    /// masking shifts (8, then 56 - 8 count bits), never one of 64.
    @inline(__always)
    static func leadingDigitsValue(_ word: UInt64, count: Int) -> UInt64 {
        let bits = UInt64(truncatingIfNeeded: count) &* 8
        return eightDigitValue(((word &<< 8) &<< (56 &- bits)) | (0x3030_3030_3030_3030 &>> bits))
    }

    /// Eight bytes at `start` as a little-endian word (first byte lowest).
    @inline(__always)
    static func word(_ start: UnsafePointer<UInt8>) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(start).loadUnaligned(as: UInt64.self))
    }

    /// The top bit of every byte of `word` that is not an ASCII digit: byte b is a digit iff
    /// neither b + 0x46 nor b - 0x30 sets its top bit. Carries and borrows only cross from a
    /// non-digit byte, so the lowest flagged byte is exactly the first non-digit.
    @inline(__always)
    static func nonDigitFlags(_ word: UInt64) -> UInt64 {
        ((word &+ 0x4646_4646_4646_4646) | (word &- 0x3030_3030_3030_3030)) & 0x8080_8080_8080_8080
    }

    /// How many of the word's bytes, from the first, are digits before a non-digit (0...8).
    @inline(__always)
    static func leadingDigitCount(_ word: UInt64) -> Int {
        nonDigitFlags(word).trailingZeroBitCount >> 3
    }

    /// The value of the first `count` (0...3) digits of `word`, as `leadingDigitsValue` but in
    /// the low 32 bits (fewer operations: the integer part and the tail of `%.17g` text have
    /// at most three digits when the whole has at most 19).
    @inline(__always)
    static func shortDigitsValue(_ word: UInt64, count: Int) -> UInt64 {
        let bits = UInt32(truncatingIfNeeded: count) &* 8
        let digits = ((UInt32(truncatingIfNeeded: word) &<< 8) &<< (24 &- bits)) | (0x3030_3030 &>> bits)
        var value = digits &- 0x3030_3030
        value = value &* 10 &+ (value >> 8)               // two pairs, in bytes 0 and 2
        return UInt64((value & 0xFF) &* 100 &+ ((value >> 16) & 0xFF))
    }

    /// The decimal digits from `index` on, appended to `significand` (wrapping past 19 digits:
    /// callers count digits and take another path then); `index` moves past them.
    ///
    /// SWAR (SIMD within a register, as in fast_float): eight bytes a step while all are
    /// digits; the n digits before the first non-digit are added as significand * 10^n plus
    /// `leadingDigitsValue`, without a branch on n.
    @inline(__always)
    static func digitRun(_ start: UnsafePointer<UInt8>, at index: inout Int, limit: Int, into significand: inout UInt64,
                         tables: Tables) {
        while index &+ 8 <= limit {
            let digits = word(start + index)
            let count = leadingDigitCount(digits)
            if count == 8 {
                significand = significand &* 100_000_000 &+ eightDigitValue(digits)
                index &+= 8
                continue
            }
            significand = significand &* tables.powersOfTen[count] &+ leadingDigitsValue(digits, count: count)
            index &+= count
            return
        }
        while index < limit {   // the last few bytes of the buffer
            let d = start[index] &- 0x30
            guard d < 10 else { break }
            significand = significand &* 10 &+ UInt64(d)
            index &+= 1
        }
    }

    /// The value of eight ASCII digits in a little-endian word (first digit in the low byte):
    /// pairs, then quadruples, then the whole, three multiplications (fast_float's
    /// `parse_eight_digits_unrolled`).
    @inline(__always)
    static func eightDigitValue(_ word: UInt64) -> UInt64 {
        let mask: UInt64 = 0x0000_00FF_0000_00FF
        let mul1: UInt64 = 0x000F_4240_0000_0064   // 100 + (1_000_000 << 32)
        let mul2: UInt64 = 0x0000_2710_0000_0001   // 1 + (10_000 << 32)
        var value = word &- 0x3030_3030_3030_3030
        value = value &* 10 &+ (value >> 8)          // pairs in every other byte
        return ((value & mask) &* mul1 &+ ((value >> 16) & mask) &* mul2) >> 32
    }

    /// The old one-digit-at-a-time reader, for significands of more than 19 digits (where
    /// leading zeros do not count): up to 19 exact, beyond that the standard library.
    @inline(never)
    static func longPrefix(_ start: UnsafePointer<UInt8>, limit: Int) -> (Double, Int)? {
        var (negative, index) = leadingSign(start, limit: limit)
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
        let magnitude = value(significand: significand, exponent: exponent, tables: .shared)
        return (negative ? -magnitude : magnitude, index)
    }

    /// The parser's and the printer's tables at fixed addresses: lookups without array
    /// bookkeeping, and one lazy-global check per scan instead of one per number.
    @usableFromInline
    struct Tables {
        /// Exact powers of ten as doubles, 10^0 ... 10^22 (Clinger's fast path).
        let exactPowers: UnsafePointer<Double>
        /// `powersOfFive128` (two words a power, 5^-342 ... 5^324).
        let powersOfFive: UnsafePointer<UInt64>
        /// 10^0 ... 10^19 as integers.
        let powersOfTen: UnsafePointer<UInt64>
        /// The printer's 126-bit 10^e, e = -292 ... 324, two words each (`ShortestDigits.g`),
        /// derived from `powersOfFive` once.
        let schubfachPowers: UnsafePointer<UInt64>

        @usableFromInline static let shared: Tables = {
            let powersOfFive = permanent(powersOfFive128)
            return Tables(
                exactPowers: permanent([
                    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
                ]),
                powersOfFive: powersOfFive,
                powersOfTen: permanent((0...19).map { (0..<$0).reduce(UInt64(1)) { power, _ in power &* 10 } }),
                schubfachPowers: permanent((-292...324).flatMap { e -> [UInt64] in
                    let (g1, g0) = ShortestDigits.g(e, powersOfFive: powersOfFive)
                    return [g1, g0]
                }))
        }()
    }

    static func permanent<T>(_ values: [T]) -> UnsafePointer<T> {
        let memory = UnsafeMutablePointer<T>.allocate(capacity: values.count)   // kept for the process's life
        memory.initialize(from: values, count: values.count)
        return UnsafePointer(memory)
    }

    /// The double nearest `w · 10^q`.
    @inline(__always)
    static func value(significand w: UInt64, exponent q: Int, tables: Tables) -> Double {
        if w == 0 || q < -342 { return 0 }
        if q > 308 { return .infinity }
        // Clinger: w and 10^|q| exact, one correctly rounded operation.
        if w <= 1 << 53 && q >= -22 && q <= 22 {
            return q < 0 ? Double(w) / tables.exactPowers[-q] : Double(w) * tables.exactPowers[q]
        }
        return eiselLemire(w, q, powersOfFive: tables.powersOfFive)
    }

    /// fast_float's `compute_float<binary64>`: the correctly rounded double of `w · 10^q`,
    /// w ≠ 0 and −342 ≤ q ≤ 308 (in that range the &-operators below cannot wrap).
    @inline(always)
    static func eiselLemire(_ significand: UInt64, _ q: Int, powersOfFive table: UnsafePointer<UInt64>) -> Double {
        let leadingZeros = significand.leadingZeroBitCount
        let w = significand << UInt64(leadingZeros)
        let index = 2 &* (q &+ 342)
        var product = w.multipliedFullWidth(by: table[index])
        // 55 bits of precision needed (52 + 3): refine with the low half when they are all ones.
        if product.high & 0x1FF == 0x1FF {
            let second = w.multipliedFullWidth(by: table[index &+ 1])
            let (low, carry) = product.low.addingReportingOverflow(second.high)
            product.low = low
            if carry { product.high &+= 1 }
        }
        let upperBit = Int(product.high >> 63)
        let shift = UInt64(upperBit + 64 - 52 - 3)
        var mantissa = product.high >> shift
        // power(q) = floor(q · log2(10)) + 63; the binary exponent biased by 1023.
        var power2 = (((152_170 + 65_536) &* q) >> 16) &+ 63 &+ upperBit &- leadingZeros &+ 1023
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
