import XCTest
@testable import ConvCalcCore
import ConvCalcTestSupport

/// `rf --solve d` checked by brute force: every sequence within the bounds whose field (the
/// formula written out again) is the target is found once, and its coverage is the one
/// `ReceptiveField` (what `rf` reports) computes for the same chain.
final class DilationSolverTests: XCTestCase {
    func testEverySequenceIsFoundWithRfsOwnCoverage() throws {
        var g = SeededGenerator(seed: testSeed)
        for _ in 0..<(longTests ? 200 : 30) {
            let layers = Int.random(in: 1...3, using: &g)
            let kernels = (0..<layers).map { _ in Int.random(in: 1...4, using: &g) }
            let strides = (0..<layers).map { _ in Int.random(in: 1...2, using: &g) }
            let target = Int.random(in: 1...30, using: &g)
            let designs = try DilationSolver.designs(kernels: kernels, strides: strides, fixed: Array(repeating: nil, count: layers), target: target)
            // Brute force over the same d 1…32, a 1-wide window only at d = 1.
            var expected: [[Int]] = [[]]
            for i in 0..<layers {
                expected = expected.flatMap { prefix in (kernels[i] == 1 ? [1] : Array(1...DilationSolver.largest)).map { prefix + [$0] } }
            }
            expected = expected.filter { ds in
                var field = 1, jump = 1
                for i in 0..<layers { field += (kernels[i] - 1) * ds[i] * jump; jump *= strides[i] }
                return field == target
            }
            XCTAssertEqual(Set(designs.map(\.dilations)), Set(expected), "k \(kernels) s \(strides) rf \(target) \(seedNote)")
            XCTAssertEqual(designs.count, expected.count)
            for design in designs.prefix(8) {
                let tokens = zip(kernels, zip(strides, design.dilations)).map { "conv:k=\($0),s=\($1.0),d=\($1.1)" }
                let stack = try LayerStack(layers: tokens.map { try Layer.parse($0) }, inputSize: nil, inputChannels: nil, dims: 1)
                let field = try ReceptiveField(stack: stack)
                XCTAssertEqual(field.coverage ?? -1, design.coverage, accuracy: 1e-12, "\(tokens) \(seedNote)")
            }
        }
    }

    /// The gridding example: k=3, d=2,2,2 reaches 13 with 7 of 13 positions; 1,2,3 reaches all
    /// and passes the HDC rule (Wang et al.: M₂ = 2 ≤ 3); 1,2,9 fails it (M₂ = 5).
    func testGriddingAndTheHDCRule() throws {
        let designs = try DilationSolver.designs(kernels: [3, 3, 3], strides: [1, 1, 1], fixed: [nil, nil, nil], target: 13)
        let grid = try XCTUnwrap(designs.first { $0.dilations == [2, 2, 2] })
        XCTAssertEqual(grid.coverage, 7.0 / 13.0, accuracy: 1e-12)
        XCTAssertEqual(grid.commonFactor, 2)
        XCTAssertEqual(designs.first { $0.dilations == [1, 2, 3] }?.coverage, 1)
        XCTAssertEqual(DilationSolver.hdcM2([1, 2, 3]), 2)
        XCTAssertEqual(DilationSolver.hdcM2([1, 2, 5]), 2)   // the paper's example
        XCTAssertEqual(DilationSolver.hdcM2([1, 2, 9]), 5)   // the paper's failing one
        XCTAssertThrowsError(try DilationSolver.designs(kernels: Array(repeating: 3, count: 8), strides: Array(repeating: 1, count: 8),
                                                        fixed: Array(repeating: nil, count: 8), target: 201))
    }
}
