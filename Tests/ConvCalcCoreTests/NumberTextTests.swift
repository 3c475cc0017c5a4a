import XCTest
import ConvCalcTestSupport
@testable import ConvCalcCore
@testable import ConvCalcEngine
@testable import ConvCalcText

final class NumberTextTests: XCTestCase {
    /// The parser is bit-identical to the standard library (strtod) on random doubles printed
    /// in every common form, and on random decimal strings.
    func testParserMatchesStandardLibrary() {
        var generator = SeededGenerator(seed: testSeed)
        func check(_ text: String) {
            let expected = Double(text)
            let got = Array(text.utf8).withUnsafeBufferPointer { DecimalParser.parse($0.baseAddress!, count: $0.count) }
            XCTAssertEqual(got?.bitPattern, expected?.bitPattern, "\(text), \(seedNote)")
        }
        for _ in 0..<100_000 {
            let value = Double(bitPattern: UInt64.random(in: 0...0x7FEF_FFFF_FFFF_FFFF, using: &generator))
            check(value.description)
            check(String(value.description.dropLast()))
            let mantissa = UInt64.random(in: 0...UInt64.max, using: &generator) % [10, 1000, 1_000_000, 10_000_000_000_000_000, UInt64.max][Int.random(in: 0...4, using: &generator)]
            let exponent = Int.random(in: -350...320, using: &generator)
            check("\(mantissa)e\(exponent)")
            check("-0.\(mantissa)E+\(abs(exponent))")
            check("\(Double.random(in: -1000...1000, using: &generator))")
        }
        for text in ["0", "-0", "1", "1.", ".5", "+.5e-3", "1e308", "1.7976931348623157e308", "1.7976931348623159e308", "1e309",
                     "4.9406564584124654e-324", "2.4703282292062327e-324", "2.4703282292062328e-324", "1e-400", "9007199254740993",
                     "123456789012345678901234567890", "0.000000000000000000000000000001234567890123456789012345",
                     "2.2250738585072011e-308", "2.2250738585072012e-308", "1e22", "1e23", "8.98846567431158e307"] {
            check(text)
        }
        for bad in ["", ".", "-", "+", "e5", "1e", "1e+", "1.2.3", "--1", "1e5.5", "0x10", "1_0", " 1", "1 "] {
            let got = Array(bad.utf8).withUnsafeBufferPointer { DecimalParser.parse($0.baseAddress ?? UnsafePointer(bitPattern: 8)!, count: $0.count) }
            XCTAssertNil(got, bad)
        }
    }

    /// The printer writes what `description` writes (integers without ".0"), and it reads back.
    func testPrinterRoundTrips() {
        var generator = SeededGenerator(seed: testSeed)
        for _ in 0..<100_000 {
            let value = Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &generator))
            guard value.isFinite else { continue }
            let printed = NumberText.string(value)
            if value == value.rounded(.towardZero) && abs(value) < 1e16 {
                XCTAssertEqual(printed, value.sign == .minus && value == 0 ? "-0" : String(Int64(value)), seedNote)
            } else {
                XCTAssertEqual(printed, value.description, seedNote)
            }
            XCTAssertEqual(Double(printed)?.bitPattern, value.bitPattern, "\(printed), \(seedNote)")
        }
        let values: [Double] = [0.1, -2.5, 1e-5, 123456789012345680, .nan, .infinity, -.infinity, -0.0, 7, 10, 9999999999999998, -1234567]
        let bytes = NumberText.bytes(capacity: values.count * (NumberText.room + 1)) { text in
            for value in values {
                text.append(value)
                text.append(byte: 0x20)
            }
        }
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self),
                       "0.1 -2.5 1e-05 1.2345678901234568e+17 nan inf -inf -0 7 10 9999999999999998 -1234567 ")
    }
}
