/// How a merge combines its branches.
public enum MergeKind: Hashable, Sendable {
    /// Element-wise sum: every branch must give the same shape (ResNet).
    case add
    /// Channel concatenation: the spatial sizes must match; channels add (Inception, DenseNet).
    case concat
    /// Channel split: branch `i` runs on the `i`-th share of the input's channels, in order,
    /// and the outputs are concatenated as by `concat` (ShuffleNet v2). `shares` are the
    /// channels of each branch (`split:c=24x40`, PyTorch `torch.split(x, [24, 40], dim=1)`);
    /// nil for equal shares (`split`, PyTorch `x.chunk(n, dim=1)` when n divides the channels).
    case split(shares: [Int]?)
    /// Element-wise product (a gate: SE blocks, attention maps, GLU): branches give the same
    /// C×H×W, or a branch of 1×1 (per-channel factors) or 1 channel (a spatial map) is
    /// broadcast over the others, as NumPy and PyTorch broadcast. One multiply per output
    /// element per branch after the first counts as a MAC (as SE's rescaling).
    case mul

    /// Every kind, split with equal shares (help, completions).
    public static let allKinds: [MergeKind] = [.add, .concat, .split(shares: nil), .mul]

    /// The spatial size a merge of branches of `sizes` gives, nil when they do not fit: the
    /// same size for all, except that `mul` broadcasts branches of size 1 in every dimension.
    public func mergedSize(_ sizes: [[Int]]) -> [Int]? {
        guard self == .mul else { return sizes.allSatisfy { $0 == sizes[0] } ? sizes[0] : nil }
        let full = sizes.filter { !$0.allSatisfy { $0 == 1 } }
        guard let first = full.first else { return sizes[0] }
        return full.allSatisfy { $0 == first } ? first : nil
    }

    /// The word that opens the merge: `add`, `concat`, `split`.
    public var name: String {
        switch self {
        case .add: return "add"
        case .concat: return "concat"
        case .split: return "split"
        case .mul: return "mul"
        }
    }

    /// The channels of each branch, when the merge is a split with its shares given.
    public var givenShares: [Int]? {
        if case let .split(shares) = self { return shares }
        return nil
    }

    /// The merge that `word` opens, nil for any other word: `add`, `concat`, `split`, or
    /// `split:c=SHARES` with one share per branch separated by `x` (`split:c=24x40`);
    /// spaces around `:` and `=` are allowed, as in layer tokens.
    ///
    /// - Throws: `BranchSyntaxError` for keys on a merge other than split's `c`, and for
    ///   shares that are not whole numbers of at least 1.
    public static func parse(_ word: String) throws -> MergeKind? {
        let text = word.trimmingWhitespace()
        switch text {
        case "add": return .add
        case "concat": return .concat
        case "split": return .split(shares: nil)
        case "mul": return .mul
        default: break
        }
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let head = String(text[..<colon]).trimmingWhitespace()
        guard ["add", "concat", "split", "mul"].contains(head) else { return nil }
        let tail = text[text.index(after: colon)...]
        let item = tail.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let otherKeys = tail.split(separator: ",").dropFirst().contains { $0.contains("=") }
        guard head == "split", item.count == 2, String(item[0]).trimmingWhitespace() == "c", !otherKeys else {
            throw BranchSyntaxError.mergeKeys(word: text, merge: head)
        }
        let values = String(item[1]).trimmingWhitespace().split(separator: "x", omittingEmptySubsequences: false)
        var shares: [Int] = []
        for value in values {
            guard !value.isEmpty, value.allSatisfy({ $0.isASCII && $0.isNumber }) else { throw BranchSyntaxError.badShares(word: text) }
            guard let share = Int(value), share >= 1 else { throw BranchSyntaxError.shareOutOfRange(word: text, share: String(value)) }
            shares.append(share)
        }
        return .split(shares: shares)
    }
}

/// A stack as a tree: layers in order, and merges of parallel branches that all start from
/// the same input (for `split`, each from its share of the input's channels). Layers are
/// referred to by their index in `LayerStack.layers`.
public indirect enum StackNode: Sendable, Equatable {
    case layer(Int)
    /// `kind { … } { … }`; an empty branch is the identity (a skip connection).
    case merge(MergeKind, [[StackNode]])

    /// Every layer index below this node, in order.
    public var layerIndices: [Int] {
        StackTree.layerValues(StackTree.fold([self], from: (), layer: { index, _ in (index, ()) }, merge: { _, _, _ in ((), ()) }).results)
    }
}

/// A word of a stack: a layer token, a merge (`add`, `concat`, `split`), `{` or `}`, with
/// where it came from.
public struct StackWord: Sendable {
    public var text: String
    /// `file:line:column` for words from a file; nil for command-line words.
    public var location: String?
    /// Where an expanded word came from, outermost first: `bottleneck(64, 1)`, `repeat 2/3`
    /// (`StackExpansion`); empty for a word written in the stack itself.
    public var origin: [String] = []
    /// The model node a converted word came from (ONNX).
    public var node: String?

    public init(_ text: String, location: String? = nil) {
        self.text = text
        self.location = location
    }
}

/// A mistake in the branch structure of a stack. Merges are named by the word that opens
/// them, as written (`add`, `split:c=24x40`).
public enum BranchSyntaxError: UserFacingError, Equatable {
    case expectedBrace(after: String)
    case unexpected(String)
    case unclosed(String)
    case tooFewBranches(String)
    /// A merge nested deeper than `StackSyntax.maximumDepth`.
    case tooDeep(String)
    /// Keys on a merge word other than split's `c=SHARES` (`add:c=3`, `split:k=3`).
    case mergeKeys(word: String, merge: String)
    /// `split:c=…` whose shares are not whole numbers separated by `x`.
    case badShares(word: String)
    /// A share below 1 or beyond 64 bits.
    case shareOutOfRange(word: String, share: String)
    /// `split:c=…` with a number of shares other than its number of branches.
    case shareCount(word: String, shares: Int, branches: Int)

    public var message: String {
        switch self {
        case let .expectedBrace(after):
            return "'\(after)' must be followed by its branches in braces: \(after) { LAYERS } { LAYERS } (an empty branch is the identity)"
        case let .unexpected(word):
            return word == "}"
                ? "'}' closes no branch; branches open with add {, concat { or split {"
                : "'{' must follow add, concat, split, or a branch's closing '}'"
        case let .unclosed(kind):
            return "a branch of '\(kind)' is not closed: add '}'"
        case let .tooFewBranches(kind):
            return "'\(kind)' needs at least two branches: \(kind) { LAYERS } { LAYERS }"
        case let .tooDeep(kind):
            return "'\(kind)' nested \(StackSyntax.maximumDepth + 1) deep: at most \(StackSyntax.maximumDepth) merges may sit inside one another (real networks nest fewer than 10)"
        case let .mergeKeys(word, merge):
            return merge == "split"
                ? "'\(word)': split takes one key, c, the channels of each branch: split:c=24x40 { LAYERS } { LAYERS }"
                : "'\(word)': \(merge) takes no keys; write \(merge) { LAYERS } { LAYERS }"
        case let .badShares(word):
            return "'\(word)': c gives the channels of each branch as whole numbers separated by 'x', one per branch, e.g. split:c=24x40 { LAYERS } { LAYERS }"
        case let .shareOutOfRange(word, share):
            return "'\(word)': share \(share) is out of range; every share must be at least 1 channel and fit in a 64-bit integer"
        case let .shareCount(word, shares, branches):
            return "'\(word)' gives \(shares) share\(shares == 1 ? "" : "s") but has \(branches) branches; give one share per branch"
        }
    }
    /// Too deep a nesting and a share out of range are well-formed input beyond a limit
    /// (exit 1); the rest is syntax (exit 2).
    public var category: ErrorCategory {
        switch self {
        case .tooDeep, .shareOutOfRange: return .data
        default: return .usage
        }
    }
}

/// Parses stack words into layers and the tree of merges (the branch syntax).
///
/// Grammar: `STACK := ITEM*`, `ITEM := TOKEN | MERGE BRANCH BRANCH+`,
/// `MERGE := add | concat | split[:c=SHARES]`, `BRANCH := { STACK }`. Braces are words of
/// their own: `add { conv:k=3 bn } { }`. `SHARES` is one channel count per branch, separated
/// by `x` (`split:c=24x40 { … } { … }`).
public enum StackSyntax {
    /// The deepest nesting of merges accepted (`add { add { … } { } } { }` is 2 deep); one
    /// more is an error (exit 1). The parser and every walk of the tree (shape, rf, params,
    /// JSON, the heat map, --vs) recurse once per level: 7,000 levels overflowed the 8 MiB
    /// main-thread stack. At 100, a debug build runs every command in less than 1 MiB of stack
    /// (measured with `ulimit -s`), a margin of 8 or more. Real networks nest fewer than 10.
    public static let maximumDepth = 100

    public static func parse(_ words: [StackWord]) throws -> (layers: [Layer], nodes: [StackNode]) {
        var parser = BranchParser(words: words)
        let nodes = try parser.sequence(inside: nil, depth: 0)
        return (parser.layers, nodes)
    }

    /// The words of a stack file: tokens separated by spaces, as on the command line, so a
    /// line may hold several (`conv:k=3,p=1 relu`, `add { conv:k=3 } { }`); spaces next to
    /// `:`, `,` or `=` stay inside a token (`conv: k = 3, p = 1` is one token). `#` starts a
    /// comment; blank lines are ignored. Lines end with LF, CRLF or a lone CR; a UTF-8
    /// byte-order mark at the start is skipped.
    public static func words(ofFile text: String, name: String) -> [StackWord] {
        var words: [StackWord] = []
        var lineNumber = 0
        var text = Substring(text)
        if text.unicodeScalars.first == "\u{FEFF}" { text = Substring(text.unicodeScalars.dropFirst()) }
        // "\r\n" is one Character in Swift: splitting at "\n" alone would keep CRLF lines whole.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            lineNumber += 1
            let content = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            for (token, column) in tokens(ofLine: content) {
                words.append(StackWord(token, location: "\(name):\(lineNumber):\(column)"))
            }
        }
        return words
    }

    /// The tokens of one line with their 1-based columns: runs of non-space characters, a run
    /// joined to the one before when the gap follows `:`, `,`, `=` or `(`, or comes before
    /// `:`, `,`, `=` or `)`; braces are words of their own.
    static func tokens(ofLine line: Substring) -> [(text: String, column: Int)] {
        // `conv: k = 3`, `block(64, 2)`, `block( 64 , 2 )`: one token each.
        let joinsNext: Set<Character> = [":", ",", "=", "("]
        let joinsPrevious: Set<Character> = [":", ",", "=", ")"]
        var runs: [(start: String.Index, end: String.Index, column: Int)] = []
        var column = 0
        var runStart: (String.Index, Int)?
        var index = line.startIndex
        while index < line.endIndex {
            let ch = line[index]
            column += 1
            let isSpace = ch == " " || ch == "\t" || ch == "\r"
            if !isSpace, runStart == nil { runStart = (index, column) }
            let next = line.index(after: index)
            if let (start, startColumn) = runStart, isSpace || next == line.endIndex {
                runs.append((start, isSpace ? index : next, startColumn))
                runStart = nil
            }
            index = next
        }
        var tokens: [(start: String.Index, end: String.Index, column: Int)] = []
        for run in runs {
            if let last = tokens.last, line[last.start..<last.end] != "{", line[last.start..<last.end] != "}",
               line[run.start..<run.end] != "{", line[run.start..<run.end] != "}",
               joinsNext.contains(line[line.index(before: last.end)]) || joinsPrevious.contains(line[run.start]) {
                tokens[tokens.count - 1].end = run.end
            } else {
                tokens.append(run)
            }
        }
        return tokens.map { (String(line[$0.start..<$0.end]), $0.column) }
    }
}

/// One parse of stack words: the words, the next one to read, and the layers read so far.
private struct BranchParser {
    let words: [StackWord]
    var position = 0
    var layers: [Layer] = []

    init(words: [StackWord]) {
        self.words = words
    }

    func located(_ word: StackWord, _ error: UserFacingError) -> UserFacingError {
        // A word from a block or repeat says which use it came from.
        let error = word.origin.isEmpty ? error : OriginError(origin: word.origin, underlying: error)
        if let location = word.location { return LocatedError(location: location, underlying: error) }
        if error is BranchSyntaxError { return error }   // it names the word itself
        return LayerContextError(index: layers.count + 1, token: word.text, underlying: error)
    }

    /// The nodes up to the `}` that closes the branch of `opening` (nil: up to the end).
    /// Recursion is one level per merge, at most `StackSyntax.maximumDepth` + 1 deep.
    mutating func sequence(inside opening: String?, depth: Int) throws -> [StackNode] {
        var nodes: [StackNode] = []
        while position < words.count {
            let word = words[position]
            switch word.text {
            case "}":
                guard opening != nil else { throw located(word, BranchSyntaxError.unexpected("}")) }
                return nodes
            case "{":
                throw located(word, BranchSyntaxError.unexpected("{"))
            default:
                let merge: MergeKind?
                do {
                    merge = try MergeKind.parse(word.text)
                } catch let error as UserFacingError {
                    throw located(word, error)
                }
                if let merge {
                    nodes.append(try branches(of: merge, word: word, depth: depth))
                    continue
                }
                do {
                    var layer = try Layer.parse(word.text)
                    layer.origin = word.origin
                    layer.node = word.node
                    layers.append(layer)
                } catch let error as UserFacingError {
                    throw located(word, error)
                }
                nodes.append(.layer(layers.count - 1))
                position += 1
            }
        }
        if let opening { throw BranchSyntaxError.unclosed(opening) }
        return nodes
    }

    /// The merge opened by `word` (at `position`) and its braced branches.
    mutating func branches(of merge: MergeKind, word: StackWord, depth: Int) throws -> StackNode {
        let opening = word.text.trimmingWhitespace()
        if depth >= StackSyntax.maximumDepth { throw located(word, BranchSyntaxError.tooDeep(opening)) }
        position += 1
        var branches: [[StackNode]] = []
        while position < words.count && words[position].text == "{" {
            position += 1
            let branch = try sequence(inside: opening, depth: depth + 1)
            guard position < words.count else { throw located(word, BranchSyntaxError.unclosed(opening)) }
            position += 1   // past '}'
            branches.append(branch)
        }
        if branches.isEmpty { throw located(word, BranchSyntaxError.expectedBrace(after: opening)) }
        if branches.count < 2 { throw located(word, BranchSyntaxError.tooFewBranches(opening)) }
        if let shares = merge.givenShares, shares.count != branches.count {
            throw located(word, BranchSyntaxError.shareCount(word: opening, shares: shares.count, branches: branches.count))
        }
        return .merge(merge, branches)
    }
}

/// An error at a `file:line:column` position.
public struct LocatedError: UserFacingError {
    public var location: String
    public var underlying: UserFacingError
    public var message: String { "\(location): \(underlying.message)" }
    public var category: ErrorCategory { underlying.category }

    public init(location: String, underlying: UserFacingError) {
        self.location = location
        self.underlying = underlying
    }
}

/// An error in a word that a block use or repeat produced: the message says which.
public struct OriginError: UserFacingError {
    public var origin: [String]
    public var underlying: UserFacingError
    public var message: String { "in \(origin.joined(separator: " › ")): \(underlying.message)" }
    public var category: ErrorCategory { underlying.category }
}

extension StackSyntax {
    /// Words as network text, the inverse of `words(ofFile:)`: one layer a line, `{` ending
    /// its merge's line, `} {` between branches, branches indented by two spaces. A word from
    /// a model node (`StackWord.node`) carries the node's name as a comment, the comments in
    /// one column (past the longest line, up to 40 characters).
    public static func text(of words: [StackWord]) -> [String] {
        var lines: [(text: String, node: String?)] = []
        var indent = ""
        var index = 0
        while index < words.count {
            let word = words[index]
            if word.text == "{" {
                if lines.isEmpty { lines.append(("{", nil)) } else { lines[lines.count - 1].text += " {" }
                indent += "  "
            } else if word.text == "}" {
                indent = String(indent.dropLast(2))
                if index + 1 < words.count, words[index + 1].text == "{" {
                    lines.append((indent + "} {", nil))
                    indent += "  "
                    index += 1
                } else {
                    lines.append((indent + "}", nil))
                }
            } else {
                lines.append((indent + word.text, word.node))
            }
            index += 1
        }
        let column = min(lines.map(\.text.count).max() ?? 0, 40) + 2
        return lines.map { line in
            guard let node = line.node else { return line.text }
            return line.text + String(repeating: " ", count: max(column - line.text.count, 1)) + "# " + commentSafe(node)
        }
    }

    /// Text from elsewhere (a model's node name, its producer) made safe for a comment line:
    /// line ends and other control characters as `\u{…}`, so nothing after them becomes a layer.
    public static func commentSafe(_ text: String) -> String {
        text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F || (0x80..<0xA0).contains($0.value) || $0 == "\u{2028}" || $0 == "\u{2029}"
            ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
    }
}
