import XCTest
@testable import ConvCalcCore
@testable import ConvCalcEngine
@testable import ConvCalcText
import ConvCalcTestSupport

final class MatrixTextTests: XCTestCase {
    func testFormat() throws {
        let m = try MatrixText.parse("\n# a comment\n1, 2\t3   # trailing\n4 5 6\n\n\n")
        XCTAssertEqual(m.rowArrays, [[1, 2, 3], [4, 5, 6]])
        let special = try MatrixText.parse("nan inf -inf 1e-3 -2.5E+2 .5 7.")
        XCTAssertTrue(special.values[0].isNaN)
        XCTAssertEqual(Array(special.values[1...]), [.infinity, -.infinity, 0.001, -250, 0.5, 7])
        XCTAssertEqual(try MatrixText.parse("1 2\r\n3 4\r\n").rowArrays, [[1, 2], [3, 4]])
        XCTAssertEqual(try MatrixText.parseInline("[[1, 2], [3, 4]]").rowArrays, [[1, 2], [3, 4]])
        XCTAssertEqual(try MatrixText.parseInline("[1 2; 3 4;]").rowArrays, [[1, 2], [3, 4]])
    }

    /// `run --format json` output reads back to the same doubles, for 1 to 3 channels and
    /// every kind of value (issue #15: JSON output readable as input, with a fixed nesting).
    func testJSONRoundTrip() throws {
        var generator = SeededGenerator(seed: testSeed)
        for trial in 0..<200 {
            let channels = Int.random(in: 1...3, using: &generator)
            let rows = Int.random(in: 1...5, using: &generator), columns = Int.random(in: 1...5, using: &generator)
            let specials: [Double] = [.nan, .infinity, -.infinity, 0, -0.0, Double.leastNonzeroMagnitude * 3, 1.7976931348623157e308, 0.1, -3]
            let matrices = (0..<channels).map { _ in
                Matrix(rows: rows, columns: columns, values: (0..<(rows * columns)).map { _ in
                    Bool.random(using: &generator) ? specials.randomElement(using: &generator)! : Double.random(in: -1e6...1e6, using: &generator)
                })
            }
            var bytes: [UInt8] = []
            _ = MatrixFormatter(precision: nil).stream(matrices, format: .json, threads: 1) { bytes += $0; return true }
            let text = String(decoding: bytes, as: UTF8.self)
            XCTAssertTrue(text.hasPrefix("{\"channels\": \(channels), "), text)
            let read = try bytes.withUnsafeBufferPointer { try MatrixText.parseBlocks(bytes: $0) }.matrices
            XCTAssertEqual(read.count, channels, "trial \(trial) \(seedNote)")
            for (a, b) in zip(read, matrices) {
                XCTAssertEqual(a.rows, b.rows)
                let same = zip(a.values, b.values).allSatisfy { x, y in x.isNaN ? y.isNaN : x.bitPattern == y.bitPattern }
                XCTAssertTrue(same, "trial \(trial) \(seedNote): \(text)")
            }
        }
    }

    /// `keepValues`: every block's values in one array, in the text's order (a `# shape` line,
    /// comments, blank lines and CRLF in between), also when the text is scanned in two parts
    /// on two threads (from 1 MiB); nil unless asked, and for JSON.
    func testKeepValuesInTextOrder() throws {
        let small = "# shape 3x2x1x2\r\n1 2\r\n\r\n3 -4 # c\r\n\n5e0 6\n\n7 8\n\n9 10\n\n11 12\n"
        var large = "# shape 60000x1x1x3\n"
        for block in 0..<60000 { large += "\(block).25 -\(block) 1e-\(block % 300)\n\n" }
        for (text, threads) in [(small, 1), (large, 1), (large, 2)] {
            var bytes = Array(text.utf8)
            let blocks = try bytes.withUnsafeMutableBufferPointer { buffer in
                try MatrixText.parseBlocks(bytes: UnsafeBufferPointer(buffer), threads: threads, keepValues: true)
            }
            XCTAssertEqual(blocks.values.map { $0.map(\.bitPattern) }, blocks.matrices.flatMap(\.values).map(\.bitPattern), "\(threads) threads")
            let plain = try bytes.withUnsafeMutableBufferPointer { try MatrixText.parseBlocks(bytes: UnsafeBufferPointer($0), threads: threads) }
            XCTAssertNil(plain.values)
        }
        var json = Array("{\"channels\": 2, \"rows\": 1, \"columns\": 2, \"data\": [[[1, 2]], [[3, 4]]]}".utf8)
        let read = try json.withUnsafeMutableBufferPointer { try MatrixText.parseBlocks(bytes: UnsafeBufferPointer($0), keepValues: true) }
        XCTAssertEqual(read.matrices.count, 2)
        XCTAssertNil(read.values)
    }

    func testErrorsNameLineAndColumn() {
        func message(_ text: String) -> String? {
            do { _ = try MatrixText.parse(text); return nil } catch { return (error as? UserFacingError)?.message }
        }
        XCTAssertEqual(message("1 2\n3 x\n"), "2:3: 'x' is not a number; expected a decimal or scientific number, nan, inf or -inf")
        XCTAssertEqual(message("1 2 3\n4 5\n"), "2:1: this row has 2 values but the row on line 1 has 3; every row needs the same number")
        XCTAssertEqual(message("# only a comment\n\n"), "no numbers: the matrix is empty")
        XCTAssertEqual(message("1 2\n\n3 4\n"), "2:1: a blank line separates channels (C×H×W) here, where one matrix is expected")
        XCTAssertEqual(message("1e400"), "1:1: 1e400 is out of range for a double (magnitude up to about 1.8e308; write inf for infinity)")
        XCTAssertNotNil(message("0x10"))
        XCTAssertNotNil(message("1_000"))
        XCTAssertNotNil(message("-"))
    }
}
