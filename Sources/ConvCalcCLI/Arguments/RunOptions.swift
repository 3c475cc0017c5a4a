import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// `convcalc run`'s options, converted and checked (usage errors) before anything is read.
struct RunOptions {
    enum Mode: Equatable {
        case compute
        /// `--explain`, with the element `--at` names (nil: the centre); `--draw svg` draws it.
        case explain(at: String?, svg: Bool)
        case asMatrix
        /// `--equivalent`: the call in each library instead of the result.
        case equivalent
    }

    /// `--like LIB`: the library whose function the call means.
    var like: Library?
    /// `--format markdown|latex` with `--explain`: the working as a document.
    var document: DocumentFormat?
    /// `--like numpy` (or SciPy's 'valid') put the longer operand first.
    var swapped = false

    var spec = ConvolutionSpec()
    var format = RunCommand.Format.text
    /// Significant digits (nil: the shortest text that reads back the same).
    var precision: Int?
    var method = ConvolutionMethod.auto
    var threads = Machine.processors
    var mode = Mode.compute
    /// INPUT KERNEL, or KERNEL alone with `--in`.
    var operands: [String] = []
    /// `--in SIZE` of --as-matrix.
    var inputSize: String?
    /// `--cin C` of --as-matrix with --in.
    var inputChannels = 1
    var biasArgument: String?
    var outputPath: String?
    var timings = false
    /// `--stream`: when INPUT is read and computed row band by row band (`RunStream`).
    var stream = StreamWhen.auto

    /// `--stream WHEN`.
    enum StreamWhen: String, CaseIterable {
        /// From a pipe or a device, or a regular file past `RunStream.fileThreshold` bytes.
        case auto
        /// Whatever the input (when the run can stream at all).
        case always
        /// Never: the input is read whole first.
        case never
    }

    init(_ args: ParsedArguments) throws {
        spec = try RunOptions.convolution(args)
        if let name = args.value(.like) {
            guard let library = Library(rawValue: name) else {
                throw LayerError.malformedValue(.option("--like"), value: name, expected: Library.allCases.map(\.rawValue).joinedAsChoice())
            }
            try library.apply(to: &spec, args: args)
            like = library
        }
        try readOutput(args)
        try readWork(args)
        try readModeAndOperands(args)
    }

    /// Padding, stride, dilation, output padding and groups through the layer keys' own
    /// parsers (`LayerSchema`), checked for 2-D; flip, transposed and the padding mode.
    static func convolution(_ args: ParsedArguments) throws -> ConvolutionSpec {
        var spec = ConvolutionSpec()
        var given = Layer(type: .tconv, token: "")
        for key in [LayerKey.p, .s, .d, .op, .g] {
            if let text = args.value(.layer(key)) { try key.spec.assign(text, to: &given) }
        }
        /// run works on 2-D matrices: a size is one number or HxW.
        func planar(_ key: LayerKey, _ size: DimSize?) throws -> DimSize? {
            guard let size, let text = args.value(.layer(key)) else { return nil }
            guard size.values.count <= 2 else {
                throw LayerError.malformedValue(.key(key), value: text, expected: "one number or HxW: run works on 2-D matrices")
            }
            return size
        }
        if let text = args.value(.padding) {
            spec.padding = given.padding
            guard spec.padding.dimensionCount <= 2 else {
                throw LayerError.malformedValue(.key(.p), value: text, expected: "one padding or HxW: run works on 2-D matrices")
            }
        }
        if let size = try planar(.s, given.stride) { spec.stride = size }
        if let size = try planar(.d, given.dilation) { spec.dilation = size }
        if let size = try planar(.op, given.outputPadding) {
            guard args.has(.transposed) else { throw UsageError.invalid("--op is the output padding of --transposed; add --transposed or drop --op") }
            spec.outputPadding = size
        }
        spec.flip = args.has(.flip)
        spec.transposed = args.has(.transposed)
        if let mode = args.value(.padMode) {
            guard let parsed = PaddingMode(rawValue: mode) else {
                throw LayerError.malformedValue(.convolution(.paddingMode), value: mode, expected: PaddingMode.allCases.map(\.rawValue).joinedAsChoice())
            }
            spec.paddingMode = parsed
        }
        if args.value(.groups) != nil, let groups = given.groups { spec.groups = groups }
        return spec
    }

    /// `--format`/`--json` and `--precision`.
    mutating func readOutput(_ args: ParsedArguments) throws {
        if let text = args.value(.format), let parsed = DocumentFormat(rawValue: text) {
            document = parsed
        } else if let text = args.value(.format) {
            guard let parsed = RunCommand.Format(rawValue: text) else {
                throw LayerError.malformedValue(.option("--format"), value: text, expected: (RunCommand.Format.allCases.map(\.rawValue) + DocumentFormat.allCases.map { $0.rawValue + " (with --explain)" }).joinedAsChoice())
            }
            format = parsed
        }
        if args.has(.json) {
            if args.value(.format).map({ $0 != "json" }) ?? false { throw UsageError.invalid("--json and --format \(format.rawValue) disagree; give one") }
            format = .json
        }
        if let text = args.value(.precision) {
            guard let value = Int(text), (1...17).contains(value) else {
                throw LayerError.malformedValue(.option("--precision"), value: text, expected: "a whole number of significant digits from 1 to 17")
            }
            precision = value
        }
    }

    /// `--method` and `--threads`.
    mutating func readWork(_ args: ParsedArguments) throws {
        if let text = args.value(.method) {
            guard let parsed = ConvolutionMethod(rawValue: text) else {
                throw LayerError.malformedValue(.convolution(.method), value: text, expected: ConvolutionMethod.allCases.map(\.rawValue).joinedAsChoice())
            }
            method = parsed
        }
        if let text = args.value(.threads) {
            guard let value = Int(text) else {
                throw LayerError.malformedValue(.option("--threads"), value: text, expected: "a whole number from 1 to 64")
            }
            guard (1...64).contains(value) else { throw LayerError.outOfRange(.option("--threads"), value: text, requirement: .within(1...64)) }
            threads = value
        }
        if let text = args.value(.stream) {
            guard let parsed = StreamWhen(rawValue: text) else {
                throw LayerError.malformedValue(.option("--stream"), value: text, expected: StreamWhen.allCases.map(\.rawValue).joinedAsChoice())
            }
            stream = parsed
        }
    }

    /// --explain / --as-matrix, and the operands counted (usage errors before -o is opened).
    mutating func readModeAndOperands(_ args: ParsedArguments) throws {
        // --draw draws the working: text is --explain itself, svg its picture.
        let draw = try DrawingFormat.parse(args.value(.draw))
        let asMatrix = args.has(.asMatrix), explain = args.has(.explain) || draw != nil
        mode = asMatrix ? .asMatrix : explain ? .explain(at: args.value(.at), svg: draw == .svg) : .compute
        if args.has(.equivalent) {
            guard args.value(.format) == nil && !args.has(.json) else { throw UsageError.invalid("--equivalent prints the calls as text; drop --format/--json") }
            guard !asMatrix && !explain else { throw UsageError.invalid("--equivalent prints the calls instead of the result; drop --explain/--as-matrix") }
            mode = .equivalent
        }
        if asMatrix && explain { throw UsageError.invalid("give \(draw != nil ? "--draw" : "--explain") or --as-matrix, not both") }
        if explain && ((args.value(.format) != nil && document == nil) || args.has(.json)) {
            throw UsageError.invalid("--explain writes text (or --format markdown or latex); drop --format/--json")
        }
        if let document, !explain || draw == .svg {
            throw UsageError.invalid("--format \(document.rawValue) writes the working of --explain as a document; \(explain ? "give it or --draw svg" : "add --explain")")
        }
        if args.value(.at) != nil && !explain { throw UsageError.invalid("--at chooses the element --explain writes out; add --explain") }
        if args.value(.input) != nil && !asMatrix { throw UsageError.invalid("--in gives the input size for --as-matrix; give INPUT instead") }
        // Operands: INPUT KERNEL, or --in SIZE KERNEL with --as-matrix.
        operands = args.positionals
        inputSize = args.value(.input)
        if let text = args.value(.cin) {
            guard args.value(.input) != nil else { throw UsageError.invalid("--cin gives the channels of --in (with --as-matrix); INPUT's channels are its blocks") }
            let channels = try DimSize.parse(text, subject: .option("--cin"), minimum: 1)
            guard channels.values.count == 1 else {
                throw LayerError.malformedValue(.option("--cin"), value: text, expected: "one whole number ≥ 1")
            }
            inputChannels = channels.values[0]
        }
        biasArgument = args.value(.biasVector)
        outputPath = args.value(.outputFile)
        timings = args.has(.timings)
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
    }
}
