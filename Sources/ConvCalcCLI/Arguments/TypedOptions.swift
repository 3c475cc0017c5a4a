import ConvCalcCore

/// The stack a command works on, as its options give it: stage two of parsing, after
/// `ParsedArguments` (the lexer). Values are typed and checked here; the file is read and the
/// tokens parsed when `StackInput` builds the stack.
struct StackOptions {
    /// The one layer given by options (`--type`, `--k`, …), nil when there are none.
    struct SingleLayer {
        var typeName: String
        /// Each key's value as given, in schema order (`--ceil` gives `1`).
        var values: [(LayerKey, String)]
        /// The option names as the user spelt them, for messages.
        var spelt: [String]
    }

    var singleLayer: SingleLayer?
    /// `-f FILE` (`-` for stdin).
    var file: String?
    /// Layer tokens and branch words from the command line.
    var tokens: [String]
    var inputSize: DimSize?
    var inputChannels: Int?
    var dims: Int?
    /// `--no-bias` turns it off; `--bias` (the default) on.
    var defaultBias: Bool
    /// `--emit net`: print the network instead of the results.
    var emit = false

    /// - Throws: `LayerError` for a malformed `--in`, `--cin` or `--dims`; `UsageError` for
    ///   `--bias` with `--no-bias`.
    init(_ args: ParsedArguments, table: [OptionSpec]) throws {
        let layerOptions = table.filter { $0.group == .layer && args.has($0.id) }
        if !layerOptions.isEmpty {
            var values: [(LayerKey, String)] = []
            for key in LayerKey.allCases {
                guard let spec = layerOptions.first(where: { $0.layerKey == key }) else { continue }
                values.append((key, spec.isFlag ? "1" : args.value(spec.id) ?? ""))
            }
            singleLayer = SingleLayer(typeName: args.value(.type) ?? LayerType.conv.rawValue, values: values,
                                      spelt: layerOptions.map { args.name($0.id, in: table) })
        }
        file = args.value(.file)
        tokens = args.positionals
        // `convcalc params model.onnx`: a model named as a positional argument is the file.
        if file == nil, let model = tokens.firstIndex(where: StackOptions.namesModel) {
            file = tokens.remove(at: model)
        }
        if let format = args.value(.emit) {
            guard format == "net" else { throw LayerError.malformedValue(.option("--emit"), value: format, expected: "net") }
            emit = true
        }
        inputSize = try args.value(.input).map { try DimSize.parse($0, subject: .stack(.inputSize), minimum: 1) }
        inputChannels = try args.value(.cin).map { text in
            let channels = try DimSize.parse(text, subject: .stack(.inputChannels), minimum: 1)
            guard channels.values.count == 1 else {
                throw LayerError.malformedValue(.stack(.inputChannels), value: "\(channels)", expected: "one whole number ≥ 1")
            }
            return channels.values[0]
        }
        dims = try args.value(.dims).map { text -> Int in
            guard let value = Int(text), (1...maxSpatialDimensions).contains(value) else {
                throw LayerError.malformedValue(.stack(.dims), value: text, expected: (1...maxSpatialDimensions).map(String.init).joinedAsChoice())
            }
            return value
        }
        if args.has(.bias) && args.has(.noBias) {
            throw UsageError.invalid("give --bias or --no-bias, not both")
        }
        defaultBias = !args.has(.noBias)
    }
}

extension StackOptions {
    /// A positional argument that names a model file rather than a layer: `*.onnx`, no `:` or `=`.
    static func namesModel(_ token: String) -> Bool {
        token.lowercased().hasSuffix(".onnx") && !token.contains(":") && !token.contains("=")
    }
}

/// `convcalc shape`'s options, typed.
struct ShapeOptions {
    var stack: StackOptions
    var style: ShapeCommand.OutputStyle
    /// `--out` as given; the solver parses it once it knows `--in` is given.
    var target: String?
    /// `--draw` and the options that shape the drawing.
    var draw: DrawOptions?
    /// `-o FILE`.
    var outputPath: String?
    /// `--format markdown|latex`.
    var document: DocumentFormat?

    /// `--solve`: the unknown keys, in the order given.
    var solve: [SolveKey]?

    init(_ args: ParsedArguments) throws {
        style = try ShapeCommand.OutputStyle(args)
        document = try CommonOptions.document(args)
        stack = try StackOptions(args, table: ShapeCommand.options)
        target = args.value(.out)
        if let text = args.value(.solve) {
            let unknowns = try ShapeOptions.unknowns(text)
            guard target != nil else { throw UsageError.invalid("--solve needs --out, the output size the unknowns must give") }
            try stack.markUnknown(unknowns)
            solve = unknowns
            if stack.emit || args.value(.draw) != nil { throw UsageError.invalid("--solve lists solutions; give it or \(stack.emit ? "--emit" : "--draw"), not both") }
        }
        draw = try DrawOptions(args, table: ShapeCommand.options)
        outputPath = args.value(.outputFile)
        if draw != nil && target != nil { throw UsageError.invalid("give --draw or --out, not both (--draw draws the layer as given)") }
        if draw != nil && stack.emit { throw UsageError.invalid("give --draw or --emit, not both") }
    }
}

extension ShapeOptions {
    /// `--solve k,s,p`: the keys, each once; `in` alone.
    static func unknowns(_ text: String) throws -> [SolveKey] {
        do {
            let names = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0).filter { $0 != " " } }
            let keys = try names.map { name -> SolveKey in
                guard let key = SolveKey(rawValue: name) else {
                    throw LayerError.malformedValue(.option("--solve"), value: text, expected: "keys among " + SolveKey.allCases.map(\.rawValue).joinedAsChoice() + ", separated by commas (e.g. k,s,p)")
                }
                return key
            }
            guard Set(keys).count == keys.count else { throw UsageError.invalid("--solve \(text) names a key twice") }
            if keys.contains(.input) && keys.count > 1 { throw UsageError.invalid("--solve in is solved alone (the input through the layers as given); give the other keys") }
            return keys
        }
    }
}

extension StackOptions {
    /// Unknown keys of `--solve` left out of the one layer get placeholders the solver
    /// replaces, at the top of their bounds so that the given keys pass the layer's checks
    /// (a pool's padding at most k/2, op below max(s, d)); a key both given and unknown is an error.
    mutating func markUnknown(_ unknowns: [SolveKey]) throws {
        let placeholders: [LayerKey: Int] = [.k: SolveBounds.kernel.upperBound, .s: SolveBounds.stride.upperBound, .d: SolveBounds.dilation.upperBound]
        let layerKeys = unknowns.filter { $0 != .input }.compactMap { LayerKey(rawValue: $0.rawValue) }
        guard !layerKeys.isEmpty else { return }
        // No layer given: a conv whose keys are the unknowns.
        if singleLayer == nil, tokens.isEmpty, file == nil {
            singleLayer = SingleLayer(typeName: LayerType.conv.rawValue, values: [], spelt: [])
        }
        if var single = singleLayer {
            for key in layerKeys where single.values.contains(where: { $0.0 == key }) {
                throw UsageError.invalid("--solve \(key.rawValue) asks for \(key.rawValue), which is also given (--\(key.rawValue)); give one")
            }
            for key in layerKeys { if let value = placeholders[key] { single.values.append((key, "\(value)")) } }
            singleLayer = single
            return
        }
        guard tokens.count == 1, file == nil, let token = tokens.first else {
            throw UsageError.invalid("--solve \(layerKeys.map(\.rawValue).joined(separator: ",")) solves one layer: give it by options or as one token")
        }
        let parts = token.split(separator: ":", maxSplits: 1).map(String.init)
        let given = parts.count > 1 ? parts[1].split(separator: ",").map { String($0.prefix { $0 != "=" }) } : []
        for key in layerKeys where given.contains(key.rawValue) {
            throw UsageError.invalid("--solve \(key.rawValue) asks for \(key.rawValue), which the token '\(token)' gives; give one")
        }
        let type = LayerType(rawValue: parts[0]) ?? LayerType.aliases[parts[0]]
        let added = layerKeys.compactMap { key in placeholders[key].flatMap { type?.keys.contains(key) == true ? "\(key.rawValue)=\($0)" : nil } }
        if !added.isEmpty { tokens = [parts[0] + ":" + (added + (given.isEmpty ? [] : [parts[1]])).joined(separator: ",")] }
    }
}

/// `convcalc rf`'s options, typed.
struct ReceptiveFieldOptions {
    var stack: StackOptions
    var style: ShapeCommand.OutputStyle
    /// `--map`: draw the path counts.
    var map: Bool
    /// `--draw svg`: the heat map as SVG alone (`--draw text` is `--map`).
    var svg: Bool
    /// `--solve d --out RF`: the field the dilations must reach.
    var target: String?
    /// `-o FILE`.
    var outputPath: String?
    /// `--format markdown|latex`.
    var document: DocumentFormat?

    init(_ args: ParsedArguments) throws {
        style = try ShapeCommand.OutputStyle(args)
        document = try CommonOptions.document(args)
        stack = try StackOptions(args, table: ReceptiveFieldCommand.options)
        let format = try DrawingFormat.parse(args.value(.draw))
        map = args.has(.map) || format != nil
        svg = format == .svg
        if let keys = args.value(.solve) {
            guard keys == "d" else { throw LayerError.malformedValue(.option("--solve"), value: keys, expected: "d (rf solves for the dilations; shape --solve finds the other keys)") }
            guard let out = args.value(.out) else { throw UsageError.invalid("--solve d needs --out, the receptive field wanted") }
            target = out
            if map { throw UsageError.invalid("--solve d lists dilations; give it or --map/--draw, not both") }
        } else if args.value(.out) != nil {
            throw UsageError.invalid("--out gives the field --solve d reaches; add --solve d")
        }
        outputPath = args.value(.outputFile)
        if format != nil && style != .text {
            throw UsageError.invalid("--draw prints a picture; give it or \(style == .json ? "--json" : "-q"), not both")
        }
    }
}

/// `convcalc params`'s options, typed: the stack, and with `--vs` the second one (sharing
/// the first's input size, channels, dimensions, bias default and output style).
struct ParamsOptions {
    var stack: StackOptions
    var comparison: StackOptions?
    var style: ShapeCommand.OutputStyle
    /// Batch, number formats and training settings, when any memory or training option is given.
    var run: RunSettings?
    var train = false
    var top: Int?
    /// `--count TOOL`.
    var countingTool: CountingTool?
    /// `--peak` and `--bandwidth`, in FLOP/s and byte/s.
    var machine: (peak: Double, bandwidth: Double)?
    /// `--format markdown|latex`.
    var document: DocumentFormat?

    init(_ args: ParsedArguments) throws {
        var first = args
        var second = args.comparison
        // Options given after --vs apply to both stacks: read them once shared.
        if second != nil { try first.share(ParamsCommand.shared + [.quiet, .json, .format], with: &second!, table: ParamsCommand.options) }
        style = try ShapeCommand.OutputStyle(first)
        document = try CommonOptions.document(first)
        (run, train, top) = try RunOptionsTable.settings(first)
        countingTool = try RunOptionsTable.countingTool(first)
        machine = try RunOptionsTable.machine(first)
        stack = try StackOptions(first, table: ParamsCommand.options)
        guard let second else { return }
        do {
            comparison = try StackOptions(second, table: ParamsCommand.options)
        } catch let error as UserFacingError {
            throw ComparisonError(underlying: error)
        }
    }
}

extension ShapeCommand.OutputStyle {
    /// `-q` (the bare result), `--json`, or the text (shape, rf and params alike).
    init(_ args: ParsedArguments) throws {
        if args.has(.quiet) && args.has(.json) { throw UsageError.invalid("give -q or --json, not both") }
        self = args.has(.json) ? .json : args.has(.quiet) ? .quiet : .text
    }
}
