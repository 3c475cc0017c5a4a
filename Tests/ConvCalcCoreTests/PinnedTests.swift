import XCTest
@testable import ConvCalcEngine
import ConvCalcCore

/// Arrays pinned for a call, by nesting or, past the nesting limit, through one flat copy.
final class PinnedTests: XCTestCase {
    func testBaseAddressesSeeEveryValue() {
        for count in [1, 3, Pinned.nestingLimit, Pinned.nestingLimit + 1, 2_000] {
            let arrays = (0..<count).map { i in [Double(i), Double(i) + 0.5, -Double(i)] }
            let sums = Pinned.baseAddresses(arrays) { pointers in pointers.map { $0[0] + $0[1] + $0[2] } }
            XCTAssertEqual(sums, (0..<count).map { Double($0) + 0.5 }, "\(count) arrays")
        }
    }

    /// A depthwise run with more channels than the nesting limit (the flat copy) is exact.
    func testManyChannels() throws {
        let channels = Pinned.nestingLimit + 88
        let input = (0..<channels).map { c in Matrix(rows: 2, columns: 3, values: (0..<6).map { Double(c * 6 + $0) }) }
        let kernel = (0..<channels).map { c in Matrix(rows: 1, columns: 2, values: [1, Double(c % 3)]) }
        var spec = ConvolutionSpec()
        spec.groups = channels
        let output = try Convolution.run(input, kernel: kernel, spec: spec, execution: Execution(threads: 2, method: .direct))
        for c in 0..<channels {
            let x = input[c].values, w = Double(c % 3)
            XCTAssertEqual(output[c].values, [x[0] + w * x[1], x[1] + w * x[2], x[3] + w * x[4], x[4] + w * x[5]], "channel \(c)")
        }
    }
}
