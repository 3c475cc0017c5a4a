import XCTest
@testable import ConvCalcCore

final class PaddingSolverTests: XCTestCase {
    /// Sweep: every solution really gives the wanted size, and "no solution" really has none.
    func testSolutionsAreRightSweep() throws {
        for token in ["conv:k=3", "conv:k=4", "conv:k=3,s=2", "conv:k=5,s=3,d=2", "maxpool:k=3,s=2", "maxpool:k=3,s=2,ceil=1",
                      "avgpool:k=4,s=3,ceil=1", "tconv:k=3,s=2", "tconv:k=4,s=2,p=1", "tconv:k=3,s=2,d=3"] {
            let stack = try LayerStack(layers: [try Layer.parse(token)], inputSize: nil, inputChannels: nil, dims: 1)
            let geometry = stack.geometry(of: 0)
            for n in 1...24 {
                for target in 1...40 {
                    let quoted = "\(token) in=\(n) out=\(target)"
                    do {
                        let solution = try PaddingSolver.solve(geometry, dim: 0, input: n, target: target)
                        var solved = geometry.replacingPadding(with: solution.pad, dim: 0)
                        if case let .outputPadding(op, _, _) = solution { solved = solved.replacingOutputPadding(with: op, dim: 0) }
                        try solved.validate()
                        XCTAssertEqual(try solved.step(0, input: n).output, target, quoted)
                    } catch is PaddingSolverError {
                        // No padding up to a generous bound may give it.
                        for total in 0...80 {
                            let solved = geometry.replacingPadding(with: PadPair(total / 2, total - total / 2), dim: 0)
                            guard geometry.rule == .window, (try? solved.validate()) != nil else { continue }
                            XCTAssertNotEqual(try? solved.step(0, input: n).output, target, "\(quoted) total=\(total)")
                        }
                    }
                }
            }
        }
    }

    func testAsymmetricOnly() throws {
        let stack = try LayerStack(layers: [try Layer.parse("conv:k=4")], inputSize: nil, inputChannels: nil, dims: 1)
        XCTAssertEqual(try PaddingSolver.solve(stack.geometry(of: 0), dim: 0, input: 32, target: 32),
                       .asymmetricOnly(PadPair(1, 2), totals: 3...3))
    }
}
