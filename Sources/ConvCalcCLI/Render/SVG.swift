/// An SVG picture built as text: elements in drawing order, a title, an inline style sheet,
/// a white background. No script and no external resource, so it shows (and animates, with
/// SMIL) in an `<img>`, a browser, rsvg-convert or Inkscape alike; renderers that do not
/// animate show the first frame, which is the elements' own state.
struct SVGDocument {
    var width: Int
    var height: Int
    var title: String
    var body: [String] = []

    /// Cell colours (Solarized, as conv_arithmetic's figures: blue inputs, cyan outputs) and
    /// the window's and marks' styles; each `DrawnCell` is a class.
    static let style = """
    text{font-family:sans-serif;font-size:12px;fill:#002b36}
    .title{font-size:14px;font-weight:bold}
    .note{fill:#586e75}
    .cell{stroke:#657b83;stroke-width:0.5}
    .input{fill:#268bd2}
    .padding{fill:#fdf6e3;stroke-dasharray:3 2}
    .zero{fill:#c9c1a5;stroke-dasharray:1 2}
    .outside{fill:#ffffff;stroke:#dc322f;stroke-dasharray:2 2}
    .output{fill:#2aa198}
    .cropped{fill:#ffffff;stroke-dasharray:3 2}
    .unreached{fill:#d33682}
    .tap{fill:#073642;fill-opacity:0.55}
    .box{fill:none;stroke:#cb4b16;stroke-width:2}
    .mark{fill:none;stroke:#cb4b16;stroke-width:3}
    .count{font-size:11px;text-anchor:middle;fill:#ffffff;font-weight:bold}
    .value{font-size:10px;text-anchor:middle;fill:#002b36}
    .weight{fill:#cb4b16;font-weight:bold}
    """

    /// The document, with the XML declaration.
    var text: String {
        var lines = [
            #"<?xml version="1.0" encoding="UTF-8"?>"#,
            #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(width)" height="\#(height)" viewBox="0 0 \#(width) \#(height)">"#,
            "<title>\(Self.escape(title))</title>",
            "<style>\n\(Self.style)\n</style>",
            "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>",
        ]
        lines += body
        lines.append("</svg>")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `text` safe inside an element or a double-quoted attribute.
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default:
                // XML 1.0 has no control characters but tab and line ends.
                if let ascii = character.asciiValue, ascii < 0x20 { out += " " } else { out.append(character) }
            }
        }
        return out
    }

    /// A text element at (x, y).
    static func text(_ words: String, x: Int, y: Int, className: String? = nil) -> String {
        #"<text x="\#(x)" y="\#(y)"\#(className.map { #" class="\#($0)""# } ?? "")>\#(escape(words))</text>"#
    }

    /// A rectangle.
    static func rect(x: Int, y: Int, width: Int, height: Int, className: String, extra: String = "") -> String {
        #"<rect x="\#(x)" y="\#(y)" width="\#(width)" height="\#(height)" class="\#(className)"\#(extra)/>"#
    }

    /// About how wide `text` is at 12 px sans-serif (for layout; a little generous).
    static func textWidth(_ text: String, size: Int = 12) -> Int { (text.count * size * 6 + 9) / 10 }

    /// `text` broken into lines of at most `columns` characters.
    static func wrap(_ text: String, columns: Int) -> [String] {
        TextWrap.wrap(text, width: columns)
    }

    /// A discrete SMIL animation cycling through `values`, one a second, for ever.
    static func discrete(_ attribute: String, values: [String], transform: Bool = false) -> String {
        let kind = transform ? #"animateTransform attributeName="transform" type="translate""# : #"animate attributeName="\#(attribute)""#
        return #"<\#(kind) calcMode="discrete" values="\#(values.joined(separator: ";"))" dur="\#(values.count)s" repeatCount="indefinite"/>"#
    }
}
