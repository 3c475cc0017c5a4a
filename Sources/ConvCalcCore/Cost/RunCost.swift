/// A number format of tensors, with its size.
public enum DataType: String, CaseIterable, Sendable {
    case fp64, fp32, bf16, fp16, int8

    /// Bytes per value.
    public var bytes: Int {
        switch self {
        case .fp64: return 8
        case .fp32: return 4
        case .bf16, .fp16: return 2
        case .int8: return 1
        }
    }
}

/// The optimizer of a training step, by the state it keeps per weight.
public enum Optimizer: String, CaseIterable, Sendable {
    case sgd, momentum, adam, adamw

    /// Copies of the weights the optimizer keeps: SGD none, momentum its velocity, Adam and
    /// AdamW the first and second moments (PyTorch `torch.optim`).
    public var stateCopies: Int {
        switch self {
        case .sgd: return 0
        case .momentum: return 1
        case .adam, .adamw: return 2
        }
    }
}

/// How a network is run: batch, number formats, and for training the optimizer and the
/// frozen layers.
public struct RunSettings: Sendable {
    public var batch = 1
    public var activationType = DataType.fp32
    public var weightType = DataType.fp32
    public var optimizer = Optimizer.sgd
    /// Mixed precision: an fp32 copy of the weights the optimizer updates (with 16-bit weights).
    public var masterWeights = false
    /// Layers 1 through this are frozen: no weight gradients, no optimizer state.
    public var frozenThrough = 0
    /// Element-wise activations and dropout write into their input (PyTorch `inplace=True`).
    public var inPlace = false
    /// The input itself needs a gradient (a layer inside a network, as PyTorch's fixtures
    /// measure single layers); an image does not.
    public var inputGradient = false

    public init() {}
}

/// What running and training a network costs beyond its parameters and forward MACs: the
/// activations, the weights in bytes, and the backward pass (issue #17).
///
/// Conventions:
/// - activations: the input and every layer's and merge's output, `batch·C·Πout` values at the
///   activation type; identity and flatten are views of their input (no new values), and with
///   `inPlace` so are the element-wise activations and dropout that PyTorch can run in place;
/// - backward MACs follow `torch.utils.flop_counter` (FLOPs / 2): a convolution or fully
///   connected layer costs its forward MACs for the input gradient and again for the weight
///   gradient (grouped, depthwise, dilated, strided and transposed alike); element-wise work
///   (SE's rescaling, layer scale, bias gradients) is not counted, as there. The input
///   gradient of a layer is computed only when some layer before it on its path is trained
///   (never for the first), its weight gradient only when it is trained itself;
/// - training memory: weights, their gradients (trained layers) at the weight type, the
///   optimizer's state (`Optimizer.stateCopies` copies of the trained weights) at the weight
///   type, or at fp32 with fp32 master weights (mixed precision, as apex O2 keeps them).
public struct RunCost: Sendable {
    public struct Layer: Sendable {
        public var index: Int
        /// `batch·C·Πout`; nil without `--in` or the channels.
        public var outputElements: Int?
        public var outputBytes: Int?
        public var weightBytes: Int
        /// Forward MACs of the batch; nil without `--in`.
        public var forwardMACs: Int?
        public var backwardInputMACs: Int?
        public var backwardWeightMACs: Int?
        public var trained: Bool
        /// Bytes a forward reads and writes at least: its input, its weights, its output.
        public var bytesMoved: Int?

        /// FLOPs (2 per MAC) per byte moved: the arithmetic intensity of the roofline model.
        public var intensity: Double? {
            guard let forwardMACs, let bytesMoved, bytesMoved > 0 else { return nil }
            return 2 * Double(forwardMACs) / Double(bytesMoved)
        }

        /// The roofline's lower bound on the time of the forward, in seconds, and whether
        /// compute (not memory bandwidth) bounds it; `peak` in FLOP/s, `bandwidth` in byte/s.
        public func time(peak: Double, bandwidth: Double) -> (seconds: Double, computeBound: Bool)? {
            guard let forwardMACs, let bytesMoved else { return nil }
            let compute = 2 * Double(forwardMACs) / peak, memory = Double(bytesMoved) / bandwidth
            return (max(compute, memory), compute >= memory)
        }
    }

    public var settings: RunSettings
    public var layers: [Layer]
    /// The input's `batch·C·Πin` values; nil without `--in` and `--cin`.
    public var inputElements: Int?
    /// The input and every layer's new output (`Layer.outputElements` of the layers that make one).
    public var outputElements: Int?
    public var outputBytes: Int?
    public var weightBytes: Int
    public var forwardMACs: Int?
    public var backwardInputMACs: Int?
    public var backwardWeightMACs: Int?
    /// Parameters that are trained (not frozen).
    public var trainedParams: Int
    public var gradientBytes: Int
    public var optimizerBytes: Int
    public var masterBytes: Int

    public init(network: NetworkCost, stack: LayerStack, settings: RunSettings) throws {
        self.settings = settings
        let entries = Dictionary(uniqueKeysWithValues: network.entries.map { ($0.index - 1, $0) })
        // Whether some layer before this one, on its path, is trained: its input gradient is needed.
        var needsInputGradient: [Int: Bool] = [:]
        _ = StackTree.output(stack.nodes, from: settings.inputGradient, layer: { index, upstream in
            needsInputGradient[index] = upstream
            return upstream || RunCost.isTrained(entries[index]!, settings)
        }, merge: { _, input, outputs in outputs.reduce(input) { $0 || $1 } })
        layers = try network.entries.map { entry in
            do {
                return try RunCost.layer(entry, settings: settings, needsInputGradient: needsInputGradient[entry.index - 1] ?? false)
            } catch let error as UserFacingError {
                throw LayerContextError(index: entry.index, token: entry.layer.token, origin: entry.layer.context, underlying: error)
            }
        }
        func total(_ values: [Int?]) throws -> Int? {
            try values.reduce(Optional(0)) { sum, value in try sum.flatMap { s in try value.map { try Checked.add(s, $0) } } }
        }
        inputElements = try stack.inputChannels.flatMap { c in try stack.inputSize.map { try Checked.mul(Checked.mul(settings.batch, c), Checked.product($0)) } }
        let fresh = layers.filter { !RunCost.isView(network.entries[$0.index - 1].layer.type, settings) }
        // A merge's sum or concatenation is a new tensor too.
        let merged = try network.merges.map { merge in
            try merge.channels.flatMap { c in try merge.spatial.map { try Checked.mul(Checked.mul(settings.batch, c), Checked.product($0)) } }
        }
        outputElements = try total([inputElements] + fresh.map(\.outputElements) + merged)
        outputBytes = try outputElements.map { try Checked.mul($0, settings.activationType.bytes) }
        weightBytes = try total(layers.map(\.weightBytes))!
        forwardMACs = try total(layers.map(\.forwardMACs))
        backwardInputMACs = try total(layers.map(\.backwardInputMACs))
        backwardWeightMACs = try total(layers.map(\.backwardWeightMACs))
        trainedParams = try total(network.entries.map { RunCost.isTrained($0, settings) ? $0.cost.params : 0 })!
        gradientBytes = try Checked.mul(trainedParams, settings.weightType.bytes)
        // With fp32 master weights (mixed precision) the optimizer keeps its state in fp32 too.
        let stateType = settings.masterWeights ? DataType.fp32 : settings.weightType
        optimizerBytes = try Checked.mul(Checked.mul(trainedParams, stateType.bytes), settings.optimizer.stateCopies)
        masterBytes = settings.masterWeights ? try Checked.mul(trainedParams, DataType.fp32.bytes) : 0
    }

    /// Whether a layer's output is its input itself (a view, or an activation run in place).
    public static func isView(_ type: LayerType, _ settings: RunSettings) -> Bool {
        switch type {
        case .identity, .flatten, .crop: return true   // crop: a slice, a view until a merge copies it
        case .relu, .relu6, .clip, .silu, .hswish, .hsigmoid, .leakyrelu, .elu, .dropout: return settings.inPlace
        default: return false
        }
    }

    /// A layer is trained when it has parameters and is not frozen.
    static func isTrained(_ entry: NetworkCost.Entry, _ settings: RunSettings) -> Bool {
        entry.cost.params > 0 && entry.index > settings.frozenThrough
    }

    static func layer(_ entry: NetworkCost.Entry, settings: RunSettings, needsInputGradient: Bool) throws -> Layer {
        let batch = settings.batch
        let elements = try entry.channels.flatMap { c in try entry.spatial.map { try Checked.mul(Checked.mul(batch, c), Checked.product($0)) } }
        let forward = try entry.cost.macs.map { try Checked.mul($0, batch) }
        let products = try entry.cost.productMACs(entry.layer).map { try Checked.mul($0, batch) }
        let trained = isTrained(entry, settings)
        // A composite layer's inner convolutions need their input gradients when the layer is
        // trained (for the weight gradients before them) or its input needs one.
        let parts = entry.cost.parts.filter { !$0.elementwise }
        var inputMACs: Int? = needsInputGradient ? products : 0
        if parts.count > 1, !needsInputGradient, trained {
            inputMACs = try products.flatMap { total in try parts[0].macs.map { try Checked.sub(total, Checked.mul($0, batch)) } }
        }
        let inputElements = try entry.inputChannels.flatMap { c in try entry.inputSpatial.map { try Checked.mul(Checked.mul(batch, c), Checked.product($0)) } }
        let moved = try inputElements.flatMap { i in try elements.map { o in
            try Checked.add(Checked.mul(Checked.add(i, o), settings.activationType.bytes), Checked.mul(entry.cost.params, settings.weightType.bytes))
        } }
        return Layer(index: entry.index, outputElements: elements,
                     outputBytes: try elements.map { try Checked.mul($0, settings.activationType.bytes) },
                     weightBytes: try Checked.mul(entry.cost.params, settings.weightType.bytes),
                     forwardMACs: forward,
                     backwardInputMACs: inputMACs,
                     backwardWeightMACs: trained ? products : 0,
                     trained: trained, bytesMoved: moved)
    }
}

extension LayerCost {
    /// The MACs that are products with weights (convolutions and fully connected layers),
    /// without element-wise work: SE's rescaling, layer scale. nil when the MACs are unknown.
    public func productMACs(_ layer: ConvCalcCore.Layer) -> Int? {
        guard let macs else { return nil }
        if layer.type == .layerscale || layer.type == .scale { return 0 }
        let elementwise = parts.filter(\.elementwise).compactMap(\.macs).reduce(0, +)
        return macs - elementwise
    }
}

extension MergeKind {
    /// The values of a merge's output from its branches' values: a sum's or product's is
    /// the largest branch's (broadcast), a concatenation's the total.
    public func mergedValues(_ values: [Int]) throws -> Int {
        switch self {
        case .add, .mul: return values.max() ?? 0
        case .concat, .split: return try Checked.sum(values)
        }
    }

    /// The values each branch starts from, of an input of `values`: all of them, or for a
    /// split each branch's share (its channels' part).
    public func branchValues(_ values: Int, branches: Int) -> [Int] {
        guard case let .split(shares) = self else { return Array(repeating: values, count: branches) }
        guard let shares, shares.count == branches else { return Array(repeating: values / max(branches, 1), count: branches) }
        let total = max(shares.reduce(0, +), 1)
        return shares.map { Int((Double(values) * Double($0) / Double(total)).rounded()) }
    }
}
