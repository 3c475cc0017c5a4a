import XCTest
@testable import ConvCalcCore

final class CheckedArithmeticTests: XCTestCase {
    /// Sweep: floor and ceil division agree with the real-number definitions.
    func testFloorAndCeilDivisionSweep() {
        for a in -50...50 {
            for b in 1...9 {
                let exact = Double(a) / Double(b)
                XCTAssertEqual(Checked.floorDiv(a, b), Int(exact.rounded(.down)), "floorDiv(\(a), \(b))")
                XCTAssertEqual(Checked.ceilDiv(a, b), Int(exact.rounded(.up)), "ceilDiv(\(a), \(b))")
            }
        }
    }

    func testOverflowThrows() {
        XCTAssertThrowsError(try Checked.mul(Int.max, 2))
        XCTAssertThrowsError(try Checked.add(Int.max, 1))
        XCTAssertThrowsError(try Checked.sub(Int.min, 1))
        XCTAssertEqual(try Checked.product([2, 3, 4]), 24)
    }
}
