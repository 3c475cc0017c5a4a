import Foundation
import XCTest
@testable import ConvCalcCLI
@testable import ConvCalcCore
@testable import ConvCalcEngine
@testable import ConvCalcText

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
        for key in LayerKey.allCases where key != .in && key != .bias && key != .dims {
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
        // Clusters: -qf FILE, -fFILE, -f=FILE; a value option ends the cluster.
        for words in [["-qf", "net.txt"], ["-qfnet.txt"], ["-q", "-f=net.txt"]] {
            let clustered = try ParsedArguments(words, table: table)
            XCTAssertTrue(clustered.has(.quiet), "\(words)")
            XCTAssertEqual(clustered.value(.file), "net.txt", "\(words)")
        }
        XCTAssertThrowsError(try ParsedArguments(["-qz"], table: table))
        // Python tuples for sizes (options only); other values unchanged.
        XCTAssertEqual(try ParsedArguments(["--in", "(224, 112)", "--k", "3,1", "--p", "[1, 0]"], table: table).value(.input), "224x112")
        XCTAssertEqual(try ParsedArguments(["--k", "3,1"], table: table).value(.layer(.k)), "3x1")
        XCTAssertEqual(try ParsedArguments(["--p", "[0:1, 1:0]"], table: table).value(.padding), "0:1x1:0")
        XCTAssertEqual(try ParsedArguments(["-f", "a,b.net"], table: table).value(.file), "a,b.net")
    }
}
