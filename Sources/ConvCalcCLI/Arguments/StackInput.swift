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
import ConvCalcONNX

/// What a command may use besides its arguments: stdin (once), files, and how its text
/// output is laid out.
final class InputContext {
    private let stdin: InputSource
    private var stdinUsed = false
    /// The width text output fits and its characters (`Terminal.layout`, and `--ascii`).
    let layout: TextLayout
    /// How the user wrote the layer keys, for messages: by options unless layers come as
    /// tokens (`StackInput` says so).
    var vocabulary: Vocabulary = .options
    /// Where relative file names are found; nil: the process's working directory.
    let directory: String?
    /// What the stack noticed about how it was given (`--in` replacing a file's `input:`
    /// line, a size that looks like C×H×W), written on stderr before the warnings, each once.
    private(set) var notices: [StackNotice] = []
    /// The last stack built, as `--emit net` prints it (a model's conversion, with node names).
    var emittedNetwork: String?

    func notice(_ notice: StackNotice) {
        if !notices.contains(notice) { notices.append(notice) }
    }

    init(stdin: InputSource, layout: TextLayout = .standard, directory: String? = nil) {
        self.stdin = stdin
        self.layout = layout
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

    /// The size of `path` (or stdin for `-`) when it is a regular file (known without reading it).
    func knownSize(_ path: String) -> Int? {
        if path == "-" { return stdinUsed ? nil : stdin.knownSize() }
        var info = stat()
        guard stat(InputContext.resolve(path, in: directory), &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(info.st_size)
    }

    /// Whether `path` names something (`-`: stdin not read yet).
    func exists(_ path: String) -> Bool {
        if path == "-" { return !stdinUsed }
        var info = stat()
        return stat(InputContext.resolve(path, in: directory), &info) == 0
    }

    /// `path` (or stdin for `-`, at most once) to be read piece by piece.
    func pieces(_ path: String) throws -> InputPieces {
        if path == "-" {
            guard !stdinUsed else { throw InputError.stdinTwice }
            stdinUsed = true
            return try stdin.pieces()
        }
        return try named(path) { resolved in
            let fd = open(resolved, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw InputError.unreadable(path: resolved, reason: FileReader.describeErrno()) }
            do {
                return try InputPieces(descriptor: fd, name: resolved, owned: true)
            } catch {
                close(fd)
                throw error
            }
        }
    }

    /// Reads `path` (or stdin for `-`) as bytes, without a UTF-8 check; large files are mapped
    /// (`populate`: read in at once).
    func readBytes(_ path: String, populate: Bool = true) throws -> FileBytes {
        if path == "-" {
            guard !stdinUsed else { throw InputError.stdinTwice }
            stdinUsed = true
            return FileBytes(try stdin.readAllBytes())
        }
        return try named(path) { try FileReader.map(path: $0, populate: populate) }
    }
}

/// Builds the layer stack from `--k …` options, `-f FILE` and positional tokens.
enum StackInput {
    static func build(_ args: ParsedArguments, table: [OptionSpec], context: InputContext) throws -> LayerStack {
        try build(StackOptions(args, table: table), context: context)
    }

    static func build(_ options: StackOptions, context: InputContext) throws -> LayerStack {
        var options = options
        var words: [StackWord] = []
        var model: OnnxNetwork?
        if let path = options.file {
            switch try NetworkSource.read(path, options: options, context: context) {
            case let .text(text):
                words = StackSyntax.words(ofFile: text, name: path == "-" ? "<stdin>" : path)
            case let .model(network):
                if let count = network.graphCount {
                    for notice in network.notices(given: options) { context.notice(notice) }
                    throw GraphModelError(path: path == "-" ? "<stdin>" : path, count: count)
                }
                model = network
                words = network.words
                if let dims = options.dims, dims != network.dims {
                    throw UsageError.invalid("--dims \(dims): the model '\(path)' is \(network.dims)-D (its input is N×C×\(network.dims == 1 ? "L" : network.dims == 2 ? "H×W" : "D×H×W"))")
                }
                // The conversion applied --in and --cin; its input: line holds them.
                for notice in network.notices(given: options) { context.notice(notice) }
                (options.inputSize, options.inputChannels, options.dims) = (nil, nil, network.dims)
            }
        }
        words += options.tokens.map { StackWord($0) }
        context.vocabulary = options.singleLayer == nil ? .tokens : .options
        words = try StackExpansion.expand(words, file: options.file) { path, from in try includedWords(path, from: from, context: context) }
        if options.emit { context.emittedNetwork = model?.text ?? StackSyntax.text(of: words).joined(separator: "\n") + "\n" }
        var (layers, nodes) = try StackSyntax.parse(words)
        if let single = options.singleLayer {
            guard layers.isEmpty else {
                throw UsageError.invalid("give the layer either by options (\(single.spelt.joined(separator: ", "))) or as tokens/-f, not both; e.g. conv:k=3,s=2 instead of --k 3 --s 2")
            }
            layers = [try singleLayer(single)]
            nodes = [.layer(0)]
        }
        guard !layers.isEmpty else {
            throw UsageError.invalid("no layer given; give one by options (--k 3 --s 2) or as tokens (conv:k=3 maxpool:k=2), or -f FILE")
        }
        let stack = try LayerStack(layers: layers, nodes: nodes, inputSize: options.inputSize, inputChannels: options.inputChannels,
                                   dims: options.dims, defaultBias: options.defaultBias)
        for notice in stack.notices { context.notice(notice) }
        return stack
    }

    /// The words of `include PATH`: PATH relative to the directory of the file that includes
    /// it (the working directory for a command-line `include`); named as written there.
    static func includedWords(_ path: String, from word: StackWord, context: InputContext) throws -> (name: String, words: [StackWord]) {
        var resolved = path
        if !path.hasPrefix("/"), let location = word.location {
            // `dir/net.txt:12:3` → `dir/`: the including file's directory.
            let file = location.split(separator: ":", omittingEmptySubsequences: false).dropLast(2).joined(separator: ":")
            if let slash = file.lastIndex(of: "/") { resolved = String(file[...slash]) + path }
        }
        guard resolved != "-" else { throw UsageError.invalid("include - : an included file cannot be standard input") }
        return (resolved, StackSyntax.words(ofFile: try context.read(resolved), name: resolved))
    }

    /// The one layer given by `--type`, `--k`, `--s`, …: turned into `key=value` assignments
    /// so it goes through the same parser and rules as a token.
    static func singleLayer(_ single: StackOptions.SingleLayer) throws -> Layer {
        if single.typeName == LayerType.input.rawValue {
            throw UsageError.invalid("--type input is not a layer; give the input with --in and --cin")
        }
        return try Layer.make(typeName: single.typeName, assignments: single.values.map { ($0.0.rawValue, $0.1) })
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return String(self[..<range.lowerBound]) + replacement + String(self[range.upperBound...])
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

extension StackNotice {
    /// `note` for a setting that replaced another as asked; `warning` for a likely mistake.
    var label: String {
        switch self {
        case .replacesInputLine, .replacesModelInput: return "note"
        case .channelsFirst, .model: return "warning"
        }
    }

    /// The notice as the command line words it.
    var text: String {
        switch self {
        case let .replacesInputLine(setting, given, line):
            let key = setting == .inputSize ? LayerKey.in.rawValue : LayerKey.c.rawValue
            return "\(setting.optionName) \(given) replaces the input line's \(key)=\(line)"
        case let .replacesModelInput(given, model):
            return "--in \(given) replaces the model's input size \(model)"
        case let .model(text):
            return text
        case let .channelsFirst(size):
            let (c, h, w) = (size.values[0], size.values[1], size.values[2])
            return "the input size \(size) is read as D×H×W, a 3-D input \(c) deep; for a \(c)-channel \(h)×\(w) image give --cin \(c) --in \(h)x\(w) (--dims 3 keeps it 3-D and silences this)"
        }
    }
}
