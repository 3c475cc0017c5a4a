/// `--format markdown|latex`: the working as homework is handed in.
enum DocumentFormat: String, CaseIterable {
    case markdown, latex
}

/// A command's report as a document: headings, prose, equations (the working with the
/// numbers substituted), tables and verbatim text, rendered as Markdown (GitHub's: pipe
/// tables, `$$` math) or as a LaTeX document that compiles with plain pdflatex (amsmath only).
struct ReportDocument {
    enum Block {
        case heading(String)
        case paragraph(String)
        /// One equation a line, written as convcalc's text writes them (⌊ ⌋, ·, −, →).
        case equations([String])
        /// A table; `numeric` columns are right-aligned.
        case table(header: [String], rows: [[String]], numeric: Set<Int>)
        /// Text shown as it is (a picture, a matrix): a code block, or `verbatim` in ASCII.
        case verbatim(String)
    }

    var title: String
    var blocks: [Block] = []

    func render(_ format: DocumentFormat) -> String {
        format == .markdown ? markdown : latex
    }

    // MARK: Markdown

    var markdown: String {
        var parts = ["# " + Self.markdownText(title)]
        for block in blocks {
            switch block {
            case let .heading(text):
                // A setext heading: "## " would start a comment in convcalc's golden files and
                // the README's examples, which hold these documents.
                let heading = Self.markdownText(text)
                parts.append(heading + "\n" + String(repeating: "-", count: max(3, heading.count)))
            case let .paragraph(text): parts.append(Self.markdownText(text))
            case let .equations(lines): parts.append(lines.map { "$$\n" + Self.math($0) + "\n$$" }.joined(separator: "\n\n"))
            case let .table(header, rows, numeric):
                let cells = { (row: [String]) in "| " + row.map { Self.markdownText($0).replacing("|", with: "\\|") }.joined(separator: " | ") + " |" }
                let rule = "| " + header.indices.map { numeric.contains($0) ? "---:" : "---" }.joined(separator: " | ") + " |"
                parts.append(([cells(header), rule] + rows.map { cells(Self.padded($0, to: header.count)) }).joined(separator: "\n"))
            case let .verbatim(text): parts.append("```\n" + text.trimmingTrailingNewlines + "\n```")
            }
        }
        return parts.joined(separator: "\n\n") + "\n"
    }

    /// Markdown text: characters that would start emphasis or code escaped.
    static func markdownText(_ text: String) -> String { text.backslashing("*_`\\<[") }

    static func padded(_ row: [String], to count: Int) -> [String] {
        row.count >= count ? Array(row.prefix(count)) : row + Array(repeating: "", count: count - row.count)
    }

    // MARK: LaTeX

    var latex: String {
        var lines = [
            "\\documentclass{article}",
            "\\usepackage{amsmath}",
            "\\begin{document}",
            "\\section*{\(Self.latexText(title))}",
        ]
        for block in blocks {
            switch block {
            case let .heading(text): lines.append("\\subsection*{\(Self.latexText(text))}")
            case let .paragraph(text): lines.append(Self.latexText(text) + "\n")
            case let .equations(rows):
                lines.append("\\begin{align*}")
                lines.append(rows.map { "&" + Self.math($0) }.joined(separator: " \\\\\n"))
                lines.append("\\end{align*}")
            case let .table(header, rows, numeric):
                let spec = header.indices.map { numeric.contains($0) ? "r" : "l" }.joined()
                lines.append("\\begin{tabular}{\(spec)}")
                lines.append(header.map(Self.latexText).joined(separator: " & ") + " \\\\ \\hline")
                for row in rows { lines.append(Self.padded(row, to: header.count).map(Self.latexText).joined(separator: " & ") + " \\\\") }
                lines.append("\\end{tabular}\n")
            case let .verbatim(text):
                lines.append("\\begin{verbatim}\n" + ASCIIText.transliterate(text).trimmingTrailingNewlines + "\n\\end{verbatim}")
            }
        }
        lines.append("\\end{document}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// LaTeX text: the special characters escaped, convcalc's signs as math, the rest ASCII.
    static func latexText(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\textbackslash{}"
            case "{", "}", "_", "%", "&", "#", "$": out += "\\" + String(scalar)
            case "^": out += "\\^{}"
            case "~": out += "\\~{}"
            case "<", ">", "|": out += "$" + String(scalar) + "$"
            default:
                if let symbol = mathSymbols[scalar] {
                    out += "$" + symbol + "$"
                } else if scalar.isASCII {
                    out.unicodeScalars.append(scalar)
                } else {
                    out += ASCIIText.transliterate(String(scalar))
                }
            }
        }
        return out
    }

    /// convcalc's signs in LaTeX math.
    static let mathSymbols: [Unicode.Scalar: String] = [
        "⌊": "\\lfloor ", "⌋": "\\rfloor ", "⌈": "\\lceil ", "⌉": "\\rceil ", "·": "\\cdot ", "×": "\\times ",
        "→": "\\to ", "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ", "−": "-", "…": "\\ldots ", "Σ": "\\sum ", "Π": "\\prod ",
        "∥": "\\parallel ", "₂": "_2", "°": "^\\circ ", "≈": "\\approx ",
    ]

    /// An equation of convcalc's working in LaTeX math: signs as commands, names of two or
    /// more letters upright (`\mathrm{in}`), other text in `\text{}`.
    static func math(_ text: String) -> String {
        var out = ""
        var word = ""
        func flush() {
            guard !word.isEmpty else { return }
            out += word.count > 1 ? "\\mathrm{\(word)}" : word
            word = ""
        }
        for scalar in text.unicodeScalars {
            if scalar.properties.isAlphabetic && scalar.isASCII {
                word.unicodeScalars.append(scalar)
                continue
            }
            flush()
            if let symbol = mathSymbols[scalar] {
                out += symbol
            } else if "{}_%&#$^~\\".unicodeScalars.contains(scalar) {
                out += "\\" + String(scalar)
            } else if scalar == ";" || scalar == "," {
                out += String(scalar) + "\\;"
            } else if scalar.isASCII {
                out.unicodeScalars.append(scalar)
            } else {
                out += "\\text{" + ASCIIText.transliterate(String(scalar)) + "}"
            }
        }
        flush()
        return out
    }
}

extension String {
    /// The text with a backslash before each of `characters` (Markdown, zsh completion specs).
    func backslashing(_ characters: String) -> String {
        var out = ""
        for character in self {
            if characters.contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }

    var trimmingTrailingNewlines: String {
        var text = self
        while text.last == "\n" { text.removeLast() }
        return text
    }
}
