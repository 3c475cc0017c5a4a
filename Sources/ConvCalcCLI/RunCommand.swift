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
        OptionSpec(.precision, ["--precision"], value: "N", group: .output,
                   help: "significant digits, 1 to 17", default: "the shortest text that reads back to the same double"),
        OptionSpec(.format, ["--format"], value: "FORMAT", group: .output, help: "text, csv or json", default: "text"),
        OptionSpec(.outputFile, ["-o", "--output"], value: "FILE", group: .output,
                   help: "write to FILE (through a temporary file renamed at the end, so a failed run leaves no partial file)"),
        OptionSpec(.json, ["--json"], group: .output, help: "the same as --format json"),
        OptionSpec(.quiet, ["-q", "--quiet"], group: .output, help: "accepted for scripts; the output is always the bare matrix"),
        OptionSpec(.help, ["-h", "--help"], group: .output, help: "show this help"),
    ]

    static let command = Command(
        name: "run",
        summary: "the convolution itself on matrices: correlation or true convolution, padding modes, stride, dilation, transposed",
        usage: ["convcalc run [options] INPUT KERNEL"],
        overview: [
            "INPUT and KERNEL are each a file, - (standard input, for one of them), or an inline matrix in brackets: '[1 2 3; 4 5 6]' (rows separated by ;) or '[[1, 2], [3, 4]]'.",
            "Computes the cross-correlation that PyTorch and TensorFlow call convolution; --flip computes true convolution. The output is a matrix in the same text format, so it can be piped back in.",
        ],
        options: options,
        sections: [
            ("MATRIX FORMAT", [
                "One row a line; values separated by spaces, tabs or commas; # to the end of a line is a comment; leading and trailing blank lines are ignored. Numbers: decimal or scientific notation, nan, inf, -inf. A 1xN matrix is a vector: when the input and the kernel are both single rows, a single-number padding pads the two ends of the row only (as conv1d). A blank line inside a matrix would separate channels, which run does not take; errors name file:line:column.",
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
        ],
        execute: execute
    )

    enum Format: String { case text, csv, json }

    static func execute(_ args: ParsedArguments, _ context: InputContext) throws -> CommandResult {
        guard args.positionals.count == 2 else {
            throw UsageError.invalid("run takes two operands, INPUT and KERNEL (a file, - or '[1 2; 3 4]'); got \(args.positionals.count)")
        }
        if args.positionals.filter({ $0 == "-" }).count > 1 {
            throw UsageError.invalid("only one of INPUT and KERNEL can be - (standard input)")
        }
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
        let input = try operand(args.positionals[0], role: "input", context: context)
        let kernel = try operand(args.positionals[1], role: "kernel", context: context)
        let result = try Convolution.run(input, kernel, spec)
        let text = MatrixFormatter(precision: precision).render(result, format: format)
        if let path = args.value(.outputFile) {
            try OutputFile.write(text, to: path)
            return CommandResult(output: "")
        }
        return CommandResult(output: text)
    }

    /// Reads INPUT or KERNEL: inline `[...]`, `-` for stdin, or a file; errors name the source.
    static func operand(_ argument: String, role: String, context: InputContext) throws -> Matrix {
        let inline = argument.hasPrefix("[")
        do {
            return inline ? try MatrixText.parseInline(argument) : try MatrixText.parse(try context.read(argument))
        } catch let error as MatrixTextError {
            throw NamedSourceError(name: inline ? "<inline \(role)>" : (argument == "-" ? "<stdin>" : argument), underlying: error)
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

/// Matrices as text: the shortest round-trip form, or `--precision` significant digits.
struct MatrixFormatter {
    var precision: Int?

    /// `4`, `-0.5`, `1e-05`, `nan`, `inf`: integers without a decimal point, otherwise the
    /// shortest text that reads back to the same double (Swift's `description`).
    func number(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        if let precision {
            var buffer = [CChar](repeating: 0, count: 64)
            let count = buffer.withUnsafeMutableBufferPointer { pointer in
                withVaList([Int32(precision), value]) { vsnprintf(pointer.baseAddress, 64, "%.*g", $0) }
            }
            return String(decoding: buffer[0..<Int(count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        if value == value.rounded(), abs(value) < 1e16 {
            return value == 0 && value.sign == .minus ? "-0" : String(Int64(value))
        }
        return value.description
    }

    func render(_ m: Matrix, format: RunCommand.Format) -> String {
        var out = ""
        out.reserveCapacity(m.values.count * 8)
        switch format {
        case .text, .csv:
            let separator = format == .csv ? "," : " "
            for i in 0..<m.rows {
                for j in 0..<m.columns {
                    if j > 0 { out += separator }
                    out += number(m[i, j])
                }
                out += "\n"
            }
        case .json:
            func json(_ v: Double) -> String { v.isFinite ? number(v) : "\"\(number(v))\"" }
            let rows = m.rowArrays.map { "[" + $0.map(json).joined(separator: ", ") + "]" }
            out = "{\"rows\": \(m.rows), \"columns\": \(m.columns), \"data\": [" + rows.joined(separator: ", ") + "]}\n"
        }
        return out
    }
}

/// Writes a file through a temporary file in the same directory, renamed at the end.
enum OutputFile {
    static func write(_ text: String, to path: String) throws {
        let temporary = path + ".convcalc-\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw OutputError.cannotWrite(path: path, reason: FileReader.describeErrno()) }
        var failure: String?
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = FileReader.describeErrno()
                    return
                }
                offset += written
            }
        }
        if close(fd) != 0 && failure == nil { failure = FileReader.describeErrno() }
        if failure == nil && rename(temporary, path) != 0 { failure = FileReader.describeErrno() }
        if let failure {
            unlink(temporary)
            throw OutputError.cannotWrite(path: path, reason: failure)
        }
    }
}

enum OutputError: UserFacingError {
    case cannotWrite(path: String, reason: String)
    var message: String {
        if case let .cannotWrite(path, reason) = self { return "cannot write '\(path)': \(reason)" }
        return ""
    }
    var category: ErrorCategory { .data }
}
