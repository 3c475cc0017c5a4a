import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// Help text, generated from the command tables (swift-argument-parser layout:
/// OVERVIEW / USAGE / OPTIONS / EXAMPLES, `(default: …)` after the text, 80 columns).
///
/// Help is written in Unicode and put in the output's characters by the CLI; `charset` only
/// measures words, so that ASCII help fits 80 columns too.
enum Help {
    static func topLevel(charset: Charset = .unicode) -> String {
        var lines: [String] = []
        lines += TextWrap.wrap("convcalc \(convcalcVersion): a convolution calculator for people who learn, teach and design convolutional networks.", first: "OVERVIEW: ", rest: "", measure: charset.columns)
        lines.append("")
        lines.append("USAGE: convcalc COMMAND [options] [LAYER...]")
        lines.append("")
        lines.append("COMMANDS:")
        for command in commands {
            lines += TextWrap.wrap(command.summary, first: "  " + TextWrap.pad(command.name, 10), rest: String(repeating: " ", count: 12), measure: charset.columns)
        }
        lines.append("  " + TextWrap.pad("help", 10) + "show help for a command")
        lines.append("")
        lines.append("OPTIONS:")
        for spec in TopLevelOptions.options { lines += optionLines(spec, charset: charset) }
        lines.append("")
        lines.append("LAYER TYPES (tokens TYPE[:key=value,...], e.g. conv:k=3,s=2,p=1):")
        let nameWidth = LayerType.allCases.map(\.rawValue.count).max()! + 2
        for type in LayerType.allCases {
            lines += TextWrap.wrap(type.summary, first: "  " + TextWrap.pad(type.rawValue, nameWidth), rest: String(repeating: " ", count: nameWidth + 2), measure: charset.columns)
        }
        lines.append("")
        lines += TextWrap.wrap("Branches: add { LAYERS } { LAYERS } sums parallel branches from the same input, concat { … } { … } joins their channels; split { … } { … } gives each branch its share of the channels (equal, or split:c=24x40) and joins their outputs; an empty branch { } is the identity (a skip connection); merges nest.", first: "  ", rest: "  ", measure: charset.columns)
        lines.append("")
        lines.append("KEYS:")
        for row in LayerSchema.rows {
            var text = row.meaning
            if let defaultText = row.defaultText { text += " (default: \(defaultText))" }
            lines += TextWrap.wrap(text, first: "  " + TextWrap.pad(row.key.rawValue, 8), rest: String(repeating: " ", count: 10), measure: charset.columns)
        }
        lines.append("")
        lines += TextWrap.wrap("See 'convcalc help COMMAND' or 'convcalc COMMAND --help' for a command's options, and 'man convcalc' for the formulas and exit codes.", measure: charset.columns)
        return lines.joined(separator: "\n") + "\n"
    }

    static func render(_ command: Command, charset: Charset = .unicode) -> String {
        var lines: [String] = []
        lines += TextWrap.wrap(command.summary, first: "OVERVIEW: ", rest: "", measure: charset.columns)
        for paragraph in command.overview {
            lines.append("")
            lines += TextWrap.wrap(paragraph, measure: charset.columns)
        }
        lines.append("")
        for (index, usage) in command.usage.enumerated() {
            lines.append((index == 0 ? "USAGE: " : "       ") + usage)
        }
        for group in OptionGroup.allCases {
            let specs = command.options.filter { $0.group == group }
            guard !specs.isEmpty else { continue }
            lines.append("")
            lines.append(group.rawValue + ":")
            for spec in specs { lines += optionLines(spec, charset: charset) }
        }
        for (title, paragraphs) in command.sections {
            lines.append("")
            lines.append(title + ":")
            for paragraph in paragraphs { lines += TextWrap.wrap(paragraph, first: "  ", rest: "  ", measure: charset.columns) }
        }
        if !command.examples.isEmpty {
            lines.append("")
            lines.append("EXAMPLES:")
            for (example, explanation) in command.examples {
                lines.append("  " + example)
                lines += TextWrap.wrap(explanation, first: "      ", rest: "      ", measure: charset.columns)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static let helpColumn = 26

    /// `  --k, --kernel SIZE      kernel size (default: …)`
    static func optionLines(_ spec: OptionSpec, charset: Charset = .unicode) -> [String] {
        var names = spec.names.joined(separator: ", ")
        if let value = spec.valueSyntax { names += " " + value }
        var text = spec.help
        if let defaultText = spec.defaultText { text += " (default: \(defaultText))" }
        let indent = String(repeating: " ", count: helpColumn)
        let label = "  " + names
        if label.count + 2 > helpColumn {
            return [label] + TextWrap.wrap(text, first: indent, rest: indent, measure: charset.columns)
        }
        return TextWrap.wrap(text, first: TextWrap.pad(label, helpColumn), rest: indent, measure: charset.columns)
    }
}
