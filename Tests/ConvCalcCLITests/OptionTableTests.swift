import Foundation
import XCTest
@testable import ConvCalcCLI
@testable import ConvCalcCore

/// The option tables are the single source of parsing and help: check the tables themselves,
/// and that the man page keeps up with them (ripgrep's flag tests, SwiftFormat's MetadataTests).
final class OptionTableTests: XCTestCase {
    func testTablesAreWellFormed() {
        for command in commands {
            var seen: Set<String> = []
            for spec in command.options {
                XCTAssertFalse(spec.names.isEmpty, "\(command.name): \(spec.id) has no name")
                for name in spec.names {
                    XCTAssertTrue(name.hasPrefix("-"), "\(command.name): \(name)")
                    XCTAssertTrue(seen.insert(name).inserted, "\(command.name): \(name) appears twice")
                }
                XCTAssertFalse(spec.help.isEmpty, "\(command.name): \(spec.names[0]) has no help")
                if let value = spec.valueName { XCTAssertEqual(value, value.uppercased(), "\(spec.names[0]) value name") }
            }
            XCTAssertTrue(seen.contains("--help") && seen.contains("-h"), "\(command.name) lacks --help")
        }
    }

    /// Every layer key has its single-layer option (SPEC §2), except `in` (the input pseudo-layer).
    func testEveryLayerKeyHasAnOption() {
        let keys = Set(CommonOptions.layer.compactMap(\.layerKey))
        for key in LayerKey.allCases where key != .in && key != .bias {
            XCTAssertTrue(keys.contains(key), "no option for key \(key.rawValue)")
        }
    }

    /// Whether `name` occurs in `text` as a whole option name: not inside a longer one
    /// (`--k` in `--kernel`, `--s` in `--stride`, `--in` in `--input`).
    static func containsName(_ text: String, _ name: String) -> Bool {
        let isNamePart: (Character) -> Bool = { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }
        var rest = Substring(text)
        while let range = rest.range(of: name) {
            let before = range.lowerBound == text.startIndex ? nil : text[text.index(before: range.lowerBound)]
            let after = range.upperBound == text.endIndex ? nil : text[range.upperBound]
            if !(before.map(isNamePart) ?? false) && !(after.map(isNamePart) ?? false) { return true }
            rest = text[range.upperBound...]
        }
        return false
    }

    func testWholeNameCheck() {
        XCTAssertFalse(Self.containsName("--kernel, --stride SIZE", "--k"))
        XCTAssertFalse(Self.containsName("--kernel, --stride SIZE", "--s"))
        XCTAssertTrue(Self.containsName("  --k, --kernel SIZE", "--k"))
        XCTAssertTrue(Self.containsName("--k", "--k"))
        XCTAssertFalse(Self.containsName("--no-bias", "--bias"))
    }

    func testHelpListsEveryOption() {
        for command in commands {
            let help = Help.render(command)
            for spec in command.options {
                for name in spec.names {
                    XCTAssertTrue(Self.containsName(help, name), "help of \(command.name) lacks \(name)")
                }
            }
            for line in help.split(separator: "\n") where !line.contains("USAGE") && !line.hasPrefix("       convcalc") {
                XCTAssertLessThanOrEqual(line.count, 80, "help line too long: \(line)")
            }
        }
    }

    /// Every option, command and layer type is documented in man/convcalc.1.
    func testManPageDocumentsEverything() throws {
        let roff = try String(contentsOfFile: packageRoot + "/man/convcalc.1", encoding: .utf8)
        let text = roff.replacingOccurrences(of: "\\-", with: "-")
        // Without font changes, so names are whole words (`\fB--k\fR` -> `--k`).
        let plain = text.replacingOccurrences(of: "\\\\f[BIRP]", with: "", options: .regularExpression)
        for command in commands {
            XCTAssertTrue(text.contains(".B \(command.name)"), "man page lacks command \(command.name)")
            for spec in command.options {
                for name in spec.names {
                    XCTAssertTrue(Self.containsName(plain, name), "man page lacks \(name) (\(command.name))")
                }
            }
        }
        for spec in TopLevelOptions.options {
            for name in spec.names {
                XCTAssertTrue(Self.containsName(plain, name), "man page lacks top-level \(name)")
                XCTAssertTrue(Self.containsName(Help.topLevel(), name), "convcalc --help lacks \(name)")
            }
        }
        for type in LayerType.allCases {
            XCTAssertTrue(text.contains("\\fB\(type.rawValue)\\fR") || text.contains("\\fB\(type.rawValue):"), "man page lacks layer type \(type.rawValue)")
        }
        for key in LayerKey.allCases where key != .in {
            XCTAssertTrue(text.contains("\\fB\(key.rawValue)\\fR"), "man page lacks key \(key.rawValue)")
        }
    }

    /// The man page's EXAMPLES run and succeed.
    func testManPageExamplesRun() throws {
        let roff = try String(contentsOfFile: packageRoot + "/man/convcalc.1", encoding: .utf8)
        var ran = 0
        let examples = roff.components(separatedBy: ".SH EXAMPLES")[1].components(separatedBy: ".SH SEE ALSO")[0]
        for line in examples.split(separator: "\n") where line.hasPrefix(".B convcalc ") {
            let command = String(line.dropFirst(3)).replacingOccurrences(of: "\\-", with: "-").replacingOccurrences(of: "\\(aq", with: "'")
            let result = runCommandLine(command)
            XCTAssertEqual(result.status, 0, "man example failed: \(command)\n\(result.stderr)")
            ran += 1
        }
        XCTAssertGreaterThan(ran, 4)
    }

    func testParserForms() throws {
        let table = ShapeCommand.options
        let parsed = try ParsedArguments(["--k=3", "--s", "2", "-q", "conv:k=1", "--", "--not-an-option", "-"], table: table)
        XCTAssertEqual(parsed.value(.layer(.k)), "3")
        XCTAssertEqual(parsed.value(.stride), "2")
        XCTAssertTrue(parsed.has(.quiet))
        XCTAssertEqual(parsed.positionals, ["conv:k=1", "--not-an-option", "-"])
        // A value option takes the next word even when it starts with '-', so ranges are checked later.
        XCTAssertEqual(try ParsedArguments(["--p", "-1"], table: table).value(.padding), "-1")
        XCTAssertEqual(try ParsedArguments(["--p="], table: table).value(.padding), "")
    }
}

/// A few runs of the real binary: exit status, stdout/stderr separation, stdin.
final class ProcessTests: XCTestCase {
    func execute(_ args: [String], stdin: String? = nil) throws -> (out: String, err: String, status: Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try builtBinary())
        process.arguments = args
        process.currentDirectoryURL = URL(fileURLWithPath: packageRoot)
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin.data(using: .utf8)!) }
        try input.fileHandleForWriting.close()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self), process.terminationStatus)
    }

    func testExitStatusesAndStreams() throws {
        let ok = try execute(["shape", "-q", "--in", "224", "--k", "7", "--s", "2", "--p", "3"])
        XCTAssertEqual(ok.out, "112\n")
        XCTAssertEqual(ok.err, "")
        XCTAssertEqual(ok.status, 0)

        let warned = try execute(["shape", "-q", "--in", "32", "conv:k=3,s=2"])
        XCTAssertEqual(warned.out, "15\n")
        XCTAssertTrue(warned.err.hasPrefix("convcalc: warning: "))
        XCTAssertEqual(warned.status, 0)

        let impossible = try execute(["shape", "--in", "2", "conv:k=5"])
        XCTAssertEqual(impossible.out, "")
        XCTAssertTrue(impossible.err.hasPrefix("convcalc: error: "))
        XCTAssertEqual(impossible.status, 1)

        let usage = try execute(["shape", "--kernal", "3"])
        XCTAssertEqual(usage.out, "")
        XCTAssertEqual(usage.status, 2)
    }

    func testStackFromStdin() throws {
        let result = try execute(["shape", "-q", "--in", "64", "-f", "-"], stdin: "conv:k=3,s=2,p=1\n# comment\nmaxpool:k=2\n")
        XCTAssertEqual(result.out, "16\n")
        XCTAssertEqual(result.status, 0)
    }

    /// `-o FILE`: written whole on success; on failure no file and no temporary file remain.
    func testRunOutputFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("convcalc-test-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let good = try execute(["run", "--p", "1", "examples/matrices/a.txt", "examples/matrices/k.txt", "-o", directory + "/out.txt"])
        XCTAssertEqual(good.status, 0)
        XCTAssertEqual(good.out, "")
        XCTAssertEqual(try String(contentsOfFile: directory + "/out.txt", encoding: .utf8), "4 11 18 9\n18 37 47 21\n36 67 77 33\n14 23 26 9\n")
        let bad = try execute(["run", "examples/matrices/a.txt", "[1 2; 3]", "-o", directory + "/bad.txt"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["out.txt"])
        let unwritable = try execute(["run", "examples/matrices/a.txt", "[1]", "-o", directory + "/missing/dir/out.txt"])
        XCTAssertEqual(unwritable.status, 1)
        XCTAssertTrue(unwritable.err.hasPrefix("convcalc: error: cannot write"), unwritable.err)
    }

    /// The README's pipeline: stdin in, output piped back in as input.
    func testRunPipeline() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let binary = try builtBinary()
        process.arguments = ["-c", "cat examples/matrices/a.txt | '\(binary)' run --p 1 - examples/matrices/k.txt | '\(binary)' run --flip - '[1 -1]'"]
        process.currentDirectoryURL = URL(fileURLWithPath: packageRoot)
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertEqual(String(decoding: data, as: UTF8.self), "7 7 -9\n19 10 -26\n31 10 -44\n9 3 -17\n")
    }
}
