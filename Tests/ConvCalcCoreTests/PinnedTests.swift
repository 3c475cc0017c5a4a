import XCTest
@testable import ConvCalcEngine
import ConvCalcCore

/// Arrays pinned for a call, by nesting or, past the nesting limit, through one flat copy.
final class PinnedTests: XCTestCase {
    func testBaseAddressesSeeEveryValue() {
        // Every remainder of the four arrays a stack frame, the limit, and past it.
        for count in Array(1...9) + [Pinned.nestingLimit, Pinned.nestingLimit + 1, 2_000] {
            let arrays = (0..<count).map { i in [Double(i), Double(i) + 0.5, -Double(i)] }
            let sums = Pinned.baseAddresses(arrays) { pointers in pointers.map { $0[0] + $0[1] + $0[2] } }
            XCTAssertEqual(sums, (0..<count).map { Double($0) + 0.5 }, "\(count) arrays")
            let matrices = arrays.map { Matrix(rows: 1, columns: 3, values: $0) }
            let firsts = Pinned.baseAddresses(of: matrices, \.values) { pointers in pointers.map { $0[1] } }
            XCTAssertEqual(firsts, (0..<count).map { Double($0) + 0.5 }, "\(count) matrices")
        }
    }

    /// Mutable arrays pinned by nesting: every array's own memory, written in place.
    func testMutableBaseAddressesWriteInPlace() {
        for count in Array(1...9) + [64] {
            var arrays = (0..<count).map { i in [Double(i), 0] }
            Pinned.mutableBaseAddresses(&arrays) { table in
                for i in 0..<count { table[i][1] = table[i][0] * 2 }
            }
            XCTAssertEqual(arrays.map { $0[1] }, (0..<count).map { Double(2 * $0) }, "\(count) arrays")
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
