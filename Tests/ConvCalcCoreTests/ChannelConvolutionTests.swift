import XCTest
import ConvCalcTestSupport
@testable import ConvCalcCore
@testable import ConvCalcEngine
@testable import ConvCalcText

/// 'r;r|r;r' blocks (fixture encoding) as matrices.
func blocks(_ text: String) throws -> [Matrix] {
    try text.split(separator: "|").map { try inline(String($0)) }
}

func randomMatrix(_ rows: Int, _ columns: Int, using generator: inout SeededGenerator) -> Matrix {
    Matrix(rows: rows, columns: columns, values: (0..<(rows * columns)).map { _ in Double(Int.random(in: -4...4, using: &generator)) })
}

final class ChannelConvolutionTests: XCTestCase {
    /// Multi-channel cases with groups and bias computed by PyTorch conv2d / conv_transpose2d
    /// (Tests/fixtures/generate_channel_cases.py).
    func testAgreesWithPyTorch() throws {
        for execution in executions { try agreesWithPyTorch(execution) }
    }

    func agreesWithPyTorch(_ execution: Execution) throws {
        var checked = 0
        for line in try readFixture("channels_pytorch.tsv").split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 5 else { XCTFail("malformed fixture line: \(line)"); continue }
            var options = f[0].split(separator: " ").map(String.init)
            var groups = 1
            if let at = options.firstIndex(of: "--g") {
                groups = Int(options[at + 1])!
                options.removeSubrange(at...(at + 1))
            }
            var convolution = try spec(options.joined(separator: " "))
            convolution.groups = groups
            let bias = f[3] == "-" ? nil : f[3].split(separator: " ").map { Double($0)! }
            let quoted = "run \(f[0]) input \(f[1]) kernel \(f[2]) bias \(f[3]) \(execution)"
            let result: [Matrix]
            do {
                result = try Convolution.run(try blocks(f[1]), kernel: try blocks(f[2]), bias: bias, spec: convolution, execution: execution)
            } catch {
                XCTAssertEqual(f[4], "error", "\(quoted): convcalc refused it: \(error)")
                checked += 1
                continue
            }
            guard f[4] != "error" else { XCTFail("\(quoted): PyTorch refused it"); continue }
            let expected = try blocks(f[4])
            XCTAssertEqual(result.count, expected.count, quoted)
            for (got, want) in zip(result, expected) {
                XCTAssertEqual([got.rows, got.columns], [want.rows, want.columns], quoted)
                guard got.values.count == want.values.count else { continue }
                let largest = want.values.map(abs).max() ?? 0   // FFT errors scale with the largest value
                for (a, b) in zip(got.values, want.values) {
                    XCTAssertLessThanOrEqual(abs(a - b), 1e-9 * (execution.method == .fft ? max(1, largest) : max(1, abs(b))), quoted)
                }
            }
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 200)
    }

    /// A random multi-channel geometry and its plan.
    func randomCase(transposed: Bool, using generator: inout SeededGenerator)
        -> (ConvolutionPlan, [Matrix], [Matrix])? {
        let g = Int.random(in: 1...2, using: &generator)
        let cin = g * Int.random(in: 1...2, using: &generator), cout = g * Int.random(in: 1...2, using: &generator)
        let (h, w) = (Int.random(in: 2...5, using: &generator), Int.random(in: 2...5, using: &generator))
        let (kh, kw) = (Int.random(in: 1...3, using: &generator), Int.random(in: 1...3, using: &generator))
        var spec = ConvolutionSpec()
        spec.groups = g
        spec.transposed = transposed
        spec.stride = DimSize(Int.random(in: 1...2, using: &generator))
        spec.dilation = DimSize(Int.random(in: 1...2, using: &generator))
        spec.padding = .explicit([PadPair(Int.random(in: 0...1, using: &generator), Int.random(in: 0...1, using: &generator))])
        if !transposed { spec.paddingMode = PaddingMode.allCases.randomElement(using: &generator)! }
        let blockCount = transposed ? cin * (cout / g) : cout * (cin / g)
        let input = (0..<cin).map { _ in randomMatrix(h, w, using: &generator) }
        let kernel = (0..<blockCount).map { _ in randomMatrix(kh, kw, using: &generator) }
        guard let plan = try? ConvolutionPlan(inputChannels: cin, rows: h, columns: w, kernelBlocks: blockCount, kernelRows: kh,
                                              kernelColumns: kw, stated: nil, biasCount: nil, spec: spec) else { return nil }
        return (plan, input, kernel)
    }

    /// y = A·vec(x): the matrix --as-matrix prints computes the same as run.
    func testMatrixTimesInputEqualsRun() throws {
        var generator = SeededGenerator(seed: testSeed)
        var checked = 0
        for _ in 0..<1000 where checked < 150 {
            guard let (plan, input, kernel) = randomCase(transposed: Bool.random(using: &generator), using: &generator) else { continue }
            let a = try Convolution.matrix(plan, kernel: kernel)
            let x = input.flatMap(\.values)
            let y = Convolution.run(plan, input, kernel, bias: nil).flatMap(\.values)
            for row in 0..<a.rows {
                let product = (0..<a.columns).reduce(0.0) { $0 + a[row, $1] * x[$1] }
                XCTAssertEqual(product, y[row], accuracy: 1e-9, "\(plan.spec) row \(row), \(seedNote)")
            }
            checked += 1
        }
        XCTAssertEqual(checked, 150, seedNote)
    }

    /// A transposed convolution's matrix is the transpose of the forward convolution's with
    /// the same kernel, stride, dilation and padding (input: the transposed one's output size).
    func testTransposedIsTheTransposeOfForward() throws {
        var generator = SeededGenerator(seed: testSeed)
        var checked = 0
        for _ in 0..<3000 where checked < 150 {
            guard let (plan, _, kernel) = randomCase(transposed: true, using: &generator) else { continue }
            var forward = plan.spec
            forward.transposed = false
            forward.outputPadding = DimSize(0)
            guard let forwardPlan = try? ConvolutionPlan(inputChannels: plan.outputChannels, rows: plan.outputRows, columns: plan.outputColumns,
                                                         kernelBlocks: kernel.count, kernelRows: plan.kernelRows, kernelColumns: plan.kernelColumns,
                                                         stated: nil, biasCount: nil, spec: forward),
                  forwardPlan.outputRows == plan.inputRows, forwardPlan.outputColumns == plan.inputColumns else { continue }
            // The same weights: transposed layout (Cin, Cout/g) read as forward (Cout', Cin'/g) with Cout' = Cin.
            let a = try Convolution.matrix(plan, kernel: kernel)
            let f = try Convolution.matrix(forwardPlan, kernel: kernel)
            XCTAssertEqual([a.rows, a.columns], [f.columns, f.rows], "\(plan.spec), \(seedNote)")
            for i in 0..<a.rows { for j in 0..<a.columns { XCTAssertEqual(a[i, j], f[j, i], "\(plan.spec), \(seedNote)") } }
            checked += 1
        }
        XCTAssertEqual(checked, 150, seedNote)
    }

    /// Sub-pixel convolution: a stride-2 transposed convolution equals four ordinary
    /// convolutions with the kernel's phases k[2u + ρ, 2v + σ] (kernel re-arrangement), their
    /// outputs interleaved (depth-to-space): y[2m + r] = F_ρ[m + c], F_ρ the full true
    /// convolution of x with k_ρ, ρ = (r + p) mod 2, c = (r + p − ρ)/2.
    func testSubPixelEqualsStrideTwoTransposed() throws {
        var generator = SeededGenerator(seed: testSeed)
        var checked = 0
        for _ in 0..<200 {
            let (h, w) = (Int.random(in: 1...5, using: &generator), Int.random(in: 1...5, using: &generator))
            let (kh, kw) = (Int.random(in: 2...5, using: &generator), Int.random(in: 2...5, using: &generator))
            let (p, op) = (Int.random(in: 0...1, using: &generator), Int.random(in: 0...1, using: &generator))
            let x = randomMatrix(h, w, using: &generator), k = randomMatrix(kh, kw, using: &generator)
            var t = ConvolutionSpec()
            (t.transposed, t.stride, t.padding, t.outputPadding) = (true, DimSize(2), .explicit([PadPair(p, p)]), DimSize(op))
            guard let direct = try? Convolution.run(x, k, t) else { continue }
            var full = ConvolutionSpec()
            (full.flip, full.padding) = (true, .full)
            var rebuilt = Matrix(rows: direct.rows, columns: direct.columns)
            for r in 0..<2 {
                for q in 0..<2 {
                    let (rho, sigma) = ((r + p) % 2, (q + p) % 2)
                    guard rho < kh, sigma < kw else { continue }
                    let phase = Matrix(rows: (kh - rho + 1) / 2, columns: (kw - sigma + 1) / 2, values:
                        stride(from: rho, to: kh, by: 2).flatMap { a in stride(from: sigma, to: kw, by: 2).map { b in k[a, b] } })
                    let f = try Convolution.run(x, phase, full)
                    let (cr, cc) = ((r + p - rho) / 2, (q + p - sigma) / 2)
                    for m in stride(from: r, to: direct.rows, by: 2) {
                        for n in stride(from: q, to: direct.columns, by: 2) {
                            let (fi, fj) = ((m - r) / 2 + cr, (n - q) / 2 + cc)
                            rebuilt[m, n] = fi < f.rows && fj < f.columns ? f[fi, fj] : 0
                        }
                    }
                }
            }
            XCTAssertEqual(rebuilt, direct, "h=\(h) w=\(w) k=\(kh)x\(kw) p=\(p) op=\(op), \(seedNote)")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 150, seedNote)
    }

    /// Dilated convolution = space-to-batch (split the padded input into d×d phases),
    /// ordinary convolution of each phase, batch-to-space (interleave the results).
    func testDilatedEqualsSpaceToBatch() throws {
        var generator = SeededGenerator(seed: testSeed)
        var checked = 0
        for _ in 0..<200 {
            let d = Int.random(in: 2...3, using: &generator)
            let (h, w) = (Int.random(in: 3...9, using: &generator), Int.random(in: 3...9, using: &generator))
            let (kh, kw) = (Int.random(in: 1...3, using: &generator), Int.random(in: 1...3, using: &generator))
            let p = Int.random(in: 0...2, using: &generator)
            let x = randomMatrix(h, w, using: &generator), k = randomMatrix(kh, kw, using: &generator)
            var dilated = ConvolutionSpec()
            (dilated.dilation, dilated.padding) = (DimSize(d), .explicit([PadPair(p, p)]))
            guard let direct = try? Convolution.run(x, k, dilated) else { continue }
            var padded = Matrix(rows: h + 2 * p, columns: w + 2 * p)
            for i in 0..<h { for j in 0..<w { padded[i + p, j + p] = x[i, j] } }
            var rebuilt = Matrix(rows: direct.rows, columns: direct.columns)
            for phi in 0..<d {
                for psi in 0..<d {
                    let rows = Array(stride(from: phi, to: padded.rows, by: d)), columns = Array(stride(from: psi, to: padded.columns, by: d))
                    guard rows.count >= kh, columns.count >= kw else { continue }
                    let batch = Matrix(rows: rows.count, columns: columns.count, values: rows.flatMap { r in columns.map { padded[r, $0] } })
                    let part = try Convolution.run(batch, k, ConvolutionSpec())
                    for m in 0..<part.rows {
                        for n in 0..<part.columns where m * d + phi < direct.rows && n * d + psi < direct.columns {
                            rebuilt[m * d + phi, n * d + psi] = part[m, n]
                        }
                    }
                }
            }
            XCTAssertEqual(rebuilt, direct, "h=\(h) w=\(w) k=\(kh)x\(kw) d=\(d) p=\(p), \(seedNote)")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 100, seedNote)
    }

    func testPlanChecks() {
        func plan(_ cin: Int, blocks: Int, groups: Int = 1, transposed: Bool = false, stated: [Int]? = nil, bias: Int? = nil) throws -> ConvolutionPlan {
            var spec = ConvolutionSpec()
            (spec.groups, spec.transposed) = (groups, transposed)
            return try ConvolutionPlan(inputChannels: cin, rows: 4, columns: 4, kernelBlocks: blocks, kernelRows: 3, kernelColumns: 3,
                                       stated: stated, biasCount: bias, spec: spec)
        }
        XCTAssertEqual(try plan(3, blocks: 12).outputChannels, 4)
        XCTAssertEqual(try plan(4, blocks: 8, groups: 4).outputChannels, 8)            // depthwise, multiplier 2
        XCTAssertEqual(try plan(2, blocks: 6, transposed: true).outputChannels, 3)
        XCTAssertThrowsError(try plan(3, blocks: 4))                                   // 4 blocks, Cin/g = 3
        XCTAssertThrowsError(try plan(3, blocks: 6, groups: 2))                        // 3 channels, 2 groups
        XCTAssertThrowsError(try plan(3, blocks: 12, stated: [3, 4, 3, 3]))
        XCTAssertNoThrow(try plan(3, blocks: 12, stated: [4, 3, 3, 3]))
        XCTAssertThrowsError(try plan(3, blocks: 12, bias: 3))
    }
}
