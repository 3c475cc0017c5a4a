import XCTest
@testable import ConvCalcCore

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
