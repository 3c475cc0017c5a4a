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
/// offending thing, says what was wrong, and what would be valid.
public protocol UserFacingError: Error {
    var message: String { get }
    var category: ErrorCategory { get }
}

/// A mistake in a layer token, a layer option or a size value.
public enum LayerError: UserFacingError, Equatable {
    /// `TYPE` is not a layer type; `suggestion` is the nearest valid one.
    case unknownType(String, suggestion: String?)
    /// `key` is not a key of layer type `type`.
    case unknownKey(type: String, key: String, allowed: [String])
    /// The same key twice in one token.
    case duplicateKey(String)
    /// `key=value` where the value is not of the expected form.
    case malformedValue(key: String, value: String, expected: String)
    /// A well-formed value outside its valid range.
    case outOfRange(key: String, value: String, requirement: String)
    /// A key the layer type cannot do without.
    case missingKey(type: String, key: String, example: String)
    /// A token that is not `TYPE[:key=value,...]`.
    case malformedToken(String, reason: String)
    /// A per-dimension size whose count disagrees with the stack's dimensions.
    case dimensionMismatch(key: String, value: String, count: Int, dims: Int)
    /// The `input:` pseudo-layer somewhere else than first, or given twice.
    case misplacedInput
    /// The input size or channels given both by `input:` and by `--in`/`--cin`.
    case inputGivenTwice
    /// A combination of keys that cannot work together.
    case conflict(String)

    /// `k=3` for a token key, `--in 3` for an option.
    static func setting(_ key: String, _ value: String) -> String {
        key.hasPrefix("-") ? "\(key) \(value)" : "\(key)=\(value)"
    }

    public var message: String {
        switch self {
        case let .unknownType(type, suggestion):
            let hint = suggestion.map { "did you mean '\($0)'? " } ?? ""
            return "unknown layer type '\(type)'; \(hint)valid types: \(LayerType.allNames.joined(separator: ", "))"
        case let .unknownKey(type, key, allowed):
            let valid = allowed.isEmpty ? "it takes no keys" : "it takes \(allowed.joined(separator: ", "))"
            return "layer type '\(type)' has no key '\(key)'; \(valid)"
        case let .duplicateKey(key):
            return "key '\(key)' is given twice"
        case let .malformedValue(key, value, expected):
            return "\(LayerError.setting(key, value.isEmpty ? "(empty)" : value)) is not valid; expected \(expected)"
        case let .outOfRange(key, value, requirement):
            return "\(LayerError.setting(key, value)) is out of range; \(requirement)"
        case let .missingKey(type, key, example):
            return "layer type '\(type)' needs \(key) (for example \(example))"
        case let .malformedToken(token, reason):
            return "'\(token)' is not a layer token: \(reason); expected TYPE[:key=value,...], e.g. conv:k=3,s=2"
        case let .dimensionMismatch(key, value, count, dims):
            return "\(LayerError.setting(key, value)) gives \(count) dimensions but the stack has \(dims); give one number or \(dims) separated by 'x'"
        case .misplacedInput:
            return "the 'input:' pseudo-layer must come first, once"
        case .inputGivenTwice:
            return "the input is given twice: by 'input:' and by --in/--cin; keep one"
        case let .conflict(text):
            return text
        }
    }

    public var category: ErrorCategory {
        switch self {
        case .outOfRange, .dimensionMismatch, .conflict: return .data
        default: return .usage
        }
    }
}

/// An error located in a layer: which layer of the stack, and its token.
public struct LayerContextError: UserFacingError {
    public var index: Int        // 1-based position in the stack
    public var token: String
    public var underlying: UserFacingError

    public init(index: Int, token: String, underlying: UserFacingError) {
        self.index = index
        self.token = token
        self.underlying = underlying
    }

    public var message: String { "layer \(index) '\(token)': \(underlying.message)" }
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
