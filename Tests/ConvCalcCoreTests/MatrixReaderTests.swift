import Foundation
import XCTest
@testable import ConvCalcCore
@testable import ConvCalcEngine
@testable import ConvCalcText

/// The matrix text reader (issue #13): line ends, byte-order mark, empty cells, `# shape`
/// comments, the value limit's location, and the same result for any thread count.
final class MatrixReaderTests: XCTestCase {
    func blocks(_ text: String, threads: Int = 1, limit: Int = Convolution.elementLimit) throws -> MatrixText.Blocks {
        var bytes = Array(text.utf8)
        return try bytes.withUnsafeMutableBufferPointer {
            try MatrixText.parseBlocks(bytes: UnsafeBufferPointer($0), threads: threads, valueLimit: limit)
        }
    }

    /// The error message `text` gives, or nil when it parses.
    func failure(_ text: String, threads: Int = 1, limit: Int = Convolution.elementLimit) -> String? {
        do {
            _ = try blocks(text, threads: threads, limit: limit)
            return nil
        } catch {
            return (error as? UserFacingError)?.message ?? "\(error)"
        }
    }

    // MARK: B. Line ends

    /// A lone CR ended no line: `1 2\r3 4\r` was one row of four.
    func testLineEnds() throws {
        for end in ["\n", "\r\n", "\r"] {
            let matrix = try MatrixText.parse("1 2" + end + "3 4" + end)
            XCTAssertEqual(matrix.rowArrays, [[1, 2], [3, 4]], end.debugDescription)
            // Blank lines separate channels whatever the line end; leading and trailing ones are ignored.
            let channels = try blocks(end + "1 2" + end + end + "3 4" + end + end)
            XCTAssertEqual(channels.matrices.map(\.rowArrays), [[[1, 2]], [[3, 4]]], end.debugDescription)
            XCTAssertEqual(channels.separatorLines, [3], end.debugDescription)
            // Errors name the line counted with these line ends.
            XCTAssertEqual(failure("1 2" + end + "3 x" + end), "2:3: 'x' is not a number; expected a decimal or scientific number, nan, inf or -inf")
            XCTAssertEqual(failure("1 2" + end + "3" + end), "2:1: this row has 1 value but the row on line 1 has 2; every row needs the same number")
        }
        // Mixed in one file; a comment ends at a CR.
        XCTAssertEqual(try MatrixText.parse("1 2 # a\r3 4\r\n5 6\n").rowArrays, [[1, 2], [3, 4], [5, 6]])
        XCTAssertEqual(try MatrixText.parse("1 2\r\n3 4").rowArrays, [[1, 2], [3, 4]])
    }

    // MARK: C. Byte-order mark

    func testByteOrderMarkIsSkipped() throws {
        XCTAssertEqual(try MatrixText.parse("\u{FEFF}1 2\r\n3 4\r\n").rowArrays, [[1, 2], [3, 4]])
        XCTAssertEqual(try MatrixText.parse("\u{FEFF}1,2\n").rowArrays, [[1, 2]])
        // Columns on the first line count from after it.
        XCTAssertEqual(failure("\u{FEFF}1 y\n"), "1:3: 'y' is not a number; expected a decimal or scientific number, nan, inf or -inf")
        // Only at the start.
        XCTAssertEqual(failure("1\n\u{FEFF}2\n"), "2:1: '\u{FEFF}2' is not a number; expected a decimal or scientific number, nan, inf or -inf")
        XCTAssertEqual(failure("\u{FEFF}"), "no numbers: the matrix is empty")
    }

    // MARK: B. Empty cells

    /// Empty CSV cells were dropped: `1,,3` read as `1 3`, `,1,2` as `1 2`.
    func testEmptyCellsAreRefused() throws {
        let advice = "; every cell needs a number (write nan for a missing value); commas go only between values"
        XCTAssertEqual(failure("1,,3\n4,,6\n"), "1:3: empty cell: two commas with no value between them" + advice)
        XCTAssertEqual(failure("1, ,3\n"), "1:4: empty cell: two commas with no value between them" + advice)
        XCTAssertEqual(failure(",1,2\n"), "1:1: empty cell: the row starts with a comma" + advice)
        XCTAssertEqual(failure("  ,1,2\n"), "1:3: empty cell: the row starts with a comma" + advice)
        XCTAssertEqual(failure("1,2\n3,4,\n"), "2:4: empty cell: the row ends with a comma" + advice)
        XCTAssertEqual(failure("1,2, \r\n"), "1:4: empty cell: the row ends with a comma" + advice)
        XCTAssertEqual(failure("1,2,# note\n"), "1:4: empty cell: the row ends with a comma" + advice)
        XCTAssertEqual(failure("1,2\n,\n"), "2:1: empty cell: the row starts with a comma" + advice)
        // Spaces and tabs around commas, and mixed separators, stay valid.
        XCTAssertEqual(try MatrixText.parse("1, 2, 3\n4 ,5\t,  6\r\n7 8,9\n").rowArrays, [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
        XCTAssertEqual(try MatrixText.parse("1,2 # a, b,,\n").rowArrays, [[1, 2]])
        XCTAssertEqual(try MatrixText.parse("nan,-inf,1e3\n").rowArrays.map { $0.map(\.description) }, [["nan", "-inf", "1000.0"]])
        // Inline matrices: empty cells are errors too; a comma after a row's last value is
        // allowed, as in Python and MATLAB literals.
        XCTAssertEqual(try MatrixText.parseInline("[[1, 2,], [3, 4,]]").rowArrays, [[1, 2], [3, 4]])
        XCTAssertEqual(try MatrixText.parseInline("[1, 2,; 3, 4, ]").rowArrays, [[1, 2], [3, 4]])
        XCTAssertThrowsError(try MatrixText.parseInline("[1,,2]")) {
            XCTAssertEqual(($0 as? UserFacingError)?.message, "1:3: empty cell: two commas with no value between them" + advice)
        }
        XCTAssertThrowsError(try MatrixText.parseInline("[1 2; ,3 4]")) {
            XCTAssertEqual(($0 as? UserFacingError)?.message, "2:2: empty cell: the row starts with a comma" + advice)
        }
    }

    // MARK: B. `# shape` comments

    func testStatedShapeIsChecked() throws {
        XCTAssertEqual(try blocks("# shape 1x1x2x2\n1 2\n3 4\n").statedShape, [1, 1, 2, 2])
        // CRLF and CR lines, tabs, `shape:` and a note after the shape.
        XCTAssertEqual(try blocks("# shape 4x2x3x3\r\n1\r\n").statedShape, [4, 2, 3, 3])
        XCTAssertEqual(try blocks("#shape\t2x1x1x1\r1\r\r2\r").statedShape, [2, 1, 1, 1])
        XCTAssertEqual(try blocks("  # shape: 1x2x1x1: one input channel to two\n1\n\n-1\n").statedShape, [1, 2, 1, 1])
        XCTAssertEqual(try blocks("# shape 9223372036854775807x1\n1\n").statedShape, [Int.max, 1])
        // The first statement counts.
        XCTAssertEqual(try blocks("# shape 1x1x1x1\n# shape 2x2x2x2\n1\n").statedShape, [1, 1, 1, 1])
        // Comments that state no shape.
        for comment in ["# shape of the kernel", "# shapes 1x2", "# the shape 0x1", "# shape", "# 1x1x1x1", "1 # shape 0x0"] {
            XCTAssertNil(try blocks(comment + "\n1\n").statedShape, comment)
        }
        let advice = "; write sizes of 1 or more separated by x, e.g. # shape 4x2x3x3 (Cout x Cin/g x kh x kw)"
        let cases: [(String, String)] = [
            ("# shape 0x1x1x1", "1:9: '# shape 0x1x1x1' states no valid shape: a size is 0"),
            ("# shape 1x-2x1x1", "1:9: '# shape 1x-2x1x1' states no valid shape: -2 is negative"),
            ("# shape -1", "1:9: '# shape -1' states no valid shape: -1 is negative"),
            ("# shape 4x2x3x3x", "1:9: '# shape 4x2x3x3x' states no valid shape: a size is missing (an x with no number on one side)"),
            ("# shape 4xx3", "1:9: '# shape 4xx3' states no valid shape: a size is missing (an x with no number on one side)"),
            ("# shape 9223372036854775808x1", "1:9: '# shape 9223372036854775808x1' states no valid shape: 9223372036854775808 does not fit in 64 bits"),
            ("# shape 1.5x2", "1:9: '# shape 1.5x2' states no valid shape: '1.5' is not a whole number"),
            ("  #  shape  +2x2", "1:13: '# shape +2x2' states no valid shape: '+2' is not a whole number"),
        ]
        for (comment, message) in cases {
            for end in ["\n", "\r\n", "\r"] {
                XCTAssertEqual(failure(comment + end + "1" + end), message + advice, comment)
                XCTAssertEqual(failure("1" + end + comment + end), "2" + message.dropFirst() + advice, comment)
            }
        }
    }

    // MARK: D. The value limit, with any thread count

    /// 8192 lines of 64 ones (1 MiB), then 8192 lines of 64 19-digit numbers: the halves of a
    /// two-thread scan hold very different counts of values.
    static let uneven: String = {
        let short = Array(repeating: "1", count: 64).joined(separator: " ")
        let long = Array(repeating: "0.12345678901234567", count: 64).joined(separator: " ")
        return Array(repeating: short, count: 8192).joined(separator: "\n") + "\n"
            + Array(repeating: long, count: 8192).joined(separator: "\r\n") + "\r\n"
    }()

    /// The "more than N values" error named a line of the first part (where that part's share
    /// of the limit ran out) with 2 threads; it names the first value beyond the limit.
    func testValueLimitNamesTheSameValueForAnyThreadCount() {
        let text = Self.uneven
        XCTAssertGreaterThan(text.utf8.count, 4 << 20)
        // Value number 524,389 (0-based 524,388): line 8192 + 2, the 37th of its line.
        let limit = 8192 * 64 + 100
        for threads in [1, 2, 3, 16] {
            XCTAssertEqual(failure(text, threads: threads, limit: limit),
                           "8194:721: more than \(limit) values, the most convcalc run reads here (2^28 at most, fewer when memory is short)", "\(threads) threads")
        }
        // In the first, dense part.
        for threads in [1, 2] {
            XCTAssertEqual(failure(text, threads: threads, limit: 1000),
                           "16:81: more than 1000 values, the most convcalc run reads here (2^28 at most, fewer when memory is short)", "\(threads) threads")
        }
    }

    /// A file within the limit, whose first part holds more than half of it, once failed with
    /// 2 threads only.
    func testUnevenFileWithinTheLimitParsesWithAnyThreadCount() throws {
        let limit = 8192 * 64 * 2
        let one = try blocks(Self.uneven, threads: 1, limit: limit)
        let two = try blocks(Self.uneven, threads: 2, limit: limit)
        XCTAssertEqual(one.matrices.count, 1)
        XCTAssertEqual(one.matrices[0].rows, 16384)
        XCTAssertEqual(one.matrices, two.matrices)
        XCTAssertEqual(failure(Self.uneven, threads: 2, limit: limit - 1)?.hasPrefix("16384:1261: more than"), true)
    }

    // MARK: Threads

    /// Parts cut among comment and blank lines (channels), a part that starts with blank
    /// and comment lines, and a wider row before narrower ones (a ragged matrix) give what
    /// one thread reads, or the same error.
    func testPartsReadInPlaceGiveWhatOneThreadReads() throws {
        let row = (0..<100).map { String($0 * 3 - 7) + ".25" }.joined(separator: " ")
        var first = Array(repeating: row, count: 3000)
        for i in stride(from: 10, to: 3000, by: 7) { first.insert("# comment \(i)", at: i) }
        let between = (0..<40).map { $0 % 2 == 0 ? "" : "  # between" }
        let channels = (first + between + Array(repeating: row, count: 3000)).joined(separator: "\n") + "\n"
        let plain = Array(repeating: row, count: 6000).joined(separator: "\n")
        for text in [channels, plain, plain + "\n" + row + " 1", row + " 1\n" + plain] {
            XCTAssertGreaterThan(text.utf8.count, 1 << 20)
            let one = Result { try blocks(text, threads: 1) }
            for threads in [2, 3, 16] {
                let many = Result { try blocks(text, threads: threads) }
                switch (one, many) {
                case let (.success(a), .success(b)):
                    XCTAssertEqual(a.matrices, b.matrices, "\(threads) threads")
                    XCTAssertEqual(a.separatorLines, b.separatorLines)
                case let (.failure(a), .failure(b)):
                    XCTAssertEqual((a as? UserFacingError)?.message, (b as? UserFacingError)?.message, "\(threads) threads")
                default:
                    XCTFail("\(threads) threads: \(one) against \(many)")
                }
            }
        }
        XCTAssertEqual(try blocks(channels, threads: 2).matrices.count, 2)
    }

    /// Files of more than 1 MiB are scanned in parts cut at line starts; a cut never falls
    /// between CR and LF, and a lone CR ends a line for the cut as for the scan.
    func testSameResultForAnyThreadCount() throws {
        let count = 80_000
        var rows = (0..<count).map { "\($0) \($0 % 7)\t,\(-$0)" }
        rows.insert("# shape 1x1x\(count)x3 ", at: count / 2 + 3)
        for end in ["\n", "\r\n", "\r"] {
            let body = rows.joined(separator: end) + end + end + end
            // Leading spaces that put the middle (where a 2-thread scan is cut) just after a CR.
            let bytes = Array(body.utf8)
            let shift = (0..<64).first { shift in
                let middle = (shift + bytes.count) / 2 - shift
                return bytes[middle - 1] == 0x0D || (end == "\n" && bytes[middle - 1] == 0x0A)
            }!
            do {
                let text = String(repeating: " ", count: shift) + body
                XCTAssertGreaterThan(text.utf8.count, 1 << 20)
                let one = try blocks(text, threads: 1)
                XCTAssertEqual(one.matrices.count, 1)
                XCTAssertEqual(one.matrices[0].rows, count)
                XCTAssertEqual(one.statedShape, [1, 1, count, 3])
                for threads in [2, 5] {
                    let many = try blocks(text, threads: threads)
                    XCTAssertEqual(many.matrices, one.matrices, "\(end.debugDescription) \(threads) threads")
                    XCTAssertEqual(many.statedShape, one.statedShape)
                }
            }
            // Errors after the middle name the same line for any thread count.
            for (row, replacement) in [(60_001, "60000 x"), (60_002, "1 5,,2"), (60_003, "")] {
                var changed = rows
                changed[row] = replacement
                let text = changed.joined(separator: end) + end
                let expected = failure(text, threads: 1)
                XCTAssertNotNil(expected)
                XCTAssertTrue(expected?.hasPrefix("\(row + (replacement.isEmpty ? 2 : 1)):") == true, expected ?? "")
                XCTAssertEqual(failure(text, threads: 2), expected)
            }
        }
    }
}
