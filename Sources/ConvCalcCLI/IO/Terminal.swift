#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How text output is laid out, from the environment and standard output: the width and the
/// characters (`TextLayout`). The one place that reads them; renderers get the result.
public enum Terminal {
    /// The environment variables convcalc reads.
    public static let variables = ["COLUMNS", "LC_ALL", "LC_CTYPE", "LANG", "NO_COLOR", "TERM"]

    /// Those of `variables` that are set in the process's environment (`main.swift`).
    public static func processEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        for name in variables {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        return environment
    }

    /// The fewest and most columns output is laid out in (a heat map's cost grows with the width).
    static let widths = 20...1000

    /// The layout for `environment` and a standard output `terminalWidth` columns wide (nil
    /// when it is not a terminal or reports no width) that `isTerminal` or not.
    static func layout(environment: [String: String], terminalWidth: Int?, isTerminal: Bool = false) -> TextLayout {
        TextLayout(width: width(environment: environment, terminalWidth: terminalWidth), charset: charset(environment: environment),
                   colour: colour(environment: environment, terminal: isTerminal))
    }

    /// Colour only on a terminal, and not when `NO_COLOR` is set to anything but the empty
    /// string (no-color.org) or `TERM` is `dumb`.
    static func colour(environment: [String: String], terminal: Bool) -> Bool {
        terminal && (environment["NO_COLOR"] ?? "").isEmpty && environment["TERM"] != "dumb"
    }

    /// `COLUMNS` when it is a whole number of at least 1, else the terminal's width, else 80
    /// (pipes and files); kept within `widths`.
    static func width(environment: [String: String], terminalWidth: Int?) -> Int {
        let columns = environment["COLUMNS"].flatMap { text in text.allSatisfy(\.isASCIIDigit) ? Int(text) : nil }
        let chosen = columns.flatMap { $0 >= 1 ? $0 : nil } ?? terminalWidth ?? TextWrap.width
        return min(max(chosen, widths.lowerBound), widths.upperBound)
    }

    /// ASCII when the locale is set and is not UTF-8, else Unicode.
    ///
    /// The locale is the first of `LC_ALL`, `LC_CTYPE` and `LANG` that is set and not empty,
    /// as POSIX orders them; it is UTF-8 when it names UTF-8 (`C.UTF-8`, `en_US.utf8`; case
    /// ignored). With none set, output stays Unicode: containers and CI runners often set no
    /// locale at all while their terminals and logs show UTF-8, whereas `LC_ALL=C` or
    /// `LANG=POSIX` is a choice someone made.
    static func charset(environment: [String: String]) -> Charset {
        let names = ["LC_ALL", "LC_CTYPE", "LANG"]
        guard let locale = names.lazy.compactMap({ environment[$0] }).first(where: { !$0.isEmpty }) else { return .unicode }
        let folded = locale.lowercased()
        return folded.contains("utf-8") || folded.contains("utf8") ? .unicode : .ascii
    }
}

private extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
