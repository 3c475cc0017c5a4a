import XCTest
import Foundation
import ConvCalcTestSupport
@testable import ConvCalcCore
@testable import ConvCalcEngine
@testable import ConvCalcText

/// The matrix reader's number paths (the word-at-a-time form of `%.17g`, the general
/// decimal reader near the end of the text, the words) give bit for bit what `strtod`
/// (`Double(String)`) gives, on one thread and on two.
final class NumberReadingTests: XCTestCase {
    /// One random token and the double `strtod` reads from it: `%.17g` of random bit patterns
    /// and of ordinary values, the shortest form, other precisions, integers, long and
    /// leading-zero fractions, signs, exponents, subnormals.
    static func token(_ generator: inout SeededGenerator) -> String {
        let bits = Double(bitPattern: UInt64.random(in: 0...0x7FEF_FFFF_FFFF_FFFF, using: &generator))
        let ordinary = Double.random(in: -10...10, using: &generator) * [1, 1, 1, 1e-3, 1e-5, 1e3, 1e15][Int.random(in: 0...6, using: &generator)]
        let value = Bool.random(using: &generator) ? bits : ordinary
        let sign = ["", "", "-", "+"][Int.random(in: 0...3, using: &generator)]
        switch Int.random(in: 0...9, using: &generator) {
        case 0...3: return String(format: "%.17g", value)
        case 4: return value.description
        case 5: return String(format: "%.\(Int.random(in: 1...20, using: &generator))g", ordinary)
        case 6: return sign + String(Int64.random(in: 0...99_999_999_999, using: &generator) >> Int64.random(in: 0...40, using: &generator))
        case 7:
            let digits = (0..<Int.random(in: 1...24, using: &generator)).map { _ in String(Int.random(in: 0...9, using: &generator)) }.joined()
            return sign + ["0.", "0.000", "", "12.", "."][Int.random(in: 0...4, using: &generator)] + digits
        case 8: return String(format: "%.17g", Double(bitPattern: UInt64.random(in: 1...0x000F_FFFF_FFFF_FFFF, using: &generator)))
        default:
            return sign + String(format: "%.\(Int.random(in: 15...18, using: &generator))f", Double.random(in: 0..<10, using: &generator)) + "e" + String(Int.random(in: -340...307, using: &generator))
        }
    }

    func testReaderMatchesStandardLibrary() throws {
        var generator = SeededGenerator(seed: testSeed)
        let separators = [" ", " ", " ", "\t", ", ", "  "]
        for trial in 0..<(longTests ? 12 : 3) {
            // About 1.5 MB: more than the 1 MiB below which one thread reads.
            let columns = Int.random(in: 1...60, using: &generator)
            let rows = 70_000 / columns
            var tokens: [String] = []
            var text = ""
            for _ in 0..<rows {
                let row = (0..<columns).map { _ in Self.token(&generator) }
                tokens += row
                let separator = separators.randomElement(using: &generator)!
                text += row.joined(separator: separator) + (Bool.random(using: &generator) ? "\n" : "\r\n")
            }
            for threads in [1, 2] {
                let blocks = try Array(text.utf8).withUnsafeBufferPointer { try MatrixText.parseBlocks(bytes: $0, threads: threads) }
                let values = blocks.matrices[0].values
                XCTAssertEqual(values.count, tokens.count, "trial \(trial), \(seedNote)")
                for (token, value) in zip(tokens, values) where Double(token)?.bitPattern != value.bitPattern {
                    XCTFail("\(token) read as \(value), strtod gives \(Double(token) ?? .nan); trial \(trial), \(threads) threads, \(seedNote)")
                    break
                }
            }
        }
    }

    /// Numbers that end right at the end of the text, or just before it, read like the others.
    func testNumbersAtTheEnd() throws {
        for text in ["0.12345678901234567", "-1.2345678901234567e-05", "1 2 0.50000000000000011", "3.1415926535897931\n",
                     String(repeating: "0.33333333333333331 ", count: 3) + "0.1"] {
            let values = try MatrixText.parse(text).values
            let expected = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { Double(String($0))! }
            XCTAssertEqual(values.map(\.bitPattern), expected.map(\.bitPattern), text)
        }
    }

    /// Zeros after the point shift the exponent by their count: an exponent of 7 digits
    /// and more is read whole (it was saturated at 100000, so that `0.`, 999999 zeros and
    /// `1e1000000` read as 0 instead of 1).
    func testLongExponentsWithLongFractions() throws {
        let zeros = String(repeating: "0", count: 1_000_000)
        for (text, expected) in [("0.\(zeros)1e1000001", 1.0), ("0.\(zeros)1e1000000", 0.1), ("-0.\(zeros)25e1000001", -2.5),
                                 ("0.\(zeros)1e1000310", .infinity), ("0.\(zeros)1e999000", 0), ("1e0000000000000000000001", 10),
                                 ("1e99999999999999999999", .infinity), ("1e-99999999999999999999", 0)] {
            var text = text
            let value = text.withUTF8 { DecimalParser.parse($0.baseAddress!, count: $0.count) }
            XCTAssertEqual(value, expected, String(text.prefix(12)) + "…" + String(text.suffix(12)))
        }
        XCTAssertEqual(try MatrixText.parse("0.\(zeros)1e1000001 2").values, [1, 2])
    }
}
