import ConvCalcCore

/// An ONNX model as a convcalc network: the words of the network language (what `--emit net`
/// prints), read by the same parser as a network file, so a model and its emitted text give
/// the same numbers by construction.
///
/// The conversion follows the data flow from the model's one data input: each operator becomes
/// convcalc layers with ONNX's attribute semantics (`OnnxConverter`), and the graph becomes
/// the language's tree of `add`/`concat`/`split`/`mul` branches (`SeriesParallel`): every
/// join's branches start at its immediate dominator. Weights are read as dims only; shapes are
/// worked out by convcalc's own layer arithmetic as the conversion goes (so `--in` can replace
/// the model's input size).
public struct OnnxNetwork: Sendable {
    /// The network: the `input:` line, then layers and branches, each located at its node.
    public var words: [StackWord]
    /// The network as text in convcalc's syntax, one layer a line, commented with node names.
    public var text: String
    /// Spatial dimensions of the input (1, 2 or 3).
    public var dims: Int
    public var inputSize: [Int]
    public var inputChannels: Int
    /// The spatial size the model declares, nil when it is symbolic.
    public var declaredInputSize: [Int]?
    /// N×C×spatial of every data value the conversion followed, by ONNX value name.
    public var shapes: [String: [Int]]
    /// N×C×spatial of the output (N×F when flattened).
    public var outputShape: [Int]
    /// The graph counted layer by layer when it is not a tree of branches (then `words` and
    /// `text` are empty).
    public var graphCount: OnnxGraphCount?
    /// What was counted as zero or read approximately, one line each.
    public var warnings: [String]
    /// Operators counted as zero (not in convcalc's vocabulary): op type → number of nodes.
    public var uncounted: [String: Int]

    /// Converts `model`.
    ///
    /// - Parameters:
    ///   - file: the file's name, for locations (`model.onnx: node '/conv1/Conv'`).
    ///   - inputSize: `--in`, replacing the model's spatial size (needed when it is symbolic).
    ///   - inputChannels: `--cin`, needed only when the model's channels are symbolic.
    /// - Throws: `OnnxError` naming the node, input or opset at fault.
    public static func convert(_ model: OnnxModel, file: String, inputSize: DimSize? = nil, inputChannels: Int? = nil) throws -> OnnxNetwork {
        if let opset = model.opset, !OnnxError.opsets.contains(opset) { throw OnnxError.unsupportedOpset(opset) }
        var converter = try OnnxConverter(model: model, file: file, inputSize: inputSize, inputChannels: inputChannels)
        try converter.convertNodes()
        var rendered: (words: [StackWord], text: String) = ([], "")
        var graphCount: OnnxGraphCount?
        var warnings = converter.warnings
        var outputShape: [Int] = []
        do {
            let output = try converter.graphOutput()
            var walk = SeriesParallel(units: converter.units)
            let tree = try walk.pieces(to: output)
            let words = SeriesParallel.words(tree, units: converter.units, file: file, input: converter.inputLine)
            rendered = (words, (OnnxNetwork.header(model, file: file) + StackSyntax.text(of: words)).joined(separator: "\n") + "\n")
            outputShape = converter.units[output.unit].outputShapes[output.output].onnxDims(batch: converter.batch)
            let unused = walk.unreached.map { converter.units[$0].label }
            if !unused.isEmpty {
                warnings.append((unused.count == 1 ? "1 node leads nowhere near the output and is not counted: " : "\(unused.count) nodes lead nowhere near the output and are not counted: ")
                                + unused.prefix(3).map { "'\($0)'" }.joined(separator: ", ") + (unused.count > 3 ? ", …" : ""))
            }
        } catch let error as OnnxError {
            guard case .structure = error else { throw error }
            let count = try converter.graphCount(reason: error)
            graphCount = count
            outputShape = count.outputs.first?.shape ?? []
        }
        if !converter.uncounted.isEmpty {
            let list = converter.uncounted.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
            let total = converter.uncounted.values.reduce(0, +)
            warnings.insert("\(total) node\(total == 1 ? "" : "s") counted as zero (no parameters, no MACs; shape unchanged): \(list)", at: 0)
        }
        return OnnxNetwork(words: rendered.words, text: rendered.text, dims: converter.dims, inputSize: converter.inputSpatial,
                           inputChannels: converter.inputChannelCount, declaredInputSize: converter.declaredSpatial, shapes: converter.shapes,
                           outputShape: outputShape, graphCount: graphCount, warnings: warnings,
                           uncounted: converter.uncounted)
    }

    /// The comment lines that open `--emit net`'s text.
    static func header(_ model: OnnxModel, file: String) -> [String] {
        ["# \(StackSyntax.commentSafe(file)): converted by convcalc from ONNX"
         + (model.producer.isEmpty ? "" : " (written by \(StackSyntax.commentSafe(model.producer))")
         + (model.opset.map { (model.producer.isEmpty ? " (" : ", ") + "opset \($0))" } ?? (model.producer.isEmpty ? "" : ")"))]
    }
}

/// N×C×spatial of a data value, the batch left out: channels and spatial sizes. A flattened
/// value (rank 2, N×F) has F channels and every spatial size 1, as convcalc's `flatten` gives.
struct TensorShape: Equatable {
    var channels: Int
    var spatial: [Int]
    var flat = false
    /// Trailing spatial axes of size 1 squeezed away (`x.squeeze(-1)`), short of flat.
    var squeezed = 0
    /// Channels moved last by Transpose (0, 2, 3, 1), as ConvNeXt's blocks do around their
    /// LayerNorm and Linear layers: the same values, which convcalc follows per position.
    var channelsLast = false

    /// As ONNX writes it, with the batch: `[1, 64, 56, 56]`, `[1, 1000]`.
    func onnxDims(batch: Int) -> [Int] {
        flat ? [batch, channels] : [batch, channels] + spatial.dropLast(squeezed)
    }

    /// As the tensor holds them, in the value's layout: N×H×W×C when the channels are last
    /// (`onnxDims` gives N×C×H×W for those too).
    func layoutDims(batch: Int) -> [Int] {
        channelsLast ? [batch] + spatial.dropLast(squeezed) + [channels] : onnxDims(batch: batch)
    }

    /// The rank ONNX sees.
    var rank: Int { flat ? 2 : 2 + spatial.count - squeezed }
}

/// One step of the converted graph: layers on one input, a join of several values, a split
/// of one value into several, or the input itself (unit 0).
struct Unit {
    enum Kind: Equatable {
        case input
        /// Layer tokens applied in order (none: the value passes through).
        case layers([String])
        case join(MergeKind)
        /// Channel split into these shares, one output each.
        case split([Int])
    }

    var kind: Kind
    /// Each input as (unit, output index).
    var inputs: [(unit: Int, output: Int)]
    /// The node it came from, for locations and comments.
    var label: String
    var outputShapes: [TensorShape]
    /// The weight initializer a Conv, ConvTranspose, Gemm or MatMul reads, by name: a name read
    /// by several units is one weight, counted at its first use (`tied=1` after).
    var weight: String? = nil
    /// A concat's inputs as the file gives them, before an earlier concat stood in for a prefix.
    var concatenated: [(unit: Int, output: Int)]? = nil

    /// The unit's tokens with `tied=1` on the first, the layer that reads the weight (a Gemm's
    /// `fc` may be followed by the `shift` of its C), when its weight was `seen` already.
    func tokens(seen: inout Set<String>) -> [String] {
        guard case let .layers(tokens) = kind else { return [] }
        guard let weight, !tokens.isEmpty else { return tokens }
        if seen.insert(weight).inserted { return tokens }
        return [tokens[0] + ",tied=1"] + tokens.dropFirst()
    }
}
