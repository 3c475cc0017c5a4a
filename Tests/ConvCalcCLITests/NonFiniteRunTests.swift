import XCTest
import Foundation
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
    /// A kernel file's values, kept as read, are the channel-blocked method's weights in place
    /// (`MatrixText.Blocks.values`): the same output bytes as the same kernel in JSON, which is
    /// packed block by block; 1×1 in place and 3×3 in bands, groups with a partial last block,
    /// `--flip`, and an inf in the kernel (the row method then).
    func testKernelFileReadInPlace() throws {
        var generator = SeededGenerator(seed: 21)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("convcalc-inplace-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func number() -> String { "\(Double(Int.random(in: -64...64, using: &generator)) / 16)" }
        let (channels, rows, columns) = (14, 5, 9)
        let input = (0..<channels).map { _ in (0..<rows).map { _ in (0..<columns).map { _ in number() }.joined(separator: " ") }.joined(separator: "\n") }
        let inputPath = directory.appendingPathComponent("x.txt").path
        try input.joined(separator: "\n\n").write(toFile: inputPath, atomically: true, encoding: .utf8)
        for (outputs, groups, k, options) in [(8, 1, 1, ""), (14, 2, 3, "--p 1"), (10, 2, 3, "--s 2 --flip"), (16, 1, 1, "--bias 1")] {
            for infinite in [false, true] {
                var blocks = (0..<(outputs * channels / groups)).map { _ in (0..<k).map { _ in (0..<k).map { _ in number() } } }
                if infinite { blocks[blocks.count / 2][0][0] = "inf" }
                let text = "# shape \(outputs)x\(channels / groups)x\(k)x\(k)\n" + blocks.map { $0.map { $0.joined(separator: " ") }.joined(separator: "\n") }.joined(separator: "\n\n")
                let json = "{\"channels\": \(blocks.count), \"rows\": \(k), \"columns\": \(k), \"data\": ["
                    + blocks.map { "[" + $0.map { "[" + $0.joined(separator: ", ") + "]" }.joined(separator: ", ") + "]" }.joined(separator: ", ") + "]}"
                let (textPath, jsonPath) = (directory.appendingPathComponent("k.txt").path, directory.appendingPathComponent("k.json").path)
                try text.write(toFile: textPath, atomically: true, encoding: .utf8)
                try json.write(toFile: jsonPath, atomically: true, encoding: .utf8)
                let grouped = groups > 1 ? "--g \(groups) " : ""
                let (read, readErr, readStatus) = runCommandLine("convcalc run --method direct \(grouped)\(options) \(inputPath) \(textPath)")
                let (packed, packedErr, packedStatus) = runCommandLine("convcalc run --method direct \(grouped)\(options) \(inputPath) \(jsonPath)")
                XCTAssertEqual(readStatus, 0, readErr)
                XCTAssertEqual(packedStatus, 0, packedErr)
                XCTAssertEqual(read, packed, "\(outputs) outputs, g \(groups), k \(k) \(options), inf \(infinite)")
                XCTAssertEqual(read.split(separator: "\n", omittingEmptySubsequences: true).count, outputs * (options.contains("--s 2") ? 2 : rows))
            }
        }
    }

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
