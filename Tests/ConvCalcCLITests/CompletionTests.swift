import Foundation
import XCTest
@testable import ConvCalcCLI
@testable import ConvCalcCore
@testable import ConvCalcEngine
@testable import ConvCalcText

/// The completion scripts `convcalc --completions SHELL` prints, loaded into the real shells
/// from the real binary. bash: the script registers (`complete -p`), and its function,
/// driven as bash drives it (COMP_WORDS and COMP_CWORD, or COMP_LINE and COMP_POINT),
/// answers what the tables say for every option of every command. zsh: it parses, loads
/// from `$fpath` and by `source` after `compinit`, and completes lines in an interactive
/// zsh under `zpty`. fish: it parses and `complete -C` answers. zsh and fish are skipped
/// when they are not installed.
final class CompletionTests: XCTestCase {
    var directory = ""
    /// The files the test directory holds, which file completion offers.
    let files = ["kernel.txt", "net.txt", "sub", "with space.txt"]

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("convcalc-completions-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory + "/sub", withIntermediateDirectories: true)
        for file in files where file != "sub" {
            XCTAssertTrue(FileManager.default.createFile(atPath: directory + "/" + file, contents: Data("1 2\n".utf8)))
        }
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs `executable` with `arguments` in the test directory, `$C` naming the binary and
    /// HOME the directory (so fish keeps its state there); stdout and stderr go to files.
    func run(_ executable: String, _ arguments: [String]) throws -> (out: String, err: String, status: Int32) {
        let result = try ChildProcess.run(executable, arguments, in: directory, environment: [
            "C": try builtBinary(), "HOME": directory,
            "XDG_CONFIG_HOME": directory + "/.config", "XDG_DATA_HOME": directory + "/.local/share",
        ])
        return (result.out, result.err, result.status ?? -1)
    }

    /// The shell `name` on PATH; skips the test when it is not installed.
    func shell(_ name: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        throw XCTSkip("\(name) is not installed")
    }

    /// The script for `shell`, written to the test directory as `name`.
    func writeScript(_ shell: CompletionShell, as name: String) throws -> String {
        let result = try run("/bin/sh", ["-c", "\"$C\" --completions \(shell.rawValue)"])
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertEqual(result.out, Completions.script(shell), "the binary and the library disagree")
        let path = directory + "/" + name
        try result.out.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    // MARK: bash

    /// The answers of the bash function to `calls`, each `w WORD...` (COMP_WORDS, completing
    /// the last word) or `l 'LINE'` (COMP_LINE, completing at its end): the replies, and the
    /// `compopt` options the function asked for (`-o nospace`, `-o filenames`).
    func bash(_ calls: [String]) throws -> [(replies: [String], options: String)] {
        let script = """
        source <("$C" --completions bash) || exit 3
        compopt() { asked+="$* "; }   # outside completion, record what readline would be asked
        answer() { _convcalc; printf '%s\\037' "${COMPREPLY[@]}"; printf '\\t%s\\n' "$asked"; }
        w() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); unset COMP_LINE COMP_POINT; asked=; answer; }
        l() { COMP_LINE=$1; COMP_POINT=${#1}; asked=; answer; }

        """ + calls.joined(separator: "\n") + "\n"
        let result = try run("/bin/bash", ["-c", script])
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertEqual(result.err, "")
        let lines = result.out.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        XCTAssertEqual(lines.count, calls.count, result.out)
        return lines.map { line in
            let parts = line.split(separator: "\t", omittingEmptySubsequences: false)
            let replies = parts[0].split(separator: "\u{1F}").map(String.init)
            return (replies, parts.count > 1 ? String(parts[1]) : "")
        }
    }

    func testBashRegisters() throws {
        let result = try run("/bin/bash", ["-c", "source <(\"$C\" --completions bash) && complete -p convcalc"])
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertEqual(result.out, "complete -F _convcalc convcalc\n")
    }

    func testBashCompletesCommandsValuesAndTokens() throws {
        let commandNames = commands.map(\.name) + ["help"]
        let convKeys = LayerType.conv.keys.map(\.rawValue)
        let cases: [(call: String, replies: [String], options: String)] = [
            ("w convcalc ''", commandNames, ""),
            ("w convcalc sh", ["shape"], ""),
            ("w convcalc -", TopLevelOptions.options.flatMap(\.names), ""),
            ("w convcalc --completions ''", CompletionShell.allCases.map(\.rawValue), ""),
            ("w convcalc help ''", commandNames, ""),
            ("w convcalc shape --k", ["--k", "--kernel"], ""),
            ("w convcalc shape --k ''", [], ""),
            ("w convcalc run --pad-mode ''", ["zeros", "reflect", "replicate", "circular"], ""),
            ("w convcalc run --padding-mode r", ["reflect", "replicate"], ""),
            ("w convcalc params --p ''", ["same", "valid", "full"], ""),
            ("w convcalc params -f ''", files, "-o filenames "),
            ("w convcalc run ''", files, "-o filenames "),
            ("w convcalc run k", ["kernel.txt"], "-o filenames "),
            ("w convcalc run -o w", ["with space.txt"], "-o filenames "),
            ("w convcalc shape b", ["bn"], ""),
            ("w convcalc shape tc", ["tconv:"], "-o nospace "),
            ("w convcalc shape conv:", convKeys.map { "conv:\($0)=" }, "-o nospace "),
            ("w convcalc rf conv:k=3,", convKeys.filter { $0 != "k" }.map { "conv:k=3,\($0)=" }, "-o nospace "),
            ("w convcalc shape conv:k=3,b", ["conv:k=3,bias="], "-o nospace "),
            ("w convcalc shape -- -", [], ""),
            ("w convcalc nope ''", [], ""),
            // As bash calls it: the line whole, the reply only the part after the last : or =.
            ("l 'convcalc run --pad-mode=re'", ["reflect", "replicate"], ""),
            ("l 'convcalc shape tconv:k=3,o'", ["3,op="], "-o nospace "),
            ("l 'convcalc shape deconv:'", LayerType.tconv.keys.map { "\($0.rawValue)=" }, "-o nospace "),
            ("l 'convcalc shape --file=su'", ["sub"], "-o filenames "),
            ("l 'convcalc --completions=f'", ["fish"], ""),
            // Words split at blanks outside quotes; a quoted or escaped file name is left to readline.
            ("l \"convcalc run '[1 2; 3 4]' k\"", ["kernel.txt"], "-o filenames "),
            ("l 'convcalc run with\\ s'", [], "-o default "),
            ("l \"convcalc run --pad-mode 're\"", ["reflect", "replicate"], ""),   // readline closes the quote
            ("l 'convcalc shape --in 32 '", Completions.layerTypes.map(\.word) + Completions.mergeWords.map(\.name), ""),
        ]
        let answers = try bash(cases.map(\.call))
        for (index, expected) in cases.enumerated() where index < answers.count {
            let answer = answers[index]
            // File names come in directory order.
            let sorted = expected.options.contains("filenames")
            XCTAssertEqual(sorted ? answer.replies.sorted() : answer.replies, expected.replies, expected.call)
            XCTAssertEqual(answer.options, expected.options, expected.call)
        }
    }

    /// Every option of every table, through the function: after `-`, exactly the table's
    /// spellings; after each option, its value's words, files, nothing (free text), or for a
    /// flag the command's positionals. So a row added to a table is completed as it is.
    func testBashKnowsEveryOptionOfEveryTable() throws {
        var calls: [String] = [], expected: [[String]] = []
        for command in commands {
            calls.append("w convcalc \(command.name) -")
            expected.append(command.options.flatMap(\.names))
            let positionals = command.options.contains { $0.id == .type } ? Completions.layerTypes.map(\.word) + Completions.mergeWords.map(\.name) : files
            for spec in command.options {
                for name in spec.names {
                    calls.append("w convcalc \(command.name) \(name) ''")
                    switch spec.completion {
                    case nil: expected.append(positionals)
                    case .free?: expected.append([])
                    case let .words(words)?: expected.append(words)
                    case .files?: expected.append(files)
                    default: XCTFail("\(name): \(String(describing: spec.completion))")
                    }
                }
            }
        }
        let answers = try bash(calls)
        for (index, call) in calls.enumerated() where index < answers.count {
            XCTAssertEqual(answers[index].replies.sorted(), expected[index].sorted(), call)
        }
        let script = Completions.script(.bash)
        for spec in commands.flatMap(\.options) + TopLevelOptions.options {
            for name in spec.names { XCTAssertTrue(OptionTableTests.containsName(script, name), "bash script lacks \(name)") }
        }
    }

    // MARK: zsh

    func testZshParsesAndLoads() throws {
        let zsh = try shell("zsh")
        try FileManager.default.createDirectory(atPath: directory + "/zfunc", withIntermediateDirectories: true)
        let path = try writeScript(.zsh, as: "zfunc/_convcalc")
        let syntax = try run(zsh, ["-n", path])
        XCTAssertEqual(syntax.status, 0, syntax.err)
        // Autoloaded from $fpath by compinit, as installed; and sourced after compinit.
        for setup in ["fpath=($PWD/zfunc $fpath); autoload -Uz compinit; compinit -u -D",
                      "autoload -Uz compinit; compinit -u -D; source <(\"$C\" --completions zsh)"] {
            let result = try run(zsh, ["-f", "-c", setup + "; print -r -- $_comps[convcalc]"])
            XCTAssertEqual(result.status, 0, result.err)
            XCTAssertEqual(result.out, "_convcalc\n", setup)
        }
    }

    /// Lines completed by an interactive zsh under zpty, each with one TAB: what the line
    /// became (recorded by a widget bound to ^X^B, typed next) and the matches the completion
    /// found (every `compadd` records what it adds, after matching, as `compadd -O` gives it).
    func zshComplete(_ lines: [String]) throws -> [(buffer: String, matches: Set<String>)] {
        let zsh = try shell("zsh")
        try FileManager.default.createDirectory(atPath: directory + "/zfunc", withIntermediateDirectories: true)
        _ = try writeScript(.zsh, as: "zfunc/_convcalc")
        let driver = #"""
        zmodload zsh/zpty || exit 3
        zpty z 'TERM=xterm zsh -f -i'
        zpty -w z "PS1='> '; fpath=($PWD/zfunc \$fpath); autoload -Uz compinit; compinit -u -D; setopt no_beep"
        # A compadd that first records its matches (calls that collect them already are passed on).
        zpty -w z 'compadd() { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi; local -a m; builtin compadd -O m "$@"; print -rl -- $m >> matches; builtin compadd "$@"; }'
        zpty -w z 'record() { print -r -- "$BUFFER" >> buffers; print -- "<end>" >> matches; BUFFER=; }; zle -N record; bindkey "^X^B" record'
        integer i=0 tries
        for line in "$@"; do
            zpty -w -n z "$line"$'	\C-x\C-b'
            (( ++i, tries = 0 ))
            # Until the line is recorded (at most 10 s), reading the terminal so that it never fills.
            until [[ -f buffers ]] && (( $(wc -l < buffers) >= i )) || (( tries++ > 200 )); do
                zpty -rt z chunk || sleep 0.05
            done
        done
        zpty -d z
        """#
        let result = try run(zsh, ["-f", "-c", driver, "zsh"] + lines)
        XCTAssertEqual(result.status, 0, result.err)
        let buffers = (try? String(contentsOfFile: directory + "/buffers", encoding: .utf8)) ?? ""
        let recorded = buffers.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        XCTAssertEqual(recorded.count, lines.count, "buffers: \(buffers)")
        let matches = ((try? String(contentsOfFile: directory + "/matches", encoding: .utf8)) ?? "")
            .split(separator: "<end>\n", omittingEmptySubsequences: false).map { Set($0.split(separator: "\n").map(String.init)) }
        return lines.indices.map { index in
            (index < recorded.count ? recorded[index] : "", index < matches.count ? matches[index] : [])
        }
    }

    func testZshCompletesInAnInteractiveShell() throws {
        let commandNames = Set(commands.map(\.name) + ["help"])
        let cases: [(line: String, buffer: String, matches: Set<String>?)] = [
            ("convcalc ", "convcalc ", commandNames),
            ("convcalc sh", "convcalc shape ", nil),
            ("convcalc shape --ty", "convcalc shape --type=", nil),
            ("convcalc shape --type ", "convcalc shape --type ", Set(LayerType.allNames.filter { $0 != "input" })),
            ("convcalc run --pad-mode=ref", "convcalc run --pad-mode=reflect ", nil),
            ("convcalc run --pad-mode ", "convcalc run --pad-mode ", Set(PaddingMode.allCases.map(\.rawValue))),
            ("convcalc shape --dims ", "convcalc shape --dims ", ["1", "2", "3"]),
            ("convcalc shape tconv:k=3,o", "convcalc shape tconv:k=3,op=", nil),
            ("convcalc shape conv:k=3,", "convcalc shape conv:k=3,", Set(LayerType.conv.keys.map(\.rawValue).filter { $0 != "k" })),
            ("convcalc shape b", "convcalc shape bn ", nil),
            ("convcalc params -f ne", "convcalc params -f net.txt ", nil),
            ("convcalc run ker", "convcalc run kernel.txt ", nil),
            ("convcalc help ", "convcalc help ", commandNames),
            ("convcalc --completions ", "convcalc --completions ", Set(CompletionShell.allCases.map(\.rawValue))),
        ]
        // Every spelling of every table is offered after a -.
        let tables = commands.map { ("convcalc \($0.name) -", $0.options) } + [("convcalc -", TopLevelOptions.options)]
        let answers = try zshComplete(cases.map(\.line) + tables.map(\.0))
        guard answers.count == cases.count + tables.count else { return }
        for (index, expected) in cases.enumerated() {
            XCTAssertEqual(answers[index].buffer, expected.buffer, expected.line)
            if let matches = expected.matches { XCTAssertEqual(answers[index].matches, matches, expected.line) }
        }
        for (offset, (line, table)) in tables.enumerated() {
            let missing = Set(table.flatMap(\.names)).subtracting(answers[cases.count + offset].matches)
            XCTAssertTrue(missing.isEmpty, "\(line): zsh does not offer \(missing.sorted())")
        }
    }

    // MARK: fish

    /// `complete -C LINE` in fish for each line: the candidates, without descriptions.
    func fishComplete(_ lines: [String]) throws -> [[String]] {
        let fish = try shell("fish")
        let path = try writeScript(.fish, as: "convcalc.fish")
        let syntax = try run(fish, ["--no-execute", path])
        XCTAssertEqual(syntax.status, 0, syntax.err)
        let script = "source " + path + "; for line in $argv; echo (complete -C $line | string replace -r '\\t.*' '' | string join \\x1f); end"
        let result = try run(fish, ["--no-config", "-c", script] + lines)
        XCTAssertEqual(result.status, 0, result.err)
        let answers = result.out.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        XCTAssertEqual(answers.count, lines.count, result.out)
        return answers.map { $0.split(separator: "\u{1F}").map(String.init) }
    }

    func testFishCompletes() throws {
        let sortedCommands = (commands.map(\.name) + ["help"]).sorted()
        let cases: [(line: String, candidates: [String])] = [
            ("convcalc ", sortedCommands),
            ("convcalc sh", ["shape"]),
            ("convcalc shape --ty", ["--type"]),
            ("convcalc shape --type tc", ["tconv"]),
            ("convcalc run --pad-mode ", ["circular", "reflect", "replicate", "zeros"]),
            ("convcalc run --pad-mode=re", ["--pad-mode=reflect", "--pad-mode=replicate"]),
            ("convcalc shape --k ", []),
            ("convcalc shape tc", ["tconv:"]),
            ("convcalc shape conv:k=3,", LayerType.conv.keys.map(\.rawValue).filter { $0 != "k" }.map { "conv:k=3,\($0)=" }.sorted()),
            ("convcalc params -f ne", ["net.txt"]),
            ("convcalc run ker", ["kernel.txt"]),
            ("convcalc help ", sortedCommands),
            ("convcalc --completions ", ["bash", "fish", "zsh"]),
        ]
        var lines = cases.map(\.line)
        // Every spelling of every table, after a -.
        lines += commands.map { "convcalc \($0.name) -" } + ["convcalc -"]
        let answers = try fishComplete(lines)
        guard answers.count == lines.count else { return }
        for (index, expected) in cases.enumerated() {
            XCTAssertEqual(answers[index].sorted(), expected.candidates, expected.line)
        }
        for (offset, table) in (commands.map(\.options) + [TopLevelOptions.options]).enumerated() {
            XCTAssertEqual(Set(answers[cases.count + offset]), Set(table.flatMap(\.names)), lines[cases.count + offset])
        }
    }
}
