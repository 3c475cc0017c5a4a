import Foundation
import XCTest
@testable import ConvCalcCLI
import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// Readers of layer files and matrix text (issue #13): line ends, byte-order marks, empty
/// cells, `# shape` comments, the value limit's location, the nesting limit. Cases with CR
/// bytes live here: golden stdin lines cannot hold them.
final class ReaderRobustnessTests: XCTestCase {
    /// A file in a fresh temporary directory, removed after the test.
    func temporaryFile(_ name: String, _ contents: String) throws -> String {
        let directory = NSTemporaryDirectory() + "convcalc-readers-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/" + name
        try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    // MARK: A. Layer files: LF, CRLF, lone CR; B/C: byte-order mark

    static let network = ["# block", "conv:k=3,c=64", "conv:k=3,c=64", "maxpool:k=2"]

    /// A CRLF file with a leading comment was one line, a comment: every layer was dropped
    /// and `params` counted only the command-line layer (40 instead of 39370), exit 0.
    func testLayerFileLineEnds() throws {
        for (name, end) in [("LF", "\n"), ("CRLF", "\r\n"), ("CR", "\r")] {
            let text = Self.network.joined(separator: end) + end
            let path = try temporaryFile("n.net", text)
            let (out, err, status) = runCommandLine("convcalc params --cin 3 --in 32 -q -f \(path) conv:k=1,c=10")
            XCTAssertEqual(status, 0, "\(name): \(err)")
            XCTAssertEqual(out, "39370\n", name)
            // The same from standard input.
            let (out1, err1, status1) = runCommandLine("convcalc params --cin 3 --in 32 -q -f - conv:k=1,c=10", stdin: text)
            XCTAssertEqual(status1, 0, "\(name): \(err1)")
            XCTAssertEqual(out1, "39370\n", name)
        }
        // Mixed line ends, blank lines, comments, and branches on lines of their own.
        let mixed = "# net\r\n\r\nconv:k=3,p=1\radd {\r\nconv:k=3,p=1 # inner\n} {\r}\r\nrelu\r"
        let (out, err, status) = runCommandLine("convcalc shape --in 8 -q -f -", stdin: mixed)
        XCTAssertEqual(status, 0, err)
        XCTAssertEqual(out, "8\n")
    }

    /// Errors in a CRLF or CR file name the right line and column.
    func testLayerFileLineNumbersWithCarriageReturns() {
        for end in ["\r\n", "\r"] {
            let text = ["# block", "conv:k=3", "  conv:k=x", "relu"].joined(separator: end) + end
            let (out, err, status) = runCommandLine("convcalc shape --in 32 -f -", stdin: text)
            XCTAssertEqual(status, 2, err)
            XCTAssertEqual(out, "")
            XCTAssertTrue(err.hasPrefix("convcalc: error: <stdin>:3:3: "), err)
            XCTAssertEqual(err.filter { $0 == "\n" }.count, 1, err)
        }
    }

    /// A UTF-8 byte-order mark at the start of a layer file (or stdin) is skipped; columns
    /// on the first line count from after it.
    func testLayerFileByteOrderMark() throws {
        let text = "\u{FEFF}conv:k=3\r\nconv:k=3\r\n"
        let path = try temporaryFile("bom.net", text)
        for source in [path, "-"] {
            let (out, err, status) = runCommandLine("convcalc shape --in 8 -q -f \(source)", stdin: text)
            XCTAssertEqual(status, 0, err)
            XCTAssertEqual(out, "4\n")
        }
        let (_, err, status) = runCommandLine("convcalc shape --in 8 -f -", stdin: "\u{FEFF}conv:k=x\n")
        XCTAssertEqual(status, 2)
        XCTAssertTrue(err.hasPrefix("convcalc: error: <stdin>:1:1: "), err)
        XCTAssertFalse(err.contains("FEFF"), err)
        // Only at the start: elsewhere it is an unknown character, shown escaped.
        let (_, err1, status1) = runCommandLine("convcalc shape --in 8 -f -", stdin: "conv:k=3\n\u{FEFF}conv:k=3\n")
        XCTAssertEqual(status1, 2)
        XCTAssertTrue(err1.hasPrefix("convcalc: error: <stdin>:2:1: unknown layer type"), err1)
    }

    // MARK: E. Nesting limit

    /// `add { add { … conv:k=1 … } { relu } } { relu }`, `depth` merges inside one another.
    static func nested(_ depth: Int) -> String {
        String(repeating: "add { conv:k=3,p=1 ", count: depth) + "conv:k=1" + String(repeating: " } { relu }", count: depth)
    }

    /// 7,000 nested merges overflowed the stack (SIGSEGV) in params, 10,000 in shape. The
    /// deepest stack allowed runs in every command and output form, in process (a debug build
    /// on the test's main thread); one level deeper is refused with one line, exit 1.
    func testDeepestAllowedNestingRunsEverywhere() {
        let deepest = Self.nested(StackSyntax.maximumDepth)
        let commands = [
            "shape --in 16 DEEP", "shape -q --in 16 DEEP", "shape --json --in 16 DEEP", "shape DEEP",
            "rf DEEP", "rf -q DEEP", "rf --json DEEP", "rf --map DEEP", "rf --in 16 DEEP", "rf --json --map --in 16 DEEP",
            "params --cin 2 --in 16 DEEP", "params -q --cin 2 --in 16 DEEP", "params --json --cin 2 --in 16 DEEP", "params --cin 2 DEEP",
            "params --cin 2 --in 16 conv:k=1 --vs DEEP", "params --cin 2 --in 16 DEEP --vs DEEP",
            "params --json --cin 2 --in 16 DEEP --vs conv:k=1", "params -q --cin 2 DEEP --vs DEEP",
        ]
        for command in commands {
            let (out, err, status) = runCommandLine("convcalc " + command.replacingOccurrences(of: "DEEP", with: deepest))
            XCTAssertEqual(status, 0, "\(command): \(err)")
            XCTAssertFalse(out.isEmpty, command)
        }
        let (out, err, status) = runCommandLine("convcalc shape --in 16 -q -f -", stdin: deepest.split(separator: " ").joined(separator: "\n"))
        XCTAssertEqual(status, 0, err)
        XCTAssertEqual(out, "16\n")
    }

    /// The documented limit is the one enforced.
    func testNestingLimitIsDocumented() throws {
        for document in ["README.md", "man/convcalc.1"] {
            let text = try String(contentsOfFile: packageRoot + "/" + document, encoding: .utf8)
            XCTAssertTrue(text.contains("nest at most \(StackSyntax.maximumDepth) deep"), document)
        }
    }

    func testNestingOneLevelTooDeepIsRefused() {
        let limit = StackSyntax.maximumDepth
        let tooDeep = Self.nested(limit + 1)
        for command in ["shape --in 16", "rf -q", "params --cin 2 --json", "params --cin 2 conv:k=1 --vs"] {
            let (out, err, status) = runCommandLine("convcalc \(command) \(tooDeep)")
            XCTAssertEqual(status, 1, command)
            XCTAssertEqual(out, "")
            XCTAssertTrue(err.hasPrefix("convcalc: error: ") && err.hasSuffix("'add' nested \(limit + 1) deep: at most \(limit) merges may sit inside one another (real networks nest fewer than 10)\n"), err)
            XCTAssertEqual(err.filter { $0 == "\n" }.count, 1, err)
        }
        // From a file, the error names the merge that goes one level too deep.
        let lines = tooDeep.split(separator: " ").joined(separator: "\n")
        let (_, err, status) = runCommandLine("convcalc shape --in 16 -f -", stdin: lines)
        XCTAssertEqual(status, 1)
        XCTAssertEqual(err, "convcalc: error: <stdin>:\(3 * limit + 1):1: 'add' nested \(limit + 1) deep: at most \(limit) merges may sit inside one another (real networks nest fewer than 10)\n")
        // Far deeper input is refused just as fast, not a crash.
        let (_, err1, status1) = runCommandLine("convcalc params --cin 2 \(Self.nested(20_000))")
        XCTAssertEqual(status1, 1)
        XCTAssertTrue(err1.contains("nested \(limit + 1) deep"), err1)
    }
    // MARK: B, C, D. Matrices

    /// Lone CR ended no row (`1 2\r3 4\r` ran as one row of four, exit 0); CRLF keeps working;
    /// a byte-order mark is skipped, from a file or from stdin.
    func testMatrixLineEndsAndByteOrderMark() throws {
        for text in ["1 2\r3 4\r", "1 2\r\n3 4\r\n", "1 2\n3 4\n", "\u{FEFF}1 2\r\n3 4\r\n", "\u{FEFF}1,2\r3,4"] {
            let path = try temporaryFile("m.txt", text)
            for source in ["-", path] {
                for threads in [1, 2] {
                    let (out, err, status) = runCommandLine("convcalc run --threads \(threads) \(source) '[1]'", stdin: text)
                    XCTAssertEqual(status, 0, "\(text.debugDescription): \(err)")
                    XCTAssertEqual(out, "1 2\n3 4\n", text.debugDescription)
                }
            }
        }
        let (out, err, status) = runCommandLine("convcalc run - '[1]'", stdin: "\u{FEFF}1 2\r\n3 x\r\n")
        XCTAssertEqual(status, 1)
        XCTAssertEqual(out, "")
        XCTAssertEqual(err, "convcalc: error: <stdin>:2:3: 'x' is not a number; expected a decimal or scientific number, nan, inf or -inf\n")
    }

    /// `1,,3` read as `1 3` and `,1,2` as `1 2`, exit 0.
    func testEmptyCellsAreRefused() throws {
        let path = try temporaryFile("m.csv", "1,2,3\r\n4,,6\r\n")
        let (out, err, status) = runCommandLine("convcalc run \(path) '[1]'")
        XCTAssertEqual(status, 1)
        XCTAssertEqual(out, "")
        XCTAssertEqual(err, "convcalc: error: \(path):2:3: empty cell: two commas with no value between them; every cell needs a number (write nan for a missing value); commas go only between values\n")
        let (_, err1, status1) = runCommandLine("convcalc run '[1 2]' -", stdin: "1, 2,\n")
        XCTAssertEqual(status1, 1)
        XCTAssertEqual(err1, "convcalc: error: <stdin>:1:5: empty cell: the row ends with a comma; every cell needs a number (write nan for a missing value); commas go only between values\n")
    }

    /// A `# shape` on a CRLF line was not checked; now it is, and a malformed one is an error.
    func testStatedShapeOnCRLFLines() {
        let (_, err, status) = runCommandLine("convcalc run '[1 2;3 4]' -", stdin: "# shape 2x1x1x1\r\n1\r\n")
        XCTAssertEqual(status, 1)
        XCTAssertEqual(err, "convcalc: error: the kernel file states shape 2x1x1x1 but holds 1x1x1x1 for 1 input channel and 1 group\n")
        let (_, err1, status1) = runCommandLine("convcalc run '[1 2;3 4]' -", stdin: "# shape 1x1x1x1x\r\n1\r\n")
        XCTAssertEqual(status1, 1)
        XCTAssertEqual(err1, "convcalc: error: <stdin>:1:9: '# shape 1x1x1x1x' states no valid shape: a size is missing (an x with no number on one side); write sizes of 1 or more separated by x, e.g. # shape 4x2x3x3 (Cout x Cin/g x kh x kw)\n")
    }
}
