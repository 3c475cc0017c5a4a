import XCTest
import ConvCalcTestSupport
@testable import ConvCalcCLI
import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// `convcalc run` with inf and nan in its operands: every method gives the direct sums'
/// inf, −inf and nan (issue #13 item 3: one inf once turned FFT tiles into nan).
final class NonFiniteRunTests: XCTestCase {
    func testTheIssueExample() {
        for method in ["fft", "auto", "direct"] {
            let (out, err, status) = runCommandLine("convcalc run --method \(method) '[inf 1 1; 1 1 1; 1 1 1]' '[1 1; 1 1]'")
            XCTAssertEqual(status, 0, err)
            XCTAssertEqual(out, "inf 4\n4 4\n", method)
        }
    }

    /// 300×300 with one inf and a 15×15 kernel once gave 5000 nan with --method fft: now the
    /// 225 outputs that read it are ±inf, the others finite, and the FFT still runs (auto runs it too).
    func testOneInfInALargeInput() {
        var generator = SeededGenerator(seed: 300)
        var rows = (0..<300).map { _ in (0..<300).map { _ in "\(Double.random(in: -1...1, using: &generator))" } }
        rows[200][17] = "inf"
        let input = rows.map { $0.joined(separator: " ") }.joined(separator: "\n")
        let kernel = "[" + (0..<15).map { _ in (0..<15).map { _ in "\(Double.random(in: 0.5...1, using: &generator))" }.joined(separator: " ") }.joined(separator: "; ") + "]"
        func numbers(_ text: String) -> [Double] { text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { Double($0)! } }
        let (direct, directErr, directStatus) = runCommandLine("convcalc run --method direct - '\(kernel)'", stdin: input)
        XCTAssertEqual(directStatus, 0, directErr)
        let expected = numbers(direct)
        XCTAssertEqual(expected.filter { $0 == .infinity }.count, 225)
        XCTAssertEqual(expected.filter(\.isNaN).count, 0)
        for method in ["fft", "auto"] {
            let (out, err, status) = runCommandLine("convcalc run --timings --method \(method) - '\(kernel)'", stdin: input)
            XCTAssertEqual(status, 0, err)
            // auto runs a 15x15 kernel on 300 columns by the FFT too (FourierConvolution.rowsWeight).
            XCTAssertTrue(err.contains("(fft, "), err)
            let got = numbers(out)
            XCTAssertEqual(got.count, expected.count)
            let largest = expected.filter(\.isFinite).map(abs).max()!
            for (index, (x, y)) in zip(got, expected).enumerated() where !(x == y || (x.isFinite && y.isFinite && abs(x - y) <= 1e-9 * largest)) {
                XCTFail("\(method) at \(index): \(x), expected \(y)")
                break
            }
        }
    }

    /// A nan in the kernel reaches every output: the direct method runs, and says so.
    func testNonFiniteKernelRunsDirect() {
        let kernel = "[" + (0..<15).map { r in (0..<15).map { c in r == 7 && c == 7 ? "nan" : "1" }.joined(separator: " ") }.joined(separator: "; ") + "]"
        let input = (0..<40).map { r in (0..<40).map { c in "\((r * 40 + c) % 9)" }.joined(separator: " ") }.joined(separator: "\n")
        let (direct, _, _) = runCommandLine("convcalc run --method direct --p same - '\(kernel)'", stdin: input)
        let (out, err, status) = runCommandLine("convcalc run --timings --method fft --p same - '\(kernel)'", stdin: input)
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(err.contains("(direct, "), err)
        XCTAssertEqual(out, direct)
    }
}
