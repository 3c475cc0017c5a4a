import ConvCalcCore

/// What a command may use besides its arguments: stdin (once), files, the terminal width.
final class InputContext {
    private let stdin: InputSource
    private var stdinUsed = false
    /// Columns to lay wide output (heat maps) out in: the terminal's, else 80.
    let width: Int
    /// Where relative file names are found; nil: the process's working directory.
    let directory: String?

    init(stdin: InputSource, width: Int? = nil, directory: String? = nil) {
        self.stdin = stdin
        self.width = max(width ?? TextWrap.width, 20)
        self.directory = directory
    }

    /// `path` under `directory` when it is relative (not `-`, not empty, not from `/`).
    static func resolve(_ path: String, in directory: String?) -> String {
        guard let directory, !path.isEmpty, path != "-", !path.hasPrefix("/") else { return path }
        return directory + "/" + path
    }

    /// Runs `body` on the resolved path; its errors name `path` as the user gave it.
    private func named<R>(_ path: String, _ body: (String) throws -> R) throws -> R {
        let resolved = InputContext.resolve(path, in: directory)
        do {
            return try body(resolved)
        } catch let error as InputError where resolved != path {
            switch error {
            case let .unreadable(_, reason): throw InputError.unreadable(path: path, reason: reason)
            case .notText: throw InputError.notText(path: path)
            case let .tooLarge(_, limit): throw InputError.tooLarge(path: path, limit: limit)
            case let .cannotHold(_, bytes, available): throw InputError.cannotHold(path: path, bytes: bytes, available: available)
            case .stdinTwice: throw error
            }
        }
    }

    /// Reads `path`, or stdin for `-` (at most once).
    func read(_ path: String) throws -> String {
        if path == "-" {
            guard !stdinUsed else { throw InputError.stdinTwice }
            stdinUsed = true
            return try stdin.readAll()
        }
        return try named(path) { try FileReader.read(path: $0) }
    }

    /// Reads `path` (or stdin for `-`) as bytes, without a UTF-8 check; large files are mapped.
    func readBytes(_ path: String) throws -> FileBytes {
        if path == "-" {
            guard !stdinUsed else { throw InputError.stdinTwice }
            stdinUsed = true
            return FileBytes(try stdin.readAllBytes())
        }
        return try named(path) { try FileReader.map(path: $0) }
    }
}

/// Builds the layer stack from `--k …` options, `-f FILE` and positional tokens.
enum StackInput {
    static func build(_ args: ParsedArguments, table: [OptionSpec], context: InputContext) throws -> LayerStack {
        let layerOptions = table.filter { $0.group == .layer && args.has($0.id) }
        var words: [StackWord] = []
        if let path = args.value(.file) {
            words = StackSyntax.words(ofFile: try context.read(path), name: path == "-" ? "<stdin>" : path)
        }
        words += args.positionals.map { StackWord($0) }
        var (layers, nodes) = try StackSyntax.parse(words)
        if !layerOptions.isEmpty {
            guard layers.isEmpty else {
                let names = layerOptions.map { args.name($0.id, in: table) }.joined(separator: ", ")
                throw UsageError.invalid("give the layer either by options (\(names)) or as tokens/-f, not both; e.g. conv:k=3,s=2 instead of --k 3 --s 2")
            }
            layers = [try singleLayer(args, options: layerOptions)]
            nodes = [.layer(0)]
        }
        guard !layers.isEmpty else {
            throw UsageError.invalid("no layer given; give one by options (--k 3 --s 2) or as tokens (conv:k=3 maxpool:k=2), or -f FILE")
        }
        let inputSize = try args.value(.input).map { try DimSize.parse($0, key: "--in", minimum: 1) }
        let inputChannels = try args.value(.cin).map {
            try DimSize.parse($0, key: "--cin", minimum: 1)
        }
        if let channels = inputChannels, channels.values.count != 1 {
            throw LayerError.malformedValue(key: "--cin", value: "\(channels)", expected: "one whole number ≥ 1")
        }
        let dims = try args.value(.dims).map { text -> Int in
            guard let value = Int(text), (1...3).contains(value) else {
                throw LayerError.malformedValue(key: "--dims", value: text, expected: "1, 2 or 3")
            }
            return value
        }
        if args.has(.bias) && args.has(.noBias) {
            throw UsageError.invalid("give --bias or --no-bias, not both")
        }
        return try LayerStack(layers: layers, nodes: nodes, inputSize: inputSize, inputChannels: inputChannels?.values[0],
                              dims: dims, defaultBias: !args.has(.noBias))
    }

    /// The one layer given by `--type`, `--k`, `--s`, …: turned into `key=value` assignments
    /// so it goes through the same parser and rules as a token.
    static func singleLayer(_ args: ParsedArguments, options: [OptionSpec]) throws -> Layer {
        let typeName = args.value(.type) ?? "conv"
        if typeName == LayerType.input.rawValue {
            throw UsageError.invalid("--type input is not a layer; give the input with --in and --cin")
        }
        var assignments: [(String, String)] = []
        for key in LayerKey.allCases {
            guard let spec = options.first(where: { $0.layerKey == key }) else { continue }
            assignments.append((key.rawValue, spec.isFlag ? "1" : args.value(spec.id) ?? ""))
        }
        do {
            return try Layer.make(typeName: typeName, assignments: assignments)
        } catch let error as LayerError {
            throw OptionLayerError(error: error, options: options)
        }
    }
}

/// A layer error from single-layer options, reworded to name the option (`--k`) not the key (`k`).
struct OptionLayerError: UserFacingError {
    let error: LayerError
    let options: [OptionSpec]

    var message: String {
        var text = error.message
        for spec in options {
            guard let key = spec.layerKey?.rawValue, let name = spec.names.first else { continue }
            text = text.replacingFirst("\(key)=", with: "\(name) ")
        }
        if case .unknownKey(let type, let key, _) = error,
           let spec = CommonOptions.layer.first(where: { $0.layerKey?.rawValue == key }) {
            return "option '\(spec.names.first!)' does not apply to layer type '\(type)'; " + text.afterFirst("; ")
        }
        if case .missingKey(let type, let key, _) = error,
           let spec = CommonOptions.layer.first(where: { $0.layerKey?.rawValue == key }) {
            return "layer type '\(type)' needs \(spec.names.joined(separator: "/"))"
        }
        return text
    }
    var category: ErrorCategory { error.category }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return String(self[..<range.lowerBound]) + replacement + String(self[range.upperBound...])
    }

    func afterFirst(_ separator: String) -> String {
        guard let range = range(of: separator) else { return self }
        return String(self[range.upperBound...])
    }

    /// The first range of `target` (stdlib-only; no Foundation).
    func range(of target: String) -> Range<Index>? {
        guard !target.isEmpty else { return nil }
        var start = startIndex
        while start < endIndex {
            if self[start...].hasPrefix(target) {
                return start..<index(start, offsetBy: target.count)
            }
            start = index(after: start)
        }
        return nil
    }
}
