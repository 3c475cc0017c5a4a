import XCTest
import ConvCalcTestSupport
@testable import ConvCalcCore
@testable import ConvCalcEngine

/// The register-blocked multi-channel method (`BlockedConvolution`) against the plain loops
/// of `Convolution.reference` and against the row method it replaces (`DirectConvolution`).
final class BlockedConvolutionTests: XCTestCase {
    /// A random forward geometry with 2 to 13 output channels per group (blocks of 4 or 6,
    /// full and partial), 1 to 5 input channels per group, every padding form and mode,
    /// stride, dilation and flip, a 1×1 kernel one time in four; sizes around the 16- and
    /// 32-position blocks.
    func randomCase(_ generator: inout SeededGenerator, transposed: Bool = false) -> (ConvolutionPlan, [Matrix], [Matrix], [Double]?)? {
        var geometry = RandomGeometry(transposed: transposed, maxRows: 24, maxColumns: 70, using: &generator)
        let groups = geometry.groups
        geometry.inputChannels = groups * Int.random(in: 1...5, using: &generator)
        geometry.outputChannels = groups * Int.random(in: 2...13, using: &generator)
        if !transposed && Int.random(in: 0..<3, using: &generator) == 0 {
            // One output channel per group (depthwise when Cin = g): the channelwise sums.
            geometry.groups = Int.random(in: 1...4, using: &generator)
            geometry.spec.groups = geometry.groups
            geometry.outputChannels = geometry.groups
            geometry.inputChannels = geometry.groups * Int.random(in: geometry.groups == 1 ? 2...4 : 1...3, using: &generator)
        }
        if Int.random(in: 0..<4, using: &generator) == 0 {
            (geometry.kernelRows, geometry.kernelColumns) = (1, 1)   // the interleaved planes
        }
        let (h, w, kh, kw) = (geometry.rows, geometry.columns, geometry.kernelRows, geometry.kernelColumns)
        func values(_ count: Int) -> [Double] { (0..<count).map { _ in Double.random(in: -1...1, using: &generator) } }
        let input = (0..<geometry.inputChannels).map { _ in Matrix(rows: h, columns: w, values: values(h * w)) }
        let kernel = (0..<geometry.blockCount).map { _ in Matrix(rows: kh, columns: kw, values: values(kh * kw)) }
        let bias: [Double]? = Bool.random(using: &generator) ? values(geometry.outputChannels) : nil
        guard let plan = try? ConvolutionPlan(inputChannels: geometry.inputChannels, rows: h, columns: w, kernelBlocks: kernel.count,
                                              kernelRows: kh, kernelColumns: kw, stated: nil, biasCount: bias?.count, spec: geometry.spec)
        else { return nil }
        return (plan, input, kernel, bias)
    }

    /// Every output (forward, and transposed one case in three) within 1e-13 of the sum of
    /// its terms' magnitudes of the reference, at every kernel level and 1 and 2 threads; equal to the row method but for the rounding
    /// of its border sums (which are not fused). 60 cases, 400 with `CONVCALC_LONG=1`.
    func testAgreesWithReferenceAndRowMethod() {
        var generator = SeededGenerator(seed: testSeed)
        var checked = 0
        let trials = longTests ? 400 : 60
        for trial in 0..<trials {
            guard let (plan, input, kernel, bias) = randomCase(&generator, transposed: trial % 3 == 2) else { continue }
            XCTAssertTrue(BlockedConvolution.applies(plan, kernel, bias: bias), "trial \(trial)")
            let expected = Convolution.reference(plan, input, kernel, bias: bias)
            let magnitude = Convolution.reference(plan, input.map { Matrix(rows: $0.rows, columns: $0.columns, values: $0.values.map(abs)) },
                                                  kernel.map { Matrix(rows: $0.rows, columns: $0.columns, values: $0.values.map(abs)) },
                                                  bias: bias?.map(abs))
            assertAgrees(plan, input, kernel, bias, expected: expected, magnitude: magnitude, label: "trial \(trial)")
            checked += 1
        }
        XCTAssertGreaterThan(checked, trials / 2, seedNote)
    }

    /// `run` at every kernel level with 1 and 2 threads: every output within 1e-13 of
    /// `magnitude` (the sum of its terms' magnitudes) of `expected` and of the row method.
    func assertAgrees(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernel: [Matrix], _ bias: [Double]?, expected: [Matrix], magnitude: [Matrix],
                      label: String) {
        for level in supportedLevels {
            for threads in [1, 2] {
                let execution = Execution(level: level, threads: threads, method: .direct)
                let blocks = plan.spec.flip ? kernel.map { $0.rotated180() } : kernel
                var output = Convolution.allocateOutput(plan, threads: 1)
                output.withUnsafeMutableBufferPointer { base in
                    _ = OutputTargets.contiguous(base.baseAddress!, plan) { BlockedConvolution.run(plan, input, blocks, bias: bias, execution: execution, into: $0) }
                }
                var rows = Convolution.allocateOutput(plan, threads: 1)
                rows.withUnsafeMutableBufferPointer { DirectConvolution.run(plan, input, blocks, bias: bias, execution: execution, into: $0.baseAddress!) }
                let expectedValues = expected.flatMap(\.values), bounds = magnitude.flatMap(\.values)
                let label = "\(label) \(level) \(threads) threads \(plan.inputChannels)->\(plan.outputChannels) g\(plan.groups) \(plan.inputRows)x\(plan.inputColumns) k\(plan.kernelRows)x\(plan.kernelColumns) \(plan.spec), \(seedNote)"
                for index in output.indices where abs(output[index] - expectedValues[index]) > 1e-13 * max(bounds[index], 1e-300)
                    || abs(output[index] - rows[index]) > 1e-13 * max(bounds[index], 1e-300) {
                    XCTFail("\(label): at \(index) blocked \(output[index]), rows \(rows[index]), reference \(expectedValues[index])")
                    break
                }
            }
        }
    }

    /// The output made one array a channel (`allocateOutputMemory`) holds the same values as
    /// the output made in one array and split; a kernel holding inf or nan turns it to the row
    /// method, as the one-array output does.
    func testOutputOneArrayAChannel() {
        var generator = SeededGenerator(seed: testSeed)
        var checked = 0
        for trial in 0..<20 {
            guard var (plan, input, kernel, bias) = randomCase(&generator, transposed: trial % 3 == 2), plan.outputChannels > 1 else { continue }
            if trial % 5 == 4 { kernel[0].values[0] = trial % 2 == 0 ? .infinity : .nan }
            let execution = Execution(level: supportedLevels.last!, threads: 2, method: .direct)
            var memory = Convolution.allocateOutputMemory(plan, threads: 2, method: .direct, bias: bias)
            if case .whole = memory { XCTFail("trial \(trial): one array, \(seedNote)") }
            let (channels, _) = Convolution.runCounted(plan, input, kernel, bias: bias, execution: execution, into: &memory)
            var whole = Convolution.allocateOutput(plan, threads: 2)
            let (split, _) = Convolution.runCounted(plan, input, kernel, bias: bias, execution: execution, into: &whole)
            XCTAssertEqual(channels.count, plan.outputChannels)
            for (a, b) in zip(channels, split) where a.values.map(\.bitPattern) != b.values.map(\.bitPattern) {
                XCTFail("trial \(trial): \(a.values.prefix(4)) against \(b.values.prefix(4)), \(seedNote)")
                break
            }
            checked += 1
        }
        XCTAssertGreaterThan(checked, 5, seedNote)
    }

    /// A 1×1 kernel with stride 1 and no padding reads the input channels in place
    /// (`readsInputInPlace`): positions fewer than one block, whole blocks, a partial last
    /// block, groups, one to 40 input channels per group.
    func testOneByOneReadsInputInPlace() throws {
        var generator = SeededGenerator(seed: testSeed)
        func values(_ count: Int) -> [Double] { (0..<count).map { _ in Double.random(in: -1...1, using: &generator) } }
        for (trial, (h, w)) in [(1, 1), (3, 5), (4, 8), (8, 8), (5, 13), (28, 28), (7, 64), (1, 33)].enumerated() {
            var spec = ConvolutionSpec()
            spec.groups = 1 + trial % 3
            let inputs = spec.groups * Int.random(in: 1...(trial % 2 == 0 ? 40 : 5), using: &generator)
            let outputs = spec.groups * Int.random(in: 2...13, using: &generator)
            let input = (0..<inputs).map { _ in Matrix(rows: h, columns: w, values: values(h * w)) }
            let kernel = (0..<(outputs * inputs / spec.groups)).map { _ in Matrix(rows: 1, columns: 1, values: values(1)) }
            let bias: [Double]? = trial % 2 == 1 ? values(outputs) : nil
            let plan = try ConvolutionPlan(inputChannels: inputs, rows: h, columns: w, kernelBlocks: kernel.count, kernelRows: 1, kernelColumns: 1,
                                           stated: nil, biasCount: bias?.count, spec: spec)
            XCTAssertTrue(BlockedConvolution.readsInputInPlace(plan))
            let magnitude = Convolution.reference(plan, input.map { Matrix(rows: h, columns: w, values: $0.values.map(abs)) },
                                                  kernel.map { Matrix(rows: 1, columns: 1, values: $0.values.map(abs)) }, bias: bias?.map(abs))
            assertAgrees(plan, input, kernel, bias, expected: Convolution.reference(plan, input, kernel, bias: bias), magnitude: magnitude,
                         label: "in place \(trial)")
        }
    }

    /// A 1×1 kernel read in place (`runPointwise`) with more input channels than one chunk
    /// of taps (`pointwiseChunk`): each later chunk goes on from the sums the earlier stored,
    /// so every output is the row method's sum bit for bit (the same terms in the same order,
    /// one fused multiply–add each from the bias), at every kernel level and 1 and 2 threads,
    /// with partial blocks of positions and of output channels, groups, packed weights and
    /// weights read where they lie.
    func testPointwiseChunksKeepTheOrderOfTheSum() throws {
        var generator = SeededGenerator(seed: testSeed &+ 7)
        func values(_ count: Int) -> [Double] { (0..<count).map { _ in Double.random(in: -1...1, using: &generator) } }
        for (groups, inputs, outputs, h, w) in [(1, 300, 13, 5, 7), (3, 390, 15, 6, 9), (1, 129, 16, 8, 6), (2, 512, 18, 1, 3)] {
            var spec = ConvolutionSpec()
            spec.groups = groups
            let input = (0..<inputs).map { _ in Matrix(rows: h, columns: w, values: values(h * w)) }
            let kernel = (0..<(outputs * inputs / groups)).map { _ in Matrix(rows: 1, columns: 1, values: values(1)) }
            let bias = values(outputs)
            let plan = try ConvolutionPlan(inputChannels: inputs, rows: h, columns: w, kernelBlocks: kernel.count, kernelRows: 1, kernelColumns: 1,
                                           stated: nil, biasCount: outputs, spec: spec)
            XCTAssertGreaterThan(plan.inputsPerGroup, BlockedConvolution.pointwiseChunk)
            for level in supportedLevels {
                for threads in [1, 2] {
                    let execution = Execution(level: level, threads: threads, method: .direct)
                    var rows = Convolution.allocateOutput(plan, threads: 1)
                    rows.withUnsafeMutableBufferPointer { DirectConvolution.run(plan, input, kernel, bias: bias, execution: execution, into: $0.baseAddress!) }
                    for kernelValues in [nil, kernel.flatMap(\.values)] {
                        var output = Convolution.allocateOutput(plan, threads: 1)
                        output.withUnsafeMutableBufferPointer { base in
                            _ = OutputTargets.contiguous(base.baseAddress!, plan) {
                                BlockedConvolution.run(plan, input, kernel, kernelValues: kernelValues, bias: bias, execution: execution, into: $0)
                            }
                        }
                        if let index = output.indices.first(where: { output[$0].bitPattern != rows[$0].bitPattern }) {
                            XCTFail("\(groups) groups \(inputs)->\(outputs) \(h)x\(w) \(level) \(threads) threads, in place \(kernelValues != nil): "
                                    + "at \(index) \(output[index]) against the row method's \(rows[index]), \(seedNote)")
                        }
                    }
                }
            }
        }
    }

    /// A kernel read where it lies (`kernelValues`, PyTorch's layout; `WeightBlocks(rows:)`)
    /// gives the packed kernel's outputs bit for bit, at every kernel level and 1 and 2
    /// threads: groups whose last block is partial (it reads the next group's rows, or the
    /// padded copy for the last group), 1×1 kernels read in place, flip (`runCounted` reads
    /// the values only when turning changes nothing); values of the wrong count are not
    /// read, and an inf among them writes nothing.
    func testKernelReadInPlace() throws {
        var generator = SeededGenerator(seed: testSeed &+ 3)
        var checked = 0
        for trial in 0..<40 {
            guard let (plan, input, kernel, bias) = randomCase(&generator), !plan.spec.transposed else { continue }
            let blocks = plan.spec.flip ? kernel.map { $0.rotated180() } : kernel
            let values = blocks.flatMap(\.values)
            for level in supportedLevels {
                for threads in [1, 2] {
                    let execution = Execution(level: level, threads: threads, method: .direct)
                    func run(_ kernelValues: [Double]?, _ blocks: [Matrix] = blocks) -> [UInt64]? {
                        var output = Convolution.allocateOutput(plan, threads: 1)
                        let ran = output.withUnsafeMutableBufferPointer { base in
                            OutputTargets.contiguous(base.baseAddress!, plan) {
                                BlockedConvolution.run(plan, input, blocks, kernelValues: kernelValues, bias: bias, execution: execution, into: $0)
                            }
                        }
                        return ran ? output.map(\.bitPattern) : nil
                    }
                    let label = "trial \(trial) \(level) \(threads) threads \(plan.inputChannels)->\(plan.outputChannels) g\(plan.groups) k\(plan.kernelRows)x\(plan.kernelColumns), \(seedNote)"
                    let packed = try XCTUnwrap(run(nil), label)
                    XCTAssertEqual(run(values), packed, label)
                    XCTAssertEqual(run(Array(values.dropLast())), packed, label)
                    var (infinite, infiniteBlocks) = (values, blocks)
                    let at = values.count / 2, size = blocks[0].values.count
                    infinite[at] = .infinity
                    infiniteBlocks[at / size].values[at % size] = .infinity
                    if BlockedConvolution.readsInputInPlace(plan) {
                        // No tap reads padding: the inf is summed as the definition sums it.
                        XCTAssertNotNil(run(infinite, infiniteBlocks), label)
                        XCTAssertEqual(run(infinite, infiniteBlocks), run(nil, infiniteBlocks), label)
                    } else {
                        XCTAssertNil(run(infinite, infiniteBlocks), label)
                    }
                }
            }
            var memory = Convolution.allocateOutputMemory(plan, threads: 2, method: .direct, bias: bias)
            let execution = Execution(level: supportedLevels.last!, threads: 2, method: .direct)
            let read = Convolution.runCounted(plan, input, kernel, kernelValues: kernel.flatMap(\.values), bias: bias, execution: execution, into: &memory).output
            var whole = Convolution.allocateOutput(plan, threads: 2)
            let split = Convolution.runCounted(plan, input, kernel, bias: bias, execution: execution, into: &whole).output
            XCTAssertEqual(read.map { $0.values.map(\.bitPattern) }, split.map { $0.values.map(\.bitPattern) }, "trial \(trial) flip \(plan.spec.flip), \(seedNote)")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 15, seedNote)
    }

    /// A 1×1 kernel at stride 1 without padding reads no padding (`readsInputInPlace`), so
    /// inf and nan weights (and inputs) go through the blocked method, read in place and
    /// packed: each output is the fused sum of its terms in order from the bias, the
    /// definition's own inf, −inf or nan; groups, full and partial blocks, 1 and 2 threads.
    func testNonFiniteWeightsWithoutPadding() throws {
        var generator = SeededGenerator(seed: testSeed &+ 5)
        let nonFinite: [Double] = [.infinity, -.infinity, .nan, 0]
        for trial in 0..<12 {
            let groups = [1, 2, 3][trial % 3]
            let (inputs, outputs) = (groups * Int.random(in: 1...5, using: &generator), groups * Int.random(in: 2...13, using: &generator))
            let (h, w) = (Int.random(in: 1...4, using: &generator), Int.random(in: 1...70, using: &generator))
            // `specials` values replaced by inf, −inf or nan (and, in the input, zeros: inf·0 is nan).
            func values(_ count: Int, specials: Int, zeros: Bool = false) -> [Double] {
                var values = (0..<count).map { _ in Double.random(in: -1...1, using: &generator) }
                for _ in 0..<specials {
                    values[Int.random(in: 0..<values.count, using: &generator)] = nonFinite[0..<(zeros ? 4 : 3)].randomElement(using: &generator)!
                }
                return values
            }
            let kernelValues = values(outputs * inputs / groups, specials: 1 + trial % 3)
            let input = (0..<inputs).map { _ in Matrix(rows: h, columns: w, values: values(h * w, specials: trial % 2 * 2, zeros: true)) }
            let kernel = kernelValues.map { Matrix(rows: 1, columns: 1, values: [$0]) }
            let bias: [Double]? = trial % 4 < 2 ? (0..<outputs).map { _ in Double.random(in: -1...1, using: &generator) } : nil
            var spec = ConvolutionSpec()
            spec.groups = groups
            let plan = try ConvolutionPlan(inputChannels: inputs, rows: h, columns: w, kernelBlocks: kernel.count, kernelRows: 1, kernelColumns: 1,
                                           stated: nil, biasCount: bias?.count, spec: spec)
            XCTAssertTrue(BlockedConvolution.readsInputInPlace(plan) && BlockedConvolution.applies(plan, kernel, bias: bias))
            func canonical(_ x: Double) -> UInt64 { x.isNaN ? Double.nan.bitPattern : x.bitPattern }
            // Fused where the level has FMA (the portable one adds each product rounded).
            func expected(fused: Bool) -> [UInt64] {
                (0..<outputs).flatMap { o in
                    (0..<(h * w)).map { m in
                        canonical(Convolution.terms(plan, input, kernel, output: o, row: m / w, column: m % w)
                            .reduce(bias?[o] ?? 0) { fused ? $0.addingProduct($1.weight, $1.value) : $0 + $1.weight * $1.value })
                    }
                }
            }
            let (fused, unfused) = (expected(fused: true), expected(fused: false))
            XCTAssertTrue(fused.contains { !Double(bitPattern: $0).isFinite }, "trial \(trial)")
            for level in supportedLevels {
                let expected = level == .portable ? unfused : fused
                for threads in [1, 2] {
                    for values in [kernelValues, nil] {
                        var output = Convolution.allocateOutput(plan, threads: 1)
                        let execution = Execution(level: level, threads: threads, method: .direct)
                        let ran = output.withUnsafeMutableBufferPointer { base in
                            OutputTargets.contiguous(base.baseAddress!, plan) {
                                BlockedConvolution.run(plan, input, kernel, kernelValues: values, bias: bias, execution: execution, into: $0)
                            }
                        }
                        let label = "trial \(trial) \(level) \(threads) threads \(inputs)->\(outputs) g\(groups) \(h)x\(w) in place \(values != nil), \(seedNote)"
                        XCTAssertTrue(ran, label)
                        let got = output.map(canonical)
                        if let m = got.indices.first(where: { got[$0] != expected[$0] }) {
                            XCTFail("\(label): output \(m) (channel \(m / (h * w))) is \(Double(bitPattern: got[m])), not \(Double(bitPattern: expected[m]))")
                        }
                    }
                }
            }
        }
    }

    /// Every weight `accumulateChannelBlock` reads from a kernel in place lies in the kernel's
    /// values or in the last block's padded copy (never past the array's end), and each real
    /// output channel's row is its own: groups with full and partial last blocks, 1×1 and 3×3,
    /// at every kernel level (4 and 6 channels a block).
    func testWeightsInPlaceStayInTheArray() throws {
        for (inputs, outputs, groups, k) in [(3, 6, 1, 1), (4, 7, 1, 3), (6, 16, 2, 1), (9, 15, 3, 3), (2, 26, 2, 1), (5, 1 * 13, 1, 2)] {
            var spec = ConvolutionSpec()
            spec.groups = groups
            let plan = try ConvolutionPlan(inputChannels: inputs, rows: 6, columns: 7, kernelBlocks: outputs * inputs / groups, kernelRows: k,
                                           kernelColumns: k, stated: nil, biasCount: nil, spec: spec)
            let values = (0..<(outputs * inputs / groups * k * k)).map(Double.init)
            for level in supportedLevels {
                let geometry = try XCTUnwrap(BlockedConvolution.Geometry(plan, width: level.channelBlockPositions))
                let schedule = BlockedConvolution.Schedule(plan, positions: geometry.positions, tapsPerChannel: k * k, footprintRows: k, reach: k - 1,
                                                           level: level, threads: 1)
                let label = "\(inputs)->\(outputs) g\(groups) k\(k) \(level)"
                BlockedConvolution.withWeightsInPlace(values, plan, schedule) { blocks in
                    values.withUnsafeBufferPointer { array in
                        let range = array.baseAddress!..<(array.baseAddress! + array.count)
                        for b in 0..<(plan.groups * schedule.blocksPerGroup) {
                            let first = blocks.block(b)
                            for o in 0..<schedule.channels {
                                for t in 0..<schedule.taps {
                                    let at = first + o * blocks.rowStride + t * blocks.tapStride
                                    let padded = blocks.last.map { (at - $0) >= 0 && (at - $0) < schedule.channels * schedule.taps } ?? false
                                    XCTAssertTrue(range.contains(at) || padded, "\(label): block \(b) row \(o) tap \(t)")
                                    // A real channel's weight is its own (row g·Cout/g + local, tap t).
                                    let (g, local) = (b / schedule.blocksPerGroup, b % schedule.blocksPerGroup * schedule.channels + o)
                                    if local < plan.outputsPerGroup {
                                        XCTAssertEqual(at.pointee, Double((g * plan.outputsPerGroup + local) * schedule.taps + t), "\(label)")
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Kernels of 4096 blocks and more are packed on the threads, block by block
    /// (`packedWeights`, `phaseWeights`), into fresh memory that only the slots past a group's
    /// last output channel are zero-filled in: forward and transposed, groups whose channel
    /// count leaves a block part empty, and a kernel with one inf (no weights then).
    func testWeightsPackedOnTheThreads() throws {
        var generator = SeededGenerator(seed: testSeed &+ 2)
        func values(_ count: Int) -> [Double] { (0..<count).map { _ in Double.random(in: -1...1, using: &generator) } }
        for (inputs, outputs, groups, transposed) in [(96, 86, 2, false), (70, 65, 1, true), (66, 130, 2, true)] {
            var spec = ConvolutionSpec()
            spec.groups = groups
            spec.padding = .explicit([PadPair(1, 1), PadPair(1, 1)])
            if transposed { (spec.transposed, spec.stride) = (true, DimSize(2)) }
            let (h, w, k) = (5, 6, 3)
            let input = (0..<inputs).map { _ in Matrix(rows: h, columns: w, values: values(h * w)) }
            var kernel = (0..<(transposed ? inputs * outputs / groups : outputs * inputs / groups)).map { _ in Matrix(rows: k, columns: k, values: values(k * k)) }
            XCTAssertGreaterThanOrEqual(kernel.count, 4096)
            let bias = values(outputs)
            let plan = try ConvolutionPlan(inputChannels: inputs, rows: h, columns: w, kernelBlocks: kernel.count, kernelRows: k, kernelColumns: k,
                                           stated: nil, biasCount: outputs, spec: spec)
            XCTAssertEqual(plan.outputChannels, outputs)
            let magnitude = Convolution.reference(plan, input.map { Matrix(rows: h, columns: w, values: $0.values.map(abs)) },
                                                  kernel.map { Matrix(rows: k, columns: k, values: $0.values.map(abs)) }, bias: bias.map(abs))
            assertAgrees(plan, input, kernel, bias, expected: Convolution.reference(plan, input, kernel, bias: bias), magnitude: magnitude,
                         label: "packed on the threads")
            kernel[kernel.count - 5].values[4] = .infinity
            var output = Convolution.allocateOutput(plan, threads: 1)
            let ran = output.withUnsafeMutableBufferPointer { base in
                OutputTargets.contiguous(base.baseAddress!, plan) {
                    BlockedConvolution.run(plan, input, kernel, bias: bias, execution: Execution(level: supportedLevels.last!, threads: 2, method: .direct), into: $0)
                }
            }
            XCTAssertFalse(ran, "\(inputs)->\(outputs) transposed \(transposed): a weight is inf")
        }
    }

    /// inf and nan in the input: the same outputs as the reference (padding zeros, which the
    /// reference skips, are multiplied here by a finite kernel, which changes nothing).
    func testNonFiniteInputsAsReference() {
        var generator = SeededGenerator(seed: testSeed &+ 1)
        for trial in 0..<20 {
            guard var (plan, input, kernel, bias) = randomCase(&generator) else { continue }
            for _ in 0..<3 {
                let c = Int.random(in: 0..<input.count, using: &generator), at = Int.random(in: 0..<input[c].values.count, using: &generator)
                input[c].values[at] = [Double.infinity, -.infinity, .nan].randomElement(using: &generator)!
            }
            let expected = Convolution.reference(plan, input, kernel, bias: bias).flatMap(\.values)
            let got = Convolution.run(plan, input, kernel, bias: bias, execution: Execution(level: supportedLevels.last!, threads: 2, method: .direct)).flatMap(\.values)
            for (x, y) in zip(got, expected) where !(x.isNaN && y.isNaN) && (x.isFinite != y.isFinite || (x.isInfinite && x != y)) {
                XCTFail("trial \(trial) \(plan.spec): \(x) vs \(y), \(seedNote)")
                break
            }
            _ = (plan, bias)
        }
    }

    /// What the blocked method leaves to the row method: one channel in and out, transposed
    /// layers with one output channel per group,
    /// kernels holding inf or nan (a padding zero times inf is nan, which PyTorch's padding
    /// gives but `run` does not: padding is skipped), and a −0 bias.
    func testAppliesOnlyWhereExact() throws {
        var spec = ConvolutionSpec()
        spec.padding = .explicit([PadPair(1, 1), PadPair(1, 1)])
        let kernel = (0..<8).map { _ in Matrix(rows: 3, columns: 3, repeating: 1) }
        let plan = try ConvolutionPlan(inputChannels: 2, rows: 5, columns: 5, kernelBlocks: 8, kernelRows: 3, kernelColumns: 3,
                                       stated: nil, biasCount: nil, spec: spec)
        XCTAssertTrue(BlockedConvolution.applies(plan, kernel, bias: nil))
        XCTAssertTrue(BlockedConvolution.applies(plan, kernel, bias: [0, 1, 2, 3]))
        XCTAssertFalse(BlockedConvolution.applies(plan, kernel, bias: [0, -0.0, 2, 3]))
        var infinite = kernel
        infinite[3].values[4] = .infinity
        XCTAssertFalse(BlockedConvolution.applies(plan, infinite, bias: nil))
        spec.groups = 2
        let depthwise = try ConvolutionPlan(inputChannels: 2, rows: 5, columns: 5, kernelBlocks: 2, kernelRows: 3, kernelColumns: 3,
                                            stated: nil, biasCount: nil, spec: spec)
        XCTAssertTrue(BlockedConvolution.applies(depthwise, Array(kernel[0..<2]), bias: nil))
        spec.groups = 1
        let single = try ConvolutionPlan(inputChannels: 1, rows: 5, columns: 5, kernelBlocks: 1, kernelRows: 3, kernelColumns: 3,
                                         stated: nil, biasCount: nil, spec: spec)
        XCTAssertFalse(BlockedConvolution.applies(single, Array(kernel[0..<1]), bias: nil))
        spec.transposed = true
        let transposed = try ConvolutionPlan(inputChannels: 2, rows: 5, columns: 5, kernelBlocks: 8, kernelRows: 3, kernelColumns: 3,
                                             stated: nil, biasCount: nil, spec: spec)
        XCTAssertTrue(BlockedConvolution.applies(transposed, kernel, bias: nil))
        let transposedSingle = try ConvolutionPlan(inputChannels: 2, rows: 5, columns: 5, kernelBlocks: 2, kernelRows: 3, kernelColumns: 3,
                                                   stated: nil, biasCount: nil, spec: spec)
        XCTAssertFalse(BlockedConvolution.applies(transposedSingle, Array(kernel[0..<2]), bias: nil))
    }
}
