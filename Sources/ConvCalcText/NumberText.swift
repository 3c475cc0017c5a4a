import ConvCalcCore
import ConvCalcEngine
/// Writes doubles as text straight into a byte buffer, without a `String` per number.
///
/// The form is the one `convcalc run` prints (SPEC §6): integers of magnitude below 10^16
/// without a decimal point (`4`, `-0`), other finite values the shortest text that reads back
/// to the same double (`0.1`, `1e-05`, `1.2345678901234567e+20`), and `nan`, `inf`, `-inf`.
/// The shortest digits are our own Schubfach (`ShortestDigits`), written in the form of
/// Swift's `Double.description` (`ShortestText`), which they equal byte for byte.
public struct NumberText {
    /// Room one value may need: the longest form is 24 bytes
    /// (`-2.2250738585072014e-308`); `ShortestText`'s whole-word stores reach 25 bytes on.
    public static let room = 32

    /// Where the next byte goes (public so the writers below inline into other modules).
    public var cursor: UnsafeMutablePointer<UInt8>

    /// The printer's tables (powers of five and ten), fetched once per buffer.
    @usableFromInline let tables: DecimalParser.Tables

    init(cursor: UnsafeMutablePointer<UInt8>) {
        self.cursor = cursor
        tables = .shared
    }

    /// A byte array of at most `capacity` bytes written by `body`. Each value appended must
    /// have `room` bytes left; callers size `capacity` for that.
    public static func bytes(capacity: Int, _ body: (inout NumberText) -> Void) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: max(capacity, 1)) { buffer, initialized in
            var text = NumberText(cursor: buffer.baseAddress!)
            body(&text)
            initialized = text.cursor - buffer.baseAddress!
        }
    }

    /// One value as a String (small outputs: JSON, --explain).
    public static func string(_ value: Double) -> String {
        String(decoding: bytes(capacity: room) { $0.append(value) }, as: UTF8.self)
    }

    @inlinable @inline(__always)
    public mutating func append(byte: UInt8) {
        cursor.pointee = byte
        cursor += 1
    }

    /// Lets `body` write at the cursor (at most `room` bytes) and moves past what it wrote.
    @inlinable
    public mutating func write(_ body: (UnsafeMutablePointer<UInt8>) -> Int) {
        cursor += body(cursor)
    }

    /// Appends `value` in the shortest round-trip form.
    @inlinable @inline(__always)
    public mutating func append(_ value: Double) {
        let magnitude = value.magnitude
        // An integer below 10^16: the conversions are exact and agree (no call to trunc).
        if magnitude < 1e16 && Double(Int64(magnitude)) == magnitude {
            appendInteger(value)
        } else if value.isFinite {
            appendShortest(value)
        } else if value.isNaN {
            append(byte: 0x6E); append(byte: 0x61); append(byte: 0x6E)   // nan
        } else {
            if value < 0 { append(byte: 0x2D) }
            append(byte: 0x69); append(byte: 0x6E); append(byte: 0x66)   // inf
        }
    }

    /// `append` for this module's matrix printer, inlined into its loop with the printer
    /// (`@inline(always)`, as `ShortestText.write`): `append` must stay @inlinable for other
    /// modules and reaches the printer through `appendShortest`, which the optimizer judged
    /// too large to inline under `@inline(__always)` (cost 844): a call per value.
    @inline(always)
    mutating func appendInline(_ value: Double) {
        let magnitude = value.magnitude
        if magnitude < 1e16 && Double(Int64(magnitude)) == magnitude {
            appendInteger(value)
        } else if value.isFinite {
            cursor += ShortestText.write(value, to: cursor, tables: tables)
        } else {
            append(value)
        }
    }

    /// A finite value in `ShortestText`'s form.
    @usableFromInline @inline(__always)
    mutating func appendShortest(_ value: Double) {
        cursor += ShortestText.write(value, to: cursor, tables: tables)
    }

    /// An integral double below 10^16 in magnitude, digits only (`-0` keeps its sign): eight
    /// digits a word (`ShortestText.eightDigitText`), the leading zeros shifted out.
    @usableFromInline @inline(__always)
    mutating func appendInteger(_ value: Double) {
        cursor.pointee = 0x2D   // -, kept only for a negative value
        cursor += Int(truncatingIfNeeded: value.bitPattern >> 63)
        let n = UInt64(value.magnitude)
        let high = n / 100_000_000, low = n &- high &* 100_000_000
        let lowText = ShortestText.eightDigitText(low)
        if high == 0 {
            // Leading zeros are the low bytes that are '0' (all but the last for n = 0).
            let zeros = min(7, (lowText &- 0x3030_3030_3030_3030).trailingZeroBitCount >> 3)
            ShortestText.store(lowText &>> UInt64(truncatingIfNeeded: zeros &* 8), at: cursor)
            cursor += 8 &- zeros
        } else {
            let highText = ShortestText.eightDigitText(high)
            let zeros = (highText &- 0x3030_3030_3030_3030).trailingZeroBitCount >> 3   // high > 0: at most 7
            ShortestText.store(highText &>> UInt64(truncatingIfNeeded: zeros &* 8), at: cursor)
            cursor += 8 &- zeros
            ShortestText.store(lowText, at: cursor)
            cursor += 8
        }
    }
}
