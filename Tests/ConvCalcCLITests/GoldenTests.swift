import Foundation
import Testing
import XCTest
@testable import ConvCalcCLI

/// The package root, found from this file's path (tests run from the source tree).
let packageRoot: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)   // Tests/ConvCalcCLITests/GoldenTests.swift
    return parts.joined(separator: "/")
}()

/// One golden case: a command line, optional stdin, expected stdout, stderr and exit status.
///
/// File format (plain text, jq style), cases one after another:
///
///     ## a comment (before or between cases)
///     $ convcalc shape --k 3 --in 32
///     <<< a line of standard input
///     expected stdout line
///     ! expected stderr line
///     [exit 1]
///
/// Stdout is every line of the case that has no other prefix; `[exit N]` defaults to 0.
/// The command runs with no environment variables, so output is 80 columns of Unicode;
/// assignments before `convcalc`, as in a shell, set some for the case:
///
///     $ COLUMNS=100 LC_ALL=C convcalc params -f examples/nets/resnet50.net
struct GoldenCase {
    var file: String
    var line: Int
    var command: String
    var stdin: [String] = []
    var stdout: [String] = []
    var stderr: [String] = []
    var exit: Int32 = 0
    var comments: [String] = []

    var rendered: String {
        var lines = comments
        lines.append("$ " + command)
        lines += stdin.map { "<<< " + $0 }
        lines += stdout
        lines += stderr.map { "! " + $0 }
        if exit != 0 { lines.append("[exit \(exit)]") }
        return lines.joined(separator: "\n")
    }

    static func parse(_ text: String, file: String) -> [GoldenCase] {
        var cases: [GoldenCase] = []
        var pendingComments: [String] = []
        var current: GoldenCase?
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw)
            if line.hasPrefix("$ ") {
                if let done = current { cases.append(done.trimmed()) }
                current = GoldenCase(file: file, line: number + 1, command: String(line.dropFirst(2)), comments: pendingComments)
                pendingComments = []
            } else if line.hasPrefix("##") {
                if let done = current { cases.append(done.trimmed()) }
                current = nil
                pendingComments.append(line)
            } else if current != nil {
                if line.hasPrefix("<<< ") || line == "<<<" {
                    current!.stdin.append(String(line.dropFirst(4)))
                } else if line.hasPrefix("! ") {
                    current!.stderr.append(String(line.dropFirst(2)))
                } else if line.hasPrefix("[exit "), line.hasSuffix("]"), let code = Int32(line.dropFirst(6).dropLast()) {
                    current!.exit = code
                } else {
                    current!.stdout.append(line)
                }
            }
        }
        if let done = current { cases.append(done.trimmed()) }
        return cases
    }

    /// Trailing blank lines separate cases; they are not part of the output.
    func trimmed() -> GoldenCase {
        var copy = self
        while copy.stdout.last == "" { copy.stdout.removeLast() }
        return copy
    }
}

/// Splits a command line as a POSIX shell would for plain words, '…' and "…" quoting, and \ escapes.
func shellWords(_ line: String) -> [String] {
    var words: [String] = []
    var word = ""
    var inWord = false
    var quote: Character?
    var escaped = false
    for ch in line {
        if escaped {
            word.append(ch)
            escaped = false
            continue
        }
        if let q = quote {
            if ch == q { quote = nil } else if ch == "\\" && q == "\"" { escaped = true } else { word.append(ch) }
            continue
        }
        switch ch {
        case "'", "\"":
            quote = ch
            inWord = true
        case "\\":
            escaped = true
            inWord = true
        case " ", "\t":
            if inWord { words.append(word) }
            word = ""
            inWord = false
        default:
            word.append(ch)
            inWord = true
        }
    }
    if inWord { words.append(word) }
    return words
}

/// Runs convcalc in-process on a command line (`[NAME=VALUE...] convcalc …`); relative paths
/// are read from the package root (passed to `run`, the process's working directory stays as
/// it is), and the assignments are its whole environment.
func runCommandLine(_ command: String, stdin: String = "") -> (stdout: String, stderr: String, status: Int32) {
    var words = shellWords(command)
    var environment: [String: String] = [:]
    while let first = words.first, let equals = first.firstIndex(of: "="),
          !first[..<equals].isEmpty, first[..<equals].allSatisfy({ $0.isUppercase || $0 == "_" }) {
        environment[String(first[..<equals])] = String(first[first.index(after: equals)...])
        words.removeFirst()
    }
    precondition(words.first == "convcalc", "golden commands start with convcalc: \(command)")
    words.removeFirst()
    let out = StringSink(), err = StringSink()
    let status = run(words, stdin: StringInput(stdin), stdout: out, stderr: err, directory: packageRoot, environment: environment)
    return (out.text, err.text, status)
}

/// Text as lines, without the empty one after a final newline.
func outputLines(_ text: String) -> [String] {
    var result = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if result.last == "" { result.removeLast() }
    return result
}

let goldenDirectory = packageRoot + "/Tests/ConvCalcCLITests/golden"

/// The files under Tests/ConvCalcCLITests/golden, sorted; only `CONVCALC_GOLDEN` when it is set
/// (a file name such as `rf.txt`, to run that file alone).
let goldenFileNames: [String] = {
    let all = ((try? FileManager.default.contentsOfDirectory(atPath: goldenDirectory)) ?? []).filter { $0.hasSuffix(".txt") }.sorted()
    guard let only = ProcessInfo.processInfo.environment["CONVCALC_GOLDEN"] else { return all }
    return all.filter { $0 == only }
}()

/// One test per golden file: every case of the file. `CONVCALC_RECORD=1` rewrites the file
/// with what convcalc prints now. Serialized: a case with `-o` sets the process's signal
/// handlers for its temporary file.
@Test(.serialized, arguments: goldenFileNames)
func goldenFile(_ file: String) throws {
    let record = ProcessInfo.processInfo.environment["CONVCALC_RECORD"] == "1"
    let path = goldenDirectory + "/" + file
    let text = try String(contentsOfFile: path, encoding: .utf8)
    var cases = GoldenCase.parse(text, file: file)
    #expect(!cases.isEmpty, "\(file) holds no case")
    for index in cases.indices {
        let golden = cases[index]
        let stdin = golden.stdin.isEmpty ? "" : golden.stdin.joined(separator: "\n") + "\n"
        let result = runCommandLine(golden.command, stdin: stdin)
        let stdout = outputLines(result.stdout), stderr = outputLines(result.stderr)
        if record {
            cases[index].stdout = stdout
            cases[index].stderr = stderr
            cases[index].exit = result.status
            continue
        }
        let place = "\(file):\(golden.line): $ \(golden.command)"
        #expect(stdout == golden.stdout, "stdout of \(place)\n--- got:\n\(result.stdout)")
        #expect(stderr == golden.stderr, "stderr of \(place)\n--- got:\n\(result.stderr)")
        #expect(result.status == golden.exit, "exit status of \(place)")
        if result.status != 0 {
            #expect(result.stdout == "", "stdout must be empty on error: \(place)")
            #expect(stderr.filter { $0.hasPrefix("convcalc: error: ") }.count == 1, "one error line: \(place)")
        }
    }
    if record {
        let rendered = cases.map(\.rendered).joined(separator: "\n\n") + "\n"
        try rendered.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

final class GoldenTests: XCTestCase {
    /// The golden files are there (each is a test of its own: `goldenFile`).
    func testGoldenFilesExist() {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: goldenDirectory)) ?? []).filter { $0.hasSuffix(".txt") }
        XCTAssertGreaterThan(files.count, 10)
    }

    /// Every example of man/convcalc.1's EXAMPLES section is a case of golden/man_examples.txt,
    /// the same commands in the same order, so `goldenFile` checks each one's output: an example
    /// added to the man page without its recorded output fails here (jq's docs/build_mantests.py).
    func testManPageExamplesHaveRecordedOutputs() throws {
        let man = try String(contentsOfFile: packageRoot + "/man/convcalc.1", encoding: .utf8)
        // A pipeline with placeholder files: shown, not run.
        let notRun: Set = ["cat image.txt | convcalc run --p same --pad-mode reflect - kernel.txt -o out.txt"]
        let examples = manPageExamples(man).filter { !notRun.contains($0) }
        XCTAssertGreaterThan(examples.count, 10)
        for example in examples {
            XCTAssertTrue(example.hasPrefix("convcalc "), "a man page example that is not a convcalc command: \(example)")
        }
        let golden = try String(contentsOfFile: goldenDirectory + "/man_examples.txt", encoding: .utf8)
        let recorded = GoldenCase.parse(golden, file: "man_examples.txt").map(\.command)
        let missing = examples.filter { !recorded.contains($0) }, extra = recorded.filter { !examples.contains($0) }
        XCTAssertEqual(recorded, examples, "golden/man_examples.txt must hold the man page's examples, in order; missing: \(missing), not in the man page: \(extra) (add the command there, then record its output with CONVCALC_RECORD=1 CONVCALC_GOLDEN=man_examples.txt)")
    }

    /// The `.B` command lines after `.TP` in the EXAMPLES section, roff escapes undone.
    func manPageExamples(_ man: String) -> [String] {
        let lines = man.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(of: ".SH EXAMPLES") else {
            XCTFail("man/convcalc.1 has no EXAMPLES section")
            return []
        }
        var examples: [String] = []
        var index = start + 1
        while index + 1 < lines.count, !lines[index].hasPrefix(".SH") {
            if lines[index] == ".TP", lines[index + 1].hasPrefix(".B ") {
                let command = String(lines[index + 1].dropFirst(3))
                    .replacingOccurrences(of: "\\-", with: "-").replacingOccurrences(of: "\\(aq", with: "'")
                XCTAssertFalse(command.contains("\\"), "an escape this test does not undo: \(command)")
                examples.append(command)
            }
            index += 1
        }
        return examples
    }

    /// Every `$ convcalc …` example in README.md and the examples' walk-through prints exactly
    /// the lines shown under it.
    func testReadmeExamples() throws {
        for document in ["README.md", "examples/walkthrough.md"] {
            try checkExamples(in: document)
        }
    }

    func checkExamples(in document: String) throws {
        let readme = try String(contentsOfFile: packageRoot + "/" + document, encoding: .utf8)
        var inBlock = false
        var blockLines: [String] = []
        var checked = 0
        for line in readme.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("```") {
                if inBlock {
                    for golden in GoldenCase.parse(blockLines.joined(separator: "\n"), file: document)
                    where shellWords(golden.command).first(where: { !$0.contains("=") }) == "convcalc" {
                        let result = runCommandLine(golden.command)
                        XCTAssertEqual(outputLines(result.stdout), golden.stdout, "\(document) example: $ \(golden.command)\n--- got:\n\(result.stdout)")
                        XCTAssertEqual(result.status, golden.exit, "\(document) example exit: $ \(golden.command)")
                        checked += 1
                    }
                    blockLines = []
                }
                inBlock.toggle()
            } else if inBlock {
                blockLines.append(line)
            }
        }
        XCTAssertGreaterThan(checked, 3, "examples run from \(document)")
    }
}
