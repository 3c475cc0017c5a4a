import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// Every option of every command, by identity; a command's table says which it takes.
enum OptionID: Hashable {
    /// A single-layer option: the twin of a token key (`--k` for `k`), from `LayerSchema`.
    case layer(LayerKey)
    case type
    // Stack options.
    case input, cin, file, dims, bias, noBias, emit
    // Command options.
    case out, map, vs, solve
    // Drawings.
    case draw, cell, view, composite, animate
    // params: memory and training.
    case memory, batch, inPlace, dtype, weightDtype, train, optimizer, masterWeights, freezeUpto, top, count, peak, bandwidth
    // run options.
    case flip, transposed, padMode, precision, format, outputFile, biasVector, explain, at, asMatrix
    case method, threads, timings, like, equivalent, stream
    // Output options.
    case quiet, json, noWarnings, help, ascii
    // Top-level options.
    case version, completions

    // The layer options `run` names in its option conversion.
    static let padding = OptionID.layer(.p), stride = OptionID.layer(.s), dilation = OptionID.layer(.d)
    static let outputPadding = OptionID.layer(.op), groups = OptionID.layer(.g)
}

/// How options are grouped in help.
enum OptionGroup: String, CaseIterable {
    case layer = "LAYER OPTIONS (one layer; or give layers as tokens)"
    case stack = "STACK OPTIONS"
    case command = "OPTIONS"
    case output = "OUTPUT OPTIONS"
}

/// One row of a command's option table: it drives parsing, `--help` and the man-page check.
struct OptionSpec {
    let id: OptionID
    /// Every spelling, the preferred one first: `["--k", "--kernel"]`, `["-q", "--quiet"]`.
    let names: [String]
    /// The value's placeholder (`SIZE`); `nil` for a flag.
    let valueName: String?
    let group: OptionGroup
    let help: String
    let defaultText: String?
    /// The man page's text, where it says more than `help` (it then includes any default).
    private(set) var manText: String?
    /// For a flag a user may try to give a value (`--bias 0`): what to write instead.
    private(set) var valueHint: String?
    /// For an option whose value may be left out (`--draw`, `--draw svg`): the words it
    /// takes, the first the value when none is given. Only these words are read as its
    /// value, so `--draw conv:k=3` is `--draw text` and a layer.
    private(set) var optionalWords: [String] = []
    /// For an optional value: other words it reads as its (wrong) value, to be refused with
    /// the words it takes, rather than taken for an operand (`--draw pdf`).
    private(set) var claimsWord: (String) -> Bool = { _ in false }

    init(_ id: OptionID, _ names: [String], value: String? = nil, group: OptionGroup, help: String,
         default defaultText: String? = nil) {
        self.id = id
        self.names = names
        self.valueName = value
        self.group = group
        self.help = help
        self.defaultText = defaultText
    }

    /// The option of a layer key, from its schema row: names, value name, help and default;
    /// a command may word the help and default its own way (`run`).
    init(key: LayerKey, group: OptionGroup = .layer, help: String? = nil, default defaultText: String? = nil) {
        let row = key.spec
        // A flag's default is its absence: no "(default: 0)" after `--ceil`.
        let isFlag = row.value.valueName == nil
        self.init(.layer(key), row.optionNames, value: row.value.valueName, group: group,
                  help: help ?? row.optionHelp ?? row.meaning, default: defaultText ?? (isFlag ? nil : row.defaultText))
    }

    /// The same option with a longer text for the man page.
    func manual(_ text: String) -> OptionSpec {
        var copy = self
        copy.manText = text
        return copy
    }

    /// The same flag, with what to write when it is given a value.
    func hintingValue(_ text: String) -> OptionSpec {
        var copy = self
        copy.valueHint = text
        return copy
    }

    /// The same option, its value one of `words` and optional (the first when left out).
    func optionalValue(_ words: [String], claiming claims: @escaping (String) -> Bool = { _ in false }) -> OptionSpec {
        var copy = self
        copy.optionalWords = words
        copy.claimsWord = claims
        return copy
    }

    /// The value placeholder as help and the man page write it: `[FORMAT]` when optional.
    var valueSyntax: String? {
        valueName.map { optionalWords.isEmpty ? $0 : "[" + $0 + "]" }
    }

    /// The token key this option sets for a single layer.
    var layerKey: LayerKey? {
        if case let .layer(key) = id { return key }
        return nil
    }

    var isFlag: Bool { valueName == nil }

    /// Options whose value is a size or a padding read per dimension (`--in`, `--k`, `--p`):
    /// they also take the tuple forms of Python, `224,224` and `(224, 224)`.
    var readsSize: Bool { valueName == "SIZE" || valueName == "PAD" }
}

/// The option tables shared by the layer commands.
enum CommonOptions {
    /// `--type` and one option per layer key that has option names (`LayerSchema`).
    static let layer: [OptionSpec] = [
        OptionSpec(.type, ["--type"], value: "TYPE", group: .layer,
                   help: "layer type: " + LayerType.allCases.filter { $0 != .input }.map(\.rawValue).joined(separator: ", ") + " (deconv = tconv)",
                   default: "conv"),
    ] + LayerSchema.rows.filter { !$0.optionNames.isEmpty }.map { OptionSpec(key: $0.key) }

    static let stack: [OptionSpec] = [
        OptionSpec(.input, [StackSetting.inputSize.optionName], value: "SIZE", group: .stack, help: "input spatial size, e.g. 32, 224x224 or 16x112x112"),
        OptionSpec(.cin, [StackSetting.inputChannels.optionName], value: "C", group: .stack, help: "input channels"),
        OptionSpec(.file, ["-f", "--file"], value: "FILE", group: .stack,
                   help: "read layers from FILE, tokens separated by spaces or lines, # comments ('-' for stdin), or an ONNX model; tokens on the command line follow them")
            .manual("Read layers from FILE: tokens separated by spaces or line ends, as on the command line (one a line reads best); # starts a comment, blank lines are ignored, spaces next to : , and = stay inside a token; - reads standard input. Lines may end with LF, CRLF or a lone CR; a UTF-8 byte-order mark at the start is skipped. Tokens on the command line are appended after the file's layers. FILE may be an ONNX model, recognised by its content (see ONNX MODELS); a model may also be given as an argument, MODEL.onnx."),
        OptionSpec(.emit, ["--emit"], value: "FORMAT", group: .stack,
                   help: "print the network in convcalc's syntax instead (net; an ONNX model converted, a file's repeat and def expanded)")
            .manual("Print the network in convcalc's own syntax instead of the results: --emit net. For an ONNX model, its conversion, one layer a line with the node's name as a comment, so it can be read and edited and gives the same numbers; for a network file, its layers with repeat, def and include expanded."),
        OptionSpec(.dims, [StackSetting.dims.optionName], value: "N", group: .stack,
                   help: "spatial dimensions (1, 2 or 3) when every size is a single number", default: "2"),
        OptionSpec(.bias, ["--bias"], group: .stack, help: "convolutions have a learnable bias unless a token says bias=0 (the default)")
            .hintingValue(biasHint),
        OptionSpec(.noBias, ["--no-bias"], group: .stack, help: "convolutions have no bias unless a token says bias=1; se and fc keep theirs unless bias=0")
            .hintingValue(biasHint),
    ]

    /// `--bias` is a flag here, values only in `run`.
    static let biasHint = "layers have biases unless --no-bias (every convolution) or a token's bias=0 (one layer); only run takes bias values"

    static let output: [OptionSpec] = [
        OptionSpec(.quiet, ["-q", "--quiet"], group: .output, help: "print only the bare result")
            .manual("Print only the bare result. shape: the final output size (28, 28x26); without --in, the stack's formula of in; with --out, the padding as --p takes it (for tconv, the output padding, or p=P,op=N when the padding had to change). rf: the final receptive field (15, 15x7; after gap or fc the input size, or all without --in). params: the total number of parameters (with --vs, two lines: A, then B)."),
        OptionSpec(.json, ["--json"], group: .output, help: "print one JSON object")
            .manual("Print one JSON object: {\"out\": [...], \"in\": [...], \"dims\": N, \"layers\": [{\"layer\": TOKEN, \"type\", \"in\": [...], \"out\": [...], \"effective_kernel\", \"stride\", \"padding\": [[pb, pa], ...], \"ceil_dropped\"}], \"merges\": [...], \"tree\": [...], \"warnings\": [...]}. Spatial quantities are always arrays, one number per dimension. Without --in, \"out\" is null and \"formula\" and \"min_in\" are given; with --out, {\"layer\", \"in\", \"out\", \"padding\", \"symmetric\", \"output_padding\", \"padding_changed\"}. rf: {\"rf\": [...], \"jump\": [...], \"start\": [...], \"coverage\": x, \"coverage_per_dim\", \"whole_input\", \"holes_first_at\", \"field\": [[lo, hi], ...], \"counts\": [[...], ...], \"counts_joint\", \"layers\": [{\"layer\", \"effective_kernel\", \"span\", \"jump\", \"rf\", \"start\", ...}], \"merges\": [...], \"tree\": [...]}; jump and start are numbers, with the exact fractions as text in \"jump_text\" and \"start_text\" (\"-9/2\", an ASCII minus); \"coverage\" is in [0, 1]. \"counts_joint\" (nested arrays, the first dimension outermost) appears only when branches of differing shapes make the counts joint; \"counts\" and \"coverage_per_dim\" then hold the counts summed over the other dimensions. params: {\"params\": N, \"weights\": N, \"biases\": N, \"macs\": N or null, \"flops\", \"sampling_macs\", \"layers\": [{\"layer\", \"type\", \"params\", \"weights\", \"biases\", \"macs\", \"out\": [C, ...spatial], \"parts\": [...]}], \"merges\": [...], \"tree\": [...], \"conventions\": {...}}; with --vs, {\"a\": {...}, \"b\": {...}, \"params_ratio\", \"macs_ratio\" (B/A), \"params_ratio_a_b\", \"macs_ratio_a_b\" (A/B)}. \"layers\" and \"merges\" list the layers and merges flat, in the order written; \"tree\" keeps the branch structure: the top-level nodes in order, a layer as its \"layers\" object with \"index\" (1-based) first, a merge as {\"merge\": \"add\", \"concat\" or \"split\", ..., \"branches\": [[NODE, ...], ...]} (an empty branch is the identity), so a script can rebuild the nesting. A split's merge has \"shares\", the channels of each branch: in shape and rf as given (null for equal shares), in params as used (null when the channels are unknown)."),
        noWarnings,
        ascii,
        OptionSpec(.help, ["-h", "--help"], group: .output, help: "show this help"),
    ]

    /// `-o FILE`: run's result, or a drawing, written to a file atomically.
    static let outputFile = OptionSpec(.outputFile, ["-o", "--output"], value: "FILE", group: .output,
                   help: "write to FILE (a regular file through a temporary file renamed at the end, so a failed or interrupted run leaves no partial file; devices and FIFOs in place)")
            .manual("Write the output (the result, a drawing) to FILE instead of standard output. A regular file (new, existing, or reached through symbolic links) is written through a temporary file created exclusively, under an unpredictable name (.convcalc-XXXXXX), in the directory of the file the links lead to, and renamed over it at the end: a failed or interrupted run (SIGINT, SIGTERM, SIGHUP, SIGQUIT, ulimit -f, a full disk) never leaves a partial or temporary file, links stay links, and an existing file keeps its mode and owner (a new one gets 0666 less the umask, as with the shell's >). A character device, FIFO or socket (/dev/null, a named pipe) is written in place and never replaced; - and /dev/stdout, /dev/stderr and /dev/fd/N write to that descriptor. The file is opened before any work, so a path that cannot be written is reported at once.")

    /// `--no-warnings`, for every command (errors still go to stderr).
    static let noWarnings = OptionSpec(.noWarnings, ["--no-warnings"], group: .output,
                                       help: "do not print warnings and notes on stderr (errors still are; --json keeps its \"warnings\")")

    /// `--ascii` (run's table has it too). The CLI looks for it before parsing, as for `-h`,
    /// so that usage errors follow it; `Terminal.charset` gives the default.
    static let ascii = OptionSpec(.ascii, ["--ascii"], group: .output,
                                  help: "write text in ASCII only (x, ->, floor( ), <= for the Unicode signs); the default when the locale (LC_ALL, LC_CTYPE or LANG) is set and not UTF-8")
        .manual("Write text in ASCII only: × as x, → as ->, · as *, ≤ as <=, the minus sign as -, the floor and ceiling brackets as floor( ) and ceil( ), the ellipsis as ...; any other character outside ASCII, as in a file name, as \\u{E9}. Tables, the working, the bare results of -q (shape's formula of in), help, warnings and errors alike; JSON is unchanged (it is UTF-8). This is the default when the locale, the first of LC_ALL, LC_CTYPE and LANG that is set and not empty, does not name UTF-8 (C, POSIX, en_US); with none of them set, output is Unicode.")
}

/// The options of `convcalc` itself, before any command.
enum TopLevelOptions {
    static let options: [OptionSpec] = [
        OptionSpec(.help, ["-h", "--help"], group: .command, help: "show this help"),
        OptionSpec(.version, ["-V", "--version"], group: .command, help: "show the version"),
        OptionSpec(.completions, ["--completions"], value: "SHELL", group: .command,
                   help: "print the completion script for " + CompletionShell.allCases.map(\.rawValue).joinedAsChoice())
            .manual("Print the completion script for SHELL (" + CompletionShell.allCases.map(\.rawValue).joinedAsChoice() + ") on standard output. It is generated from the option tables: it completes the commands, every option, the layer types and keys of tokens, the values of options that take one of a few words, and file names. See COMPLETIONS."),
    ]

    /// The top-level option spelt `name`, if any.
    static func find(_ name: String) -> OptionID? {
        options.first { $0.names.contains(name) }?.id
    }
}

/// A usage mistake on the command line (exit 2).
enum UsageError: UserFacingError {
    case unknownOption(String, suggestion: String?)
    case missingValue(option: String, valueName: String)
    /// The word after a value option is another option: the value was left out.
    case valueIsOption(option: String, valueName: String, next: String)
    case unexpectedValue(option: String)
    case repeated(option: String)
    case unknownCommand(String, suggestion: String?)
    case invalid(String)

    var message: String {
        switch self {
        case let .unknownOption(name, suggestion):
            return "unknown option '\(name)'" + (suggestion.map { "; did you mean '\($0)'?" } ?? "")
        case let .missingValue(option, valueName):
            return "option '\(option)' needs a value (\(valueName))"
        case let .valueIsOption(option, valueName, next):
            return "option '\(option)' needs a value (\(valueName)) before '\(next)'"
        case let .unexpectedValue(option):
            return "option '\(option)' takes no value"
        case let .repeated(option):
            return "option '\(option)' is given more than once"
        case let .unknownCommand(name, suggestion):
            let hint = suggestion.map { " (did you mean '\($0)'?)" } ?? ""
            return "unknown command '\(name)'\(hint); commands: " + (commands.map(\.name) + ["help"]).joined(separator: ", ")
        case let .invalid(text):
            return text
        }
    }
    var category: ErrorCategory { .usage }
}

/// The command line split into options and positionals (stage one: no meaning yet).
///
/// Accepts `--name value`, `--name=value`, flags, `--` (everything after is positional)
/// and `-` (a positional meaning stdin). A value option consumes the next argument even if
/// it starts with `-`, so `--p -1` reaches validation and is reported as out of range.
struct ParsedArguments {
    private(set) var values: [OptionID: String] = [:]
    /// The spelling used for each option, for messages.
    private(set) var spelling: [OptionID: String] = [:]
    private(set) var flags: Set<OptionID> = []
    private(set) var positionals: [String] = []
    /// Everything after `--vs`: a second stack, parsed with the same table (an array only
    /// because a struct cannot hold itself; it has at most one element).
    private var comparisons: [ParsedArguments] = []
    var comparison: ParsedArguments? { comparisons.first }

    init(_ args: [String], table: [OptionSpec]) throws {
        var args = args
        var index = 0
        var optionsEnded = false
        while index < args.count {
            let arg = args[index]
            index += 1
            if optionsEnded || arg == "-" || !arg.hasPrefix("-") {
                positionals.append(arg)
                continue
            }
            if arg == "--" {
                optionsEnded = true
                continue
            }
            if arg == "--vs", table.contains(where: { $0.id == .vs }) {
                comparisons = [try ParsedArguments(Array(args[index...]), table: table.filter { $0.id != .vs })]
                break
            }
            if let cluster = try Self.splitCluster(arg, table: table) {
                args.replaceSubrange((index - 1)..<index, with: cluster)   // `-qo out.txt` is `-q -o out.txt`
                index -= 1
                continue
            }
            let (spec, name, inline) = try Self.option(arg, table: table)
            if spec.isFlag {
                // `--bias 0`: a value after a flag would be read as the next word (a layer `0`).
                if let hint = spec.valueHint, inline != nil || (index < args.count && Self.looksLikeFlagValue(args[index])) {
                    throw UsageError.invalid("option '\(name)' takes no value; \(hint)")
                }
                if inline != nil { throw UsageError.unexpectedValue(option: name) }
                flags.insert(spec.id)
                continue
            }
            let value: String
            if let inline {
                value = inline
            } else if let first = spec.optionalWords.first {
                // `--draw svg` or a bare `--draw`: only the option's words are its value.
                if index < args.count, spec.optionalWords.contains(args[index]) || spec.claimsWord(args[index]) {
                    value = args[index]
                    index += 1
                } else {
                    value = first
                }
            } else {
                guard index < args.count else {
                    throw UsageError.missingValue(option: name, valueName: spec.valueName ?? "VALUE")
                }
                value = args[index]
                // `--in --k 3`: the value was left out, so the next option would be swallowed.
                if value.hasPrefix("--"), value.dropFirst(2).first?.isLetter == true {
                    throw UsageError.valueIsOption(option: name, valueName: spec.valueName ?? "VALUE", next: value)
                }
                index += 1
            }
            if values[spec.id] != nil { throw UsageError.repeated(option: name) }
            values[spec.id] = spec.readsSize ? DimSize.fromTuple(value) : value
            spelling[spec.id] = name
        }
    }

    /// The option `arg` names (`--name`, `--name=value`, `-o=value`, a PyTorch alias), its
    /// spelling and the value given with `=`.
    /// - Throws: `UsageError.unknownOption` with the nearest name, or the option of a key
    ///   written as an option (`--c` → `--cout`).
    static func option(_ arg: String, table: [OptionSpec]) throws -> (spec: OptionSpec, name: String, inline: String?) {
        var name = arg
        var inline: String?
        if let eq = arg.firstIndex(of: "="), arg.hasPrefix("--") || arg.distance(from: arg.startIndex, to: eq) == 2 {
            name = String(arg[..<eq])
            inline = String(arg[arg.index(after: eq)...])
        }
        if let canonical = LayerSchema.aliases[name], table.contains(where: { $0.names.contains(canonical) }) {
            name = canonical   // `--kernel-size 3` is `--k 3`
        }
        guard let spec = table.first(where: { $0.names.contains(name) }) else {
            let all = table.flatMap(\.names)
            let keyOption = LayerKey(rawValue: String(name.drop { $0 == "-" }))?.spec.optionNames.first.flatMap { all.contains($0) ? $0 : nil }
            throw UsageError.unknownOption(name, suggestion: keyOption ?? NameSuggestion.nearest(to: name, among: all))
        }
        return (spec, name, inline)
    }

    /// A word that can only be meant as a flag's value: a number or a boolean (no layer
    /// type, file or matrix is written so).
    static func looksLikeFlagValue(_ word: String) -> Bool {
        ["true", "false", "yes", "no", "on", "off"].contains(word.lowercased()) || (!word.isEmpty && word.allSatisfy(\.isNumber))
    }

    /// A cluster of short options split as getopt does: `-qo` is `-q -o`, and a value option
    /// takes the rest of the word as its value, `-oFILE` is `-o=FILE`; `nil` when `arg` is not
    /// a cluster (`--name`, `-q`, `-o=FILE`, not starting with a letter, like `-1`, or not
    /// starting with a short option, like `-kernel`).
    /// - Throws: `UsageError.unknownOption` for a letter that is no short option of `table`.
    static func splitCluster(_ arg: String, table: [OptionSpec]) throws -> [String]? {
        let letters = Array(arg.dropFirst())
        guard arg.hasPrefix("-"), !arg.hasPrefix("--"), letters.count > 1, letters[0].isLetter, letters[1] != "=" else { return nil }
        var pieces: [String] = []
        for (offset, letter) in letters.enumerated() {
            let name = "-\(letter)"
            guard let spec = table.first(where: { $0.names.contains(name) }) else {
                if offset == 0 { return nil }   // `-kernel_size`: reported as one unknown name, with a suggestion
                let shorts = table.flatMap(\.names).filter { $0.count == 2 }
                let known = shorts.isEmpty ? "" : " (short options: " + shorts.joined(separator: ", ") + ")"
                throw UsageError.invalid("unknown option '\(name)' in '\(arg)'\(known)")
            }
            if spec.isFlag {
                pieces.append(name)
                continue
            }
            let rest = String(letters[(offset + 1)...])
            pieces.append(rest.isEmpty ? name : name + "=" + rest)
            break
        }
        return pieces
    }

    /// Shares the options `ids` with `other`: each side takes the other's value where it has
    /// none (stack-level options apply to both stacks of a comparison).
    /// - Throws: when both sides give an option different values.
    mutating func share(_ ids: [OptionID], with other: inout ParsedArguments, table: [OptionSpec]) throws {
        for id in ids {
            switch (values[id], other.values[id]) {
            case let (a?, b?) where a != b:
                throw UsageError.invalid("\(name(id, in: table)) applies to both stacks; give it once (got \(a) and \(b))")
            case let (a?, nil): other.values[id] = a
            case let (nil, b?): values[id] = b
            default: break
            }
            if flags.contains(id) { other.flags.insert(id) }
            if other.flags.contains(id) { flags.insert(id) }
        }
    }

    func value(_ id: OptionID) -> String? { values[id] }
    func has(_ id: OptionID) -> Bool { flags.contains(id) || values[id] != nil }
    func name(_ id: OptionID, in table: [OptionSpec]) -> String {
        spelling[id] ?? table.first { $0.id == id }?.names.first ?? "\(id)"
    }
}
