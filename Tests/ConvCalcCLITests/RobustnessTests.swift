import XCTest
@testable import ConvCalcCLI
import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// Regression tests for what the fuzz harness found, and the resource limits.
final class RobustnessTests: XCTestCase {
    /// --as-matrix with a 3-value input and a 200,000-tap kernel once took 10^11 steps.
    func testMatrixOfAHugeKernelIsRefusedQuickly() {
        let kernel = Array(repeating: "1", count: 200_000).joined(separator: " ") + "\n"
        let (out, err, status) = runCommandLine("convcalc run --as-matrix --transposed '[1 2 3]' -", stdin: kernel)
        XCTAssertEqual(status, 1)
        XCTAssertEqual(out, "")
        XCTAssertTrue(err.hasPrefix("convcalc: error: the set of terms of matrix A (outputs × kernel taps) would have"), err)
    }

    /// Direct work beyond 2^38 multiply–adds is refused at once (a 10^6-tap kernel over a
    /// padded input once ran for hours), with the way out that exists.
    func testDirectWorkLimit() {
        let input = Array(repeating: Array(repeating: "1", count: 1000).joined(separator: " "), count: 1000).joined(separator: "\n")
        let kernel = "[" + Array(repeating: Array(repeating: "1", count: 400).joined(separator: " "), count: 400).joined(separator: ";") + "]"
        let (out, err, status) = runCommandLine("convcalc run --method direct --p same - '\(kernel)'", stdin: input)
        XCTAssertEqual(status, 1)
        XCTAssertEqual(out, "")
        XCTAssertTrue(err.contains("multiply–adds, more than the 2^38") && err.hasSuffix("use --method auto or fft, which take this one in far fewer steps\n"), err)
        // A kernel far wider than the input costs little by scattering: it runs.
        let wide = Array(repeating: Array(repeating: "1", count: 1000).joined(separator: " "), count: 1000).joined(separator: "\n")
        let (_, err0, status0) = runCommandLine("convcalc run --method direct --p 1000 '[1]' -", stdin: wide)
        XCTAssertEqual(status0, 0, err0)
        let row = Array(repeating: "1", count: 600_000).joined(separator: " ")
        let (_, err1, status1) = runCommandLine("convcalc run --p full - '[1]'", stdin: row)
        XCTAssertEqual(status1, 0, err1)
        var spec = ConvolutionSpec()
        spec.padding = .full
        let plan = try! ConvolutionPlan(inputChannels: 1, rows: 1, columns: 600_000, kernelBlocks: 1, kernelRows: 1, kernelColumns: 600_000,
                                        stated: nil, biasCount: nil, spec: spec)
        XCTAssertGreaterThan(plan.directMultiplyAdds, Convolution.workLimit)
        XCTAssertFalse(FourierConvolution.fits(plan))   // a kernel extent beyond the FFT's tiles
    }

    /// --explain writes every term out: a kernel of more than 400 taps is refused.
    func testExplainRefusesLongSums() {
        let kernel = Array(repeating: Array(repeating: "1", count: 20).joined(separator: " "), count: 21).joined(separator: "\n")
        let (out, err, status) = runCommandLine("convcalc run --explain --p 10 '[1 2 3;4 5 6;7 8 9]' -", stdin: kernel)
        XCTAssertEqual(status, 1)   // a limit on the data, as the man page's LIMITS says (it was 2)
        XCTAssertEqual(out, "")
        XCTAssertEqual(err, "convcalc: error: --explain writes every term out, so it takes up to 400 terms per output and 16 channels; this one has 420 terms and 1 → 1 channels (drop --explain)\n")
    }

    /// A transposed convolution with a kernel far wider than its input once gathered every tap
    /// for every output (10^12 steps); it now scatters: 10^6 taps × 6 inputs.
    func testTransposedWideKernel() {
        let kernel = Array(repeating: "1", count: 1_000_000).joined(separator: " ")
        let (out, err, status) = runCommandLine("convcalc run --transposed '[1 2 3;4 5 6]' -", stdin: kernel)
        XCTAssertEqual(status, 0, err)
        let rows = out.split(separator: "\n")
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows[0].split(separator: " ").prefix(4), ["1", "3", "6", "6"])
        XCTAssertEqual(rows[1].split(separator: " ").suffix(3), ["15", "11", "6"])
    }

    /// Control characters echoed from the input are written as \u{…}, on one line.
    func testControlCharactersAreEscaped() {
        let out = StringSink(), err = StringSink()
        let status = ConvCalcCLI.run(["run", "-", "[1]"], stdin: StringInput("1 2 \u{1B}[31mred\n"), stdout: out, stderr: err)
        XCTAssertEqual(status, 1)
        XCTAssertEqual(err.text, "convcalc: error: <stdin>:1:5: '\\u{1B}[31mred' is not a number; expected a decimal or scientific number, nan, inf or -inf\n")
        let line = TerminalText.line("a\rb\u{85}c\u{2028}d\te")
        XCTAssertEqual(line, "a\\u{D}b\\u{85}c\\u{2028}d\\u{9}e")
    }

    /// A matrix file with more numbers than the limit is refused at the line where it is passed.
    func testValueLimit() {
        let text = Array(repeating: "1 2 3 4", count: 40_000).joined(separator: "\n")
        var bytes = Array(text.utf8)
        XCTAssertThrowsError(try bytes.withUnsafeMutableBufferPointer { try MatrixText.parseBlocks(bytes: UnsafeBufferPointer($0), threads: 1, valueLimit: 100_000) }) { error in
            XCTAssertEqual((error as? UserFacingError)?.message, "25001:1: more than 100000 values, the most convcalc run reads here (2^28 at most, fewer when memory is short)")
        }
        XCTAssertEqual(try bytes.withUnsafeMutableBufferPointer { try MatrixText.parseBlocks(bytes: UnsafeBufferPointer($0), valueLimit: 160_000) }.matrices[0].rows, 40_000)
    }

    /// Standard input beyond its limit is refused while reading, not after exhausting memory.
    func testStandardInputLimit() throws {
        var pipe: [Int32] = [0, 0]
        XCTAssertEqual(Glibc.pipe(&pipe), 0)
        let (readEnd, writeEnd) = (pipe[0], pipe[1])
        let writer = Thread {
            let chunk = [UInt8](repeating: 0x31, count: 1 << 16)
            for _ in 0..<64 { _ = chunk.withUnsafeBytes { Glibc.write(writeEnd, $0.baseAddress, $0.count) } }
            close(writeEnd)
        }
        writer.start()
        XCTAssertThrowsError(try FileReader.readAll(descriptor: readEnd, name: "<stdin>", limit: 1 << 20)) { error in
            XCTAssertTrue((error as? UserFacingError)?.message.hasPrefix("<stdin> holds more than 1 MiB") == true, "\(error)")
        }
        // Drain so the writer finishes.
        var sink = [UInt8](repeating: 0, count: 1 << 16)
        while sink.withUnsafeMutableBytes({ Glibc.read(readEnd, $0.baseAddress, $0.count) }) > 0 {}
        close(readEnd)
    }

    /// The printer's parts: at most threads·aheadPerThread are made ahead of the writer (a slow
    /// reader once let the whole output pile up in memory), and after a failed write the parts
    /// not yet made are skipped, without a hang.
    func testOrderedPartsAreBounded() {
        let lock = NSLock()
        var made = 0, taken = 0, mostAhead = 0
        let all = OrderedParts.run(count: 200, threads: 2, make: { part -> Int in
            lock.lock()
            made += 1
            mostAhead = max(mostAhead, made - taken)
            lock.unlock()
            return part
        }, take: { part in
            usleep(200)   // a slow reader
            lock.lock()
            XCTAssertEqual(part, taken)
            taken += 1
            lock.unlock()
            return true
        })
        XCTAssertTrue(all)
        XCTAssertEqual(taken, 200)
        XCTAssertLessThanOrEqual(mostAhead, 2 * OrderedParts.aheadPerThread + 1)
        made = 0
        let stopped = OrderedParts.run(count: 10_000, threads: 2, make: { part -> Int in
            lock.lock()
            made += 1
            lock.unlock()
            return part
        }, take: { part in part < 10 })
        XCTAssertFalse(stopped)
        XCTAssertLessThan(made, 100)
    }
}
