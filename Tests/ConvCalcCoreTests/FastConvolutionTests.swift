import XCTest
import ConvCalcTestSupport
@testable import ConvCalcCore
@testable import ConvCalcEngine
@testable import ConvCalcText

/// The kernel levels this machine can run (from /proc/cpuinfo's flags).
let supportedLevels: [KernelLevel] = {
    var flags = Set<String>()
    if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
       let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) {
        flags = Set(line.split(separator: " ").map(String.init))
    }
    let best = KernelLevel.best(flags: flags)
    return KernelLevel.compiled.filter { level in
        KernelLevel.compiled.firstIndex(of: level)! <= KernelLevel.compiled.firstIndex(of: best)!
    }
}()

/// Every way `run` can compute: each method at each kernel level this CPU has, 1 and 2 threads.
let executions: [Execution] = supportedLevels.flatMap { level in
    [Execution(level: level, threads: 1, method: .direct), Execution(level: level, threads: 2, method: .direct),
     Execution(level: level, threads: 1, method: .fft), Execution(level: level, threads: 2, method: .fft)]
}

final class FastConvolutionTests: XCTestCase {
    /// Random geometries, large enough for the vector blocks, the border columns and several
    /// FFT tiles: every method and level against the plain loops of `Convolution.reference`.
    /// 48 geometries in `swift test`, 160 with `CONVCALC_LONG=1`.
    func testFastMethodsAgreeWithReference() throws {
        var generator = SeededGenerator(seed: testSeed)
        var checked = 0
        let trials = longTests ? 160 : 48
        for trial in 0..<trials {
            let geometry = RandomGeometry(transposed: trial % 4 == 3, maxRows: 40, maxColumns: 90, using: &generator)
            let spec = geometry.spec
            let (cin, cout, h, w) = (geometry.inputChannels, geometry.outputChannels, geometry.rows, geometry.columns)
            let (kh, kw) = (geometry.kernelRows, geometry.kernelColumns)
            let blockCount = geometry.blockCount
            let input = (0..<cin).map { _ in Matrix(rows: h, columns: w, values: (0..<(h * w)).map { _ in Double.random(in: -1...1, using: &generator) }) }
            let kernel = (0..<blockCount).map { _ in Matrix(rows: kh, columns: kw, values: (0..<(kh * kw)).map { _ in Double.random(in: -1...1, using: &generator) }) }
            let bias: [Double]? = Bool.random(using: &generator) ? (0..<cout).map { Double($0) - 0.5 } : nil
            guard let plan = try? ConvolutionPlan(inputChannels: cin, rows: h, columns: w, kernelBlocks: blockCount, kernelRows: kh,
                                                  kernelColumns: kw, stated: nil, biasCount: bias?.count, spec: spec) else { continue }
            let expected = Convolution.reference(plan, input, kernel, bias: bias)
            for execution in executions {
                let got = Convolution.run(plan, input, kernel, bias: bias, execution: execution)
                let label = "trial \(trial) \(execution) \(h)x\(w) k \(kh)x\(kw) \(spec), \(seedNote)"
                XCTAssertEqual(got.count, expected.count, label)
                for (a, b) in zip(got, expected) {
                    XCTAssertEqual([a.rows, a.columns], [b.rows, b.columns], label)
                    for (x, y) in zip(a.values, b.values) where abs(x - y) > 1e-11 * 100 {
                        XCTFail("\(label): \(x) vs \(y)")
                        break
                    }
                }
            }
            checked += 1
        }
        XCTAssertGreaterThan(checked, trials * 5 / 8, seedNote)
    }

    /// Large enough that the FFT uses many tiles: direct and FFT agree to 1e-9 relative.
    func testDirectAndFourierAgreeOnALargeInput() throws {
        var generator = SeededGenerator(seed: testSeed)
        let input = Matrix(rows: 300, columns: 257, values: (0..<(300 * 257)).map { _ in Double.random(in: -1...1, using: &generator) })
        let kernel = Matrix(rows: 31, columns: 17, values: (0..<(31 * 17)).map { _ in Double.random(in: -1...1, using: &generator) })
        for padding in [Padding.same, .valid, .full] {
            var spec = ConvolutionSpec()
            spec.padding = padding
            let direct = try Convolution.run(input, kernel, spec, execution: Execution(level: supportedLevels.last!, threads: 2, method: .direct))
            let fourier = try Convolution.run(input, kernel, spec, execution: Execution(level: supportedLevels.last!, threads: 2, method: .fft))
            let largest = direct.values.map(abs).max()!
            for (x, y) in zip(direct.values, fourier.values) {
                XCTAssertLessThanOrEqual(abs(x - y), 1e-9 * largest, "\(padding), \(seedNote)")
            }
        }
    }

    /// Huge strides (the fuzz harness once found 2^31 building 2^31 phase planes, and a
    /// transposed stride visiting every phase × every tap): same result as the definition.
    func testHugeStrides() throws {
        let input = Matrix(rows: 2, columns: 3, values: [1, -2, 3, 4, 5, -6])
        let kernel = Matrix(rows: 2, columns: 4, values: [1, 2, 3, 4, -1, 0, 2, 5])
        for (transposed, stride) in [(false, 2_147_483_648), (false, 1000), (true, 1000), (true, 7)] {
            var spec = ConvolutionSpec()
            spec.transposed = transposed
            spec.stride = DimSize([1, stride])
            spec.dilation = DimSize([1, 3])
            spec.padding = .explicit([PadPair(1, 1), PadPair(2, 9)])
            let plan = try ConvolutionPlan(inputChannels: 1, rows: 2, columns: 3, kernelBlocks: 1, kernelRows: 2, kernelColumns: 4,
                                           stated: nil, biasCount: nil, spec: spec)
            let expected = Convolution.reference(plan, [input], [kernel], bias: [2])
            for execution in executions {
                XCTAssertEqual(Convolution.run(plan, [input], [kernel], bias: [2], execution: execution), expected, "\(transposed) \(stride) \(execution)")
            }
        }
    }

    /// `auto` picks direct for small kernels and FFT for large ones on large inputs.
    func testAutomaticChoice() throws {
        func plan(_ n: Int, _ k: Int) throws -> ConvolutionPlan {
            var spec = ConvolutionSpec()
            spec.padding = .same
            return try ConvolutionPlan(inputChannels: 1, rows: n, columns: n, kernelBlocks: 1, kernelRows: k, kernelColumns: k,
                                       stated: nil, biasCount: nil, spec: spec)
        }
        XCTAssertEqual(Convolution.method(try plan(2048, 3), .auto), .direct)
        XCTAssertEqual(Convolution.method(try plan(2048, 7), .auto), .direct)
        XCTAssertEqual(Convolution.method(try plan(2048, 31), .auto), .fft)
        XCTAssertEqual(Convolution.method(try plan(4096, 63), .auto), .fft)
        XCTAssertEqual(Convolution.method(try plan(5, 3), .auto), .direct)
        XCTAssertEqual(Convolution.method(try plan(512, 3), .auto), .direct)
    }

    /// With integers in, the FFT's output is rounded to integers: exact, as direct.
    func testFourierKeepsIntegersExact() throws {
        let input = Matrix(rows: 70, columns: 90, values: (0..<6300).map { Double($0 % 17) - 8 })
        let kernel = Matrix(rows: 21, columns: 19, values: (0..<399).map { Double($0 % 5) - 2 })
        var spec = ConvolutionSpec()
        spec.padding = .same
        let direct = try Convolution.run(input, kernel, spec, execution: Execution(method: .direct))
        let fourier = try Convolution.run(input, kernel, spec, execution: Execution(method: .fft))
        XCTAssertEqual(direct, fourier)
    }
}
