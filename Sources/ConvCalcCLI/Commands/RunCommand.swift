#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// `convcalc run INPUT KERNEL`: the convolution itself on matrices.
enum RunCommand {
    static let options: [OptionSpec] = [
        OptionSpec(key: .p, group: .command, default: "0, valid"),
        OptionSpec(key: .s, group: .command, help: "stride, e.g. 2 or 1x2", default: "1"),
        OptionSpec(key: .d, group: .command),
        OptionSpec(.flip, ["--flip"], group: .command,
                   help: "true convolution (kernel turned by 180°), as MATLAB conv2 and scipy.signal.convolve2d; default: cross-correlation, as PyTorch conv2d")
            .manual("True convolution: the kernel turned by 180°, as MATLAB conv2 and scipy.signal.convolve2d."),
        OptionSpec(.transposed, [ConvolutionSetting.transposed.optionName], group: .command, help: "transposed convolution, as PyTorch conv_transpose2d")
            .manual("Transposed convolution, as PyTorch conv_transpose2d."),
        OptionSpec(key: .op, group: .command, help: "output padding of --transposed, below max(s, d)"),
        OptionSpec(.padMode, [ConvolutionSetting.paddingMode.optionName], value: "MODE", group: .command,
                   help: "zeros, reflect (padding < size), replicate or circular (padding ≤ size), as PyTorch padding_mode", default: "zeros")
            .manual("How padding is filled, as PyTorch padding_mode: zeros (default), reflect (mirror without repeating the edge; padding must be smaller than the input), replicate (repeat the edge), circular (wrap around; padding at most the input size). --transposed allows zeros only. SciPy's 'symm' boundary repeats the edge and is not reflect; its 'wrap' is circular."),
        OptionSpec(key: .g, group: .command,
                   help: "groups: output channel o reads the input channels of its group; depthwise when N = input channels"),
        OptionSpec(.biasVector, [ConvolutionSetting.biasVector.optionName], value: "VALUES", group: .command,
                   help: "a bias per output channel: 0.5,-1 or '[0.5 -1]', a file or -; one value is added to every channel")
            .manual("A bias per output channel: the values (0.5,-1 or 0.5; nan, inf and -inf as in a matrix; a file named like a number is written ./1), an inline vector '[0.5 -1]', a file, or -. One value is added to every output channel, as a scalar broadcasts in NumPy."),
        OptionSpec(.explain, ["--explain"], group: .command,
                   help: "show the working (inputs up to 20x20): the padded (transposed: zero-inserted) input, one output element's sum term by term, and the convolution as a matrix A with y = A·vec(x)")
            .manual("Show the working, for inputs up to 20×20: the padded input (· marks padding zeros; for --transposed, the equivalent zero-inserted and padded input), one output element's sum written out term by term, the output, and the convolution as a matrix A with y = A·vec(x) (vec reading channels, rows, then columns), shown up to 64×64. For a transposed convolution A is the transpose of the forward convolution's."),
        DrawOptionTable.run,
        OptionSpec(.at, ["--at"], value: "R,C", group: .command,
                   help: "the output element --explain writes out, row and column from 0 (or O,R,C with the output channel)", default: "the centre")
            .manual("The output element --explain writes out: row and column counted from 0, or O,R,C with the output channel (default: the centre of channel 0)."),
        OptionSpec(.asMatrix, ["--as-matrix"], group: .command,
                   help: "print the matrix A of the convolution (y = A·vec(x); for --transposed, Aᵀ of the forward convolution) instead of computing it")
            .manual("Print the matrix A of the convolution (up to 2^24 entries) in the matrix format instead of computing it; for --transposed, the transposed convolution's matrix, which is the transpose of the forward one's A."),
        OptionSpec(.like, ["--like"], value: "LIB", group: .command,
                   help: "mean what the same call means in LIB: " + Library.allCases.map(\.rawValue).joinedAsChoice() + " (flip, default mode, 'same' centring, border)")
            .manual("Make the call mean what it means in a library's usual function: matlab and octave conv2(A, K, shape) and scipy scipy.signal.convolve2d (true convolution, default full); numpy numpy.convolve (1-D, true convolution, default full, the longer operand first as NumPy swaps them); torch torch.nn.functional.conv2d and tensorflow tf.nn.conv2d (cross-correlation, default valid; tensorflow has no full); opencv cv2.filter2D (cross-correlation, same only, border BORDER_REFLECT_101 = reflect unless --pad-mode says otherwise). --p full, same or valid is the library's mode; with an even kernel, same puts the odd padding after in MATLAB, Octave, PyTorch and TensorFlow and before in SciPy's convolve2d, NumPy and OpenCV (where the kernel's anchor is at k/2). --flip and --transposed are the library's to decide; --s and --d only with torch or tensorflow."),
        OptionSpec(.equivalent, ["--equivalent"], group: .command,
                   help: "print the equivalent call in each library (PyTorch, TensorFlow, SciPy, NumPy, MATLAB/Octave, OpenCV) instead of the result")
            .manual("Print, instead of the result, the call that computes the same output in each library: PyTorch, TensorFlow, SciPy, NumPy (1-D), MATLAB and Octave, OpenCV, with the padding spelt as each needs it (a mode name where the library's mode gives this padding, explicit padding otherwise), or why a library has no direct call for it (a stride in SciPy, a dilation in OpenCV, a transposed convolution outside PyTorch and TensorFlow). Operands are named a (input) and k (kernel), or x and w in NCHW (PyTorch) and NHWC (TensorFlow) layout."),
        OptionSpec(.input, ["--in"], value: "SIZE", group: .command,
                   help: "with --as-matrix: the input size HxW, in place of INPUT")
            .manual("With --as-matrix: the input's spatial size HxW (or one number, N×N), in place of INPUT; channels are --cin, as in shape, rf and params; at most 2^20 values (C·H·W)."),
        OptionSpec(.cin, ["--cin"], value: "C", group: .command,
                   help: "with --as-matrix and --in: input channels", default: "1"),
        OptionSpec(.method, [ConvolutionSetting.method.optionName], value: "METHOD", group: .command,
                   help: "direct (sums of products, vectorised), fft (FFT over tiles; rounding errors relative to the largest value) or auto: fft when its estimated cost is below 1/2.5 of direct's (large kernels on large inputs)", default: "auto")
            .manual("direct: sums of products in the order of the formula, vectorised (zero padding takes part, as in PyTorch: an inf or nan weight over it gives nan, 0·inf); fft: fast Fourier transforms over tiles (overlap–save), whose rounding errors are relative to the largest output (about 1e-15 of it); with integers in (input, kernel, bias, sums below 2^40) the result is rounded back to the exact integers (an inf or nan bias makes its own channel inf or nan only); inf, -inf and nan come out as direct gives them (inf·0 = nan, inf + (-inf) = nan, nan spreads): the FFT reads them as 0 and the outputs whose window reads one are summed again directly. A kernel holding inf or nan, input values so large that the FFT's sums could overflow (|x|·N·M·16·max(1, Cin/g·sum|k|) past the largest double, from about 1e300), or so many inf and nan that summing their outputs again costs more than direct, run direct instead, for --method fft too (--timings names the method; past the direct method's limit that is an error); one input channel taller than 128 rows runs in rows of tiles whose size depends on the kernel and the width only, and these choices are made per row of tiles from the rows it reads (so a streamed run gives the same bytes); auto (default): fft when its estimated cost, (Cin + Cout)·N·M·(log2(N·M) + 4) per pair of N×M tiles plus 1.5·N·M for the products of one kernel pair (15·Cout·Cin/g·N·M with several pairs: their spectra stream from memory), weighed as 5 multiply–adds each, is below direct's one multiply–add per tap and output (single channel: kernels of about 11×11 and larger on large inputs; layers with many channels: almost always direct). With several channels, direct sums several output channels at once (6 channels × 32 positions a step with AVX-512, 4 × 16 otherwise, each input value loaded once for all of them), in the same order of terms."),
        OptionSpec(.stream, ["--stream"], value: "WHEN", group: .command,
                   help: "auto (from a pipe, or a file over 256 MiB), always or never: read, compute and write row band by row band, in memory constant in the input's height", default: "auto")
            .manual("When INPUT is read, computed and written a band of rows at a time, as a filter (sed, grep) does, in memory proportional to the kernel's height times the width, whatever the input's height: auto (default) when INPUT comes from a pipe or a device, or is a file over 256 MiB; always; never (the whole input is read first). The output is the same, byte for byte. Only runs that can stream do: one input channel and one kernel block, forward (not --transposed), one group, the direct method (--method direct, or auto choosing it; auto weighs an input taller than 128 rows at a fixed height, so a stream chooses after 128 rows as the whole run does), --format text or csv, padding above the input that does not depend on its height (not same with a row stride; no circular padding above), INPUT not inline and KERNEL and --bias not standard input, without --explain, --draw, --as-matrix, --equivalent or --like numpy. Other runs read the whole input first, as do an input of 128 rows or fewer, a JSON input and a multi-channel one (C×H×W needs a kernel block per channel, which a streamed run never has: with one block such an input is the same error either way). Rows already printed stay on standard output when a later line of INPUT is wrong (the error names file:line:column, exit status 1), as with sed or grep; -o FILE is written only when the whole run succeeds. A streamed run has no limit on the input's or the output's size (2^28 values otherwise) nor on the direct method's work; --timings reports the first rows read and then one phase for the rest."),
        OptionSpec(.threads, ["--threads"], value: "N", group: .command,
                   help: "threads for reading, computing and printing", default: "the number of CPUs, at most 16")
            .manual("Threads for parsing, computing and printing (default: the number of CPUs, at most 16)."),
        OptionSpec(.timings, ["--timings"], group: .output,
                   help: "report the time of each phase (read, parse, allocate, compute, format and write) and the peak memory on standard error")
            .manual("Report the time of each phase on standard error, one line: convcalc: timings: read input ... s, parse input ... s, ..., allocate ... s, compute ... s (method, level, N threads), format and write ... s, total ... s, peak memory ... MiB. Parts of the output are written as soon as they are printed, so the two share a phase."),
        OptionSpec(.precision, ["--precision"], value: "N", group: .output,
                   help: "significant digits, 1 to 17", default: "the shortest text that reads back to the same double")
            .manual("Print N significant digits (1 to 17) instead of the shortest text that reads back to the same double."),
        OptionSpec(.format, ["--format"], value: "FORMAT", group: .output, help: "text, csv or json", default: "text")
            .manual("text (default), csv, or json, or with --explain markdown or latex (the working as a document, verbatim under a title): {\"channels\": C, \"rows\": R, \"columns\": W, \"data\": [[[...], ...], ...]}, data always channels × rows × columns (one channel too), nan, inf and -inf as strings; it reads back as INPUT or KERNEL."),
        CommonOptions.outputFile,
        OptionSpec(.json, ["--json"], group: .output, help: "the same as --format json"),
        OptionSpec(.quiet, ["-q", "--quiet"], group: .output, help: "accepted for scripts; the output is always the bare matrix"),
        CommonOptions.noWarnings,
        CommonOptions.ascii,
        OptionSpec(.help, ["-h", "--help"], group: .output, help: "show this help"),
    ]

    static let command = Command(
        name: "run",
        summary: "the convolution itself on matrices: correlation or true convolution, padding modes, stride, dilation, transposed",
        usage: ["convcalc run [options] INPUT KERNEL",
                "convcalc run --explain [options] INPUT KERNEL",
                "convcalc run --as-matrix [options] (INPUT | --in SIZE) KERNEL"],
        overview: [
            "INPUT and KERNEL are each a file, - (standard input, for one of them), or an inline matrix in brackets: '[1 2 3; 4 5 6]' (rows separated by ;) or '[[1, 2], [3, 4]]'.",
            "Computes the cross-correlation that PyTorch and TensorFlow call convolution; --flip computes true convolution. The output is a matrix in the same text format, so it can be piped back in.",
            "Channels: an INPUT of several blocks separated by blank lines is C×H×W; a KERNEL of several blocks is Cout×(Cin/g) kh×kw blocks in that order (PyTorch's Conv weight layout; with --transposed, Cin×(Cout/g) as ConvTranspose). A comment line '# shape 4x2x3x3' may state the kernel's shape and is checked. Output channels are separated by blank lines.",
        ],
        options: options,
        sections: [
            ("MATRIX FORMAT", [
                "One row a line; values separated by spaces, tabs or commas; # to the end of a line is a comment; leading and trailing blank lines are ignored. Numbers: decimal or scientific notation, nan, inf, -inf. A 1xN matrix is a vector: when the input and the kernel are both single rows, a single-number padding pads the two ends of the row only (as conv1d), and a transposed run's single-number --s and --op act along the row only (as conv_transpose1d); --like a 2-D library's function (all but numpy) pads, strides and extends both dimensions. Blank lines separate channels (blocks of the same shape). Errors name file:line:column.",
            ]),
            ("FORMULAS", [
                "y[i, j] = Σ_a Σ_b xp[i·sh + a·dh, j·sw + b·dw] · k[a, b], xp the padded input (PyTorch conv2d; with padding kernel − 1 on each side, MATLAB xcorr2). --flip uses k turned by 180° (MATLAB conv2). --transposed: y[i·s + t·d − pb] += x[i]·k[t] per dimension (PyTorch conv_transpose2d). Output sizes are those convcalc shape computes.",
                "With --flip, --p same and an even kernel the result equals MATLAB conv2(..., 'same'); SciPy's convolve2d(..., 'same') is one position off there. SciPy's correlate2d 'same' equals PyTorch's. SciPy's 'symm' boundary repeats the edge (not reflect); 'wrap' equals circular.",
            ]),
            ("OUTPUT", [
                "text: one row a line, values separated by spaces; integers without a decimal point, other values the shortest text that reads back to the same double (or --precision digits). csv: commas. json: {\"channels\", \"rows\", \"columns\", \"data\": [[[...]]]}, data always channels × rows × columns, nan, inf and -inf as strings. Every format reads back as input.",
            ]),
        ],
        examples: [
            ("convcalc run --p 1 '[1 2 3;4 5 6;7 8 9]' '[1 2;3 4]'", "PyTorch conv2d(a, b, padding=1), which equals MATLAB xcorr2(a, b)"),
            ("convcalc run --flip --p full '[1 2 3;4 5 6;7 8 9]' '[1 2;3 4]'", "MATLAB conv2(a, b)"),
            ("convcalc run --flip --p same '[1 2 3;4 5 6;7 8 9]' '[1 2;3 4]'", "MATLAB conv2(a, b, 'same')"),
            ("cat img.txt | convcalc run --s 2 --pad-mode reflect --p 1 - k.txt -o out.txt", "standard input, stride 2, reflect padding, written to a file"),
            ("convcalc run --transposed --s 2 '[1 2;3 4]' '[1 1;1 1]'", "a stride-2 transposed convolution"),
            ("convcalc run --explain --p 1 '[1 2 3;4 5 6;7 8 9]' '[1 2;3 4]'", "the working: padded input, one sum term by term, the matrix A"),
            ("convcalc run --as-matrix --in 3x3 '[1 2;3 4]'", "the 4x9 matrix A of a 2x2 kernel on a 3x3 input"),
            ("convcalc run --g 2 --bias 1,-1 two-channels.txt two-kernels.txt", "a grouped (here depthwise) convolution with a bias per channel (files in examples/matrices)"),
        ],
        execute: execute
    )

    typealias Format = MatrixFormat

    static func execute(_ args: ParsedArguments, _ context: InputContext) throws -> CommandResult {
        var options = try RunOptions(args)
        var timer = PhaseTimer()
        // -o: the file is opened now, so a path that cannot be written fails before the work.
        let destination = try options.outputPath.map { try OutputFile(path: $0, directory: context.directory) }
        var operands: Operands
        switch try RunStream.begin(options, context: context, timer: &timer) {
        case var .streaming(streamed)?:
            streamed.destination = destination
            if options.timings { streamed.timings = timer }
            return streamed
        case let .whole(read)?: operands = read
        case nil: operands = try Operands(options, context: context, timer: &timer)
        }
        if let library = options.like { try adapt(&options, &operands, to: library) }
        // One bias value applies to every output channel, as a scalar broadcasts in NumPy.
        let broadcastBias = operands.bias?.count == 1
        let plan = try notingInputChannels(operands.input.count) {
            try ConvolutionPlan(inputChannels: operands.input.count, rows: operands.input[0].rows, columns: operands.input[0].columns,
                                kernelBlocks: operands.kernel.count, kernelRows: operands.kernel[0].rows,
                                kernelColumns: operands.kernel[0].columns, stated: operands.statedShape,
                                biasCount: broadcastBias ? nil : operands.bias?.count, spec: options.spec)
        }
        if broadcastBias, let value = operands.bias?.first { operands.bias = Array(repeating: value, count: plan.outputChannels) }
        let formatter = MatrixFormatter(precision: options.precision)
        var result = CommandResult(output: "")
        switch options.mode {
        case .asMatrix:
            let a = try Convolution.matrix(plan, kernel: operands.kernel)
            result.stream = { write in formatter.stream([a], format: options.format, threads: options.threads, write: write) }
        case let .explain(at, svg):
            let explanation = ConvolutionExplanation(plan: plan, input: operands.input, kernel: operands.kernel, bias: operands.bias,
                                                     formatter: formatter, layout: context.layout)
            result.output = try svg ? explanation.svg(at: at) : explanation.render(at: at)
            result.isVerbatim = svg
            if let format = options.document {
                var document = ReportDocument(title: "Convolution, the working")
                document.blocks.append(.verbatim(result.output))
                result.output = document.render(format)
            }
        case .equivalent:
            var calls = EquivalentCalls(plan: plan)
            calls.swapNote = !options.swapped ? nil
                : options.like == .numpy ? "numpy.convolve took the longer operand first" : "scipy.signal.convolve2d took the larger operand first ('valid')"
            calls.bias = operands.bias != nil
            result.output = calls.text
        case .compute:
            let output = try compute(plan, operands, options, timer: &timer)
            result.stream = { write in formatter.stream(output, format: options.format, threads: options.threads, write: write) }
        }
        result.destination = destination
        if options.timings { result.timings = timer }
        return result
    }

    /// `--like`: NumPy's 1-D convolve, which takes the longer operand first (SciPy's 'valid'
    /// too, for a kernel larger in every dimension), and 'same' centred as the library centres it.
    static func adapt(_ options: inout RunOptions, _ operands: inout Operands, to library: Library) throws {
        let (input, kernel) = (operands.input[0], operands.kernel[0])
        let oneD = input.rows == 1 && kernel.rows == 1
        if library != .numpy {
            // The other libraries' functions are 2-D: one number pads, strides and extends both
            // dimensions there, single rows too (convcalc's 1-D rule is conv1d's).
            if case let .explicit(pairs) = options.spec.padding, pairs.count == 1 { options.spec.padding = .explicit([pairs[0], pairs[0]]) }
            options.spec.stride = DimSize(options.spec.stride.expanded(to: 2))
            options.spec.outputPadding = DimSize(options.spec.outputPadding.expanded(to: 2))
        }
        if library == .numpy {
            guard oneD, operands.input.count == 1, operands.kernel.count == 1 else {
                throw UsageError.invalid("numpy.convolve is 1-D: give one row as INPUT and one as KERNEL")
            }
            if kernel.columns > input.columns {
                (operands.input, operands.kernel) = (operands.kernel, operands.input)
                options.swapped = true
            }
        }
        // SciPy's convolve2d in 'valid' mode swaps a kernel at least as large in every dimension.
        if library == .scipy, options.spec.padding == .valid, operands.input.count == 1, operands.kernel.count == 1,
           kernel.rows >= input.rows, kernel.columns >= input.columns, kernel.rows > input.rows || kernel.columns > input.columns {
            (operands.input, operands.kernel) = (operands.kernel, operands.input)
            options.swapped = true
        }
        if options.spec.padding == .same,
           let padding = library.samePadding(kernel: (operands.kernel[0].rows, operands.kernel[0].columns),
                                             dilation: options.spec.dilation.expanded(to: 2), oneD: oneD) {
            options.spec.padding = padding
        }
    }

    /// The convolution itself: the method chosen once with the memory budget, then run.
    static func compute(_ plan: ConvolutionPlan, _ operands: Operands, _ options: RunOptions, timer: inout PhaseTimer) throws -> [Matrix] {
        let threads = options.threads
        let choice = try Convolution.choose(plan, asked: options.method, memory: Machine.memoryForData(threads: threads),
                                            operands.input, operands.kernel, bias: operands.bias, threads: threads)
        let execution = Execution(level: try Machine.kernelLevel(), threads: threads, method: choice.sized)
        var memory = Convolution.allocateOutputMemory(plan, threads: threads, method: choice.sized, bias: operands.bias)
        timer.lap("allocate")
        let (output, used) = Convolution.runCounted(plan, operands.input, operands.kernel, kernelValues: operands.kernelValues, bias: operands.bias,
                                                    execution: execution, survey: choice.survey, into: &memory)
        timer.lap("compute", note: "\(choice.method.rawValue), \(execution.level.rawValue), \(used) thread\(used == 1 ? "" : "s")")
        return output
    }

    /// INPUT (or the zeros of `--in` with --as-matrix), KERNEL and `--bias`, read and parsed.
    struct Operands {
        var input: [Matrix]
        var kernel: [Matrix] { didSet { kernelValues = nil } }
        /// `kernel`'s values in one array, as the file held them (`MatrixText.Blocks.values`);
        /// nil once `kernel` changes.
        private(set) var kernelValues: [Double]?
        var statedShape: [Int]?
        var bias: [Double]?

        init(_ options: RunOptions, context: InputContext, timer: inout PhaseTimer) throws {
            var input: [Matrix]
            if let size = options.inputSize {
                let parts = size.split(omittingEmptySubsequences: false, whereSeparator: { "xX×".contains($0) }).count
                let dims = parts > 2 ? [] : try DimSize.parse(size, subject: .option("--in"), minimum: 1).expanded(to: 2)
                guard dims.count == 2 else {
                    throw LayerError.malformedValue(.option("--in"), value: size,
                                                    expected: "HxW or one number: run works on 2-D matrices; give channels with --cin")
                }
                let (channels, rows, columns) = (options.inputChannels, dims[0], dims[1])
                let volume = try Checked.mul(channels, Checked.mul(rows, columns))
                guard volume <= zeroInputLimit else { throw ConvolutionError.tooLarge(what: "input given by --in", count: volume, limit: zeroInputLimit) }
                input = (0..<channels).map { _ in Matrix(rows: rows, columns: columns) }
            } else {
                input = try operand(options.operands[0], role: "input", context: context, threads: options.threads, timer: &timer).matrices
            }
            try self.init(options, context: context, input: input, timer: &timer)
        }

        /// The operands with INPUT already read (`input`): KERNEL and `--bias` read here.
        init(_ options: RunOptions, context: InputContext, input: [Matrix], timer: inout PhaseTimer) throws {
            self.input = input
            let blocks = try operand(options.operands.last!, role: "kernel", context: context, threads: options.threads, timer: &timer)
            (kernel, kernelValues, statedShape) = (blocks.matrices, blocks.values, blocks.statedShape)
            if let text = options.biasArgument {
                // `--bias 1` and `--bias 1,-2,3` are the values themselves, not files.
                let argument = isNumberList(text) ? "[" + text + "]" : text
                let vector = try operand(argument, role: "bias", context: context, threads: 1, timer: &timer).matrices
                guard vector.count == 1, vector[0].rows == 1 || vector[0].columns == 1 else {
                    throw UsageError.invalid("--bias takes a vector: one row or one column of values, one per output channel")
                }
                bias = vector[0].values
            }
        }

        /// The same operands with INPUT `input`.
        func with(input: [Matrix]) -> Operands {
            var copy = self
            copy.input = input
            return copy
        }
    }

    /// `body` (a plan for INPUT's `channels`), its error on the kernel's blocks told, when
    /// INPUT holds several matrices, that a blank line starts the next (one inside a matrix
    /// splits it in two channels, and the kernel then does not fit them).
    static func notingInputChannels<R>(_ channels: Int, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as ConvolutionError {
            guard case .kernelBlocks = error, channels > 1 else { throw error }
            throw ConvolutionError.channels(error.message + "; each matrix of INPUT is a channel (in text, a blank line starts the next)")
        }
    }

    /// The most values (C·H·W) of the zero input `--in` stands for (`--as-matrix`).
    static let zeroInputLimit = 1 << 20

    /// Whether `text` is numbers separated by commas or spaces (`1`, `0.5,-1`, `nan`): the
    /// values of `--bias` written without brackets. A file named like a number is `./1`.
    static func isNumberList(_ text: String) -> Bool {
        let items = text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" })
        return !items.isEmpty && items.allSatisfy { item in
            var item = String(item.map { $0 == "\u{2212}" ? "-" : $0 })   // the typeset minus, as in matrices
            return MatrixText.word(item) != nil || item.withUTF8 { DecimalParser.parse($0.baseAddress!, count: $0.count) } != nil
        }
    }

    /// An inline matrix `[...]` (spaces around it allowed, as a script may leave them): its
    /// text without them; nil for a file name or `-`.
    static func inlineMatrix(_ argument: String) -> String? {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        let text = argument.drop(while: blank)
        guard text.hasPrefix("[") else { return nil }
        return String(text.reversed().drop(while: blank).reversed())
    }

    /// Reads INPUT, KERNEL or --bias: inline `[...]`, `-` for stdin, or a file; errors name the source.
    static func operand(_ argument: String, role: String, context: InputContext, threads: Int,
                        timer: inout PhaseTimer) throws -> MatrixText.Blocks {
        let keepValues = role == "kernel"
        let inline = inlineMatrix(argument)
        do {
            if let inline { return MatrixText.Blocks(matrices: [try MatrixText.parseInline(inline)], separatorLines: [], statedShape: nil) }
            // Parsed on several threads, the file's pages are mapped in by the threads that read
            // them (in parallel), not all at once by mmap here (MAP_POPULATE: 4 ms at 85 MB).
            let bytes = try context.readBytes(argument, populate: threads <= 1)
            timer.lap("read \(role)")
            defer { timer.lap("parse \(role)") }
            // Parsed values: at most an eighth of the memory left once the text is in (and 2^28).
            let valueLimit = max(min(Convolution.elementLimit, (Machine.memoryForData(threads: threads) ?? Int.max) / 64), 1 << 12)
            return try bytes.withBytes { try MatrixText.parseBlocks(bytes: $0, threads: threads, valueLimit: valueLimit, keepValues: keepValues) }
        } catch let error as MatrixTextError {
            throw NamedSourceError(name: inline != nil ? "<inline \(role)>" : (argument == "-" ? "<stdin>" : argument), underlying: error)
        } catch InputError.unreadable(let path, let reason) where argument.contains(" ") || argument.contains(";") {
            throw UsageError.invalid("cannot read '\(path)': \(reason); an inline matrix needs brackets: '[\(argument)]'")
        }
    }
}

/// A matrix error prefixed by the file (or `<stdin>`, `<inline input>`) it is in.
struct NamedSourceError: UserFacingError {
    let name: String
    let underlying: MatrixTextError
    var message: String {
        if case .malformedInline = underlying { return "\(name): \(underlying.message)" }
        if case .empty = underlying { return "\(name): \(underlying.message)" }
        return "\(name):\(underlying.message)"
    }
    var category: ErrorCategory { underlying.category }
}
