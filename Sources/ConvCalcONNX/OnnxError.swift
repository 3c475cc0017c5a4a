import ConvCalcCore

/// Why an ONNX file cannot be read as a network. Each names where: a byte offset for the
/// file's encoding, a node (its name, else its op type and output) for the graph. The front
/// end prefixes the file name.
public enum OnnxError: UserFacingError, Equatable {
    /// Not protocol-buffer data, or truncated: the offset and what was found.
    case malformed(offset: Int, problem: String)
    /// Protocol-buffer data without what every model has.
    case notModel(missing: String)
    /// A default-domain opset outside those whose operators convcalc knows.
    case unsupportedOpset(Int)
    /// An input or weight of a type with no meaning here (strings, sequences).
    case unsupportedInput(name: String, reason: String)
    /// The input's size is symbolic or unknown and `--in` was not given.
    case needsInputSize(input: String, shape: String)
    /// A node whose attributes or inputs break the operator's rules, or that convcalc cannot follow.
    case node(String, problem: String)
    /// The graph's shape: no data input, several, or none reaching the output.
    case graph(String)
    /// A graph that is not a tree of branches (not series-parallel, several outputs): it is
    /// still counted layer by layer, but `rf` and `--emit net` cannot follow it.
    case structure(String)

    /// The opsets whose operators the reader follows (the attribute semantics it implements).
    public static let opsets = 7...24

    public var message: String {
        switch self {
        case let .malformed(offset, problem):
            return "not a readable ONNX model: at byte \(offset), \(problem)"
        case let .notModel(missing):
            return "not an ONNX model: the file lacks \(missing); give an ONNX model (ModelProto) or a network text file"
        case let .unsupportedOpset(version):
            return "opset \(version) of the default ONNX domain is not supported; convcalc reads opsets \(OnnxError.opsets.lowerBound) to \(OnnxError.opsets.upperBound) (convert with onnx.version_converter)"
        case let .unsupportedInput(name, reason):
            return "input '\(name)': \(reason)"
        case let .needsInputSize(input, shape):
            return "input '\(input)' has the shape \(shape), whose spatial size is not fixed; give it with --in (e.g. --in 224x224)"
        case let .node(name, problem):
            return "node '\(name)': \(problem)"
        case let .graph(problem), let .structure(problem):
            return problem
        }
    }

    public var category: ErrorCategory {
        if case .needsInputSize = self { return .usage }
        return .data
    }
}
