import ConvCalcCore

/// The parts of `man/convcalc.1` and `README.md` generated from the tables (option tables,
/// `LayerSchema`, `LayerType`), so the documents cannot drift from the code.
///
/// Each part sits between marker comments, `.\" BEGIN GENERATED NAME` … `.\" END GENERATED NAME`
/// in the man page, `<!-- BEGIN GENERATED NAME -->` … `<!-- END GENERATED NAME -->` in the
/// README. `make docs` rewrites them (`convcalc _docs man|readme`, a hidden command, reads the
/// document on stdin and writes it updated); `DocsTests` checks they are up to date.
enum Docs {
    enum Document: String { case man, readme }

    /// `text` with every generated part of `document` regenerated.
    /// - Throws: `UsageError.invalid` when a marker is missing.
    static func update(_ text: String, _ document: Document) throws -> String {
        var text = text
        let parts: [(String, String)]
        switch document {
        case .man: parts = [("OPTIONS", manOptions()), ("KEYS", manKeys()), ("LAYER TYPES", manLayerTypes())]
        case .readme: parts = [("KEYS", readmeKeys()), ("LAYER TYPES", readmeLayerTypes())]
        }
        for (name, content) in parts {
            let (begin, end) = document == .man
                ? (".\\\" BEGIN GENERATED \(name)\n", ".\\\" END GENERATED \(name)\n")
                : ("<!-- BEGIN GENERATED \(name) -->\n", "<!-- END GENERATED \(name) -->\n")
            guard let start = text.range(of: begin), let stop = text.range(of: end), start.upperBound <= stop.lowerBound else {
                throw UsageError.invalid("\(document.rawValue): the markers of the generated part '\(name)' are missing")
            }
            text = String(text[..<start.upperBound]) + content + String(text[stop.lowerBound...])
        }
        return text
    }

    // MARK: man page

    /// OPTIONS: every command's options; an option several commands share is listed once,
    /// under the commands that take it.
    static func manOptions() -> String {
        var lines: [String] = [".SS convcalc"]
        for spec in TopLevelOptions.options { lines += manEntry(spec) }
        lines.append(".PP")
        lines.append("Every command takes \(roffNames(["-h", "--help"])) too, for its own help.")
        var sections: [(group: OptionGroup, commands: [String], specs: [OptionSpec])] = []
        var seen: [String: [String]] = [:]   // option identity -> commands taking it
        let identity = { (spec: OptionSpec) in [spec.names.joined(separator: ","), spec.help, spec.defaultText ?? "", spec.manText ?? ""].joined(separator: "|") }
        for command in commands {
            for spec in command.options where spec.id != .help { seen[identity(spec), default: []].append(command.name) }
        }
        for command in commands {
            for spec in command.options where spec.id != .help {
                let takers = seen[identity(spec)]!
                guard takers.first == command.name else { continue }
                if let index = sections.firstIndex(where: { $0.group == spec.group && $0.commands == takers }) {
                    sections[index].specs.append(spec)
                } else {
                    sections.append((spec.group, takers, [spec]))
                }
            }
        }
        for section in sections {
            lines.append(".SS \(section.commands.joined(separator: ", ")): \(manTitle(section.group))")
            for spec in section.specs { lines += manEntry(spec) }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func manTitle(_ group: OptionGroup) -> String {
        switch group {
        case .layer: return "layer options (one layer)"
        case .stack: return "stack options"
        case .command: return "options"
        case .output: return "output options"
        }
    }

    static func manEntry(_ spec: OptionSpec) -> [String] {
        var head = roffNames(spec.names)
        if let value = spec.valueSyntax { head += " \\fI\(value)\\fR" }
        var text = spec.manText ?? sentence(spec.help)
        if spec.manText == nil, let defaultText = spec.defaultText {
            text = String(text.dropLast()) + " (default: \(defaultText))."
        }
        return [".TP", head, roff(text)]
    }

    /// KEYS: one entry per row of `LayerSchema`.
    static func manKeys() -> String {
        var lines: [String] = []
        for row in LayerSchema.rows {
            lines.append(".TP")
            var head = "\\fB\(row.key.rawValue)\\fR"
            let options = row.optionNames + row.stackOptions
            if !options.isEmpty { head += " (" + roffNames(options) + ")" }
            lines.append(head)
            lines.append(roff(sentence(row.meaning) + " " + defaultSentence(row) + "Types: "
                              + row.types.map(\.rawValue).joined(separator: ", ") + "."))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// LAYER TYPES: one entry per `LayerType`, with the keys it takes.
    static func manLayerTypes() -> String {
        var lines: [String] = []
        for type in LayerType.allCases {
            let aliases = LayerType.aliases.filter { $0.value == type }.keys.sorted()
            lines.append(".TP")
            lines.append("\\fB\(type.rawValue)\\fR" + aliases.map { ", \\fB\($0)\\fR" }.joined())
            let keys = type.keys.isEmpty ? "No keys." : "Keys: " + type.keys.map(\.rawValue).joined(separator: ", ") + "."
            lines.append(roff(sentence(type.summary) + " Parameters: " + type.costText + ". Field: " + type.fieldText + ". " + keys))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `Required for conv, …; default …. ` for a key, or nothing.
    static func defaultSentence(_ row: LayerKeySpec) -> String {
        var parts: [String] = []
        let required = LayerType.allCases.filter { row.required[$0] != nil }.map(\.rawValue)
        if !required.isEmpty { parts.append("Required for " + required.joined(separator: ", ") + ".") }
        if let defaultText = row.defaultText { parts.append("Default: \(defaultText).") }
        return parts.map { $0 + " " }.joined()
    }

    // MARK: README

    /// The README's key table.
    /// Every layer type: what it is, its parameters and MACs, its effect on the field, its keys.
    static func readmeLayerTypes() -> String {
        var lines = ["| type | what it is | parameters; MACs | receptive field | keys |", "| --- | --- | --- | --- | --- |"]
        for type in LayerType.allCases {
            let aliases = LayerType.aliases.filter { $0.value == type }.keys.sorted()
            let name = "`\(type.rawValue)`" + (aliases.isEmpty ? "" : " (" + aliases.map { "`\($0)`" }.joined(separator: ", ") + ")")
            let keys = type.keys.isEmpty ? "—" : type.keys.map { "`\($0.rawValue)`" }.joined(separator: ", ")
            let cells = [name, type.summary, type.costText, type.fieldText, keys]
            lines.append("| " + cells.map { $0.replacingAll("|", with: "\\|") }.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func readmeKeys() -> String {
        var lines = ["| key | option | meaning | default | types |", "| --- | --- | --- | --- | --- |"]
        for row in LayerSchema.rows {
            var options = row.optionNames.map { "`\($0)`" }.joined(separator: ", ")
            if !row.stackOptions.isEmpty {
                options += (options.isEmpty ? "" : "; ") + row.stackOptions.map { "`\($0)`" }.joined(separator: " / ") + " (whole stack)"
            }
            let required = LayerType.allCases.filter { row.required[$0] != nil }.map(\.rawValue)
            var defaultText = row.defaultText ?? ""
            if !required.isEmpty { defaultText = "required for " + required.joined(separator: ", ") + (defaultText.isEmpty ? "" : "; " + defaultText) }
            let cells = ["`\(row.key.rawValue)`", options.isEmpty ? "—" : options, row.meaning, defaultText.isEmpty ? "—" : defaultText,
                         row.types.map(\.rawValue).joined(separator: ", ")]
            lines.append("| " + cells.map { $0.replacingAll("|", with: "\\|") }.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: roff

    static func sentence(_ text: String) -> String {
        guard let first = text.first else { return text }
        let capitalised = first.isLowercase && !text.hasPrefix("tconv") ? first.uppercased() + text.dropFirst() : text
        return capitalised.hasSuffix(".") ? capitalised : capitalised + "."
    }

    static func roffNames(_ names: [String]) -> String {
        names.map { "\\fB" + roff($0) + "\\fR" }.joined(separator: ", ")
    }

    /// Plain text as roff: backslashes and hyphens escaped, special characters named, and a
    /// line that would start with a control character protected.
    static func roff(_ text: String) -> String {
        var out = ""
        for ch in text {
            switch ch {
            case "\\": out += "\\e"
            case "-": out += "\\-"
            case "×": out += "\\(mu"
            case "·": out += "\\(md"
            case "°": out += "\\(de"
            case "–": out += "\\(en"
            case "→": out += "\\(->"
            case "≥": out += "\\(>="
            case "≤": out += "\\(<="
            case "'": out += "\\(aq"
            default: out.append(ch)
            }
        }
        if out.hasPrefix(".") { out = "\\&" + out }
        return out
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
