import Foundation
import XCTest
@testable import ConvCalcCLI

/// `--format markdown|latex`: the documents are well-formed. No TeX is installed here, so
/// LaTeX is checked structurally: the document's frame, environments that close in order,
/// balanced braces, every special character escaped, ASCII only, table rows with the header's
/// number of cells; Markdown likewise: pipe tables with the header's cells, paired math and
/// code fences. (`pdflatex` compiled them when it was at hand: see the notes.)
final class DocumentTests: XCTestCase {
    static let commands = [
        "convcalc shape --in 224 conv:k=7,s=2,p=3 maxpool:k=3,s=2,p=1",
        "convcalc shape --in 32x17 conv:k=3x1,s=2,p=1_x maxpool:k=2,ceil=1".replacingOccurrences(of: "_x", with: ""),
        "convcalc shape conv:k=3,d=2",
        "convcalc shape --solve in --out 56 conv:k=3,s=2,p=1",
        "convcalc rf --in 64 conv:k=3,s=2,p=1 tconv:k=4,s=2,p=1",
        "convcalc rf add { conv:k=3 } { conv:k=1x5 } conv:k=3,d=2",
        "convcalc params --in 32 --cin 3 conv:k=3,c=16 sepconv:k=3,c=32 se:r=4 fc:c=10",
        "convcalc params --cin 10 --no-bias conv:k=5 --vs conv:k=3 conv:k=3",
        "convcalc run --explain --p 1 '[1 2 3;4 5 6;7 8 9]' '[1 2;3 4]'",
    ]

    func testLaTeXIsWellFormed() throws {
        for command in Self.commands {
            let (out, err, status) = runCommandLine(command + " --format latex")
            XCTAssertEqual(status, 0, "\(command): \(err)")
            XCTAssertTrue(out.hasPrefix("\\documentclass{article}\n"), command)
            XCTAssertTrue(out.hasSuffix("\\end{document}\n"), command)
            XCTAssertTrue(out.unicodeScalars.allSatisfy(\.isASCII), "not ASCII: \(command)")
            var environments: [String] = []
            var inVerbatim = false
            var columns: Int?
            for line in out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
                if line == "\\begin{verbatim}" { inVerbatim = true; continue }
                if line == "\\end{verbatim}" { inVerbatim = false; continue }
                if inVerbatim { continue }
                for (opens, name) in Self.environments(line) {
                    if opens { environments.append(name) } else {
                        XCTAssertEqual(environments.popLast(), name, "\(command): \(line)")
                    }
                }
                let unescaped = Self.unescaped(line)
                XCTAssertEqual(unescaped.filter { $0 == "{" }.count, unescaped.filter { $0 == "}" }.count, "braces: \(line)")
                XCTAssertFalse(unescaped.contains { "%#_".contains($0) && !line.hasPrefix("&") }, "unescaped special character: \(line)")
                XCTAssertEqual(unescaped.filter { $0 == "$" }.count % 2, 0, "math not closed: \(line)")
                if line.hasPrefix("\\begin{tabular}{") { columns = line.dropFirst("\\begin{tabular}{".count).prefix { $0 != "}" }.count }
                if let columns, line.hasSuffix("\\\\") || line.hasSuffix("\\hline"), !line.hasPrefix("&") {
                    XCTAssertEqual(unescaped.filter { $0 == "&" }.count, columns - 1, "cells: \(line)")
                }
                if line == "\\end{tabular}" { columns = nil }
            }
            XCTAssertFalse(inVerbatim, command)
            XCTAssertEqual(environments, ["document"].dropLast(), "\(command): unclosed \(environments)")
        }
    }

    /// The environments a line opens and closes, in order.
    static func environments(_ line: String) -> [(Bool, String)] {
        var found: [(Bool, String)] = []
        var rest = Substring(line)
        while let range = rest.range(of: "\\begin{") ?? rest.range(of: "\\end{") {
            let begin = rest.range(of: "\\begin{"), end = rest.range(of: "\\end{")
            let (opens, start) = begin != nil && (end == nil || begin!.lowerBound < end!.lowerBound) ? (true, begin!) : (false, end ?? range)
            let name = rest[start.upperBound...].prefix { $0 != "}" }
            found.append((opens, String(name)))
            rest = rest[start.upperBound...]
        }
        return found
    }

    /// The line without its escaped characters (`\%`, `\{`, `\\`).
    static func unescaped(_ line: String) -> String {
        var out = ""
        var escaped = false
        for character in line {
            if escaped {
                escaped = false
                if "\\{}_%&#$^~".contains(character) { continue }
                out.append("\\")
            } else if character == "\\" {
                escaped = true
                continue
            }
            out.append(character)
        }
        return out
    }

    func testMarkdownIsWellFormed() throws {
        for command in Self.commands {
            let (out, err, status) = runCommandLine(command + " --format markdown")
            XCTAssertEqual(status, 0, "\(command): \(err)")
            XCTAssertTrue(out.hasPrefix("# "), command)
            let lines = out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            XCTAssertEqual(lines.filter { $0 == "$$" }.count % 2, 0, "math fences: \(command)")
            XCTAssertEqual(lines.filter { $0 == "```" }.count % 2, 0, "code fences: \(command)")
            var cells: Int?
            var inCode = false
            for (i, line) in lines.enumerated() {
                if line == "```" { inCode.toggle(); continue }
                guard !inCode, line.hasPrefix("| ") else { cells = nil; continue }
                let count = line.replacing("\\|", with: "").filter { $0 == "|" }.count - 1
                if let cells {
                    XCTAssertEqual(count, cells, "\(command): row \(i): \(line)")
                } else {
                    cells = count
                    XCTAssertTrue(lines[i + 1].allSatisfy { "|-: ".contains($0) }, "a separator row under the header: \(command)")
                }
            }
        }
    }

    func testFormatMistakes() {
        for (command, words) in [("convcalc shape --format pdf --in 5 conv:k=3", "text, markdown or latex"),
                                 ("convcalc shape --format latex -q --in 5 conv:k=3", "give it or -q"),
                                 ("convcalc run --format markdown '[1 2]' '[1]'", "add --explain")] {
            let (out, err, status) = runCommandLine(command)
            XCTAssertEqual(status, 2, command)
            XCTAssertEqual(out, "")
            XCTAssertTrue(err.contains(words), "\(command): \(err)")
        }
    }

    /// Where pdflatex is installed (not on a fresh machine: `apt-get install texlive-latex-base`),
    /// every LaTeX document compiles.
    func testLaTeXCompilesWherePdflatexIs() throws {
        guard let pdflatex = ["/usr/bin/pdflatex", "/usr/local/bin/pdflatex"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("pdflatex is not installed")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("convcalc-latex-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (index, command) in Self.commands.enumerated() {
            let (out, _, _) = runCommandLine(command + " --format latex")
            try out.write(toFile: directory + "/d\(index).tex", atomically: true, encoding: .utf8)
            let result = try ChildProcess.run(pdflatex, ["-interaction=nonstopmode", "-halt-on-error", "d\(index).tex"], in: directory,
                                              environment: [:], seconds: 60)
            XCTAssertEqual(result.status, 0, "\(command): \(result.out.suffix(600))")
        }
    }
}
