#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ConvCalcCore

/// `convcalc run INPUT KERNEL`: the convolution itself on matrices.
enum RunCommand {
    static let options: [OptionSpec] = [
        OptionSpec(.padding, ["--p", "--padding"], value: "PAD", group: .command,
                   help: "padding: N, HxW, before:after per dimension (0:1x1:1), same, valid or full", default: "0, valid"),
        OptionSpec(.stride, ["--s", "--stride"], value: "SIZE", group: .command, help: "stride, e.g. 2 or 1x2", default: "1"),
        OptionSpec(.dilation, ["--d", "--dilation"], value: "SIZE", group: .command, help: "dilation", default: "1"),
        OptionSpec(.flip, ["--flip"], group: .command,
                   help: "true convolution (kernel turned by 180°), as MATLAB conv2 and scipy.signal.convolve2d; default: cross-correlation, as PyTorch conv2d"),
        OptionSpec(.transposed, ["--transposed"], group: .command, help: "transposed convolution, as PyTorch conv_transpose2d"),
        OptionSpec(.outputPadding, ["--op", "--output-padding"], value: "SIZE", group: .command,
                   help: "output padding of --transposed, below max(s, d)", default: "0"),
        OptionSpec(.padMode, ["--pad-mode"], value: "MODE", group: .command,
                   help: "zeros, reflect (padding < size), replicate or circular (padding ≤ size), as PyTorch padding_mode", default: "zeros"),
        OptionSpec(.groups, ["--g", "--groups"], value: "N", group: .command,
                   help: "groups: output channel o reads the input channels of its group; depthwise when N = input channels", default: "1"),
        OptionSpec(.biasVector, ["--bias"], value: "VECTOR", group: .command,
                   help: "a bias per output channel: a file, - or '[0.5 -1]'"),
        OptionSpec(.explain, ["--explain"], group: .command,
                   help: "show the working (inputs up to 20x20): the padded (transposed: zero-inserted) input, one output element's sum term by term, and the convolution as a matrix A with y = A·vec(x)"),
        OptionSpec(.at, ["--at"], value: "R,C", group: .command,
                   help: "the output element --explain writes out, row and column from 0 (or O,R,C with the output channel)", default: "the centre"),
        OptionSpec(.asMatrix, ["--as-matrix"], group: .command,
                   help: "print the matrix A of the convolution (y = A·vec(x); for --transposed, Aᵀ of the forward convolution) instead of computing it"),
        OptionSpec(.input, ["--in"], value: "SIZE", group: .command,
                   help: "with --as-matrix: the input size HxW or CxHxW, in place of INPUT"),
        OptionSpec(.method, ["--method"], value: "METHOD", group: .command,
                   help: "direct (sums of products, vectorised), fft (FFT over tiles; rounding errors relative to the largest value) or auto: fft when its estimated cost is below 1/2.5 of direct's (large kernels on large inputs)", default: "auto"),
        OptionSpec(.threads, ["--threads"], value: "N", group: .command,
                   help: "threads for reading, computing and printing", default: "the number of CPUs, at most 16"),
        OptionSpec(.timings, ["--timings"], group: .output,
                   help: "report the time of each phase (read, parse, allocate, compute, format and write) and the peak memory on standard error"),
        OptionSpec(.precision, ["--precision"], value: "N", group: .output,
                   help: "significant digits, 1 to 17", default: "the shortest text that reads back to the same double"),
        OptionSpec(.format, ["--format"], value: "FORMAT", group: .output, help: "text, csv or json", default: "text"),
        OptionSpec(.outputFile, ["-o", "--output"], value: "FILE", group: .output,
                   help: "write to FILE (a regular file through a temporary file renamed at the end, so a failed or interrupted run leaves no partial file; devices and FIFOs in place)"),
        OptionSpec(.json, ["--json"], group: .output, help: "the same as --format json"),
        OptionSpec(.quiet, ["-q", "--quiet"], group: .output, help: "accepted for scripts; the output is always the bare matrix"),
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
                "One row a line; values separated by spaces, tabs or commas; # to the end of a line is a comment; leading and trailing blank lines are ignored. Numbers: decimal or scientific notation, nan, inf, -inf. A 1xN matrix is a vector: when the input and the kernel are both single rows, a single-number padding pads the two ends of the row only (as conv1d). Blank lines separate channels (blocks of the same shape). Errors name file:line:column.",
            ]),
            ("FORMULAS", [
                "y[i, j] = Σ_a Σ_b xp[i·sh + a·dh, j·sw + b·dw] · k[a, b], xp the padded input (PyTorch conv2d; with padding kernel − 1 on each side, MATLAB xcorr2). --flip uses k turned by 180° (MATLAB conv2). --transposed: y[i·s + t·d − pb] += x[i]·k[t] per dimension (PyTorch conv_transpose2d). Output sizes are those convcalc shape computes.",
                "With --flip, --p same and an even kernel the result equals MATLAB conv2(..., 'same'); SciPy's convolve2d(..., 'same') is one position off there. SciPy's correlate2d 'same' equals PyTorch's. SciPy's 'symm' boundary repeats the edge (not reflect); 'wrap' equals circular.",
            ]),
            ("OUTPUT", [
                "text: one row a line, values separated by spaces; integers without a decimal point, other values the shortest text that reads back to the same double (or --precision digits). csv: commas. json: {\"rows\", \"columns\", \"data\": [[...]]} with nan, inf and -inf as strings.",
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
            ("convcalc run --g 2 --bias '[1 -1]' two-channels.txt two-kernels.txt", "a grouped (here depthwise) convolution with a bias per channel (files in examples/matrices)"),
        ],
        execute: execute
    )

    enum Format: String { case text, csv, json }

    static func execute(_ args: ParsedArguments, _ context: InputContext) throws -> CommandResult {
        var timer = PhaseTimer()
        var spec = ConvolutionSpec()
        /// run works on 2-D matrices: a size is one number or HxW.
        func planar(_ id: OptionID, _ key: String, minimum: Int) throws -> DimSize? {
            guard let text = args.value(id) else { return nil }
            let size = try DimSize.parse(text, key: key, minimum: minimum)
            guard size.values.count <= 2 else {
                throw LayerError.malformedValue(key: key, value: text, expected: "one number or HxW: run works on 2-D matrices")
            }
            return size
        }
        if let text = args.value(.padding) {
            spec.padding = try Padding.parse(text, key: "--p")
            guard spec.padding.dimensionCount <= 2 else {
                throw LayerError.malformedValue(key: "--p", value: text, expected: "one padding or HxW: run works on 2-D matrices")
            }
        }
        if let size = try planar(.stride, "--s", minimum: 1) { spec.stride = size }
        if let size = try planar(.dilation, "--d", minimum: 1) { spec.dilation = size }
        if let size = try planar(.outputPadding, "--op", minimum: 0) {
            guard args.has(.transposed) else { throw UsageError.invalid("--op is the output padding of --transposed; add --transposed or drop --op") }
            spec.outputPadding = size
        }
        spec.flip = args.has(.flip)
        spec.transposed = args.has(.transposed)
        if let mode = args.value(.padMode) {
            guard let parsed = PaddingMode(rawValue: mode) else {
                throw LayerError.malformedValue(key: "--pad-mode", value: mode, expected: "zeros, reflect, replicate or circular")
            }
            spec.paddingMode = parsed
        }
        var format = Format.text
        if let text = args.value(.format) {
            guard let parsed = Format(rawValue: text) else {
                throw LayerError.malformedValue(key: "--format", value: text, expected: "text, csv or json")
            }
            format = parsed
        }
        if args.has(.json) {
            if args.value(.format).map({ $0 != "json" }) ?? false { throw UsageError.invalid("--json and --format \(format.rawValue) disagree; give one") }
            format = .json
        }
        var precision: Int?
        if let text = args.value(.precision) {
            guard let value = Int(text), (1...17).contains(value) else {
                throw LayerError.malformedValue(key: "--precision", value: text, expected: "a whole number of significant digits from 1 to 17")
            }
            precision = value
        }
        if let text = args.value(.groups) {
            spec.groups = try Layer.positive(text, key: "--g")
        }
        var method = ConvolutionMethod.auto
        if let text = args.value(.method) {
            guard let parsed = ConvolutionMethod(rawValue: text) else {
                throw LayerError.malformedValue(key: "--method", value: text, expected: "direct, fft or auto")
            }
            method = parsed
        }
        var threads = Machine.processors
        if let text = args.value(.threads) {
            guard let value = Int(text), (1...64).contains(value) else {
                throw LayerError.malformedValue(key: "--threads", value: text, expected: "a whole number from 1 to 64")
            }
            threads = value
        }
        let asMatrix = args.has(.asMatrix), explain = args.has(.explain)
        if asMatrix && explain { throw UsageError.invalid("give --explain or --as-matrix, not both") }
        if explain && (args.value(.format) != nil || args.has(.json)) { throw UsageError.invalid("--explain writes text; drop --format/--json") }
        if args.value(.at) != nil && !explain { throw UsageError.invalid("--at chooses the element --explain writes out; add --explain") }
        if args.value(.input) != nil && !asMatrix { throw UsageError.invalid("--in gives the input size for --as-matrix; give INPUT instead") }
        // Operands: INPUT KERNEL, or --in SIZE KERNEL with --as-matrix.
        let operands = args.positionals
        // Usage first: operands counted before -o is opened.
        if args.value(.input) != nil && operands.count != 1 {
            throw UsageError.invalid("with --in, give only KERNEL (got \(operands.count) operands)")
        }
        if args.value(.input) == nil && operands.count != 2 {
            throw UsageError.invalid("run takes two operands, INPUT and KERNEL (a file, - or '[1 2; 3 4]'); got \(operands.count)")
        }
        if (operands + [args.value(.biasVector)].compactMap { $0 }).filter({ $0 == "-" }).count > 1 {
            throw UsageError.invalid(args.value(.biasVector) == "-" ? "only one of INPUT, KERNEL and --bias can be - (standard input)"
                                                                    : "only one of INPUT and KERNEL can be - (standard input)")
        }
        // -o: the file is opened now, so a path that cannot be written fails before the work.
        let outputFile = try args.value(.outputFile).map { try OutputFile(path: $0, directory: context.directory) }
        defer { outputFile?.discard() }
        let input: [Matrix]
        let kernelText: Int
        if let size = args.value(.input) {
            let dims = try DimSize.parse(size, key: "--in", minimum: 1).values
            guard dims.count == 2 || dims.count == 3 else {
                throw LayerError.malformedValue(key: "--in", value: size, expected: "HxW or CxHxW")
            }
            let (channels, rows, columns) = dims.count == 3 ? (dims[0], dims[1], dims[2]) : (1, dims[0], dims[1])
            let volume = try Checked.mul(channels, Checked.mul(rows, columns))
            guard volume <= 1 << 20 else { throw ConvolutionError.tooLarge(what: "input given by --in", count: volume) }
            input = (0..<channels).map { _ in Matrix(rows: rows, columns: columns) }
            kernelText = 0
        } else {
            input = try operand(operands[0], role: "input", context: context, threads: threads, timer: &timer).matrices
            kernelText = 1
        }
        let kernel = try operand(operands[kernelText], role: "kernel", context: context, threads: threads, timer: &timer)
        var bias: [Double]?
        if let text = args.value(.biasVector) {
            let vector = try operand(text, role: "bias", context: context, threads: 1, timer: &timer).matrices
            guard vector.count == 1, vector[0].rows == 1 || vector[0].columns == 1 else {
                throw UsageError.invalid("--bias takes a vector: one row or one column of values, one per output channel")
            }
            bias = vector[0].values
        }
        let plan = try ConvolutionPlan(inputChannels: input.count, rows: input[0].rows, columns: input[0].columns,
                                       kernelBlocks: kernel.matrices.count, kernelRows: kernel.matrices[0].rows,
                                       kernelColumns: kernel.matrices[0].columns, stated: kernel.statedShape,
                                       biasCount: bias?.count, spec: spec)
        let formatter = MatrixFormatter(precision: precision)
        var result = CommandResult(output: "")
        if asMatrix {
            let a = try Convolution.matrix(plan, kernel: kernel.matrices)
            result.stream = { write in formatter.stream([a], format: format, threads: threads, write: write) }
        } else if explain {
            result.output = try ConvolutionExplanation(plan: plan, input: input, kernel: kernel.matrices, bias: bias, formatter: formatter)
                .render(at: args.value(.at))
        } else {
            // Memory: refuse before allocating what the system cannot give.
            let available = Machine.memoryForData(threads: threads)
            let outputValues = plan.outputChannels * plan.outputRows * plan.outputColumns
            if let available, outputValues > available / 8 {
                throw MemoryError.insufficient(what: "the output (\(outputValues) values)", bytes: outputValues * 8, available: available)
            }
            let fourierBytes = (FourierConvolution.bufferValues(plan) ?? Int.max / 8) * 8
            let fourierFits = FourierConvolution.fits(plan)
            let fourierMemory = available.map { fourierBytes <= $0 - outputValues * 8 } ?? true
            let asked = method
            if method == .fft {
                guard fourierFits else { throw MemoryError.fourier(values: fourierBytes / 8) }
                if let available, !fourierMemory {
                    throw MemoryError.insufficient(what: "the FFT buffers", bytes: fourierBytes, available: available - outputValues * 8)
                }
            } else if method == .auto {
                if !fourierMemory {
                    method = .direct   // the FFT would not fit in memory
                } else if fourierFits && plan.directMultiplyAdds > Convolution.workLimit {
                    method = .fft      // beyond what direct is given
                }
            }
            let execution = Execution(level: try Machine.kernelLevel(), threads: threads, method: method)
            // The values decide too (inf or nan, huge magnitudes): one scan, shared with the run.
            let survey = Convolution.survey(plan, method, input, kernel.matrices, bias: bias, threads: threads)
            let used = try survey.map { try Convolution.method(plan, method, survey: $0) } ?? .direct
            if used == .direct && plan.directMultiplyAdds > Convolution.workLimit {
                throw ConvolutionError.tooMuchWork(multiplyAdds: plan.directMultiplyAdds, fourier: asked == .direct && fourierFits && fourierMemory)
            }
            var memory = Convolution.allocateOutput(plan, threads: threads)
            timer.lap("allocate")
            let output = Convolution.run(plan, input, kernel.matrices, bias: bias, execution: execution, survey: survey, into: &memory)
            timer.lap("compute", note: "\(used.rawValue), \(execution.level.rawValue), \(execution.threads) thread\(execution.threads == 1 ? "" : "s")")
            result.stream = { write in formatter.stream(output, format: format, threads: threads, write: write) }
        }
        if let outputFile {
            let text = result.output
            try outputFile.commit(result.stream ?? { write in
                var text = text
                return text.withUTF8(write)
            })
            (result.output, result.stream) = ("", nil)
            timer.lap("format and write")
        }
        if args.has(.timings) { result.timings = timer }
        return result
    }

    /// Reads INPUT, KERNEL or --bias: inline `[...]`, `-` for stdin, or a file; errors name the source.
    static func operand(_ argument: String, role: String, context: InputContext, threads: Int,
                        timer: inout PhaseTimer) throws -> MatrixText.Blocks {
        let inline = argument.hasPrefix("[")
        do {
            if inline { return MatrixText.Blocks(matrices: [try MatrixText.parseInline(argument)], separatorLines: [], statedShape: nil) }
            let bytes = try context.readBytes(argument)
            timer.lap("read \(role)")
            defer { timer.lap("parse \(role)") }
            // Parsed values: at most an eighth of the memory left once the text is in (and 2^28).
            let valueLimit = max(min(Convolution.elementLimit, (Machine.memoryForData(threads: threads) ?? Int.max) / 64), 1 << 12)
            return try bytes.withBytes { try MatrixText.parseBlocks(bytes: $0, threads: threads, valueLimit: valueLimit) }
        } catch let error as MatrixTextError {
            throw NamedSourceError(name: inline ? "<inline \(role)>" : (argument == "-" ? "<stdin>" : argument), underlying: error)
        } catch InputError.unreadable(let path, let reason) where argument.contains(" ") || argument.contains(";") {
            throw UsageError.invalid("cannot read '\(path)': \(reason); an inline matrix needs brackets: '[\(argument)]'")
        }
    }
}

/// Not enough memory for what a run needs, found before allocating it.
enum MemoryError: UserFacingError {
    /// `12 MiB`, or `316 KiB` below one MiB.
    static func size(_ bytes: Int) -> String {
        bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : "\((bytes + 1023) >> 10) KiB"
    }

    case insufficient(what: String, bytes: Int, available: Int)
    /// The FFT's buffers past 2^28 values, or its tiles past 2^24 positions along a dimension.
    case fourier(values: Int)
    var message: String {
        switch self {
        case let .insufficient(what, bytes, available):
            return "\(what) would need \(MemoryError.size(bytes)) of memory but only \(MemoryError.size(max(available, 0))) are available; use a smaller input, padding or kernel"
        case let .fourier(values):
            let size = values >= Int.max / 8 ? "an input longer than 2^24 positions (with its stride)" : "\(values) values in its buffers (more than 2^28)"
            return "--method fft cannot run this convolution: it would need \(size); use --method direct or auto"
        }
    }
    var category: ErrorCategory { .data }
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

/// Matrices as text: the shortest round-trip form, or `--precision` significant digits.
struct MatrixFormatter {
    var precision: Int?

    /// `4`, `-0.5`, `1e-05`, `nan`, `inf`: integers without a decimal point, otherwise the
    /// shortest text that reads back to the same double (`NumberText`).
    func number(_ value: Double) -> String {
        String(decoding: NumberText.bytes(capacity: NumberText.room) { append(value, to: &$0) }, as: UTF8.self)
    }

    @inline(__always)
    func append(_ value: Double, to text: inout NumberText) {
        guard let precision, value.isFinite else {
            text.append(value)
            return
        }
        text.write { cursor in
            let count = withVaList([Int32(precision), value]) {
                vsnprintf(UnsafeMutableRawPointer(cursor).assumingMemoryBound(to: CChar.self), NumberText.room, "%.*g", $0)
            }
            return Int(count)
        }
    }

    /// The matrices printed in parts of about 2^18 values, in reading order, on `threads`
    /// threads, and handed to `write` in order as each part is ready (writing overlaps
    /// printing; no buffer grows with the output).
    ///
    /// text: rows a line, values separated by spaces, channels by a blank line; csv: commas;
    /// json: `{"rows", "columns", "data": [[...]]}`, with several channels
    /// `{"channels", "rows", "columns", "data": [[[...]]]}`, and nan, inf, -inf as strings.
    func stream(_ channels: [Matrix], format: RunCommand.Format, threads: Int,
                write: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        let rowsPerChannel = channels[0].rows, columns = channels[0].columns
        let plane = rowsPerChannel * columns
        let values = channels.count * plane
        let multi = channels.count > 1
        let json = format == .json
        let separator: [UInt8] = format == .csv ? [0x2C] : (json ? [0x2C, 0x20] : [0x20])
        if json {
            var header = multi
                ? "{\"channels\": \(channels.count), \"rows\": \(rowsPerChannel), \"columns\": \(columns), \"data\": "
                : "{\"rows\": \(rowsPerChannel), \"columns\": \(columns), \"data\": "
            guard header.withUTF8(write) else { return false }
        }
        let parts = values < 1 << 16 ? 1 : max(threads, (values + (1 << 18) - 1) >> 18)
        let printed = OrderedParts.run(count: parts, threads: min(threads, parts), make: { part -> [UInt8] in
            let range = (part * values / parts)..<((part + 1) * values / parts)
            // Room for every value with its separators, quotes and brackets.
            return NumberText.bytes(capacity: range.count * (NumberText.room + 10) + 16) { text in
                func put(_ bytes: [UInt8]) { for byte in bytes { text.append(byte: byte) } }
                var index = range.lowerBound
                while index < range.upperBound {
                    let (c, offset) = (index / plane, index % plane)
                    let (i, j) = (offset / columns, offset % columns)
                    let end = min(range.upperBound, index - j + columns)   // the rest of this row in the part
                    channels[c].values.withUnsafeBufferPointer { v in
                        for column in j..<(j + end - index) {
                            if column == 0 {
                                if json {
                                    if i == 0 {
                                        if multi { put(c == 0 ? [0x5B] : [0x2C, 0x20]) }   // "[" or ", " between channels
                                        put([0x5B])                                         // the channel's rows
                                    } else {
                                        put([0x2C, 0x20])
                                    }
                                    put([0x5B])                                             // the row
                                } else if i == 0 && c > 0 {
                                    text.append(byte: 0x0A)                                 // blank line between channels
                                }
                            } else {
                                put(separator)
                            }
                            let value = v[i * columns + column]
                            if json && !value.isFinite {
                                text.append(byte: 0x22)
                                append(value, to: &text)
                                text.append(byte: 0x22)
                            } else {
                                append(value, to: &text)
                            }
                        }
                    }
                    if end == index - j + columns {   // the row ends here
                        if json {
                            put([0x5D])
                            if i == rowsPerChannel - 1 { put([0x5D]) }
                            if i == rowsPerChannel - 1 && multi && c == channels.count - 1 { put([0x5D]) }
                        } else {
                            text.append(byte: 0x0A)
                        }
                    }
                    index = end
                }
            }
        }, take: { part in part.withUnsafeBufferPointer(write) })
        guard printed else { return false }
        if json {
            var footer = "}\n"
            return footer.withUTF8(write)
        }
        return true
    }
}
