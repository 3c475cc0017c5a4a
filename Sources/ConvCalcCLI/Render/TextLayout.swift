/// The characters convcalc's text output may use.
///
/// Renderers always write Unicode (`×`, `→`, `⌊ ⌋`, `−`, `·`); the write stage (`CLI.swift`)
/// passes every text for the user through `apply`, so the ASCII spellings live in one table
/// (`ASCIIText`). JSON is written as it is: it is UTF-8 by definition.
enum Charset: Equatable {
    case unicode
    /// `--ascii`, or a locale that is not UTF-8.
    case ascii

    /// `text` in these characters.
    func apply(_ text: String) -> String {
        self == .ascii ? ASCIIText.transliterate(text) : text
    }

    /// The columns `text` takes once written in these characters (`⌊` takes 6 in ASCII:
    /// `floor(`), so a line fitted with it still fits after `apply`.
    func columns(_ text: String) -> Int {
        guard self == .ascii, text.unicodeScalars.contains(where: { !$0.isASCII }) else { return text.count }
        return ASCIIText.transliterate(text).count
    }
}

/// How text output is laid out: the columns it should fit and the characters it may use.
/// Computed from the terminal and the environment in the IO layer (`Terminal.layout`) and
/// handed to the renderers, which stay pure. JSON and `-q` output never depend on it.
struct TextLayout: Equatable {
    /// Columns available; lines longer than this are broken or tables narrowed where they can
    /// be without losing a number.
    var width: Int
    var charset: Charset
    /// Drawings may colour their cells (ANSI SGR codes): standard output is a terminal, and
    /// neither `NO_COLOR` nor `TERM=dumb` says otherwise (`Terminal.colour`).
    var colour = false

    /// 80 columns of Unicode: pipes and files, and the tests.
    static let standard = TextLayout(width: TextWrap.width, charset: .unicode)

    /// The columns `text` takes in the output's characters.
    func columns(_ text: String) -> Int { charset.columns(text) }

    /// Whether `text` fits in `width`.
    func fits(_ text: String) -> Bool { columns(text) <= width }
}

/// The ASCII spelling of every non-ASCII character convcalc writes, in one table.
enum ASCIIText {
    /// Each character and its ASCII form. Those that can sit inside an aligned table cell
    /// (`×`, `−`, `·`) keep their width of one column.
    static let replacements: [Unicode.Scalar: String] = [
        "×": "x", "−": "-", "·": "*", "–": "-", "—": "--", "→": "->", "∥": "||",
        "⌊": "floor(", "⌋": ")", "⌈": "ceil(", "⌉": ")",
        "≤": "<=", "≥": ">=", "≠": "!=", "≈": "~", "±": "+/-", "∞": "inf",
        "…": "...", "Σ": "sum", "Π": "prod ", "°": " degrees", "ᵀ": "^T", "²": "^2",
        "γ": "gamma", "β": "beta", "‘": "'", "’": "'", "“": "\"", "”": "\"", "›": ">", "\u{00A0}": " ", "µ": "u",
        "\u{FEFF}": "",
        // Drawings' cells (`DrawingText.mark` chooses its own ASCII marks; these are for any other use).
        "□": "o", "■": "#", "•": "*", "○": "0", "●": "@", "▫": "-", "▪": "+", "₂": "2",
    ]

    /// `text` with every character of `replacements` spelt in ASCII; any other non-ASCII
    /// character (in a file name or a layer token the user gave) written as `\u{E9}`.
    static func transliterate(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { !$0.isASCII }) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if scalar.isASCII {
                out.unicodeScalars.append(scalar)
            } else if let replacement = replacements[scalar] {
                out += replacement
            } else {
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
        }
        return out
    }
}
