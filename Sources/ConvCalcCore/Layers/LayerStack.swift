/// A stack of layers applied in order, with the input it starts from and its dimension count.
///
/// Dimension rule (SPEC §1): the number of spatial dimensions is the largest count of any
/// per-dimension size given (`k=1x7` makes 2-D, `--in 16x112x112` 3-D). When every size is a
/// single number the stack is 2-D and square, unless `dims` says 1 or 3. Every size with more
/// than one value must then have exactly that many.
public struct LayerStack: Sendable {
    /// The layers, without the `input:` pseudo-layer, in the order they are written.
    public var layers: [Layer]
    /// The stack as a tree of layers and merges (`.layer(i)` refers to `layers[i]`).
    public var nodes: [StackNode]
    /// True when the stack has merges of branches.
    public var hasBranches: Bool { nodes.contains { if case .merge = $0 { return true } else { return false } } }
    /// Input spatial size per dimension (`dims` values), if given.
    public var inputSize: [Int]?
    /// Input channels, if given.
    public var inputChannels: Int?
    /// Number of spatial dimensions: 1, 2 or 3.
    public var dims: Int
    /// True when every size was a single number: results print as one number (`28`).
    public var isUniform: Bool
    /// Default for layers without `bias=` (`--bias` / `--no-bias`; on when not given).
    public var defaultBias: Bool
    /// What the stack noticed about how it was given: a setting that replaced the `input:`
    /// line's, a size that looks like C×H×W. Not errors: the front end words them as notes.
    public var notices: [StackNotice] = []

    /// Resolves the dimension count and checks every rule that depends on it.
    ///
    /// - Parameters:
    ///   - layers: the layers in order; an `input:` pseudo-layer may come first.
    ///   - inputSize: `--in`, if given; `inputChannels`: `--cin`, if given.
    ///   - dims: `--dims`, if given (1, 2 or 3).
    ///   - defaultBias: `--bias`/`--no-bias` (default on).
    /// - Throws: `LayerError` or `LayerContextError` naming the layer.
    ///   - nodes: the tree of layers and merges; nil for a plain sequence of `layers`.
    public init(layers: [Layer], nodes: [StackNode]? = nil, inputSize: DimSize?, inputChannels: Int?, dims: Int?, defaultBias: Bool = true) throws {
        var layers = layers
        var dims = dims
        var nodes = nodes ?? layers.indices.map { StackNode.layer($0) }
        var inputSize = inputSize
        var inputChannels = inputChannels
        var notices: [StackNotice] = []
        if let first = layers.first, first.type == .input, nodes.first == .layer(0) {
            notices = StackNotice.replacements(of: first, size: inputSize, channels: inputChannels)
            (inputSize, inputChannels, dims) = (inputSize ?? first.inputSize, inputChannels ?? first.outChannels, dims ?? first.inputDims)
            layers.removeFirst()
            nodes = nodes.dropFirst().map { $0.shifted(by: -1) }
        }
        if layers.contains(where: { $0.type == .input }) { throw LayerError.misplacedInput }
        guard !layers.isEmpty else {
            throw LayerError.conflict("no layers given; give a layer by options (--k 3) or as tokens (conv:k=3)")
        }

        // Every per-dimension quantity, with a label for messages.
        var counts: [Int] = inputSize.map { [$0.values.count] } ?? []
        for layer in layers {
            counts += layer.dimensionalValues.map(\.count)
        }
        let widest = counts.max() ?? 1
        let resolved: Int
        if let dims {
            guard (1...maxSpatialDimensions).contains(dims) else {
                throw LayerError.outOfRange(.stack(.dims), value: "\(dims)", requirement: .rule("give 1, 2 or 3"))
            }
            resolved = dims
        } else {
            resolved = widest > 1 ? widest : 2
        }
        self.dims = resolved
        self.isUniform = widest == 1
        for (index, layer) in layers.enumerated() {
            for value in layer.dimensionalValues where value.count != 1 && value.count != resolved {
                let error = LayerError.dimensionMismatch(.key(value.key), value: value.text, count: value.count, dims: resolved)
                throw LayerContextError(index: index + 1, token: layer.token, origin: layer.context, underlying: error)
            }
        }
        if let inputSize, inputSize.values.count != 1, inputSize.values.count != resolved {
            throw LayerError.dimensionMismatch(.stack(.inputSize), value: "\(inputSize)", count: inputSize.values.count, dims: resolved)
        }
        if dims == nil, let size = inputSize, StackNotice.looksLikeChannelsFirst(size) { notices.append(.channelsFirst(size)) }
        self.notices = notices
        self.layers = layers
        self.nodes = nodes
        self.inputSize = inputSize?.expanded(to: resolved)
        self.inputChannels = inputChannels
        self.defaultBias = defaultBias
        for (index, layer) in layers.enumerated() {
            do {
                try geometry(of: index).validate()
            } catch let error as UserFacingError {
                throw LayerContextError(index: index + 1, token: layer.token, origin: layer.context, underlying: error)
            }
        }
    }

    /// The resolved geometry of layer `index` (0-based).
    public func geometry(of index: Int) -> LayerGeometry {
        LayerGeometry(layer: layers[index], dims: dims)
    }

    /// Whether layer `index` has a bias: its own `bias=`, else, for a convolution, the stack
    /// default (`--no-bias`: convolutions followed by batch norm have none); `se` and `fc`
    /// keep theirs, as in SENet and every torchvision classifier, unless `bias=0`.
    public func hasBias(_ index: Int) -> Bool {
        layers[index].bias ?? (layers[index].type == .se || layers[index].type == .fc ? true : defaultBias)
    }

    /// Reads a linear stack file (tokens only): one token a line; `#` starts a comment; blank
    /// lines are ignored. Files with branches go through `StackSyntax`.
    ///
    /// - Throws: errors located at `name:line:column`.
    public static func parseFile(_ text: String, name: String) throws -> [Layer] {
        try StackSyntax.parse(StackSyntax.words(ofFile: text, name: name)).layers
    }
}

extension StackNode {
    /// The same node with every layer index moved by `offset`.
    func shifted(by offset: Int) -> StackNode {
        switch self {
        case let .layer(i): return .layer(i + offset)
        case let .merge(kind, branches): return .merge(kind, branches.map { $0.map { $0.shifted(by: offset) } })
        }
    }
}

extension Layer {
    /// Every per-dimension value given in this token: key, text, count.
    var dimensionalValues: [(key: LayerKey, text: String, count: Int)] {
        var out: [(LayerKey, String, Int)] = []
        if let kernel { out.append((.k, "\(kernel)", kernel.values.count)) }
        if let stride { out.append((.s, "\(stride)", stride.values.count)) }
        out.append((.p, "\(padding)", padding.dimensionCount))
        out.append((.d, "\(dilation)", dilation.values.count))
        out.append((.op, "\(outputPadding)", outputPadding.values.count))
        if let inputSize { out.append((.in, "\(inputSize)", inputSize.values.count)) }
        return out
    }
}

/// Something about how a stack was given that is not wrong but may not be what was meant.
public enum StackNotice: Equatable, Sendable {
    /// A stack setting (`--in`, `--cin`) given as well as by the `input:` line, whose value it replaced.
    case replacesInputLine(StackSetting, given: String, line: String)
    /// An input size of three values the first of which looks like a channel count
    /// (`3x224x224`): read as D×H×W, a 3-D input.
    case channelsFirst(DimSize)
    /// `--in` given for a model (ONNX) whose input size it replaced.
    case replacesModelInput(given: String, model: String)
    /// What reading a model counted as zero or read approximately.
    case model(String)

    /// The stack's settings (the command line) win over the `input:` line (a file): a notice
    /// for each that differs.
    static func replacements(of line: Layer, size: DimSize?, channels: Int?) -> [StackNotice] {
        var notices: [StackNotice] = []
        if let given = size, let written = line.inputSize, given != written {
            notices.append(.replacesInputLine(.inputSize, given: "\(given)", line: "\(written)"))
        }
        if let given = channels, let written = line.outChannels, given != written {
            notices.append(.replacesInputLine(.inputChannels, given: "\(given)", line: "\(written)"))
        }
        return notices
    }

    /// Three values, the first 1 to 4 (grey, RGB, RGBA) and below the other two: more likely
    /// C×H×W than a depth. `16x112x112` (a video clip) is not.
    static func looksLikeChannelsFirst(_ size: DimSize) -> Bool {
        size.values.count == 3 && size.values[0] <= 4 && size.values[0] < min(size.values[1], size.values[2])
    }
}
