import XCTest
import ConvCalcTestSupport
@testable import ConvCalcCore
@testable import ConvCalcEngine
@testable import ConvCalcText

/// Our Schubfach printer against Swift's own (`Double.description`, SwiftDtoa): the same
/// shortest digits and exponent, the same text, and text that our parser reads back to the
/// same bits. 10^5 values a run, 10^7 with CONVCALC_LONG=1.
final class ShortestDigitsTests: XCTestCase {
    /// `ShortestText`'s text for a finite value.
    static func text(_ value: Double) -> String {
        let bytes = [UInt8](unsafeUninitializedCapacity: NumberText.room) { buffer, count in
            count = ShortestText.write(value, to: buffer.baseAddress!, tables: .shared)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The digits (no trailing zeros) and exponent of a `description` (`1.25e-05`, `0.0125`,
    /// `125.0`): the value is digits 10^exponent.
    static func decimal(of description: String) -> (digits: UInt64, exponent: Int) {
        let parts = description.split(separator: "e")
        var exponent = parts.count > 1 ? Int(parts[1])! : 0
        let mantissa = parts[0].hasPrefix("-") ? parts[0].dropFirst() : parts[0]
        var digits = mantissa.filter { $0 != "." }
        if let point = mantissa.firstIndex(of: ".") {
            exponent -= mantissa.distance(from: point, to: mantissa.endIndex) - 1
        }
        while digits.count > 1 && digits.last == "0" {
            digits.removeLast()
            exponent += 1
        }
        return (UInt64(digits)!, exponent)
    }

    /// Schubfach's digits with trailing zeros removed.
    static func shortest(_ value: Double) -> (digits: UInt64, exponent: Int) {
        var (digits, exponent) = ShortestDigits.decimal(value, powers: DecimalParser.Tables.shared.schubfachPowers)
        while digits % 10 == 0 {
            digits /= 10
            exponent += 1
        }
        return (digits, exponent)
    }

    func check(_ value: Double, _ note: @autoclosure () -> String) {
        guard value.isFinite else { return }
        let expected = value.description
        let printed = Self.text(value)
        if printed != expected {
            XCTFail("bits \(String(value.bitPattern, radix: 16)): printed \(printed), description \(expected); \(note())")
            return
        }
        if value != 0 {
            let mine = Self.shortest(value), theirs = Self.decimal(of: expected)
            XCTAssert(mine == theirs, "bits \(String(value.bitPattern, radix: 16)): digits \(mine), description's \(theirs); \(note())")
        }
        let read = Array(printed.utf8).withUnsafeBufferPointer { DecimalParser.parse($0.baseAddress!, count: $0.count) }
        XCTAssertEqual(read?.bitPattern, value.bitPattern, "\(printed) reads back as \(String(describing: read)); \(note())")
    }

    /// Doubles of every kind: any bit pattern, integers, subnormals, powers of two and ten,
    /// and their neighbours.
    static func random(_ generator: inout SeededGenerator) -> Double {
        let any = UInt64.random(in: 0...UInt64.max, using: &generator)
        switch any % 8 {
        case 0...2: return Double(bitPattern: any)
        case 3: return Double(Int64.random(in: -(1 << 62)...(1 << 62), using: &generator) >> Int64.random(in: 0...62, using: &generator))
        case 4: return Double(bitPattern: any >> 12 | (any & 1) << 63)   // subnormal
        case 5: return Double(sign: any & 1 == 0 ? .plus : .minus, exponent: Int.random(in: -1074...1023, using: &generator), significand: 1)
        case 6:
            let power = Double("1e\(Int.random(in: -323...308, using: &generator))")!
            return Double(bitPattern: power.bitPattern &+ UInt64.random(in: 0...2, using: &generator) &- 1)
        default: return Double.random(in: -1000...1000, using: &generator)
        }
    }

    func testMatchesDescription() {
        let specials: [Double] = [0, -0.0, 5e-324, -5e-324, 1e-323, 1.5e-323, 2.2250738585072014e-308, 2.2250738585072009e-308,
                                  1.7976931348623157e308, -1.7976931348623157e308, 9007199254740993, 9007199254740992, 9007199254740994,
                                  0x1p53, 0x1p54, 1e16, 1e15 + 0.5, 4503599627370495.5, 0.1, 0.2, 0.3, 1e-4, 9.999e-5, 1e-5, 1e22, 1e23,
                                  123.456, 1 / 3.0, 2 / 3.0, .pi, 100, 1e21, 5e-310, 4.9406564584124654e-324, 9.8813129168249309e-324]
        for value in specials {
            check(value, "special")
            check(value.nextUp, "special's next up")
            check(value.nextDown, "special's next down")
        }
        // Every one of the smallest subnormals, where the rounding interval is widest.
        for bits in UInt64(1)...3000 { check(Double(bitPattern: bits), "subnormal") }
        var generator = SeededGenerator(seed: testSeed)
        for _ in 0..<(longTests ? 10_000_000 : 100_000) {
            let value = Self.random(&generator)
            check(value, seedNote)
        }
    }

    /// The integer logarithms Schubfach steps by, over more than the doubles' exponents (none
    /// of these products lies within 8e-5 of an integer, so doubles decide the floor).
    func testFloorLogarithms() {
        for q in -1200...1200 {
            XCTAssertEqual(ShortestDigits.floorLog10Pow2(q), Int((Double(q) * log10(2.0)).rounded(.down)), "q = \(q)")
            XCTAssertEqual(ShortestDigits.floorLog10ThreeQuartersPow2(q), Int((Double(q) * log10(2.0) + log10(0.75)).rounded(.down)), "q = \(q)")
        }
        for e in -400...400 {
            XCTAssertEqual(ShortestDigits.floorLog2Pow10(e), Int((Double(e) * log2(10.0)).rounded(.down)), "e = \(e)")
        }
    }

    /// The `run` form: NaN and infinities as words, integers below 10^16 without a point, the
    /// rest as above; and it reads back through the matrix reader (its own number paths).
    func testNumberTextForm() throws {
        XCTAssertEqual([Double.nan, .infinity, -.infinity, 0, -0.0, 42, -1e15, 1e16, 0.5].map(NumberText.string),
                       ["nan", "inf", "-inf", "0", "-0", "42", "-1000000000000000", "1e+16", "0.5"])
        var generator = SeededGenerator(seed: testSeed)
        for _ in 0..<20_000 {   // integers of every length below 10^16: digits only
            let integer = Int64.random(in: -9_999_999_999_999_999...9_999_999_999_999_999, using: &generator) >> Int64.random(in: 0...53, using: &generator)
            let value = Double(integer)   // rounded above 2^53
            XCTAssertEqual(NumberText.string(value), (value.sign == .minus ? "-" : "") + String(UInt64(value.magnitude)), seedNote)
        }
        let finite = (0..<20_000).map { _ in Self.random(&generator) }.filter(\.isFinite)
        let values = Array(finite.prefix(finite.count / 10 * 10))   // whole rows of ten
        let bytes = NumberText.bytes(capacity: values.count * (NumberText.room + 1)) { text in
            for (index, value) in values.enumerated() {
                text.append(value)
                text.append(byte: index % 10 == 9 ? 0x0A : 0x20)
            }
        }
        let read = try bytes.withUnsafeBufferPointer { try MatrixText.parseBlocks(bytes: $0) }.matrices[0].values
        XCTAssertEqual(read.map(\.bitPattern), values.map(\.bitPattern), seedNote)
    }
}
