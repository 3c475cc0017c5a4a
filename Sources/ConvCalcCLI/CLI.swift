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

/// The version printed by `convcalc --version`.
public let convcalcVersion = "0.1.0"

/// What a command produced: stdout text (written only on success) and warnings for stderr.
struct CommandResult {
    var output: String
    var warnings: [String] = []
    /// Large output made and written part by part after `output` (run's matrices): called
    /// with a function that writes bytes (false on failure); returns whether all were written.
    var stream: (((UnsafeBufferPointer<UInt8>) -> Bool) -> Bool)?
    /// Phase times for `run --timings`, reported on stderr with the time taken to write.
    var timings: PhaseTimer?
    /// `-o FILE`: where the output goes instead of stdout (opened before the work).
    var destination: OutputFile?
    /// `output` is JSON or SVG, written as it is (never in ASCII: both are UTF-8 by definition).
    var isVerbatim = false
    /// `output` is a document (`--format markdown|latex`), not to be wrapped again.
    var isDocument = false
    /// What stopped `stream` other than a failed write (a bad value late in a streamed input):
    /// asked once the stream has ended; the run then fails and `-o`'s file is not written.
    var streamFailure: (() -> UserFacingError?)?

    /// Hands `output`, then every part of `stream`, to `write`; false once a write fails.
    func emit(_ write: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        var text = output
        guard text.isEmpty || text.withUTF8(write) else { return false }
        return stream?(write) ?? true
    }
}

extension CommandResult {
    /// One JSON object (and a newline) as the output.
    init(json: JSON, warnings: [String] = []) {
        self.init(output: json.text + "\n", warnings: warnings)
        isVerbatim = true
    }
}

/// A subcommand: its option table drives parsing, `--help` and the man-page check.
struct Command {
    let name: String
    let summary: String
    let usage: [String]
    let overview: [String]
    let options: [OptionSpec]
    /// Extra help sections (title, paragraphs), e.g. the formulas used.
    let sections: [(String, [String])]
    let examples: [(String, String)]
    let execute: (ParsedArguments, InputContext) throws -> CommandResult
}

/// Every command, in the order help lists them.
let commands: [Command] = [ShapeCommand.command, ReceptiveFieldCommand.command, ParamsCommand.command, RunCommand.command]

/// Runs convcalc with `args` (without the program name) and returns the exit status.
///
/// Output goes to the given sinks; stdout gets nothing when the command fails.
/// Exit status: 0 success, 1 impossible computation or bad data, 2 usage error (SPEC §1);
/// output that could not all be written to stdout is a failure too (1).
/// Relative file names (operands, `-f`, `--bias`, `-o`) are taken from `directory`, by
/// default the process's working directory. `environment` holds the variables of
/// `Terminal.variables` that are set (`COLUMNS`, the locale); the tests pass none.
public func run(_ args: [String], stdin: InputSource, stdout: TextSink, stderr: TextSink, directory: String? = nil,
                environment: [String: String] = [:]) -> Int32 {
    let layout = Terminal.layout(environment: environment, terminalWidth: stdout.terminalWidth, isTerminal: stdout.isTerminal)
    let status = dispatch(args, stdin: stdin, stdout: stdout, stderr: stderr, directory: directory, layout: layout)
    guard status == 0, let failure = stdout.writeFailure else { return status }
    // A reader that went away (EPIPE, with SIGPIPE ignored) needs no message: it has what it wanted.
    if failure != EPIPE {
        stderr.write("convcalc: error: cannot write standard output: \(String(cString: strerror(failure)))\n")
    }
    return 1
}

/// Runs the command `args` name, or help; every text for the user is written in
/// `layout.charset` (`--ascii` among a command's options before `--` makes it ASCII).
private func dispatch(_ args: [String], stdin: InputSource, stdout: TextSink, stderr: TextSink, directory: String?,
                      layout: TextLayout) -> Int32 {
    let charset = layout.charset
    guard let first = args.first else {
        // As jq and ripgrep: a short usage on stderr, exit 2 (`convcalc help` shows the overview).
        return fail(UsageError.invalid("no command given; usage: convcalc COMMAND [options] [LAYER...] with COMMAND one of "
                                       + (commands.map(\.name) + ["help"]).joined(separator: ", ")), command: nil, charset: charset, stderr: stderr)
    }
    // A top-level option, without the value of `--name=value`.
    let option = first.hasPrefix("--") ? String(first.prefix { $0 != "=" }) : first
    switch TopLevelOptions.find(option) {
    case .help? where option == first:
        // `convcalc --help shape` as `convcalc help shape`.
        return help(["help"] + args.dropFirst(), charset: charset, stdout: stdout, stderr: stderr)
    case .version? where option == first:
        stdout.write("convcalc \(convcalcVersion)\n")
        return 0
    case .completions?:
        return completions(args, charset: charset, stdout: stdout, stderr: stderr)
    default:
        break
    }
    switch first {
    case "_docs": return documents(args, stdin: stdin, stdout: stdout, stderr: stderr)
    case "help": return help(args, charset: charset, stdout: stdout, stderr: stderr)
    default: break
    }
    guard let command = commands.first(where: { $0.name == first }) else {
        let error: UsageError = first.hasPrefix("-")
            ? .unknownOption(first, suggestion: NameSuggestion.nearest(to: first, among: TopLevelOptions.options.flatMap(\.names).filter { $0.hasPrefix("--") }))
            : .unknownCommand(first, suggestion: suggestCommand(first))
        return fail(error, command: nil, charset: charset, stderr: stderr)
    }
    let rest = Array(args.dropFirst())
    let beforeEnd = rest.prefix { $0 != "--" }
    var commandLayout = layout
    // Looked for before parsing, as -h is, so that usage errors are in ASCII too.
    if beforeEnd.contains(where: CommonOptions.ascii.names.contains) { commandLayout.charset = .ascii }
    if beforeEnd.contains("-h") || beforeEnd.contains("--help") {
        stdout.write(commandLayout.charset.apply(Help.render(command, charset: commandLayout.charset)))
        return 0
    }
    return execute(command, rest, context: InputContext(stdin: stdin, layout: commandLayout, directory: directory),
                   stdout: stdout, stderr: stderr)
}

/// `convcalc help [COMMAND]`.
private func help(_ args: [String], charset: Charset, stdout: TextSink, stderr: TextSink) -> Int32 {
    // `help`, `help help`, `help -h`, `help --help`: the overview.
    guard args.count > 1, args[1] != "help", TopLevelOptions.find(args[1]) != .help else {
        stdout.write(charset.apply(Help.topLevel(charset: charset)))
        return 0
    }
    guard let command = commands.first(where: { $0.name == args[1] }) else {
        return fail(UsageError.unknownCommand(args[1], suggestion: suggestCommand(args[1])), command: nil, charset: charset, stderr: stderr)
    }
    stdout.write(charset.apply(Help.render(command, charset: charset)))
    return 0
}

/// `convcalc --completions SHELL`: the shell's completion script, generated from the tables.
private func completions(_ args: [String], charset: Charset, stdout: TextSink, stderr: TextSink) -> Int32 {
    let shells = CompletionShell.allCases.map(\.rawValue).joinedAsChoice()
    do {
        let parsed = try ParsedArguments(args, table: TopLevelOptions.options)
        guard let name = parsed.value(.completions), parsed.positionals.isEmpty, !parsed.has(.help), !parsed.has(.version) else {
            throw UsageError.invalid("usage: convcalc --completions SHELL, with SHELL \(shells)")
        }
        guard let shell = CompletionShell(rawValue: name) else {
            throw LayerError.malformedValue(.option(parsed.name(.completions, in: TopLevelOptions.options)), value: name, expected: shells)
        }
        stdout.write(Completions.script(shell))
        return 0
    } catch let error as UserFacingError {
        return fail(error, command: nil, charset: charset, stderr: stderr)
    } catch {
        return fail(UsageError.invalid("\(error)"), command: nil, charset: charset, stderr: stderr)
    }
}

/// Hidden: `convcalc _docs man|readme < DOCUMENT` (`make docs`) regenerates the tables' parts
/// of the man page and README.
private func documents(_ args: [String], stdin: InputSource, stdout: TextSink, stderr: TextSink) -> Int32 {
    do {
        guard args.count == 2, let document = Docs.Document(rawValue: args[1]) else {
            throw UsageError.invalid("usage: convcalc _docs man|readme < DOCUMENT")
        }
        stdout.write(try Docs.update(try stdin.readAll(), document))
        return 0
    } catch let error as UserFacingError {
        return fail(error, command: nil, charset: .unicode, stderr: stderr)
    } catch {
        return fail(UsageError.invalid("\(error)"), command: nil, charset: .unicode, stderr: stderr)
    }
}

/// Parses and runs `command`, then writes its warnings, its output (to stdout or `-o`'s file,
/// through one `emit`) and its timings: the write stage, where text (not JSON, not the
/// matrices `stream` makes, which are ASCII) is put in the layout's characters.
private func execute(_ command: Command, _ rest: [String], context: InputContext, stdout: TextSink, stderr: TextSink) -> Int32 {
    let charset = context.layout.charset
    do {
        let parsed = try ParsedArguments(rest, table: command.options)
        var result = try command.execute(parsed, context)
        if !result.isVerbatim { result.output = charset.apply(result.output) }
        if !(parsed.has(.noWarnings) || parsed.comparison?.has(.noWarnings) == true) {
            for notice in context.notices { stderr.write(charset.apply("convcalc: \(notice.label): \(TerminalText.line(notice.text))\n")) }
            for warning in result.warnings { stderr.write(charset.apply("convcalc: warning: \(TerminalText.line(warning))\n")) }
        }
        if let file = result.destination {
            try file.commit(result.emit)
        } else {
            _ = result.emit { bytes in
                stdout.write(bytes: bytes)
                return stdout.writeFailure == nil   // stop making output nobody can receive
            }
        }
        if let failure = result.streamFailure?() { throw failure }
        if var timings = result.timings {
            timings.lap("format and write")   // stdout or -o: one write path, so the phase ends here
            stderr.write(charset.apply("convcalc: timings: \(timings.report)\n"))
        }
        return 0
    } catch let error as UserFacingError {
        return fail(error, command: command, vocabulary: context.vocabulary, charset: charset, stderr: stderr)
    } catch {
        stderr.write(charset.apply("convcalc: error: unexpected failure: \(error)\n"))
        return 1
    }
}

private func suggestCommand(_ name: String) -> String? {
    NameSuggestion.nearest(to: name, among: commands.map(\.name) + ["help"])
}

/// Writes one `convcalc: error:` line in `charset`, with keys spelt as the user wrote them
/// (`vocabulary`), and returns the exit status for the error's category.
private func fail(_ error: UserFacingError, command: Command?, vocabulary: Vocabulary = .tokens, charset: Charset,
                  stderr: TextSink) -> Int32 {
    var line = "convcalc: error: \(TerminalText.line(error.message(vocabulary)))"
    if error.category == .usage {
        line += command.map { " (see 'convcalc help \($0.name)')" } ?? " (see 'convcalc help')"
    }
    stderr.write(charset.apply(line + "\n"))
    return error.category == .usage ? 2 : 1
}

/// Messages that echo what the user gave, made safe for one terminal line.
enum TerminalText {
    /// Control characters (which could move the cursor or end the line) written as `\u{1B}`,
    /// and any word longer than 80 characters shortened to its start and end around "…".
    static func line(_ message: String) -> String {
        var escaped = ""
        for scalar in message.unicodeScalars {
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029 {
                escaped += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                escaped.unicodeScalars.append(scalar)
            }
        }
        guard escaped.count > 80 else { return escaped }
        return escaped.split(separator: " ", omittingEmptySubsequences: false).map { word in
            word.count > 80 ? String(word.prefix(60)) + "…" + String(word.suffix(12)) + " (\(word.count) characters)" : String(word)
        }.joined(separator: " ")
    }
}
