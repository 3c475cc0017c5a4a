/// Long lines broken to fit the layout's width, never inside a number or a word: a word
/// longer than the width stays whole (and its line longer).
enum LineFit {
    /// Working and formulas: continuation lines start so that their `=` sits under the line's
    /// first `=` (`out = ⌊…⌋ + 1 = ⌊…⌋ + 1` / `    = ⌊217/4⌋ + 1 = 55`); when that `=` lies
    /// past the middle, four columns deeper than the line's own indentation (a dimension's
    /// label, `H: `, counting as indentation). A line that goes on in words after a `; `
    /// breaks there, the words as prose.
    static func equation(_ line: String, layout: TextLayout) -> [String] {
        guard !layout.fits(line) else { return [line] }
        let text = line.dropFirst(leadingSpaces(line))
        let label = text.count > 3 && text.first!.isUppercase && text.dropFirst().hasPrefix(": ") ? 3 : 0
        var indent = leadingSpaces(line) + label + 4
        if let equals = line.range(of: " = ") {
            let column = layout.columns(String(line[..<equals.lowerBound])) + 1
            if column <= layout.width / 2 { indent = column }
        }
        guard let semicolon = line.range(of: "; ") else { return fit(line, layout: layout, indent: indent) }
        let head = String(line[..<semicolon.lowerBound]) + ";"
        let hang = leadingSpaces(line) + label + 4
        let words = String(repeating: " ", count: hang) + line[semicolon.upperBound...]
        return fit(head, layout: layout, indent: indent) + fit(words, layout: layout, indent: hang, breaksBefore: [])
    }

    /// Prose: continuation lines `hang` columns deeper than the line's own indentation, broken
    /// preferably after a `;`, never next to a sign (`1 MAC = 2 FLOPs` stays whole).
    static func prose(_ line: String, layout: TextLayout, hang: Int = 2) -> [String] {
        guard !layout.fits(line) else { return [line] }
        return fit(line, layout: layout, indent: leadingSpaces(line) + hang, breaksBefore: [])
    }

    /// `line` broken at spaces into lines of at most `layout.width` columns, continuation lines
    /// indented by `indent`; each line ends where `breakPoint` chooses: preferably before a
    /// word of `breaksBefore` (`=` and `→`; `+` for a long sum) or after a `;`.
    static func fit(_ line: String, layout: TextLayout, indent: Int, breaksBefore: Set<String> = ["=", "→"]) -> [String] {
        let leading = leadingSpaces(line)
        let words = line.dropFirst(leading).split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        let widths = words.map { layout.columns($0) }
        // restWidths[i]: the columns of words[i...] on one line.
        var restWidths = [Int](repeating: -1, count: words.count + 1)
        for index in words.indices.reversed() { restWidths[index] = restWidths[index + 1] + 1 + widths[index] }
        var lines: [String] = []
        var start = 0
        var prefix = leading
        while start < words.count {
            // The most words that fit (at least one).
            var end = start + 1, used = prefix + widths[start]
            while end < words.count, used + 1 + widths[end] <= layout.width {
                used += 1 + widths[end]
                end += 1
            }
            let stop = end == words.count ? end : breakPoint(words, widths, restWidths, start: start, end: end, prefix: prefix,
                                                             indent: indent, width: layout.width, breaksBefore: breaksBefore)
            lines.append(String(repeating: " ", count: prefix) + words[start..<stop].joined(separator: " "))
            start = stop
            while start < words.count, words[start].isEmpty { start += 1 }   // the spaces at a break go
            prefix = indent
        }
        return lines
    }

    /// Where to end the line holding `words[start..<end]` (the most that fit), at a preferred
    /// break (before a word of `breaksBefore`, after `;`) that leaves the line at least half
    /// full (also: at a gap of several spaces): when the rest then fits on one line, the last
    /// before `→` (a result: `… = 2` / `→ pb = 1, pa = 1`), else the first (a formula, then
    /// its numbers); otherwise the last preferred break; with none, the last space not next to
    /// a sign (`operators`) nor after a label (`start:`), else `end`.
    private static func breakPoint(_ words: [String], _ widths: [Int], _ restWidths: [Int], start: Int, end: Int, prefix: Int,
                                   indent: Int, width: Int, breaksBefore: Set<String>) -> Int {
        let half = prefix + (width - prefix) / 2
        func isPreferred(_ index: Int) -> Bool {
            // A gap of several spaces separates items (`jump: 1   start: 0`).
            !words[index - 1].isEmpty && (breaksBefore.contains(words[index]) || words[index - 1].hasSuffix(";") || words[index].isEmpty)
        }
        // used: the columns of words[start..<candidate]; the rest, words[candidate...], on a line of its own.
        var used = prefix + widths[start]
        var last: Int?, firstFitting: Int?, arrowFitting: Int?
        var plain: Int?
        for candidate in (start + 1)...end {
            if isPreferred(candidate) && used >= half {
                if indent + restWidths[candidate] <= width {
                    if words[candidate] == "→" { arrowFitting = candidate }
                    firstFitting = firstFitting ?? candidate
                }
                last = candidate
            }
            if !operators.contains(words[candidate - 1]) && !operators.contains(words[candidate]) && !words[candidate - 1].hasSuffix(":") {
                plain = candidate
            }
            guard candidate < end else { break }
            used += 1 + widths[candidate]
        }
        return arrowFitting ?? firstFitting ?? last ?? plain ?? end
    }

    /// Signs a line is not broken next to (`k − 1` stays together) unless the break is a
    /// preferred one.
    static let operators: Set<String> = ["+", "−", "-", "·", "×", "/", "=", "≥", "≤", "<", ">", "→", "∥"]

    /// A table cell (a layer token, a merge's heading) broken after commas and at spaces into
    /// pieces of at most `width` columns, those after the first `hang` fewer (they are
    /// indented by it); a part longer than that stays whole: `conv:k=3,s=2,p=1,` `c=128,bias=0`.
    static func token(_ token: String, width: Int, hang: Int = 2, layout: TextLayout) -> [String] {
        guard layout.columns(token) > width else { return [token] }
        // Parts end after a comma or an opening parenthesis (kept) or at a space (dropped, or put
        // back when parts join).
        var parts: [(text: String, spaceAfter: Bool)] = [("", false)]
        for character in token {
            if character == " " {
                parts[parts.count - 1].spaceAfter = true
                parts.append(("", false))
            } else {
                parts[parts.count - 1].text.append(character)
                if character == "," || character == "(" { parts.append(("", false)) }   // `(`: a block's arguments
            }
        }
        var pieces: [String] = []
        var current = ""
        var gap = ""
        for part in parts where !part.text.isEmpty {
            if !current.isEmpty, layout.columns(current + gap + part.text) > width - (pieces.isEmpty ? 0 : hang) {
                pieces.append(current)
                current = ""
            }
            current += (current.isEmpty ? "" : gap) + part.text
            gap = part.spaceAfter ? " " : ""
        }
        pieces.append(current)
        return pieces
    }

    static func leadingSpaces(_ line: String) -> Int { line.prefix { $0 == " " }.count }
}
