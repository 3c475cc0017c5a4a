/// A mistake in the words that name and repeat layers: `repeat`, `def`, block uses, `include`.
public enum StackLanguageError: UserFacingError, Equatable {
    case undefinedBlock(String, suggestion: String?)
    case argumentCount(block: String, expected: [String], got: Int)
    case recursion([String])
    case expectedBody(after: String)
    case unclosedBody(String)
    case badRepeatCount(String)
    case badDefinition(String, reason: String)
    case duplicateDefinition(String, first: String?)
    case definitionInside(String)
    case missingIncludePath
    case includeCycle([String])
    case badArgument(String, reason: String)
    case tooManyLayers(limit: Int)
    case tooDeep(limit: Int)

    public var message: String {
        switch self {
        case let .undefinedBlock(name, suggestion):
            return "no block named '\(name)'" + (suggestion.map { " (did you mean '\($0)'?)" } ?? "") + "; define it first: def \(name)(PARAMETERS) { LAYERS }"
        case let .argumentCount(block, expected, got):
            let wanted = expected.isEmpty ? "no arguments" : "\(expected.count) argument\(expected.count == 1 ? "" : "s") (\(expected.joined(separator: ", ")))"
            return "block '\(block)' takes \(wanted), not \(got)"
        case let .recursion(chain):
            return "block '\(chain.last!)' uses itself (\(chain.joined(separator: " → "))); a block may use only other blocks"
        case let .expectedBody(after):
            return "'\(after)' must be followed by its layers in braces: \(after) { LAYERS }"
        case let .unclosedBody(word):
            return "the braces after '\(word)' are not closed: add '}'"
        case let .badRepeatCount(text):
            return "repeat \(text): the count must be a whole number from 0 to \(StackExpansion.maximumLayers), e.g. repeat 3 { conv:k=3,p=1 }"
        case let .badDefinition(text, reason):
            return "def \(text): \(reason); write def NAME(PARAMETERS) { LAYERS }, e.g. def block(c, s) { conv:k=3,s=s,p=1,c=c bn relu }"
        case let .duplicateDefinition(name, first):
            return "block '\(name)' is defined twice" + (first.map { " (first at \($0))" } ?? "")
        case let .definitionInside(name):
            return "def \(name) is inside braces; define blocks at the top level of a file or command line"
        case .missingIncludePath:
            return "include needs a file: include FILE"
        case let .includeCycle(chain):
            return "'\(chain.last!)' includes itself (\(chain.joined(separator: " → ")))"
        case let .badArgument(text, reason):
            return "'\(text)': \(reason)"
        case let .tooManyLayers(limit):
            return "the stack expands to more than \(limit) words (layers, merges and braces), or takes too many repeat rounds to expand; repeat fewer times"
        case let .tooDeep(limit):
            return "blocks, repeats and includes nested more than \(limit) deep"
        }
    }

    /// Limits passed by well-formed input are data errors (exit 1); the rest is syntax (exit 2).
    public var category: ErrorCategory {
        switch self {
        case .tooManyLayers, .tooDeep: return .data
        default: return .usage
        }
    }
}

/// Expands the words that name and repeat layers into the plain stack words `StackSyntax`
/// parses (layer tokens, `add`/`concat` and braces):
///
/// - `repeat N { … }`: the layers N times (`repeat 0` is nothing);
/// - `def NAME(P, Q) { … }` defines a block (at the top level, anywhere in the file: uses may
///   come before it) and `NAME(A, B)` uses it: its layers with each parameter replaced by its
///   argument, in values (`c=c*4`), as a whole word, or as a layer type; `NAME` or `NAME()` for a
///   block without parameters; an argument holding commas (a layer token) is written in
///   parentheses, `block((se:r=4,div=8))`;
/// - `include FILE`: the words of FILE (its blocks become known), relative to the including file.
///
/// Values may be integer arithmetic on parameters and numbers, `+ - * / ( )`, `/` rounding
/// down as Python's `//`, per dimension between `x` (`c*4`, `(k)x1`). Every expanded word
/// keeps where it was written and records where it came from (`origin`).
public struct StackExpansion {
    /// The most words an expansion may produce (a million layers is far beyond any network).
    public static let maximumLayers = 1_000_000
    /// The deepest nesting of block uses, repeats and includes.
    public static let maximumDepth = 64
    /// The words with a meaning of their own, which cannot name a block.
    public static let keywords: Set<String> = ["repeat", "def", "include", "add", "concat", "split", "mul", "{", "}"]

    struct Definition {
        var parameters: [String]
        var body: [StackWord]
        var location: String?
    }

    /// Reads an included file: its words, located in it. Arguments: the path as written and
    /// the `include` word (whose location says which file includes it).
    public typealias Include = (_ path: String, _ from: StackWord) throws -> (name: String, words: [StackWord])

    var definitions: [String: Definition] = [:]
    var output: [StackWord] = []
    /// Words looked at and repeat rounds run: bounded, so `repeat 1000000 { repeat 1000000 { } }`
    /// (nothing produced, 10^12 rounds) ends with an error instead of running for hours.
    var work = 0
    static let maximumWork = 4_000_000
    var includeChain: [String] = []
    let include: Include

    /// The stack words with every repeat, block use and include expanded.
    /// - Parameter file: the stack file the words come from, if any (an include of it is a cycle).
    public static func expand(_ words: [StackWord], file: String? = nil, include: @escaping Include) throws -> [StackWord] {
        // Nothing to expand: the words as they are (old files pay nothing), within the same
        // limit as an expansion (a file of millions of lines took minutes and gigabytes).
        guard words.contains(where: { ["repeat", "def", "include"].contains($0.text) || $0.text.hasSuffix(")") }) else {
            if words.count > maximumLayers { throw located(words[maximumLayers], .tooManyLayers(limit: maximumLayers)) }
            return words
        }
        var expansion = StackExpansion(include: include)
        expansion.includeChain = file.map { [$0] } ?? []
        let body = try expansion.collectDefinitions(words)
        try expansion.emit(body, bindings: [:], origin: [], active: [], depth: 0)
        return expansion.output
    }

    init(include: @escaping Include) {
        self.include = include
    }

    /// Takes the top-level `def`s out of `words`, remembering them; the rest in order.
    mutating func collectDefinitions(_ words: [StackWord]) throws -> [StackWord] {
        var rest: [StackWord] = []
        var index = 0
        var depth = 0
        while index < words.count {
            let word = words[index]
            if word.text == "{" { depth += 1 } else if word.text == "}" { depth -= 1 }
            guard word.text == "def" else {
                rest.append(word)
                index += 1
                continue
            }
            guard index + 1 < words.count else { throw Self.located(word, .badDefinition("", reason: "the name is missing")) }
            let header = words[index + 1]
            let (name, parameters) = try Self.signature(header)
            if depth > 0 { throw Self.located(word, .definitionInside(name)) }
            guard index + 2 < words.count, words[index + 2].text == "{" else { throw Self.located(header, .expectedBody(after: "def " + header.text)) }
            let (body, end) = try Self.braced(words, from: index + 2, after: header)
            if let first = definitions[name] { throw Self.located(header, .duplicateDefinition(name, first: first.location)) }
            definitions[name] = Definition(parameters: parameters, body: body, location: header.location)
            index = end
        }
        return rest
    }

    /// `NAME(P, Q)`, `NAME()` or `NAME`: the block's name and parameter names.
    static func signature(_ word: StackWord) throws -> (String, [String]) {
        let (name, arguments) = call(word.text)
        guard isIdentifier(name), !keywords.contains(name), LayerType(name: name) == nil else {
            let reason = LayerType(name: name) != nil || keywords.contains(name) ? "'\(name)' is already a word of the language" : "'\(name)' is not a name (letters, digits and _, not starting with a digit)"
            throw located(word, .badDefinition(word.text, reason: reason))
        }
        let parameters = arguments ?? []
        for parameter in parameters where !isIdentifier(parameter) {
            throw located(word, .badDefinition(word.text, reason: "parameter '\(parameter)' is not a name"))
        }
        if Set(parameters).count != parameters.count { throw located(word, .badDefinition(word.text, reason: "a parameter is named twice")) }
        return (name, parameters)
    }

    /// The words inside the braces that open at `start`, and the index after the closing one.
    static func braced(_ words: [StackWord], from start: Int, after owner: StackWord) throws -> ([StackWord], Int) {
        var depth = 0
        var index = start
        while index < words.count {
            if words[index].text == "{" { depth += 1 } else if words[index].text == "}" {
                depth -= 1
                if depth == 0 { return (Array(words[(start + 1)..<index]), index + 1) }
            }
            index += 1
        }
        throw located(owner, .unclosedBody(owner.text))
    }

    /// Appends the expansion of `words` to `output`, parameters replaced by `bindings`.
    /// `active` holds the blocks being expanded (for recursion); recursion is one level per
    /// block use, repeat or include, at most `maximumDepth`.
    mutating func emit(_ words: [StackWord], bindings: [String: String], origin: [String], active: [String], depth: Int) throws {
        var index = 0
        while index < words.count {
            var word = words[index]
            work += 1
            guard work <= Self.maximumWork else { throw Self.located(word, .tooManyLayers(limit: Self.maximumLayers), origin: origin) }
            if !bindings.isEmpty { word.text = try Self.substitute(word.text, bindings, at: word) }
            index += 1
            if word.text == "repeat" {
                index = try emitRepeat(words, at: index, word: word, bindings: bindings, origin: origin, active: active, depth: depth)
            } else if word.text == "include" {
                guard index < words.count else { throw Self.located(word, .missingIncludePath, origin: origin) }
                try emitInclude(words[index], from: word, origin: origin, active: active, depth: depth)
                index += 1
            } else if let (name, arguments) = Optional(Self.call(word.text)), definitions[name] != nil || (arguments != nil && Self.isIdentifier(name)) {
                try emitUse(word, name: name, arguments: arguments ?? [], origin: origin, active: active, depth: depth)
            } else {
                guard output.count < Self.maximumLayers else { throw Self.located(word, .tooManyLayers(limit: Self.maximumLayers), origin: origin) }
                word.origin = origin
                output.append(word)
            }
        }
    }

    mutating func emitRepeat(_ words: [StackWord], at index: Int, word: StackWord, bindings: [String: String],
                             origin: [String], active: [String], depth: Int) throws -> Int {
        guard index < words.count else { throw Self.located(word, .badRepeatCount(""), origin: origin) }
        var countWord = words[index]
        if !bindings.isEmpty { countWord.text = try Self.substitute(countWord.text, bindings, at: countWord) }
        guard let count = Arithmetic.evaluate(countWord.text), (0...Self.maximumLayers).contains(count) else {
            throw Self.located(countWord, .badRepeatCount(countWord.text), origin: origin)
        }
        guard index + 1 < words.count, words[index + 1].text == "{" else { throw Self.located(countWord, .expectedBody(after: "repeat \(count)"), origin: origin) }
        let (body, end) = try Self.braced(words, from: index + 1, after: word)
        guard depth < Self.maximumDepth else { throw Self.located(word, .tooDeep(limit: Self.maximumDepth), origin: origin) }
        for round in stride(from: 1, through: count, by: 1) {   // `repeat 0` is nothing: a stage of one block
            work += 1
            guard work <= Self.maximumWork else { throw Self.located(word, .tooManyLayers(limit: Self.maximumLayers), origin: origin) }
            try emit(body, bindings: bindings, origin: origin + ["repeat \(round)/\(count)"], active: active, depth: depth + 1)
        }
        return end
    }

    mutating func emitUse(_ word: StackWord, name: String, arguments: [String], origin: [String], active: [String], depth: Int) throws {
        guard let definition = definitions[name] else {
            let suggestion = NameSuggestion.nearest(to: name, among: Array(definitions.keys))
            throw Self.located(word, .undefinedBlock(name, suggestion: suggestion), origin: origin)
        }
        guard arguments.count == definition.parameters.count else {
            throw Self.located(word, .argumentCount(block: name, expected: definition.parameters, got: arguments.count), origin: origin)
        }
        if active.contains(name) { throw Self.located(word, .recursion(active + [name]), origin: origin) }
        guard depth < Self.maximumDepth else { throw Self.located(word, .tooDeep(limit: Self.maximumDepth), origin: origin) }
        var bindings: [String: String] = [:]
        for (parameter, argument) in zip(definition.parameters, arguments) {
            // `(se:r=4,div=8)`: a token with commas, passed whole in parentheses.
            let unwrapped = argument.hasPrefix("(") && argument.hasSuffix(")") ? String(argument.dropFirst().dropLast()) : argument
            bindings[parameter] = Arithmetic.evaluate(argument).map(String.init) ?? unwrapped
        }
        let label = arguments.isEmpty ? name : "\(name)(" + definition.parameters.map { bindings[$0]! }.joined(separator: ",") + ")"
        try emit(definition.body, bindings: bindings, origin: origin + [label], active: active + [name], depth: depth + 1)
    }

    mutating func emitInclude(_ pathWord: StackWord, from word: StackWord, origin: [String], active: [String], depth: Int) throws {
        guard depth < Self.maximumDepth else { throw Self.located(word, .tooDeep(limit: Self.maximumDepth)) }
        let (name, words): (String, [StackWord])
        do {
            (name, words) = try include(pathWord.text, word)
        } catch let error as UserFacingError where pathWord.location != nil {
            throw LocatedError(location: pathWord.location!, underlying: error)   // where the include is written
        }
        if includeChain.contains(name) { throw Self.located(pathWord, .includeCycle(includeChain + [name])) }
        includeChain.append(name)
        defer { includeChain.removeLast() }
        let rest = try collectDefinitions(words)
        try emit(rest, bindings: [:], origin: origin, active: active, depth: depth + 1)
    }

    // MARK: Words

    /// `NAME(A, B)`: the name and the arguments split at top-level commas; `NAME`: no list.
    static func call(_ text: String) -> (String, [String]?) {
        guard let open = text.firstIndex(of: "("), text.hasSuffix(")") else { return (text, nil) }
        let name = String(text[..<open]).trimmingWhitespace()
        let inside = text[text.index(after: open)..<text.index(before: text.endIndex)]
        if inside.trimmingWhitespace().isEmpty { return (name, []) }
        var arguments: [String] = []
        var current = ""
        var depth = 0
        for ch in inside {
            if ch == "(" { depth += 1 } else if ch == ")" { depth -= 1 }
            if ch == "," && depth == 0 {
                arguments.append(current.trimmingWhitespace())
                current = ""
            } else {
                current.append(ch)
            }
        }
        arguments.append(current.trimmingWhitespace())
        return (name, arguments)
    }

    static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.first, first.isASCII, first.isLetter || first == "_" else { return false }
        return text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    /// `text` with the parameters replaced: the whole word, the layer type before `:`, each
    /// value after `=`, each argument of a block use; values evaluated when they are arithmetic.
    static func substitute(_ text: String, _ bindings: [String: String], at word: StackWord) throws -> String {
        if let value = bindings[text] { return value }
        if case let (name, arguments?) = call(text), isIdentifier(name) {
            return "\(name)(" + (try arguments.map { try value($0, bindings, at: word) }).joined(separator: ", ") + ")"
        }
        guard let colon = text.firstIndex(of: ":") else { return try value(text, bindings, at: word) }
        let typeName = String(text[..<colon]).trimmingWhitespace()
        let items = try text[text.index(after: colon)...].split(separator: ",", omittingEmptySubsequences: false).map { item -> String in
            guard let equals = item.firstIndex(of: "=") else { return String(item) }
            return String(item[...equals]) + (try value(String(item[item.index(after: equals)...]).trimmingWhitespace(), bindings, at: word))
        }
        return (bindings[typeName] ?? typeName) + ":" + items.joined(separator: ",")
    }

    /// A value with parameters replaced (also around `x`: `kx1`, `(k)x1`), then each part
    /// between `x` evaluated when it is arithmetic (`c*4` → `256`). An argument given per
    /// dimension (`k` = `1x7`) in arithmetic is worked out per dimension: `k/2` → `0x3`.
    ///
    /// - Throws: `StackLanguageError.badArgument` when per-dimension arguments of different
    ///   lengths meet, or one meets dimensions written in the value itself (`(k)x1`).
    static func value(_ text: String, _ bindings: [String: String], at word: StackWord) throws -> String {
        var perDimension: [String: [String]] = [:]
        for (name, bound) in bindings {
            let parts = bound.split(separator: "x", omittingEmptySubsequences: false).map(String.init)
            if parts.count > 1 { perDimension[name] = parts }
        }
        let plain = replacingIdentifiers(text) { bindings[$0] }
        let arithmetic = text.contains { "+-*/()".contains($0) }
        guard arithmetic, !perDimension.isEmpty, !plain.used.isDisjoint(with: perDimension.keys) else {
            return plain.text.split(separator: "x", omittingEmptySubsequences: false).map { part -> String in
                guard part.contains(where: { "+-*/()".contains($0) }), let result = Arithmetic.evaluate(String(part)) else { return String(part) }
                return String(result)
            }.joined(separator: "x")
        }
        let counts = Set(plain.used.compactMap { perDimension[$0]?.count })
        guard counts.count == 1, !plain.separated else {
            throw Self.located(word, .badArgument(text, reason: "per-dimension arguments (\(plain.used.sorted().compactMap { name in bindings[name].map { "\(name)=\($0)" } }.joined(separator: ", "))) must have one length, and a value using one in arithmetic cannot also give its own dimensions"))
        }
        return (0..<counts.first!).map { dim -> String in
            let part = replacingIdentifiers(text) { perDimension[$0]?[dim] ?? bindings[$0] }.text
            return Arithmetic.evaluate(part).map(String.init) ?? part
        }.joined(separator: "x")
    }

    /// `text` with every identifier `lookup` knows replaced, also the pieces of one joined by
    /// `x` (`kxk`); which names were used, and whether `text` gives dimensions itself.
    static func replacingIdentifiers(_ text: String, _ lookup: (String) -> String?) -> (text: String, used: Set<String>, separated: Bool) {
        var replaced = ""
        var identifier = ""
        var used: Set<String> = []
        var separated = false
        func flush() {
            if let bound = lookup(identifier) {
                replaced += bound
                used.insert(identifier)
            } else if identifier.contains("x") {
                separated = true
                replaced += identifier.split(separator: "x", omittingEmptySubsequences: false).map { piece in
                    lookup(String(piece)).map { used.insert(String(piece)); return $0 } ?? String(piece)
                }.joined(separator: "x")
            } else {
                replaced += identifier
            }
            identifier = ""
        }
        for ch in text {
            if ch.isASCII && (ch.isLetter || ch == "_" || (!identifier.isEmpty && ch.isNumber)) {
                identifier.append(ch)
            } else {
                flush()
                replaced.append(ch)
            }
        }
        flush()
        return (replaced, used, separated)
    }

    /// The error at `word`'s place, and inside the block uses and repeats `origin` names.
    static func located(_ word: StackWord, _ error: StackLanguageError, origin: [String] = []) -> UserFacingError {
        let inner: UserFacingError = origin.isEmpty ? error : OriginError(origin: origin, underlying: error)
        if let location = word.location { return LocatedError(location: location, underlying: inner) }
        return inner
    }
}

/// Integer arithmetic in block arguments and values: `+ - * / ( )` on whole numbers, `/`
/// rounding down (Python's `//`, also accepted), overflow-checked.
public enum Arithmetic {
    /// The value of `text`, or nil when it is not such an expression (or overflows, or divides by 0).
    public static func evaluate(_ text: String) -> Int? {
        var parser = Parser(characters: Array(text.replacingDoubleSlash().filter { $0 != " " }.map { $0 == "\u{2212}" ? "-" : $0 }))
        guard let value = parser.sum(depth: 0), parser.index == parser.characters.count else { return nil }
        return value
    }

    struct Parser {
        let characters: [Character]
        var index = 0

        mutating func sum(depth: Int) -> Int? {
            guard depth < 32, var value = product(depth: depth) else { return nil }
            while index < characters.count, characters[index] == "+" || characters[index] == "-" {
                let op = characters[index]
                index += 1
                guard let rhs = product(depth: depth) else { return nil }
                let (result, overflow) = op == "+" ? value.addingReportingOverflow(rhs) : value.subtractingReportingOverflow(rhs)
                if overflow { return nil }
                value = result
            }
            return value
        }

        mutating func product(depth: Int) -> Int? {
            guard var value = factor(depth: depth) else { return nil }
            while index < characters.count, characters[index] == "*" || characters[index] == "/" {
                let op = characters[index]
                index += 1
                guard let rhs = factor(depth: depth) else { return nil }
                if op == "*" {
                    let (result, overflow) = value.multipliedReportingOverflow(by: rhs)
                    if overflow { return nil }
                    value = result
                } else {
                    guard rhs > 0 else { return nil }   // a positive divisor, as every size is
                    value = Checked.floorDiv(value, rhs)
                }
            }
            return value
        }

        mutating func factor(depth: Int) -> Int? {
            guard index < characters.count else { return nil }
            if characters[index] == "-" {
                index += 1
                guard let value = factor(depth: depth + 1), value != .min else { return nil }
                return -value
            }
            if characters[index] == "(" {
                index += 1
                guard let value = sum(depth: depth + 1), index < characters.count, characters[index] == ")" else { return nil }
                index += 1
                return value
            }
            let start = index
            while index < characters.count, characters[index].isASCII, characters[index].isNumber { index += 1 }
            guard index > start else { return nil }
            return Int(String(characters[start..<index]))
        }
    }
}

extension String {
    /// `a//b` as `a/b` (both round down here).
    func replacingDoubleSlash() -> String {
        var result = ""
        var previous: Character?
        for ch in self {
            if ch == "/" && previous == "/" { previous = nil; continue }
            result.append(ch)
            previous = ch
        }
        return result
    }
}
