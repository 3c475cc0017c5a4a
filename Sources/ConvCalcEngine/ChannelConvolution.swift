import ConvCalcCore
/// A multi-channel convolution resolved once: channels, groups, which kernel block links
/// which input channel to which output channel, and the output size.
///
/// Kernel blocks follow PyTorch's weight layout, the order they appear in a file:
/// forward `Cout × (Cin/g) × kh × kw` (block `o·(Cin/g) + i`), transposed
/// `Cin × (Cout/g) × kh × kw` (block `c·(Cout/g) + j`), as `ConvTranspose2d`.
/// Output channel `o` of group `G = o / (Cout/g)` reads input channels
/// `G·(Cin/g) ..< (G + 1)·(Cin/g)`; `g = Cin` is a depthwise convolution.
public struct ConvolutionPlan: Sendable {
    public let spec: ConvolutionSpec
    public let inputChannels: Int
    public let outputChannels: Int
    public let inputRows: Int
    public let inputColumns: Int
    public let kernelRows: Int
    public let kernelColumns: Int
    /// The second dimension of the kernel layout: Cin/g forward, Cout/g transposed.
    public let inner: Int
    public let rowStep: DimensionStep
    public let columnStep: DimensionStep

    public var groups: Int { spec.groups }
    public var inputsPerGroup: Int { inputChannels / groups }
    public var outputsPerGroup: Int { outputChannels / groups }
    public var outputRows: Int { rowStep.output }
    public var outputColumns: Int { columnStep.output }
    /// The kernel's shape as PyTorch writes it.
    public var kernelShape: [Int] { [blockCount / inner, inner, kernelRows, kernelColumns] }
    public var blockCount: Int { spec.transposed ? inputChannels * inner : outputChannels * inner }
    /// Multiply–adds of the direct method: every output times the taps it sums (transposed:
    /// every input times its taps), as a Double (it may exceed 64 bits).
    public var directMultiplyAdds: Double {
        let taps = Double(kernelRows) * Double(kernelColumns)
        if spec.transposed {
            return Double(inputChannels) * Double(inputRows) * Double(inputColumns) * Double(outputsPerGroup) * taps
        }
        // Zero padding: kernel rows in the padding are skipped (at most min(kh, H) are read per
        // output row), and a row's border is gathered or scattered, whichever is shorter, so a
        // row costs at most kw taps times min(outputs, input columns) each way.
        if spec.paddingMode == .zeros {
            return Double(outputChannels) * Double(outputRows) * Double(inputsPerGroup) * Double(min(kernelRows, inputRows))
                * Double(kernelColumns) * Double(min(outputColumns, inputColumns)) * 2
        }
        return Double(outputChannels) * Double(outputRows) * Double(outputColumns) * Double(inputsPerGroup) * taps
    }

    /// - Parameters:
    ///   - stated: the `# shape AxBxCxD` of the kernel file, checked when given.
    /// - Throws: `ConvolutionError` when channels, groups, blocks or bias do not fit.
    public init(inputChannels: Int, rows: Int, columns: Int, kernelBlocks: Int, kernelRows: Int, kernelColumns: Int,
                stated: [Int]?, biasCount: Int?, spec: ConvolutionSpec) throws {
        let g = spec.groups
        guard inputChannels % g == 0 else {
            throw ConvolutionError.groupsDivideInput(channels: inputChannels, groups: g)
        }
        if spec.transposed {
            guard kernelBlocks % inputChannels == 0 else {
                throw ConvolutionError.channels("a transposed kernel is Cin × (Cout/g) blocks (PyTorch ConvTranspose layout); \(kernelBlocks) blocks do not divide among \(inputChannels) input channels")
            }
            inner = kernelBlocks / inputChannels
            outputChannels = g * inner
        } else {
            let perGroup = inputChannels / g
            guard kernelBlocks % perGroup == 0 else {
                throw ConvolutionError.kernelBlocks(blocks: kernelBlocks, inputChannels: inputChannels, groups: g)
            }
            inner = perGroup
            outputChannels = kernelBlocks / perGroup
            guard outputChannels % g == 0 else {
                throw ConvolutionError.groupsDivideOutput(channels: outputChannels, groups: g)
            }
        }
        let shape = [kernelBlocks / inner, inner, kernelRows, kernelColumns]
        if let stated, stated != shape {
            throw ConvolutionError.channels("the kernel file states shape \(stated.map(String.init).joined(separator: "x")) but holds \(shape.map(String.init).joined(separator: "x")) for \(inputChannels) input channel\(inputChannels == 1 ? "" : "s") and \(g) group\(g == 1 ? "" : "s")")
        }
        if let biasCount, biasCount != outputChannels {
            throw ConvolutionError.biasCount(values: biasCount, outputChannels: outputChannels)
        }
        self.spec = spec
        self.inputChannels = inputChannels
        (inputRows, inputColumns) = (rows, columns)
        (self.kernelRows, self.kernelColumns) = (kernelRows, kernelColumns)
        (rowStep, columnStep) = try Convolution.steps(rows: rows, columns: columns, kernelRows: kernelRows, kernelColumns: kernelColumns, spec: spec)
        let total = try Checked.mul(outputChannels, Checked.mul(rowStep.output, columnStep.output))
        guard total <= Convolution.elementLimit else { throw ConvolutionError.tooLarge(what: "output", count: total) }
    }

    /// The kernel block linking input channel `c` to output channel `o`, nil across groups.
    public func block(input c: Int, output o: Int) -> Int? {
        let group = o / outputsPerGroup
        guard c / inputsPerGroup == group else { return nil }
        return spec.transposed
            ? c * inner + (o - group * outputsPerGroup)
            : o * inner + (c - group * inputsPerGroup)
    }

    /// The input channels output channel `o` reads.
    public func inputs(of o: Int) -> Range<Int> {
        let group = o / outputsPerGroup
        return (group * inputsPerGroup)..<((group + 1) * inputsPerGroup)
    }
}

/// One product in the sum that makes an output element.
public struct ConvolutionTerm: Equatable, Sendable {
    public var channel: Int
    /// The input position read, or nil for a zero from padding.
    public var sourceRow: Int?
    public var sourceColumn: Int?
    /// Position in the padded input (forward); the input position (transposed).
    public var paddedRow: Int
    public var paddedColumn: Int
    public var block: Int
    public var kernelRow: Int
    public var kernelColumn: Int
    public var value: Double
    public var weight: Double
}

extension Convolution {
    /// Output sizes and padding of a 2-D convolution, with PyTorch's padding-mode limits.
    static func steps(rows: Int, columns: Int, kernelRows: Int, kernelColumns: Int, spec: ConvolutionSpec) throws -> (DimensionStep, DimensionStep) {
        let oneD = rows == 1 && kernelRows == 1
        var padding = spec.padding
        if oneD, case let .explicit(pairs) = padding, pairs.count == 1 {
            padding = .explicit([PadPair(0, 0), pairs[0]])
        }
        var layer = Layer(type: spec.transposed ? .tconv : .conv, token: "run")
        layer.kernel = DimSize([kernelRows, kernelColumns])
        layer.dilation = spec.dilation
        layer.padding = padding
        // 1-D: a single stride and output padding of a transposed run act along the row only,
        // as conv_transpose1d's (a row stride would make rows of zeros with `same`, in·s; a
        // forward run's single row is one output row whatever its stride).
        // An output padding given per dimension (rows x columns) keeps the stride's rows.
        layer.stride = oneD && spec.transposed && spec.stride.isUniform && spec.outputPadding.isUniform ? DimSize([1, spec.stride.values[0]]) : spec.stride
        layer.outputPadding = oneD && spec.outputPadding.isUniform ? DimSize([0, spec.outputPadding.values[0]]) : spec.outputPadding
        let geometry = LayerGeometry(layer: layer, dims: 2)
        try geometry.validate()
        let rowStep = try geometry.step(0, input: rows)
        let columnStep = try geometry.step(1, input: columns)
        for step in [rowStep, columnStep] {
            let padded = try Checked.add(step.input, Checked.add(step.pad.before, step.pad.after))
            guard padded <= elementLimit else { throw ConvolutionError.tooLarge(what: "padded input along one dimension", count: padded) }
        }
        if spec.transposed {
            guard spec.paddingMode == .zeros else {
                throw ConvolutionError.transposedNeedsZeros
            }
        } else {
            for (step, size, noun) in [(rowStep, rows, "rows"), (columnStep, columns, "columns")] {
                let widest = max(step.pad.before, step.pad.after)
                switch spec.paddingMode {
                case .reflect where widest >= size:
                    throw ConvolutionError.paddingTooWide(.reflect, padding: widest, size: size, noun: noun)
                case .circular where widest > size:
                    throw ConvolutionError.paddingTooWide(.circular, padding: widest, size: size, noun: noun)
                default: break
                }
            }
        }
        return (rowStep, columnStep)
    }

    /// Multi-channel convolution with groups and an optional bias per output channel.
    ///
    /// `y[o] = b[o] + Σ_{c ∈ inputs(o)} x[c] ⋆ k[block(c, o)]`, ⋆ the 2-D operation of `run`.
    public static func run(_ input: [Matrix], kernel: [Matrix], stated: [Int]? = nil, bias: [Double]? = nil,
                           spec: ConvolutionSpec, execution: Execution = Execution()) throws -> [Matrix] {
        guard let first = input.first, let kernelFirst = kernel.first else { throw ConvolutionError.emptyOperand }
        let plan = try ConvolutionPlan(inputChannels: input.count, rows: first.rows, columns: first.columns,
                                       kernelBlocks: kernel.count, kernelRows: kernelFirst.rows, kernelColumns: kernelFirst.columns,
                                       stated: stated, biasCount: bias?.count, spec: spec)
        return run(plan, input, kernel, bias: bias, execution: execution)
    }

    /// Runs a planned convolution by the method `execution` asks for (`auto`: see
    /// `FourierConvolution.prefersFourier`). Flip turns every kernel block by 180° first.
    public static func run(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernel: [Matrix], bias: [Double]?,
                           execution: Execution = Execution()) -> [Matrix] {
        var output = allocateOutput(plan, threads: execution.threads)
        return run(plan, input, kernel, bias: bias, execution: execution, into: &output)
    }

    /// The output's memory, all channels in one array, written once (zeros) by `threads`
    /// threads, each mapping the pages of its part first (`LargeArray.populate`): fresh
    /// memory's first-touch cost is paid here, apart from the arithmetic.
    public static func allocateOutput(_ plan: ConvolutionPlan, threads: Int) -> [Double] {
        let count = plan.outputChannels * plan.outputRows * plan.outputColumns
        return LargeArray.doubles(count: count) { pointer in
            let parts = count < 1 << 18 ? 1 : threads
            ParallelRanges.run(count: parts, threads: parts) { range in
                for part in range {
                    let slice = (part * count / parts)..<((part + 1) * count / parts)
                    LargeArray.populate(pointer + slice.lowerBound, count: slice.count, threads: 1)
                    (pointer + slice.lowerBound).initialize(repeating: 0, count: slice.count)
                }
            }
        }
    }

    /// The output's memory for `run` with the method `sized` asks, as `allocateOutput(_:threads:method:bias:)`
    /// makes it, with one array a channel (`channels`) when the channel-blocked method runs:
    /// its result is then the output as it stands, without copying it out of one array.
    public static func allocateOutputMemory(_ plan: ConvolutionPlan, threads: Int, method sized: ConvolutionMethod, bias: [Double]?) -> OutputMemory {
        guard OutputMemory.takesChannels(plan, method: method(plan, sized), bias: bias) else {
            return .whole(allocateOutput(plan, threads: threads, method: sized, bias: bias))
        }
        return .channels(zeroedChannelArrays(plan, threads: threads))
    }

    /// One array of zeros per output channel, the zeros written from 2^16 values on by
    /// `threads` threads, thread t over its share of every channel's positions (t·HW/threads
    /// up to the next thread's): the share of the blocks of positions (or bands of rows) that
    /// `SharedItems` gives thread t first when the channel-blocked method runs. The lines a
    /// thread then writes are in its own core's cache; whole channels a thread, half of every
    /// thread's writes went to lines the other core held.
    static func zeroedChannelArrays(_ plan: ConvolutionPlan, threads: Int) -> [[Double]] {
        let (count, size) = (plan.outputChannels, plan.outputRows * plan.outputColumns)
        var arrays = (0..<count).map { _ in [Double](unsafeUninitializedCapacity: size) { _, initialized in initialized = size } }
        let parts = count * size < 1 << 16 ? 1 : max(1, min(threads, size))
        Pinned.mutableBaseAddresses(&arrays) { channels in
            ParallelRanges.run(count: parts, threads: parts) { range in
                for part in range {
                    let (first, end) = (part * size / parts, (part + 1) * size / parts)
                    for o in 0..<count { (channels[o] + first).update(repeating: 0, count: end - first) }
                }
            }
        }
        return arrays
    }

    /// One array per output channel, `make(o)` for channel o, made by `threads` threads from
    /// 2^16 values on (most of the time is the first touch of the arrays' fresh memory, which
    /// both cores can pay at once).
    static func channelArrays(_ plan: ConvolutionPlan, threads: Int, _ make: @escaping (Int) -> [Double]) -> [[Double]] {
        let count = plan.outputChannels
        return [[Double]](unsafeUninitializedCapacity: count) { arrays, initialized in
            let first = arrays.baseAddress!
            ParallelRanges.run(count: count, threads: count * plan.outputRows * plan.outputColumns < 1 << 16 ? 1 : threads) { range in
                for o in range { (first + o).initialize(to: make(o)) }
            }
            initialized = count
        }
    }

    /// `runCounted(_:_:_:bias:execution:survey:into:)` into memory from `allocateOutputMemory`.
    ///
    /// - Parameter kernelValues: `kernel`'s values, block after block, in one array, when the
    ///   caller has them so (a file's values as read): the channel-blocked method reads its
    ///   weights there instead of copying them out of the blocks (`BlockedConvolution.run`).
    public static func runCounted(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernel: [Matrix], kernelValues: [Double]? = nil, bias: [Double]?,
                                  execution: Execution, survey: OperandSurvey? = nil, into memory: inout OutputMemory) -> (output: [Matrix], threads: Int) {
        switch memory {
        case var .whole(values):
            memory = .whole([])   // `values` is then the array's only reference: no copy on write
            return runCounted(plan, input, kernel, bias: bias, execution: execution, survey: survey, into: &values)
        case var .channels(arrays):
            memory = .channels([])
            let turned = plan.spec.flip && plan.kernelRows * plan.kernelColumns > 1
            let blocks = turned ? kernel.map { $0.rotated180() } : kernel
            let ran = OutputTargets.pinned(&arrays) {
                BlockedConvolution.run(plan, input, blocks, kernelValues: turned ? nil : kernelValues, bias: bias, execution: execution, into: $0)
            }
            guard ran else {
                // A kernel value is inf or nan where a tap reads padding: the row method, into one array.
                var values = allocateOutput(plan, threads: execution.threads)
                return runCounted(plan, input, kernel, bias: bias, execution: execution, survey: survey, into: &values)
            }
            return (arrays.map { Matrix(rows: plan.outputRows, columns: plan.outputColumns, values: $0) }, BlockedConvolution.threadCount(plan, execution))
        }
    }

    /// The output's memory for `run` with the method `sized` asks (`MethodChoice.sized`):
    /// its pages mapped (`LargeArray.populate`, from 16 MiB) but not written when the run goes to the direct
    /// row method (`DirectConvolution`) or the FFT in tile rows (`FourierRows`), which write
    /// every output element exactly once (at 4096², K 3 a separate zero fill took 41-46 ms
    /// against a 50 ms compute; mapping the pages takes about 20 ms on two threads, half the
    /// time of faulting them in one write at a time, which the compute then did; issue #21).
    /// Zero-filled (`allocateOutput(_:threads:)`) for every other path.
    public static func allocateOutput(_ plan: ConvolutionPlan, threads: Int, method sized: ConvolutionMethod, bias: [Double]?) -> [Double] {
        guard writesEveryOutput(plan, method: sized, bias: bias) else { return allocateOutput(plan, threads: threads) }
        let count = plan.outputChannels * plan.outputRows * plan.outputColumns
        return LargeArray.doubles(count: count) { pointer in
            // Below 16 MiB the faults cost less than waking a second thread for the mapping
            // (0.05 to 0.9 ms here): 512², K 3 took 1.0 ms to allocate mapped, 0.3 ms not.
            if count >= 1 << 21 { LargeArray.populate(pointer, count: count, threads: threads) }
        }
    }

    /// Whether `run` with this sized method certainly writes every output element: it runs
    /// `DirectConvolution` when the sizes choose direct (then no survey is made and the values
    /// cannot change it) and the channel-blocked method does not apply. A single-channel FFT in tile rows (`FourierRows`) writes every output element too (each
    /// tile row by the FFT, the band's direct run or its bias), as does the direct method it
    /// may turn to on the values.
    static func writesEveryOutput(_ plan: ConvolutionPlan, method sized: ConvolutionMethod, bias: [Double]?) -> Bool {
        let sized = method(plan, sized)
        return (sized == .direct || (sized == .fft && FourierRows.applies(plan))) && !BlockedConvolution.fits(plan, bias: bias)
    }

    /// The outputs whose window reads zero padding through an inf or nan weight set to nan,
    /// as the definition gives them (`y = b + Σ xp·k`, xp the input padded with zeros:
    /// 0·inf = nan, as PyTorch's conv2d): the methods skip the padding's taps, whose 0·w is
    /// ±0 for a finite w and leaves every sum as it is. Output row i reads padding through
    /// kernel row a when `i·sh + a·dh − pt` < 0 or ≥ H: the rows below the largest first
    /// row inside, and from the smallest row past the input, over the non-finite weights of
    /// the channel; columns alike. `blocks`: the kernel as run (turned for flip).
    static func markPaddingProducts(_ plan: ConvolutionPlan, _ blocks: [Matrix], into out: UnsafeMutablePointer<Double>) {
        let (r, c) = (plan.rowStep, plan.columnStep)
        guard !plan.spec.transposed, plan.spec.paddingMode == .zeros, r.pad.before + r.pad.after + c.pad.before + c.pad.after > 0 else { return }
        // Kernel row (column) t reads the input from output row ⌈(pb − t·d)/s⌉ on, and past it from ⌈(n + pb − t·d)/s⌉ on.
        func inside(_ t: Int, _ step: DimensionStep) -> (first: Int, end: Int) {
            func ceiling(_ x: Int) -> Int { countUpTo(x, step: step.stride) }   // ⌈x/s⌉ for x > 0, no overflow for any stride
            return (min(step.output, ceiling(step.pad.before - t * step.dilation)), min(step.output, ceiling(step.input + step.pad.before - t * step.dilation)))
        }
        for o in 0..<plan.outputChannels {
            var (top, bottom, left, right) = (0, plan.outputRows, 0, plan.outputColumns)
            for channel in plan.inputs(of: o) {
                guard let b = plan.block(input: channel, output: o) else { continue }
                let k = blocks[b]
                for a in 0..<k.rows {
                    for t in 0..<k.columns where !k[a, t].isFinite {
                        let (rows, columns) = (inside(a, r), inside(t, c))
                        (top, bottom) = (max(top, rows.first), min(bottom, rows.end))
                        (left, right) = (max(left, columns.first), min(right, columns.end))
                    }
                }
            }
            let channel = out + o * plan.outputRows * plan.outputColumns
            for i in 0..<plan.outputRows {
                let row = channel + i * plan.outputColumns
                if i < top || i >= bottom {
                    row.update(repeating: .nan, count: plan.outputColumns)
                } else {
                    row.update(repeating: .nan, count: min(left, plan.outputColumns))
                    if right < plan.outputColumns { (row + max(right, 0)).update(repeating: .nan, count: plan.outputColumns - max(right, 0)) }
                }
            }
        }
    }

    /// Runs into memory from `allocateOutput` (every element is overwritten).
    ///
    /// - Parameter survey: the operands' `OperandSurvey`, when the caller made one to choose
    ///   the method (`method(_:_:survey:)`); made here otherwise. With the FFT, inf, −inf and
    ///   nan input values are read as 0 and the outputs whose window reads one are summed
    ///   again as the direct method sums them (`FourierPatch`), so both methods give the same
    ///   inf, −inf and nan.
    public static func run(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernel: [Matrix], bias: [Double]?,
                           execution: Execution, survey: OperandSurvey? = nil, into output: inout [Double]) -> [Matrix] {
        runCounted(plan, input, kernel, bias: bias, execution: execution, survey: survey, into: &output).output
    }

    /// `run(_:_:_:bias:execution:survey:into:)`, also returning how many threads computed
    /// (the direct row method runs small work on fewer threads than `execution.threads`).
    public static func runCounted(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernel: [Matrix], bias: [Double]?, execution: Execution,
                                  survey: OperandSurvey? = nil, into output: inout [Double]) -> (output: [Matrix], threads: Int) {
        precondition(output.count == plan.outputChannels * plan.outputRows * plan.outputColumns, "output from allocateOutput")
        let blocks = plan.spec.flip ? kernel.map { $0.rotated180() } : kernel
        // The values decide too; a caller that did not check the work limit gets direct.
        let survey = survey ?? Convolution.survey(plan, execution.method, input, kernel, bias: bias, threads: execution.threads)
        let (used, patch) = survey.map { (try? FourierConvolution.choose(plan, execution.method, $0)) ?? (.direct, nil) } ?? (.direct, nil)
        let finiteOnly = survey.map { $0.nonFiniteCount > 0 } ?? false
        var threads = execution.threads
        output.withUnsafeMutableBufferPointer { buffer in
            let pointer = buffer.baseAddress!
            switch used {
            case .fft: fourier(plan, input, blocks, bias: bias, execution: execution, finiteOnly: finiteOnly, patch: patch, into: pointer)
            default:
                if OutputTargets.contiguous(pointer, plan, { BlockedConvolution.run(plan, input, blocks, bias: bias, execution: execution, into: $0) }) {
                    threads = BlockedConvolution.threadCount(plan, execution)
                } else {
                    threads = DirectConvolution.run(plan, input, blocks, bias: bias, execution: execution, into: pointer)
                }
            }
            if survey.map({ !$0.kernelIsFinite }) ?? true { markPaddingProducts(plan, blocks, into: pointer) }
        }
        return (channels(output, plan, threads: execution.threads), threads)
    }

    /// The FFT's part of `run`: the FFT (inf, −inf and nan input values read as 0 when
    /// `finiteOnly`), integer results rounded back, then the outputs in `patch` summed again.
    static func fourier(_ plan: ConvolutionPlan, _ input: [Matrix], _ blocks: [Matrix], bias: [Double]?, execution: Execution,
                        finiteOnly: Bool, patch: FourierPatch?, into pointer: UnsafeMutablePointer<Double>) {
        // One channel, taller than `choiceHeight`: in tile rows, as a stream runs it.
        if let rows = FourierRows(plan, block: blocks[0], bias: bias?.first, execution: execution) {
            do {
                try rows.run(plan, input[0], into: pointer)
                return
            } catch {}   // a band that does not fit its plan (never expected): the whole input at once
        }
        FourierConvolution.run(plan, input, blocks, bias: bias, execution: execution, finiteOnly: finiteOnly, into: pointer)
        if let bound = FourierConvolution.integerBound(plan, input, blocks, bias: bias, finiteOnly: finiteOnly), bound < 0x1p40 {
            // Integers in, integers out: the FFT's rounding error (far below 1e-3 here) is removed.
            for index in 0..<(plan.outputChannels * plan.outputRows * plan.outputColumns) {
                pointer[index] = pointer[index].rounded() + 0   // + 0: no "-0" from a tiny negative error
            }
        }
        patch?.apply(plan, input, blocks, bias: bias, threads: execution.threads, into: pointer)
    }

    /// The method the sizes choose: `direct` or `fft` as asked (fft only when its buffers fit
    /// the memory limit, else direct), or for `auto` the one estimated faster (a tall
    /// single-channel input weighed at a fixed height, `choicePlan`, as a stream must).
    public static func method(_ plan: ConvolutionPlan, _ asked: ConvolutionMethod) -> ConvolutionMethod {
        switch asked {
        case .direct: return .direct
        case .fft: return FourierConvolution.fits(plan) ? .fft : .direct
        case .auto: return choicePlan(plan).map(FourierConvolution.prefersFourier) == true ? .fft : .direct
        }
    }

    /// The operands' survey when the sizes choose the FFT (`method(_:_:)`); nil when they
    /// choose the direct method, which the values cannot change (no scan is made then).
    public static func survey(_ plan: ConvolutionPlan, _ asked: ConvolutionMethod, _ input: [Matrix], _ kernel: [Matrix],
                              bias: [Double]?, threads: Int = 1) -> OperandSurvey? {
        method(plan, asked) == .fft ? OperandSurvey(plan, input, kernel, bias: bias, threads: threads) : nil
    }

    /// The method that runs on these values (what `run` with this survey uses): the sizes'
    /// choice, turned to `direct` when the kernel holds inf or nan, when values could overflow
    /// the FFT's sums, or when summing again the outputs that read an input inf or nan would
    /// cost more than the direct method (`FourierConvolution.choose`).
    ///
    /// - Throws: `ConvolutionError.fourierCannot` when the values rule the FFT out and the
    ///   direct method is beyond `workLimit`.
    public static func method(_ plan: ConvolutionPlan, _ asked: ConvolutionMethod, survey: OperandSurvey) throws -> ConvolutionMethod {
        try FourierConvolution.choose(plan, asked, survey).0
    }
}

/// The output's memory before a run (`Convolution.allocateOutputMemory`), first touched
/// apart from the arithmetic: every channel in one array, or one array a channel.
public enum OutputMemory {
    case whole([Double])
    case channels([[Double]])

    /// At most this many output channels are held one array each (the arrays are pinned by
    /// nested calls, four a stack frame: `OutputTargets.pinned`).
    static let channelLimit = 1024

    /// Whether the output is made one array a channel: several channels, and the sizes choose
    /// the direct method (`used`) with the channel-blocked method applying.
    static func takesChannels(_ plan: ConvolutionPlan, method used: ConvolutionMethod, bias: [Double]?) -> Bool {
        (2...channelLimit).contains(plan.outputChannels) && used == .direct && BlockedConvolution.fits(plan, bias: bias)
    }
}

/// Where each output channel's values go: `self[o]` is channel o's first value (row-major).
public struct OutputTargets {
    let channels: UnsafePointer<UnsafeMutablePointer<Double>>

    subscript(channel: Int) -> UnsafeMutablePointer<Double> { channels[channel] }

    /// `body` with the channels of one array (`plan`'s output channels in order from `base`).
    static func contiguous<R>(_ base: UnsafeMutablePointer<Double>, _ plan: ConvolutionPlan, _ body: (OutputTargets) -> R) -> R {
        let table = UnsafeMutablePointer<UnsafeMutablePointer<Double>>.allocate(capacity: max(1, plan.outputChannels))
        defer { table.deallocate() }
        for o in 0..<plan.outputChannels { table[o] = base + o * plan.outputRows * plan.outputColumns }
        return body(OutputTargets(channels: table))
    }

    /// `body` with the channels of `arrays` (one a channel), pinned (`Pinned.mutableBaseAddresses`).
    static func pinned<R>(_ arrays: inout [[Double]], _ body: (OutputTargets) -> R) -> R {
        Pinned.mutableBaseAddresses(&arrays) { body(OutputTargets(channels: $0)) }
    }
}

extension Convolution {
    /// Output channels out of one array holding them in order (one channel: no copy), copied
    /// by `channelArrays`.
    static func channels(_ values: [Double], _ plan: ConvolutionPlan, threads: Int = 1) -> [Matrix] {
        let size = plan.outputRows * plan.outputColumns
        guard plan.outputChannels > 1 else { return [Matrix(rows: plan.outputRows, columns: plan.outputColumns, values: values)] }
        let arrays = values.withUnsafeBufferPointer { all in
            let all = all
            return Convolution.channelArrays(plan, threads: threads) { o in Array(all[(o * size)..<((o + 1) * size)]) }
        }
        return arrays.map { Matrix(rows: plan.outputRows, columns: plan.outputColumns, values: $0) }
    }

    /// The definition, term by term, in plain loops: the reference the fast methods are
    /// tested against (`y[o] = b[o] + Σ_c x[c] ⋆ k[block(c, o)]`).
    public static func reference(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernel: [Matrix], bias: [Double]?) -> [Matrix] {
        let blocks = plan.spec.flip ? kernel.map { $0.rotated180() } : kernel
        var output = (0..<plan.outputChannels).map { o in
            Matrix(rows: plan.outputRows, columns: plan.outputColumns, repeating: bias?[o] ?? 0)
        }
        for o in 0..<plan.outputChannels {
            for c in plan.inputs(of: o) {
                guard let b = plan.block(input: c, output: o) else { continue }
                let part = plan.spec.transposed
                    ? transposed(input[c], blocks[b], plan.rowStep, plan.columnStep)
                    : correlate(input[c], blocks[b], plan.rowStep, plan.columnStep, mode: plan.spec.paddingMode)
                for index in part.values.indices { output[o].values[index] += part.values[index] }
            }
        }
        return output
    }

    /// The products summed into output element (o, i, j), in order (channel, kernel row, column).
    public static func terms(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernel: [Matrix], output o: Int, row i: Int, column j: Int) -> [ConvolutionTerm] {
        var terms: [ConvolutionTerm] = []
        forEachTap(plan, output: o, row: i, column: j) { channel, block, a, b, source, padded in
            // The weight of kernel[block] turned by 180° for --flip, read in place.
            let weight = plan.spec.flip ? kernel[block][plan.kernelRows - 1 - a, plan.kernelColumns - 1 - b] : kernel[block][a, b]
            terms.append(ConvolutionTerm(channel: channel, sourceRow: source?.row, sourceColumn: source?.column,
                                         paddedRow: padded.row, paddedColumn: padded.column, block: block, kernelRow: a, kernelColumn: b,
                                         value: source.map { input[channel][$0.row, $0.column] } ?? 0, weight: weight))
        }
        return terms
    }

    /// The taps of output element (o, i, j), in the order the direct method sums them (input
    /// channel, kernel row, kernel column): `body(channel, block, a, b, source, padded)` with
    /// the input position read, nil for a zero of the padding, and the position in the padded
    /// input (forward) or the input position (transposed). Forward, every tap is visited (the
    /// padding mode says what a padded position reads); transposed, only the taps that reach
    /// an input value (`p·s + a·d − pb = i`). `terms` (the working `--explain` shows) uses it;
    /// the FFT's recomputation of outputs that read inf or nan (`FourierPatch`) reads the same
    /// `tap(_:_:output:kernel:inputs:)` per dimension from tables.
    @inline(__always)
    static func forEachTap(_ plan: ConvolutionPlan, output o: Int, row i: Int, column j: Int,
                           _ body: (_ channel: Int, _ block: Int, _ a: Int, _ b: Int, _ source: (row: Int, column: Int)?, _ padded: (row: Int, column: Int)) -> Void) {
        for channel in plan.inputs(of: o) {
            guard let block = plan.block(input: channel, output: o) else { continue }
            for a in 0..<plan.kernelRows {
                let row = tap(plan.rowStep, plan.spec, output: i, kernel: a, inputs: plan.inputRows)
                for b in 0..<plan.kernelColumns {
                    let column = tap(plan.columnStep, plan.spec, output: j, kernel: b, inputs: plan.inputColumns)
                    if let sr = row.source, let sc = column.source {
                        body(channel, block, a, b, (sr, sc), (row.padded, column.padded))
                    } else if !plan.spec.transposed {
                        body(channel, block, a, b, nil, (row.padded, column.padded))
                    }
                }
            }
        }
    }

    /// Along one dimension, the input index that kernel tap `a` of output `i` reads, nil for a
    /// zero of the padding (forward) or when no input value is there (transposed), and the
    /// position in the padded input (forward: `i·s + a·d`, read through the padding mode) or
    /// the input index (transposed: `p` with `p·s + a·d − pb = i`).
    @inline(__always)
    static func tap(_ step: DimensionStep, _ spec: ConvolutionSpec, output i: Int, kernel a: Int, inputs n: Int) -> (source: Int?, padded: Int) {
        if spec.transposed {
            let p = i + step.pad.before - a * step.dilation
            guard p >= 0, p % step.stride == 0, p / step.stride < n else { return (nil, p) }
            return (p / step.stride, p / step.stride)
        }
        let p = i * step.stride + a * step.dilation
        return (spec.paddingMode.source(p - step.pad.before, n), p)
    }

    /// The convolution as a matrix: `y = A·vec(x) (+ bias)`, vec reading channels, then rows,
    /// then columns. For a transposed convolution this is Aᵀ of the forward convolution with
    /// the same geometry. A depends on the kernel and the sizes, not on the input's values.
    ///
    /// - Throws: `ConvolutionError.tooLarge` beyond 2^24 entries.
    public static func matrix(_ plan: ConvolutionPlan, kernel: [Matrix]) throws -> Matrix {
        let rows = try Checked.mul(plan.outputChannels, Checked.mul(plan.outputRows, plan.outputColumns))
        let columns = try Checked.mul(plan.inputChannels, Checked.mul(plan.inputRows, plan.inputColumns))
        let entries = try Checked.mul(rows, columns)
        guard entries <= 1 << 24 else { throw ConvolutionError.tooLarge(what: "matrix A (\(rows)x\(columns))", count: entries, limit: 1 << 24) }
        // A is built from every output's terms: bounded work, whatever the padding makes of the kernel.
        let work = try Checked.mul(rows, Checked.mul(plan.inputsPerGroup, Checked.mul(plan.kernelRows, plan.kernelColumns)))
        guard work <= 1 << 26 else { throw ConvolutionError.tooLarge(what: "set of terms of matrix A (outputs × kernel taps)", count: work, limit: 1 << 26) }
        var a = Matrix(rows: rows, columns: columns)
        let zeros = (0..<plan.inputChannels).map { _ in Matrix(rows: plan.inputRows, columns: plan.inputColumns) }
        for o in 0..<plan.outputChannels {
            for i in 0..<plan.outputRows {
                for j in 0..<plan.outputColumns {
                    let row = (o * plan.outputRows + i) * plan.outputColumns + j
                    for term in terms(plan, zeros, kernel, output: o, row: i, column: j) {
                        guard let sr = term.sourceRow, let sc = term.sourceColumn else { continue }
                        a[row, (term.channel * plan.inputRows + sr) * plan.inputColumns + sc] += term.weight
                    }
                }
            }
        }
        return a
    }
}
