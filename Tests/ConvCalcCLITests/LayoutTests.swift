import Foundation
import XCTest
@testable import ConvCalcCLI

/// Layout (issue 15): layer numbers that line up, text fitted to the width, ASCII output.
/// The outputs themselves are in golden/layout.txt; these check properties over many inputs.
final class LayoutTests: XCTestCase {
    // MARK: ASCII

    /// Every non-ASCII character in the sources' code (not their comments) has an ASCII
    /// spelling, so `--ascii` output is ASCII whatever message is printed.
    func testEveryNonASCIICharacterOfTheSourcesHasAnASCIISpelling() throws {
        let sources = packageRoot + "/Sources"
        let files = try XCTUnwrap(FileManager.default.enumerator(atPath: sources)).compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }
        XCTAssertGreaterThan(files.count, 20)
        var missing: Set<String> = []
        for file in files {
            let text = try String(contentsOfFile: sources + "/" + file, encoding: .utf8)
            for line in text.split(separator: "\n") {
                let code = line.trimmingCharacters(in: .whitespaces).hasPrefix("//") ? "" : line.components(separatedBy: " // ")[0]
                for scalar in code.unicodeScalars where !scalar.isASCII && ASCIIText.replacements[scalar] == nil {
                    missing.insert("\(scalar) (U+\(String(scalar.value, radix: 16, uppercase: true)), \(file))")
                }
            }
        }
        XCTAssertEqual(missing, [], "characters without an ASCII spelling in ASCIIText.replacements")
    }

    func testTransliteration() {
        XCTAssertEqual(ASCIIText.transliterate("out = ⌊(224 − 3)/2⌋ + 1 → 64×56×56 · ≤ ≥ …"),
                       "out = floor((224 - 3)/2) + 1 -> 64x56x56 * <= >= ...")
        XCTAssertEqual(ASCIIText.transliterate("données"), "donn\\u{E9}es")
        XCTAssertEqual(Charset.ascii.columns("⌊x⌋"), 8)
        XCTAssertEqual(Charset.unicode.columns("⌊x⌋"), 3)
        // The characters that sit in aligned table cells keep their width.
        for scalar in ["×", "−", "·"] as [Unicode.Scalar] { XCTAssertEqual(ASCIIText.replacements[scalar]?.count, 1) }
    }

    /// The locale rule: the first of LC_ALL, LC_CTYPE and LANG that is set and not empty;
    /// UTF-8 when it names it; nothing set is Unicode.
    func testLocaleRule() {
        let cases: [([String: String], Charset)] = [
            ([:], .unicode),
            (["LANG": ""], .unicode),
            (["LC_ALL": "C"], .ascii),
            (["LC_ALL": "POSIX", "LANG": "en_US.UTF-8"], .ascii),
            (["LC_ALL": "", "LC_CTYPE": "C", "LANG": "en_US.UTF-8"], .ascii),
            (["LC_CTYPE": "en_US.utf8", "LANG": "C"], .unicode),
            (["LANG": "C.UTF-8"], .unicode),
            (["LANG": "de_DE.Utf-8"], .unicode),
            (["LANG": "en_US"], .ascii),
            (["LANG": "en_US.ISO-8859-1"], .ascii),
        ]
        for (environment, expected) in cases {
            XCTAssertEqual(Terminal.charset(environment: environment), expected, "\(environment)")
        }
    }

    /// COLUMNS when it is a whole number of at least 1, else the terminal's width, else 80;
    /// kept within 20...1000.
    func testWidthRule() {
        XCTAssertEqual(Terminal.width(environment: [:], terminalWidth: nil), 80)
        XCTAssertEqual(Terminal.width(environment: [:], terminalWidth: 132), 132)
        XCTAssertEqual(Terminal.width(environment: ["COLUMNS": "100"], terminalWidth: 132), 100)
        XCTAssertEqual(Terminal.width(environment: ["COLUMNS": "100"], terminalWidth: nil), 100)
        for invalid in ["", "abc", "0", "-5", " 90", "90x", "99999999999999999999999"] {
            XCTAssertEqual(Terminal.width(environment: ["COLUMNS": invalid], terminalWidth: nil), 80, invalid)
            XCTAssertEqual(Terminal.width(environment: ["COLUMNS": invalid], terminalWidth: 120), 120, invalid)
        }
        XCTAssertEqual(Terminal.width(environment: ["COLUMNS": "5"], terminalWidth: nil), 20)
        XCTAssertEqual(Terminal.width(environment: ["COLUMNS": "100000"], terminalWidth: nil), 1000)
    }

    /// Text that depends on a command's kind of output: tables, working, heat maps, the
    /// explanation, warnings, errors.
    static let textCommands = [
        "convcalc shape --in 224 -f examples/nets/alexnet.net",
        "convcalc shape --in 10 maxpool:k=1,s=2,ceil=1 conv:k=3,p=same,s=2 tconv:k=3,s=2,p=same",
        "convcalc shape conv:k=7,s=2,p=3 maxpool:k=3,s=2,ceil=1 add { conv:k=4 } { conv:k=1,p=0:3 }",
        "convcalc shape --in 32 --k 4 --out 32",
        "convcalc shape --in 32 tconv:k=3,s=2 --out 64",
        "convcalc rf --map conv:k=3,d=2 conv:k=3,d=2 conv:k=3,d=2",
        "convcalc rf --in 64 conv:k=3,s=2,p=1 tconv:k=4,s=2,p=1 upsample:s=3 gap",
        "convcalc rf --map --in 8 add { conv:k=1x3,p=0x1 } { conv:k=3x1,p=1x0 }",
        "convcalc params -f examples/nets/resnet18.net",
        "convcalc params --cin 32 --in 56 deform:k=3,p=1,c=64,v=2 se:r=4 tconv:k=4,s=2,p=1 bn --vs sepconv:k=3,c=64",
        "convcalc run --explain --p 1 '[1 2 3;4 5 6;7 8 9]' '[1 2;3 4]'",
        "convcalc run --explain --flip --p same '[1 2 3;4 5 6;7 8 9]' '[1 2;3 4]'",
        "convcalc run --explain --transposed --s 2 '[1 2;3 4]' '[1 1;1 1]'",
        "convcalc run --explain --g 2 --bias '[1 -1]' examples/matrices/two-channels.txt examples/matrices/two-kernels.txt",
        "convcalc shape --in 8 conv:k=3×3,g=x",
        "convcalc shape --k abc",
        "convcalc shape -q conv:k=3,s=2",
        "convcalc params --cin 12 conv:k=3,g=5",
    ]

    /// `--ascii` and a locale that is not UTF-8 give pure ASCII, stdout and stderr, for every
    /// kind of text output.
    func testASCIIOutputIsPureASCII() {
        for command in Self.textCommands {
            for (line, label) in [(command + " --ascii", "--ascii"), ("LC_ALL=C " + command, "LC_ALL=C"), ("LANG=POSIX " + command, "LANG=POSIX")] {
                let result = runCommandLine(line)
                let unicode = runCommandLine(command)
                XCTAssertEqual(result.status, unicode.status, line)
                let text = result.stdout + result.stderr
                XCTAssertTrue(text.unicodeScalars.allSatisfy(\.isASCII), "\(label): \(line)\n\(text)")
                XCTAssertFalse(text.isEmpty, line)
            }
        }
    }

    /// Help in ASCII is ASCII and, measured in its own characters, fits 80 columns as the
    /// Unicode help does.
    func testHelpInASCII() {
        for command in commands.map(\.name) + ["--help"] {
            let words = command == "--help" ? "convcalc --help" : "convcalc \(command) --help"
            for line in ["LC_ALL=C " + words] + (command == "--help" ? [] : [words + " --ascii"]) {
                let result = runCommandLine(line)
                XCTAssertEqual(result.status, 0, line)
                XCTAssertTrue(result.stdout.unicodeScalars.allSatisfy(\.isASCII), line)
                for text in outputLines(result.stdout) where !text.hasPrefix("USAGE") && !text.hasPrefix("       convcalc") {
                    XCTAssertLessThanOrEqual(text.count, 80, "\(line): \(text)")
                }
            }
        }
    }

    /// JSON is the same whatever the width and characters.
    func testJSONDoesNotDependOnTheLayout() {
        for command in ["convcalc shape --json conv:k=3,s=2", "convcalc params --json -f examples/nets/inception-3a.net",
                        "convcalc rf --json --in 8 add { conv:k=1x3,p=0x1 } { conv:k=3x1,p=1x0 }"] {
            let plain = runCommandLine(command).stdout
            XCTAssertEqual(runCommandLine("LC_ALL=C COLUMNS=20 " + command).stdout, plain, command)
            XCTAssertEqual(runCommandLine(command + " --ascii").stdout, plain, command)
        }
    }

    // MARK: Width

    /// Every line of these outputs fits the width (their numbers allow it down to 60 columns),
    /// in Unicode and in ASCII.
    func testLinesFitTheWidth() {
        let commands = [
            "convcalc shape -f examples/nets/alexnet.net", "convcalc shape -f examples/nets/inception-3a.net",
            "convcalc shape --in 16x112x112 -f examples/nets/c3d-stem.net", "convcalc shape -f examples/nets/mobilenet-v2.net",
            "convcalc rf -f examples/nets/resnet50.net", "convcalc rf -f examples/nets/encoder-decoder.net",
            "convcalc params -f examples/nets/resnet50.net", "convcalc params -f examples/nets/vgg16.net",
            "convcalc rf --map -f examples/nets/context-module.net",
            "convcalc run --explain --p 2 examples/matrices/a.txt '[1 2 3 4 5;1 2 3 4 5;1 2 3 4 5]'",
            "convcalc shape conv:k=7,s=2,p=3,d=2,c=64 maxpool:k=3,s=2,ceil=1 tconv:k=4,s=2,p=same",
        ] + Self.textCommands.filter { !$0.contains("--out") && !$0.contains("examples/matrices/two") }
        for width in [60, 80, 100] {
            for command in commands {
                for prefix in ["COLUMNS=\(width) ", "COLUMNS=\(width) LC_ALL=C "] {
                    let result = runCommandLine(prefix + command)
                    for line in outputLines(result.stdout) where line.count > width {
                        XCTFail("\(prefix)\(command): a line of \(line.count) columns:\n\(line)")
                    }
                }
            }
        }
    }

    /// Breaking a line keeps every word, in order, and each piece fits unless it is one word.
    func testBreakingKeepsEveryWord() {
        let lines = [
            "   H: out = ⌊(in + pb + pa − ke)/s⌋ + 1 = ⌊(224 + 2 + 2 − 11)/4⌋ + 1 = ⌊217/4⌋ + 1 = 55",
            "   out = ⌈(in + pb + pa − ke)/s⌉ + 1 = ⌈(10 + 0 + 0 − 1)/2⌉ + 1 = ⌈9/2⌉ + 1 = 6; the last window would start in the right padding ((6 − 1)·2 = 10 ≥ in + pb = 10), so PyTorch drops it: 5",
            "receptive field: 21   jump: 1   start: 10 and a_very_long_word_that_cannot_be_broken_anywhere_at_all_in_this_line_at_all",
        ]
        for width in [20, 40, 60, 80] {
            let layout = TextLayout(width: width, charset: .unicode)
            for line in lines {
                for broken in [LineFit.equation(line, layout: layout), LineFit.prose(line, layout: layout)] {
                    XCTAssertEqual(broken.joined(separator: " ").split(separator: " "), line.split(separator: " "), "width \(width)")
                    for piece in broken where piece.count > width {
                        XCTAssertEqual(piece.split(separator: " ").count, 1, "width \(width): \(piece)")
                    }
                }
            }
        }
    }

    func testTokensBreakAfterCommas() {
        let layout = TextLayout.standard
        XCTAssertEqual(LineFit.token("conv:k=3,s=2,p=1,c=128,bias=0", width: 18, layout: layout), ["conv:k=3,s=2,p=1,", "c=128,bias=0"])
        XCTAssertEqual(LineFit.token("conv:k=3", width: 4, layout: layout), ["conv:k=3"])
        XCTAssertEqual(LineFit.token("add of 2 branches", width: 10, layout: layout), ["add of 2", "branches"])
    }

    // MARK: Layer numbers

    /// `count` layers alternating conv:k=3,p=1 and relu, the last a conv; with `branch`, the
    /// last two inside an add with an identity branch.
    static func stack(_ count: Int, branch: Bool) -> String {
        let tokens = (0..<count).map { $0 % 2 == 0 || $0 == count - 1 ? "conv:k=3,p=1" : "relu" }
        guard branch else { return tokens.joined(separator: " ") }
        return tokens.dropLast(2).joined(separator: " ") + " add { " + tokens.suffix(2).joined(separator: " ") + " } { }"
    }

    /// shape: every heading's token, and the first working line under it, start one column
    /// after two spaces past the widest layer number (a branch's layers four columns in per level).
    func testShapeHeadingsAndWorkingLineUp() {
        for count in [9, 10, 12, 105] {
            for branch in [false, true] {
                let stack = Self.stack(count, branch: branch)
                for command in ["convcalc shape --in 8 \(stack)", "convcalc shape \(stack)", "convcalc shape --in 8 --out 8 \(Self.stack(count, branch: false))"] {
                    let result = runCommandLine(command)
                    XCTAssertEqual(result.status, 0, command)
                    checkHeadings(outputLines(result.stdout), column: String(count).count + 2, command: "\(count) layers: \(command)")
                }
            }
        }
    }

    func checkHeadings(_ lines: [String], column: Int, command: String) {
        var headings = 0
        for (index, line) in lines.enumerated() {
            let indent = LineFit.leadingSpaces(line)
            let text = line.dropFirst(indent)
            guard let number = text.prefix(while: \.isNumber).nonEmpty, Int(number) != nil else { continue }
            headings += 1
            let token = indent + number.count + text.dropFirst(number.count).prefix(while: { $0 == " " }).count
            XCTAssertEqual(token - indent, column, "\(command): \(line)")
            guard index + 1 < lines.count else { continue }
            XCTAssertEqual(LineFit.leadingSpaces(lines[index + 1]), token, "\(command): the working under \(line)")
        }
        XCTAssertGreaterThan(headings, 0, command)
    }

    /// rf and params: the layer column starts at the same column in every row outside branches.
    func testTableLayerColumnLinesUp() {
        for count in [9, 10, 12, 105] {
            for branch in [false, true] {
                let stack = Self.stack(count, branch: branch)
                for command in ["convcalc rf --in 8 \(stack)", "convcalc params --cin 4 --in 8 \(stack)"] {
                    let lines = outputLines(runCommandLine(command).stdout)
                    guard let header = lines.first, let column = header.range(of: "layer")?.lowerBound else {
                        XCTFail(command)
                        continue
                    }
                    let layerColumn = header.distance(from: header.startIndex, to: column)
                    XCTAssertEqual(layerColumn, String(count).count + 2, command)
                    let rows = lines.prefix { !$0.isEmpty }.filter { $0.first?.isNumber == true }
                    XCTAssertEqual(rows.count, count, command)
                    for row in rows.prefix(branch ? count - 2 : count) {
                        let start = row.prefix(while: { !$0.isWhitespace }).count + row.dropFirst(row.prefix(while: { !$0.isWhitespace }).count).prefix(while: { $0 == " " }).count
                        XCTAssertEqual(start, layerColumn, "\(count) layers: \(command): \(row)")
                    }
                }
            }
        }
    }
}

private extension Substring {
    var nonEmpty: Substring? { isEmpty ? nil : self }
}
