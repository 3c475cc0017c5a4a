/// What kind of mistake an error reports, which decides the exit status.
public enum ErrorCategory: Equatable, Sendable {
    /// The command line is malformed: an unknown name, a missing or malformed value (exit 2).
    case usage
    /// The input is well-formed but the computation is impossible or a value is out of range (exit 1).
    case data
}

/// An error whose message is written for the person at the terminal.
///
/// `message` is one line without the `convcalc: error:` prefix: it names the
/// offending thing, says what was wrong, and what would be valid. Errors about layer keys
/// word their subject in the vocabulary the user wrote it in (`message(.options)` says
/// `--s 0` where `message` says `s=0`).
public protocol UserFacingError: Error {
    var message: String { get }
    var category: ErrorCategory { get }
    /// The message with keys spelt in `vocabulary`.
    func message(_ vocabulary: Vocabulary) -> String
}

extension UserFacingError {
    public func message(_ vocabulary: Vocabulary) -> String { message }
}

extension Array where Element == String {
    /// The words as a choice in a message: `a, b or c` (`a or b`; `a`).
    public func joinedAsChoice() -> String {
        guard count > 1 else { return first ?? "" }
        return dropLast().joined(separator: ", ") + " or " + last!
    }
}

/// How the user wrote a layer: as a token (`conv:k=3,s=2`) or by options (`--k 3 --s 2`).
public enum Vocabulary: Sendable {
    case tokens, options
}

/// What a diagnostic is about: a layer key, a stack setting, or another option of a command.
public enum Subject: Equatable, Sendable {
    /// A key of a layer: `k=3` in a token, `--k 3` as an option.
    case key(LayerKey)
    /// A setting of the whole stack (`--in`, `--cin`, `--dims`).
    case stack(StackSetting)
    /// A setting of `convcalc run`'s convolution that is not a layer key.
    case convolution(ConvolutionSetting)
    /// Any other option, named by the front end that defines it (`--format`).
    case option(String)

    /// The subject's name: `k`, `--k`, `--in`.
    public func name(_ vocabulary: Vocabulary) -> String {
        switch self {
        case let .key(key):
            if vocabulary == .options, let option = key.spec.optionNames.first { return option }
            return key.rawValue
        case let .stack(setting): return setting.optionName
        case let .convolution(setting): return setting.optionName
        case let .option(name): return name
        }
    }

    /// The subject with its value: `k=3` in a token, `--k 3` for an option.
    public func setting(_ value: String, _ vocabulary: Vocabulary) -> String {
        if case .key = self, vocabulary == .tokens { return "\(name(vocabulary))=\(value)" }
        return "\(name(vocabulary)) \(value)"
    }
}

extension StackSetting {
    /// The option that sets it.
    public var optionName: String {
        switch self {
        case .inputSize: return "--in"
        case .inputChannels: return "--cin"
        case .dims: return "--dims"
        }
    }
}

/// A setting of a convolution on matrices (`convcalc run`) that is not a layer key.
public enum ConvolutionSetting: Sendable, Equatable {
    case paddingMode, transposed, biasVector, method

    /// The option that sets it.
    public var optionName: String {
        switch self {
        case .paddingMode: return "--pad-mode"
        case .transposed: return "--transposed"
        case .biasVector: return "--bias"
        case .method: return "--method"
        }
    }
}

/// What a value out of range should have been.
public enum Requirement: Equatable, Sendable {
    /// At least this (`k must be at least 1`).
    case atLeast(Int)
    /// One of a small range (`v must be 1 or 2`).
    case within(ClosedRange<Int>)
    /// Digits beyond 64 bits.
    case fitsIn64Bits
    /// tconv: output padding below `max(s, d)` (PyTorch ConvTranspose).
    case belowStrideOrDilation(limit: Int)
    /// A rule worded without naming any key.
    case rule(String)

    func text(_ subject: Subject, _ vocabulary: Vocabulary) -> String {
        switch self {
        case let .atLeast(minimum): return "\(subject.name(vocabulary)) must be at least \(minimum)"
        case let .within(range):
            return "\(subject.name(vocabulary)) must be " + (range.count == 2 ? "\(range.lowerBound) or \(range.upperBound)" : "from \(range.lowerBound) to \(range.upperBound)")
        case .fitsIn64Bits: return "values must fit in a 64-bit integer"
        case let .belowStrideOrDilation(limit):
            let s = Subject.key(.s).name(vocabulary), d = Subject.key(.d).name(vocabulary)
            return "output padding must be smaller than max(\(s), \(d)) = \(limit) (PyTorch ConvTranspose)"
        case let .rule(text): return text
        }
    }
}

/// A mistake in a layer token, a layer option or a size value.
public enum LayerError: UserFacingError, Equatable {
    /// `TYPE` is not a layer type; `suggestion` is the nearest valid one.
    case unknownType(String, suggestion: String?)
    /// `key` is not a key of layer type `type`.
    case unknownKey(type: LayerType, key: String)
    /// The same key twice in one token.
    case duplicateKey(String)
    /// A value that is not of the expected form.
    case malformedValue(Subject, value: String, expected: String)
    /// A well-formed value outside its valid range.
    case outOfRange(Subject, value: String, requirement: Requirement)
    /// A key the layer type cannot do without.
    case missingKey(type: LayerType, key: LayerKey, example: String)
    /// A token that is not `TYPE[:key=value,...]`.
    case malformedToken(String, reason: String)
    /// A per-dimension size whose count disagrees with the stack's dimensions.
    case dimensionMismatch(Subject, value: String, count: Int, dims: Int)
    /// The `input:` pseudo-layer somewhere else than first, or given twice.
    case misplacedInput
    /// The input size or channels given both by `input:` and by `--in`/`--cin`.
    /// A value the layer type cannot take (`tconv` with `p=full`); `reason` follows it.
    case unsupportedValue(type: LayerType, key: LayerKey, value: String, reason: String)
    /// Key `key` with `value` makes `other` meaningless (`tconv` with `p=same` and `op`).
    case overrides(type: LayerType, key: LayerKey, value: String, other: LayerKey, effect: String)
    /// A combination that cannot work, worded without naming keys.
    case conflict(String)

    public var message: String { message(.tokens) }

    public func message(_ vocabulary: Vocabulary) -> String {
        switch self {
        case let .unknownType(type, suggestion):
            let hint = suggestion.map { "did you mean '\($0)'? " } ?? ""
            return "unknown layer type '\(type)'; \(hint)valid types: \(LayerType.allNames.joined(separator: ", "))"
        case let .unknownKey(type, key):
            let valid = type.keys.isEmpty ? "it takes no keys" : "it takes \(type.keys.map(\.rawValue).joined(separator: ", "))"
            guard vocabulary == .options, let option = LayerKey(rawValue: key)?.spec.optionNames.first else {
                return "layer type '\(type.rawValue)' has no key '\(key)'; \(valid)"
            }
            let options = type.keys.compactMap { $0.spec.optionNames.first }
            let takes = options.isEmpty ? "it takes no layer options" : "it takes \(options.joined(separator: ", "))"
            return "option '\(option)' does not apply to layer type '\(type.rawValue)'; \(takes)"
        case let .duplicateKey(key):
            return "key '\(key)' is given twice"
        case let .malformedValue(subject, value, expected):
            return "\(subject.setting(value.isEmpty ? "(empty)" : value, vocabulary)) is not valid; expected \(expected)"
        case let .outOfRange(subject, value, requirement):
            return "\(subject.setting(value, vocabulary)) is out of range; \(requirement.text(subject, vocabulary))"
        case let .missingKey(type, key, example):
            if vocabulary == .options, !key.spec.optionNames.isEmpty {
                return "layer type '\(type.rawValue)' needs \(key.spec.optionNames.joined(separator: "/"))"
            }
            return "layer type '\(type.rawValue)' needs \(key.rawValue) (for example \(example))"
        case let .malformedToken(token, reason):
            return "'\(token)' is not a layer token: \(reason); expected TYPE[:key=value,...], e.g. conv:k=3,s=2"
        case let .dimensionMismatch(subject, value, count, dims):
            return "\(subject.setting(value, vocabulary)) gives \(count) dimensions but the stack has \(dims); give one number or \(dims) separated by 'x'"
        case .misplacedInput:
            return "the 'input:' pseudo-layer must come first, once"
        case let .unsupportedValue(type, key, value, reason):
            return "\(type.rawValue) cannot take \(Subject.key(key).setting(value, vocabulary))\(reason)"
        case let .overrides(type, key, value, other, effect):
            return "\(type.rawValue) with \(Subject.key(key).setting(value, vocabulary)) \(effect); drop \(Subject.key(other).name(vocabulary))"
        case let .conflict(text):
            return text
        }
    }

    public var category: ErrorCategory {
        switch self {
        case .outOfRange, .dimensionMismatch, .conflict, .unsupportedValue, .overrides: return .data
        default: return .usage
        }
    }
}

/// An error located in a layer: which layer of the stack, and its token.
///
/// For a layer given by options there is one layer and the user wrote no token, so the
/// options vocabulary leaves the location out.
public struct LayerContextError: UserFacingError {
    public var index: Int        // 1-based position in the stack
    public var token: String
    public var underlying: UserFacingError
    /// The block uses and repeats that produced the layer (`Layer.origin`), if any.
    public var origin: [String]

    public init(index: Int, token: String, origin: [String] = [], underlying: UserFacingError) {
        self.index = index
        self.token = token
        self.origin = origin
        self.underlying = underlying
    }

    /// ` (in stage(64,3,1) › repeat 2/2)`: where a layer a block use or repeat made came from;
    /// nothing for a layer written as it is.
    public static func place(_ origin: [String]) -> String {
        origin.isEmpty ? "" : " (in " + origin.joined(separator: " › ") + ")"
    }

    public var message: String { message(.tokens) }
    /// Given by options, the layer is named by the option the message names, or, when it
    /// names none (an overflow), as "the layer given by options".
    public func message(_ vocabulary: Vocabulary) -> String {
        let place = LayerContextError.place(origin)
        guard vocabulary == .options else { return "layer \(index) '\(token)'\(place): \(underlying.message(.tokens))" }
        let text = underlying.message(.options)
        return text.contains("--") ? text : "the layer given by options: \(text)"
    }
    public var category: ErrorCategory { underlying.category }
}

/// A size computation that cannot be done: an output below 1, a geometry the framework forbids, branches that disagree.
public enum ShapeError: UserFacingError, Equatable {
    /// The output size along `dim` would be below 1.
    case outputTooSmall(dim: String, output: Int, detail: String)
    /// A layer whose geometry breaks a rule of the framework it models.
    case invalidGeometry(String)
    /// The branches of a merge give different sizes (`after`: the last layer before it ends).
    case branchMismatch(kind: String, first: [Int], other: [Int], branch: Int, after: Int)

    public var message: String {
        switch self {
        case let .outputTooSmall(dim, output, detail):
            return "output size\(dim.isEmpty ? "" : " (\(dim))") would be \(output), below 1: \(detail)"
        case let .invalidGeometry(text):
            return text
        case let .branchMismatch(kind, first, other, branch, after):
            let f = first.map(String.init).joined(separator: "x"), o = other.map(String.init).joined(separator: "x")
            return "\(kind) (ending after layer \(after)): branch 1 gives \(f) but branch \(branch) gives \(o); the branches of \(kind) must give the same size"
        }
    }

    public var category: ErrorCategory { .data }
}

extension ArithmeticError: UserFacingError {
    public var message: String { "a size or count does not fit in a 64-bit integer (above 9.2e18); use smaller sizes or channels" }
    public var category: ErrorCategory { .data }
}
