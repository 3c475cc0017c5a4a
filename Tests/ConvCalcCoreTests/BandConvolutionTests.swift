import XCTest
import ConvCalcTestSupport
@testable import ConvCalcCore
@testable import ConvCalcEngine

/// The streaming band engine (`BandConvolution`) against the whole run in memory: the same
/// bits for every output, however the rows arrive.
final class BandConvolutionTests: XCTestCase {
    /// One random case: the input fed in random pieces, the bands joined, compared bit for bit
    /// with `Convolution.run` (direct) on the whole input.
    func check(_ input: Matrix, _ kernel: Matrix, _ spec: ConvolutionSpec, bias: Double?, execution: Execution, bandRows: Int? = nil,
               pieces generator: inout SeededGenerator, note: String) throws {
        let whole: Matrix
        do {
            whole = try Convolution.run([input], kernel: [kernel], bias: bias.map { [$0] }, spec: spec,
                                        execution: Execution(level: execution.level, threads: execution.threads, method: .direct))[0]
        } catch {
            // The whole run refuses it: the stream must refuse it too, by its end.
            let engine = try? BandConvolution(kernel: kernel, columns: input.columns, spec: spec, bias: bias, execution: execution)
            guard let engine else { return }
            XCTAssertThrowsError(try feed(engine, input, &generator), note)
            return
        }
        let engine = try BandConvolution(kernel: kernel, columns: input.columns, spec: spec, bias: bias, execution: execution)
        if let bandRows { engine.bandRows = bandRows }
        let streamed = try feed(engine, input, &generator)
        XCTAssertEqual(streamed.rows, whole.rows, note)
        XCTAssertEqual(streamed.columns, whole.columns, note)
        XCTAssertEqual(streamed.values.map(\.bitPattern), whole.values.map(\.bitPattern), note)
    }

    /// The input's rows in random pieces; the bands emitted, joined.
    func feed(_ engine: BandConvolution, _ input: Matrix, _ generator: inout SeededGenerator) throws -> Matrix {
        var out: [Double] = []
        var columns = 0
        var rows = 0
        let emit = { (band: Matrix) -> Bool in
            out += band.values
            columns = band.columns
            rows += band.rows
            return true
        }
        var r = 0
        while r < input.rows {
            let count = min(input.rows - r, Int.random(in: 1...7, using: &generator))
            let ok = try input.values[(r * input.columns)..<((r + count) * input.columns)].withUnsafeBufferPointer {
                try engine.append($0, rows: count, emit: emit)
            }
            XCTAssertTrue(ok)
            r += count
        }
        let finished = try engine.finish(emit: emit)
        XCTAssertTrue(finished)
        return Matrix(rows: rows, columns: columns, values: out)
    }

    func testBandsEqualTheWholeRun() throws {
        var generator = SeededGenerator(seed: testSeed)
        let trials = longTests ? 1500 : 300
        var streamed = 0
        for trial in 0..<trials {
            var spec = ConvolutionSpec()
            let kh = Int.random(in: 1...5, using: &generator), kw = Int.random(in: 1...5, using: &generator)
            spec.stride = DimSize([Int.random(in: 1...3, using: &generator), Int.random(in: 1...3, using: &generator)])
            spec.dilation = DimSize([Int.random(in: 1...2, using: &generator), Int.random(in: 1...2, using: &generator)])
            spec.flip = Bool.random(using: &generator)
            spec.paddingMode = PaddingMode.allCases.randomElement(using: &generator)!
            switch Int.random(in: 0...4, using: &generator) {
            case 0: spec.padding = .valid
            case 1: spec.padding = .same
            case 2: spec.padding = .full
            default:
                spec.padding = .explicit([PadPair(Int.random(in: 0...4, using: &generator), Int.random(in: 0...4, using: &generator)),
                                          PadPair(Int.random(in: 0...3, using: &generator), Int.random(in: 0...3, using: &generator))])
            }
            guard BandConvolution.streams(spec, kernelRows: kh) else { continue }
            let h = Int.random(in: 1...60, using: &generator), w = Int.random(in: 1...40, using: &generator)
            let integers = trial % 3 == 0
            func value() -> Double {
                integers ? Double(Int.random(in: -9...9, using: &generator)) : Double.random(in: -1...1, using: &generator)
            }
            var values = (0..<(h * w)).map { _ in value() }
            if trial % 5 == 1 {
                // inf, -inf and nan, some in the last rows.
                for _ in 0..<3 { values[Int.random(in: (values.count / 2)..<values.count, using: &generator)] = [.infinity, -.infinity, .nan].randomElement(using: &generator)! }
            }
            var kernel = Matrix(rows: kh, columns: kw, values: (0..<(kh * kw)).map { _ in value() })
            if trial % 7 == 3 {
                // An inf or nan weight: nan where it meets zero padding, above and below alike.
                kernel.values[Int.random(in: 0..<kernel.values.count, using: &generator)] = [.infinity, -.infinity, .nan].randomElement(using: &generator)!
            }
            let bias: Double? = Bool.random(using: &generator) ? value() : nil
            let level = supportedLevels.randomElement(using: &generator)!
            let execution = Execution(level: level, threads: Int.random(in: 1...2, using: &generator), method: .direct)
            let note = "trial \(trial): \(h)x\(w) kernel \(kh)x\(kw) \(spec.padding) \(spec.paddingMode) s \(spec.stride) d \(spec.dilation) flip \(spec.flip), \(seedNote)"
            try check(Matrix(rows: h, columns: w, values: values), kernel, spec, bias: bias, execution: execution,
                      bandRows: trial % 2 == 0 ? Int.random(in: 1...6, using: &generator) : nil, pieces: &generator, note: note)
            streamed += 1
        }
        XCTAssertGreaterThan(streamed, trials / 3)
    }

    /// Bands of many rows (heights around the band boundaries) on a wide input.
    func testHeightsAroundBandBoundaries() throws {
        var generator = SeededGenerator(seed: testSeed &+ 1)
        var spec = ConvolutionSpec()
        spec.padding = .explicit([PadPair(1, 1)])
        let kernel = Matrix(rows: 3, columns: 3, values: (0..<9).map { _ in Double.random(in: -1...1, using: &generator) })
        let probe = try BandConvolution(kernel: kernel, columns: 300, spec: spec, bias: nil, execution: Execution())
        XCTAssertGreaterThan(probe.bandRows, 100)
        for mode in PaddingMode.allCases {
            spec.paddingMode = mode
            spec.padding = .explicit([PadPair(mode == .circular ? 0 : 1, 1), PadPair(1, 1)])
            for h in [1, 2, 3, 4, 5, 9, 10, 11, 21, 22, 23] {
                let input = Matrix(rows: h, columns: 300, values: (0..<(h * 300)).map { _ in Double.random(in: -1...1, using: &generator) })
                try check(input, kernel, spec, bias: 0.5, execution: Execution(level: supportedLevels.last!, threads: 2), bandRows: 5,
                          pieces: &generator, note: "\(mode) h \(h)")
            }
        }
    }

    /// `auto` weighs a tall single-channel input at a fixed height: the choice is the same for
    /// every height past `choiceHeight`, so a stream can make it after that many rows.
    func testAutoChoiceDoesNotDependOnTallHeights() throws {
        for k in [3, 9, 13, 15, 21, 31] {
            let choices = try [200, 1000, 3000, 20000].map { h in
                Convolution.method(try ConvolutionPlan(inputChannels: 1, rows: h, columns: 1000, kernelBlocks: 1, kernelRows: k, kernelColumns: k,
                                                       stated: nil, biasCount: nil, spec: ConvolutionSpec()), .auto)
            }
            XCTAssertEqual(Set(choices).count, 1, "k \(k): \(choices)")
        }
    }

    /// One FFT case: the whole run by FFT (`Convolution.run`, tile rows for a tall input)
    /// against the stream's FFT bands, bit for bit; false when the stream cannot run it by FFT.
    @discardableResult
    func checkFourier(_ input: Matrix, _ kernel: Matrix, _ spec: ConvolutionSpec, bias: Double?, execution: Execution, tilesPerBand: Int?,
                      pieces generator: inout SeededGenerator, note: String) throws -> Bool {
        guard BandConvolution.streams(spec, kernelRows: kernel.rows),
              let plan = try? ConvolutionPlan(inputChannels: 1, rows: input.rows, columns: input.columns, kernelBlocks: 1, kernelRows: kernel.rows,
                                              kernelColumns: kernel.columns, stated: nil, biasCount: bias == nil ? nil : 1, spec: spec),
              Convolution.method(plan, .fft) == .fft else { return false }
        let whole = Convolution.run(plan, [input], [kernel], bias: bias.map { [$0] },
                                    execution: Execution(level: execution.level, threads: execution.threads, method: .fft))[0]
        let engine = try BandConvolution(kernel: kernel, columns: input.columns, spec: spec, bias: bias, execution: execution)
        XCTAssertTrue(engine.useFourier(plan), note)
        XCTAssertEqual(engine.method, .fft, note)
        if let tilesPerBand { engine.tilesPerBand = tilesPerBand }
        let streamed = try feed(engine, input, &generator)
        XCTAssertEqual(streamed.rows, whole.rows, note)
        XCTAssertEqual(streamed.columns, whole.columns, note)
        XCTAssertEqual(streamed.values.map(\.bitPattern), whole.values.map(\.bitPattern), note)
        // And the FFT agrees with the direct method (to rounding; inf and nan exactly).
        let direct = Convolution.run(plan, [input], [kernel], bias: bias.map { [$0] }, execution: Execution(method: .direct))[0]
        let scale = max(1, input.values.reduce(0) { $1.isFinite ? max($0, abs($1)) : $0 }) * max(1, kernel.values.reduce(0) { $0 + abs($1) })
        for (a, b) in zip(whole.values, direct.values) where !(a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN)) {
            XCTAssertTrue(a.isFinite && b.isFinite && abs(a - b) <= 1e-12 * scale, "\(note): \(a) vs \(b)")
            break
        }
        return true
    }

    /// The FFT in tile rows (`FourierRows`): streamed bands equal the whole FFT run bit for
    /// bit on random shapes, paddings, strides and dilations, integer and fractional data,
    /// inf and nan in late rows, and huge magnitudes that send tile rows to the direct method.
    func testFourierBandsEqualTheWholeRun() throws {
        var generator = SeededGenerator(seed: testSeed &+ 2)
        let trials = longTests ? 300 : 60
        var streamed = 0
        for trial in 0..<trials {
            var spec = ConvolutionSpec()
            let kh = Int.random(in: 1...17, using: &generator), kw = Int.random(in: 1...17, using: &generator)
            spec.stride = DimSize([Int.random(in: 1...3, using: &generator), Int.random(in: 1...2, using: &generator)])
            spec.dilation = DimSize([Int.random(in: 1...2, using: &generator), Int.random(in: 1...2, using: &generator)])
            spec.flip = Bool.random(using: &generator)
            spec.paddingMode = PaddingMode.allCases.randomElement(using: &generator)!
            switch Int.random(in: 0...3, using: &generator) {
            case 0: spec.padding = .valid
            case 1: spec.padding = .same
            default:
                spec.padding = .explicit([PadPair(Int.random(in: 0...8, using: &generator), Int.random(in: 0...8, using: &generator)),
                                          PadPair(Int.random(in: 0...5, using: &generator), Int.random(in: 0...5, using: &generator))])
            }
            let h = Int.random(in: 129...420, using: &generator), w = Int.random(in: 1...70, using: &generator)
            let integers = trial % 3 == 0
            func value() -> Double {
                integers ? Double(Int.random(in: -9...9, using: &generator)) : Double.random(in: -1...1, using: &generator)
            }
            var values = (0..<(h * w)).map { _ in value() }
            if trial % 4 == 1 {
                for _ in 0..<3 { values[Int.random(in: (values.count / 2)..<values.count, using: &generator)] = [.infinity, -.infinity, .nan].randomElement(using: &generator)! }
            }
            if trial % 5 == 2 { values[Int.random(in: (values.count / 3)..<values.count, using: &generator)] = 1e306 }
            let kernel = Matrix(rows: kh, columns: kw, values: (0..<(kh * kw)).map { _ in value() })
            let bias: Double? = Bool.random(using: &generator) ? value() : nil
            let execution = Execution(level: supportedLevels.randomElement(using: &generator)!, threads: Int.random(in: 1...2, using: &generator))
            let note = "trial \(trial): \(h)x\(w) kernel \(kh)x\(kw) \(spec.padding) \(spec.paddingMode) s \(spec.stride) d \(spec.dilation) flip \(spec.flip), \(seedNote)"
            if try checkFourier(Matrix(rows: h, columns: w, values: values), kernel, spec, bias: bias, execution: execution,
                                tilesPerBand: trial % 2 == 0 ? Int.random(in: 1...3, using: &generator) : nil, pieces: &generator, note: note) {
                streamed += 1
            }
        }
        XCTAssertGreaterThan(streamed, trials / 3)
    }

    /// Heights around the tile rows' boundaries (one useful row more or less), every mode.
    func testFourierHeightsAroundTileBoundaries() throws {
        var generator = SeededGenerator(seed: testSeed &+ 3)
        let kernel = Matrix(rows: 9, columns: 9, values: (0..<81).map { _ in Double.random(in: -1...1, using: &generator) })
        var spec = ConvolutionSpec()
        spec.padding = .explicit([PadPair(4, 4)])
        let plan = try ConvolutionPlan(inputChannels: 1, rows: 200, columns: 50, kernelBlocks: 1, kernelRows: 9, kernelColumns: 9,
                                       stated: nil, biasCount: 1, spec: spec)
        let rows = try XCTUnwrap(FourierRows(plan, block: kernel, bias: 0.25, execution: Execution()))
        var heights: Set<Int> = [129, 130]
        for t in 2...6 { for d in -1...1 { heights.insert(max(129, t * rows.useful + rows.extent - 1 - 8 + d)) } }
        for mode in PaddingMode.allCases {
            spec.paddingMode = mode
            spec.padding = .explicit([PadPair(mode == .circular ? 0 : 4, 4), PadPair(4, 4)])
            for h in heights.sorted() {
                let input = Matrix(rows: h, columns: 50, values: (0..<(h * 50)).map { _ in Double.random(in: -1...1, using: &generator) })
                let ran = try checkFourier(input, kernel, spec, bias: 0.25, execution: Execution(level: supportedLevels.last!, threads: 2),
                                           tilesPerBand: 1 + h % 2, pieces: &generator, note: "\(mode) h \(h) tile \(rows.n)")
                XCTAssertTrue(ran, "\(mode) h \(h)")
            }
        }
    }

    /// The tile height does not depend on the input's height (a stream fixes it from the
    /// first rows), and integers come out rounded per tile row.
    func testFourierTilesFixedAndIntegersRounded() throws {
        let kernel = Matrix(rows: 31, columns: 31, values: (0..<961).map { Double($0 % 7) - 3 })
        let sizes = try [129, 500, 4000, 20000].map { h in
            FourierConvolution.tileSizes(try ConvolutionPlan(inputChannels: 1, rows: h, columns: 4096, kernelBlocks: 1, kernelRows: 31,
                                                             kernelColumns: 31, stated: nil, biasCount: nil, spec: ConvolutionSpec())).map { [$0.0, $0.1] }
        }
        XCTAssertEqual(Set(sizes).count, 1, "\(sizes)")
        var input = Matrix(rows: 300, columns: 80, values: (0..<24_000).map { Double($0 % 13) - 6 })
        input[10, 10] = 0.5   // the first tile row is not all integers; the others are
        var spec = ConvolutionSpec()
        spec.padding = .same
        let plan = try ConvolutionPlan(inputChannels: 1, rows: 300, columns: 80, kernelBlocks: 1, kernelRows: 31, kernelColumns: 31,
                                       stated: nil, biasCount: nil, spec: spec)
        let fft = Convolution.run(plan, [input], [kernel], bias: nil, execution: Execution(method: .fft))[0]
        let direct = Convolution.run(plan, [input], [kernel], bias: nil, execution: Execution(method: .direct))[0]
        let rows = try XCTUnwrap(FourierRows(plan, block: kernel, bias: nil, execution: Execution()))
        let clean = (10 + 15) / rows.useful + 1   // the first tile row past input row 10
        let late = (rows.firstOutput(clean) * 80)..<fft.values.count
        XCTAssertFalse(late.isEmpty)
        XCTAssertEqual(Array(fft.values[late]), Array(direct.values[late]))
    }
}
