import XCTest
import ConvCalcTestSupport
@testable import ConvCalcCore
@testable import ConvCalcEngine
@testable import ConvCalcText

func inline(_ rows: String) throws -> Matrix { try MatrixText.parseInline("[" + rows + "]") }

/// `--p 1 --s 2x1 --flip …` as a ConvolutionSpec.
func spec(_ options: String) throws -> ConvolutionSpec {
    var spec = ConvolutionSpec()
    var words = options.split(separator: " ").map(String.init)[...]
    while let word = words.popFirst() {
        switch word {
        case "--p": spec.padding = try Padding.parse(words.popFirst()!, subject: .key(.p))
        case "--s": spec.stride = try DimSize.parse(words.popFirst()!, subject: .key(.s), minimum: 1)
        case "--d": spec.dilation = try DimSize.parse(words.popFirst()!, subject: .key(.d), minimum: 1)
        case "--op": spec.outputPadding = try DimSize.parse(words.popFirst()!, subject: .key(.op), minimum: 0)
        case "--pad-mode": spec.paddingMode = PaddingMode(rawValue: words.popFirst()!)!
        case "--flip": spec.flip = true
        case "--transposed": spec.transposed = true
        default: XCTFail("unknown option \(word)")
        }
    }
    return spec
}

final class ConvolutionTests: XCTestCase {
    /// Random cases computed by PyTorch (Tests/fixtures/generate_run_cases.py), to 1e-9 relative,
    /// by every method at every kernel level this CPU has.
    func testAgreesWithPyTorch() throws {
        for execution in executions { try agreesWithPyTorch(execution) }
    }

    func agreesWithPyTorch(_ execution: Execution) throws {
        var checked = 0
        for line in try readFixture("run_pytorch.tsv").split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 4 else { XCTFail("malformed fixture line: \(line)"); continue }
            let quoted = "run \(f[0]) [\(f[1])] [\(f[2])] \(execution)"
            let result: Matrix
            do {
                result = try Convolution.run(try inline(f[1]), try inline(f[2]), try spec(f[0]), execution: execution)
            } catch {
                XCTAssertEqual(f[3], "error", "\(quoted): convcalc refused it: \(error)")
                checked += 1
                continue
            }
            guard f[3] != "error" else { XCTFail("\(quoted): PyTorch refused it, convcalc gave \(result.rowArrays)"); continue }
            let expected = try inline(f[3])
            XCTAssertEqual([result.rows, result.columns], [expected.rows, expected.columns], quoted)
            guard result.rows == expected.rows, result.columns == expected.columns else { continue }
            // Direct: each element to 1e-9 relative. FFT: rounding errors scale with the largest
            // value, so 1e-9 relative to the largest output (as any FFT convolution).
            let largest = expected.values.map(abs).max() ?? 0
            for (got, want) in zip(result.values, expected.values) {
                let scale = execution.method == .fft ? max(1, largest) : max(1, abs(want))
                XCTAssertLessThanOrEqual(abs(got - want), 1e-9 * scale, "\(quoted): \(got) vs \(want)")
            }
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 300)
    }

    let a: Matrix = try! inline("1 2 3;4 5 6;7 8 9")
    let b: Matrix = try! inline("1 2;3 4")

    /// SPEC §7 and MATLAB's conv2 'same' with an even kernel.
    func testReferenceExamples() throws {
        XCTAssertEqual(try Convolution.run(a, b, spec("--p 1")).rowArrays, [[4, 11, 18, 9], [18, 37, 47, 21], [36, 67, 77, 33], [14, 23, 26, 9]])
        XCTAssertEqual(try Convolution.run(a, b, spec("--flip --p full")).rowArrays, [[1, 4, 7, 6], [7, 23, 33, 24], [19, 53, 63, 42], [21, 52, 59, 36]])
        XCTAssertEqual(try Convolution.run(a, b, spec("--flip --p same")).rowArrays, [[23, 33, 24], [53, 63, 42], [52, 59, 36]])
        // 1-D: seven values, a 3-tap kernel, stride 2: three values.
        XCTAssertEqual(try Convolution.run(try inline("1 2 3 4 5 6 7"), try inline("1 0 -1"), spec("--s 2")).rowArrays, [[-2, -2, -2]])
        // 1-D padding pads the row's ends only.
        XCTAssertEqual(try Convolution.run(try inline("1 2 3"), try inline("1 1"), spec("--p 1")).rowArrays, [[1, 3, 5, 3]])
    }

    /// A transposed convolution equals inserting s − 1 zeros between inputs, padding by
    /// d·(k − 1) − p (plus the output padding after; in 1-D, after the row only), and
    /// correlating with the flipped kernel.
    func testTransposedEqualsZeroInsertionAndFlippedCorrelation() throws {
        var generator = SeededGenerator(seed: testSeed)
        for _ in 0..<200 {
            let (h, w) = (Int.random(in: 1...5, using: &generator), Int.random(in: 1...5, using: &generator))
            let (kh, kw) = (Int.random(in: 1...4, using: &generator), Int.random(in: 1...4, using: &generator))
            let (s, d) = (Int.random(in: 1...3, using: &generator), Int.random(in: 1...2, using: &generator))
            let p = Int.random(in: 0...min(kh - 1, kw - 1) * d, using: &generator)
            let op = Int.random(in: 0..<max(s, d), using: &generator)
            let x = Matrix(rows: h, columns: w, values: (0..<(h * w)).map { _ in Double(Int.random(in: -4...4, using: &generator)) })
            let k = Matrix(rows: kh, columns: kw, values: (0..<(kh * kw)).map { _ in Double(Int.random(in: -4...4, using: &generator)) })
            var transposed = ConvolutionSpec()
            (transposed.transposed, transposed.stride, transposed.dilation) = (true, DimSize(s), DimSize(d))
            transposed.padding = .explicit([PadPair(p, p)])
            transposed.outputPadding = DimSize(op)
            guard let direct = try? Convolution.run(x, k, transposed) else { continue }
            // Zero insertion.
            var dilated = Matrix(rows: (h - 1) * s + 1, columns: (w - 1) * s + 1)
            for i in 0..<h { for j in 0..<w { dilated[i * s, j * s] = x[i, j] } }
            var forward = ConvolutionSpec()
            forward.dilation = DimSize(d)
            forward.flip = true
            // 1-D (single rows): the output padding extends the row only, as conv_transpose1d's.
            let rowOutputPadding = h == 1 && kh == 1 ? 0 : op
            forward.padding = .explicit([PadPair(d * (kh - 1) - p, d * (kh - 1) - p + rowOutputPadding), PadPair(d * (kw - 1) - p, d * (kw - 1) - p + op)])
            let viaCorrelation = try Convolution.run(dilated, k, forward)
            XCTAssertEqual(direct, viaCorrelation, "h=\(h) w=\(w) k=\(kh)x\(kw) s=\(s) d=\(d) p=\(p) op=\(op), \(seedNote)")
        }
    }

    func testPaddingModeLimits() throws {
        XCTAssertThrowsError(try Convolution.run(a, b, spec("--p 3 --pad-mode reflect")))
        XCTAssertNoThrow(try Convolution.run(a, b, spec("--p 2 --pad-mode reflect")))
        XCTAssertThrowsError(try Convolution.run(a, b, spec("--p 4 --pad-mode circular")))
        XCTAssertNoThrow(try Convolution.run(a, b, spec("--p 3 --pad-mode circular")))
        XCTAssertNoThrow(try Convolution.run(a, b, spec("--p 9 --pad-mode replicate")))
        XCTAssertThrowsError(try Convolution.run(a, b, spec("--transposed --pad-mode reflect")))
        XCTAssertThrowsError(try Convolution.run(a, try inline("1 2 3 4 5"), spec("")))   // kernel wider than the input
        XCTAssertThrowsError(try Convolution.run(a, b, spec("--p 1000000000")))           // too large
    }
}
