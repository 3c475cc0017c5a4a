/// A part of a layer's cost: composite layers (sepconv, asym, deform, se) are several
/// convolutions or FC layers, shown one by one.
public struct CostPart: Equatable, Sendable {
    public var name: String
    public var outChannels: Int
    public var weights: Int
    public var biases: Int
    /// nil when the spatial size is unknown (no --in).
    public var macs: Int?
    /// The part's output spatial size (nil: unknown).
    public var spatial: [Int]?
    /// Element-wise multiplies (SE's rescaling), not products with weights.
    public var elementwise = false
}

/// Parameters and multiply–accumulates of one layer (SPEC §5).
///
/// Conventions: 1 MAC = one multiply-accumulate = 2 FLOPs; bias additions are not MACs.
/// - conv: weights `cout·(cin/g)·Πk`, MACs `Πout·cout·(cin/g)·Πk` (PyTorch Conv weight
///   shape (cout, cin/g, k…)).
/// - tconv: weights `cin·(cout/g)·Πk` (PyTorch ConvTranspose weight shape (cin, cout/g, k…)),
///   MACs counted per input element: `Πin·cin·(cout/g)·Πk`.
/// - dwconv: g = cin, cout = m·cin. sepconv: dwconv without bias, then a 1×1 conv to c
///   (Keras SeparableConv2D). asym: one convolution per dimension, k×1 then 1×k (Inception v3).
/// - deform: the main convolution (ungrouped) plus its offset convolution with
///   `D·g·Πk` output channels (`(D + 1)·g·Πk` for v=2, the modulation mask), g the offset
///   groups, with bias (mmcv DeformConv2dPack / ModulatedDeformConv2dPack). Bilinear sampling,
///   `2^D` multiply-adds per sampled value and one more for the v2 mask, is reported apart.
/// - se: two FC layers with biases, C → ⌊C/r⌋ → C (SENet); MACs include the C·Πout rescaling.
/// - bn: γ and β (2·C); 0 MACs: at inference it folds into the convolution before it
///   (as the MobileNet paper counts its 569M mult-adds).
/// - tied (`tied=1`): the weights of an earlier layer used again (a siamese branch, a model
///   file's shared initializer): no parameters of its own, its MACs as usual.
/// - fc: flattens C·Πspatial. Pools, relu, upsample, pixelshuffle, shuffle, gap: no
///   parameters, 0 MACs (comparisons and additions are not MACs).
public struct LayerCost: Equatable, Sendable {
    public var weights = 0
    public var biases = 0
    public var macs: Int? = 0
    /// Deformable convolution's bilinear sampling, not included in `macs`.
    public var samplingMACs: Int?
    public var parts: [CostPart] = []

    public var params: Int { weights + biases }   // both checked when summed
}

/// Why the cost of a layer cannot be computed.
public enum CostError: UserFacingError, Equatable {
    case needsInputChannels(type: String)
    case notDivisible(what: String, value: Int, by: String, divisor: Int)
    case needsSpatialSize(String)
    case noHiddenUnits(channels: Int, reduction: Int)
    case slopes(Int, channels: Int)
    case branchMismatch(kind: String, after: Int, branch: Int, first: String, other: String)
    /// A split into equal shares of channels that its branch count does not divide.
    case unequalSplit(after: Int, channels: Int, branches: Int)
    /// A split whose given shares do not add up to its input channels.
    case shareSum(word: String, after: Int, sum: Int, channels: Int)

    public var message: String {
        switch self {
        case let .needsInputChannels(type):
            return "the parameters of '\(type)' depend on its input channels; give \(StackSetting.inputChannels.optionName) C (or start the stack with input:in=SIZE,c=C)"
        case let .notDivisible(what, value, by, divisor):
            return "\(what) \(value) is not divisible by \(by) \(divisor); it must be a multiple of \(divisor)"
        case let .needsSpatialSize(text):
            return text
        case let .branchMismatch(kind, after, branch, first, other):
            let rule = kind == "add" ? "the branches of add must give the same C×H×W"
                : kind == "mul" ? "the branches of mul must give the same C×H×W, or 1×1 or 1 channel to broadcast" : "the branches of \(kind) must give the same spatial size"
            return "\(kind) (ending after layer \(after)): branch 1 gives \(first) but branch \(branch) gives \(other); \(rule)"
        case let .slopes(n, channels):
            return "prelu with n=\(n) slopes on \(channels) channels; n is 1 (one slope for all) or the channel count"
        case let .unequalSplit(after, channels, branches):
            var text = "split (\(NetworkCost.place(after: after))): \(channels) channels do not divide into \(branches) equal shares"
            if channels >= branches {
                // The remainder one channel each to the first branches: one valid choice among many.
                let shares = (0..<branches).map { String(channels / branches + ($0 < channels % branches ? 1 : 0)) }
                text += "; give one share per branch, e.g. split:c=\(shares.joined(separator: "x"))"
            } else {
                text += "; every branch needs at least 1 channel"
            }
            return text
        case let .shareSum(word, after, sum, channels):
            return "\(word) (\(NetworkCost.place(after: after))): the shares add up to \(sum) but the input has \(channels) channels; they must add up to the input's channels"
        case let .noHiddenUnits(channels, reduction):
            return "se with \(channels) channels and r=\(reduction) has ⌊\(channels)/\(reduction)⌋ = 0 hidden units; use r ≤ \(channels)"
        }
    }

    public var category: ErrorCategory {
        if case .needsInputChannels = self { return .usage }
        return .data
    }
}

/// Every layer of a stack with its output shape and cost, channels flowing through.
public struct NetworkCost: Sendable {
    public struct Entry: Sendable {
        public var index: Int
        public var layer: Layer
        public var cost: LayerCost
        /// Output channels, if known.
        public var channels: Int?
        /// Output spatial size, if `--in` was given.
        public var spatial: [Int]?
        /// Input channels and spatial size, if known.
        public var inputChannels: Int? = nil
        public var inputSpatial: [Int]? = nil
    }

    /// A merge: what each branch gives, and the merged channels and size.
    public struct Merge: Sendable {
        public var kind: MergeKind
        public var branches: [(channels: Int?, spatial: [Int]?)]
        public var channels: Int?
        public var spatial: [Int]?
        /// A split's channels per branch, as its branches got them; nil for add and concat,
        /// and for equal shares of unknown channels.
        public var shares: [Int]? = nil
        /// `mul`'s element-wise multiplies, one per output element per branch after the
        /// first; 0 for the other kinds; nil when the size is unknown.
        public var macs: Int? = 0
    }

    /// The stack counted.
    public var stack: LayerStack
    /// Every layer's entry and merge's result, in the stack's tree shape.
    public var tree: [StackResult<Entry, Merge>]
    /// Every layer, in the order written (inside branches too).
    public var entries: [Entry]
    /// Every merge, in the order its `add`/`concat`/`split` is written.
    public var merges: [Merge]
    public var weights: Int
    public var biases: Int
    public var params: Int
    /// nil when some layer's MACs need the spatial size and `--in` was not given.
    public var macs: Int?
    public var samplingMACs: Int?

    public init(stack: LayerStack) throws {
        self.stack = stack
        var lastLayer = 0   // the layer a merge ends after, for messages
        var (weights, biases, macs, sampling): (Int, Int, Int?, Int?) = (0, 0, 0, nil)
        let start: (channels: Int?, spatial: [Int]?) = (stack.inputChannels, stack.inputSize)
        tree = try StackTree.fold(stack.nodes, from: start, layer: { index, current in
            let entry = try NetworkCost.entry(stack, index, channels: current.channels, spatial: current.spatial)
            do {
                weights = try Checked.add(weights, entry.cost.weights)
                biases = try Checked.add(biases, entry.cost.biases)
                if let m = macs, let c = entry.cost.macs { macs = try Checked.add(m, c) } else { macs = nil }
                if let s = entry.cost.samplingMACs { sampling = try Checked.add(sampling ?? 0, s) }
            } catch let error as UserFacingError {
                throw LayerContextError(index: index + 1, token: entry.layer.token, origin: entry.layer.context, underlying: error)
            }
            lastLayer = entry.index
            return (entry, (entry.channels, entry.spatial))
        }, branchInputs: { kind, input, count in
            // A split's branches start from their shares; unknown shares leave channels unknown.
            guard case .split = kind else { return Array(repeating: input, count: count) }
            let shares = try NetworkCost.splitShares(kind, channels: input.channels, branches: count, after: lastLayer)
            return (0..<count).map { (shares?[$0], input.spatial) }
        }, merge: { kind, input, outputs in
            var merge = try NetworkCost.merge(kind, outputs, after: lastLayer)
            // The shares the branches started from (checked on entry, so this does not throw).
            merge.shares = try NetworkCost.splitShares(kind, channels: input.channels, branches: outputs.count, after: lastLayer)
            if let m = macs, let c = merge.macs { macs = try Checked.add(m, c) } else { macs = nil }
            return (merge, (merge.channels, merge.spatial))
        }).results
        entries = StackTree.layerValues(tree)
        merges = StackTree.mergeValues(tree)
        self.weights = weights
        self.biases = biases
        self.params = try Checked.add(weights, biases)
        self.macs = macs
        self.samplingMACs = sampling
    }

    /// Layer `index` on `channels` × `spatial`: its cost and output.
    static func entry(_ stack: LayerStack, _ index: Int, channels: Int?, spatial: [Int]?) throws -> Entry {
        let layer = stack.layers[index]
        do {
            let geometry = try stack.geometry(of: index).resolvingPadding(input: spatial)
            // gap and fc end at 1×1 whatever comes in, so what follows them is known without --in.
            let outSpatial = try spatial.map { input in try (0..<stack.dims).map { try geometry.step($0, input: input[$0]).output } }
                ?? (layer.type.isGlobal ? Array(repeating: 1, count: stack.dims) : nil)
            let (cost, outChannels) = try LayerCost.of(layer, geometry: geometry, bias: stack.hasBias(index),
                                                       channels: channels, input: spatial, output: outSpatial)
            return Entry(index: index + 1, layer: layer, cost: cost, channels: outChannels, spatial: outSpatial,
                         inputChannels: channels, inputSpatial: spatial)
        } catch let error as UserFacingError {
            throw LayerContextError(index: index + 1, token: layer.token, origin: layer.context, underlying: error)
        }
    }

    /// The channels of each branch of a split: its given shares, which must add up to the
    /// input channels when those are known (PyTorch `torch.split(x, shares, dim=1)`), or
    /// equal shares, which the branch count must divide (`x.chunk(n, dim=1)` gives unequal
    /// chunks otherwise). nil for add and concat, and for equal shares of unknown channels.
    static func splitShares(_ kind: MergeKind, channels: Int?, branches: Int, after: Int) throws -> [Int]? {
        guard case let .split(given) = kind else { return nil }
        if let given {
            let sum = try Checked.sum(given)
            if let channels, sum != channels {
                let word = "split:c=" + given.map(String.init).joined(separator: "x")
                throw CostError.shareSum(word: word, after: after, sum: sum, channels: channels)
            }
            return given
        }
        guard let channels else { return nil }
        guard channels % branches == 0 else { throw CostError.unequalSplit(after: after, channels: channels, branches: branches) }
        return Array(repeating: channels / branches, count: branches)
    }

    /// Where a merge is, for messages: `after layer 3`, or `before any layer`.
    static func place(after: Int) -> String {
        after == 0 ? "before any layer" : "after layer \(after)"
    }

    /// A merge of the branches' `outputs` (channels, spatial), checked to fit together:
    /// add and mul need the same channels (mul: or 1, broadcast), concat and split add them
    /// up; every kind needs the same spatial size (`MergeKind.mergedSize`: mul broadcasts 1×1).
    public static func merge(_ kind: MergeKind, _ outputs: [(channels: Int?, spatial: [Int]?)], after: Int) throws -> Merge {
        let sizes = outputs.compactMap(\.spatial)
        var spatial: [Int]? = nil
        var sizesFit = sizes.isEmpty
        if sizes.count == outputs.count, let merged = kind.mergedSize(sizes) {
            spatial = merged
            sizesFit = true
        }
        let elementwise = kind == .add || kind == .mul
        for (b, output) in outputs.enumerated() where b > 0 {
            let channelsFit = output.channels == nil || outputs[0].channels == nil || output.channels == outputs[0].channels
                || (kind == .mul && (output.channels == 1 || outputs[0].channels == 1))
            if !sizesFit || (elementwise && !channelsFit) {
                throw CostError.branchMismatch(kind: kind.name, after: after, branch: b + 1,
                                               first: NetworkCost.shape(outputs[0]), other: NetworkCost.shape(output))
            }
        }
        let merged: Int?
        if elementwise {
            merged = outputs.allSatisfy { $0.channels != nil } ? outputs.map { $0.channels! }.max() : outputs[0].channels
        } else {
            merged = outputs.allSatisfy { $0.channels != nil } ? try Checked.sum(outputs.map { $0.channels! }) : nil
        }
        var result = Merge(kind: kind, branches: outputs, channels: merged, spatial: spatial)
        if kind == .mul {
            result.macs = try merged.flatMap { c in try spatial.map { try Checked.mul(Checked.mul(c, Checked.product($0)), outputs.count - 1) } }
        }
        return result
    }

    /// `64×56×56`, `64` or `?` for messages.
    static func shape(_ output: (Int?, [Int]?)) -> String {
        let channels = output.0.map(String.init) ?? "?"
        return ([channels] + (output.1 ?? []).map(String.init)).joined(separator: "×")
    }
}

extension LayerCost {
    /// The cost of `layer` and its output channels.
    ///
    /// - Parameters:
    ///   - channels: input channels (nil: unknown, an error for layers with parameters).
    ///   - input, output: spatial sizes per dimension (nil: unknown; MACs are then nil).
    static func of(_ layer: Layer, geometry: LayerGeometry, bias: Bool, channels: Int?,
                   input: [Int]?, output: [Int]?) throws -> (LayerCost, Int?) {
        let counting = try LayerCounting(layer: layer, geometry: geometry, bias: bias, channels: channels, input: input, output: output)
        var (cost, outChannels) = try layer.type.isConvolution || layer.type == .tconv ? counting.convolutionCost() : counting.otherCost()
        if layer.tied {
            // Weights shared with an earlier layer: counted there, once; the MACs are this use's.
            (cost.weights, cost.biases) = (0, 0)
            for i in cost.parts.indices { (cost.parts[i].weights, cost.parts[i].biases) = (0, 0) }
        }
        return (cost, outChannels)
    }
}

/// One layer's cost, counted: what every layer type's rule needs.
private struct LayerCounting {
    let layer: Layer
    let geometry: LayerGeometry
    let bias: Bool
    let channels: Int?
    let input: [Int]?
    let output: [Int]?
    let kernelVolume: Int
    let outVolume: Int?

    init(layer: Layer, geometry: LayerGeometry, bias: Bool, channels: Int?, input: [Int]?, output: [Int]?) throws {
        (self.layer, self.geometry, self.bias, self.channels, self.input, self.output) = (layer, geometry, bias, channels, input, output)
        kernelVolume = try Checked.product(geometry.kernel)
        outVolume = try output.map { try Checked.product($0) }
    }

    var ones: [Int] { Array(repeating: 1, count: geometry.dims) }

    func need() throws -> Int {
        guard let channels else { throw CostError.needsInputChannels(type: layer.type.rawValue) }
        return channels
    }

    /// A convolution part: cout·(cin/g)·kernel weights, MACs over the positions of `spatial`.
    func convolution(_ name: String, cin: Int, cout: Int, groups: Int, kernel: Int, bias: Bool, spatial: [Int]?) throws -> CostPart {
        let positions = try spatial.map { try Checked.product($0) }
        guard cin % groups == 0 else { throw CostError.notDivisible(what: "input channels", value: cin, by: "groups", divisor: groups) }
        guard cout % groups == 0 else { throw CostError.notDivisible(what: "output channels", value: cout, by: "groups", divisor: groups) }
        let w = try Checked.mul(Checked.mul(cout, cin / groups), kernel)
        return CostPart(name: name, outChannels: cout, weights: w, biases: bias ? cout : 0,
                        macs: try positions.map { try Checked.mul($0, w) }, spatial: spatial)
    }

    func total(_ parts: [CostPart]) throws -> LayerCost {
        var cost = LayerCost(parts: parts.count > 1 ? parts : [])
        for part in parts {
            cost.weights = try Checked.add(cost.weights, part.weights)
            cost.biases = try Checked.add(cost.biases, part.biases)
            if let m = cost.macs, let p = part.macs { cost.macs = try Checked.add(m, p) } else { cost.macs = nil }
        }
        return cost
    }

    /// conv, tconv, dwconv, sepconv, asym and deform.
    func convolutionCost() throws -> (LayerCost, Int?) {
        let kernelText = geometry.kernel.map(String.init).joined(separator: "x")
        switch layer.type {
        case .conv:
            let cin = try need(), cout = layer.outChannels ?? cin
            let part = try convolution("conv", cin: cin, cout: cout, groups: layer.groups ?? 1, kernel: kernelVolume, bias: bias, spatial: output)
            return (try total([part]), cout)
        case .tconv:
            let cin = try need(), cout = layer.outChannels ?? cin, g = layer.groups ?? 1
            guard cin % g == 0 else { throw CostError.notDivisible(what: "input channels", value: cin, by: "groups", divisor: g) }
            guard cout % g == 0 else { throw CostError.notDivisible(what: "output channels", value: cout, by: "groups", divisor: g) }
            // Weight (cin, cout/g, k…); every input element meets cout/g·Πk weights.
            let w = try Checked.mul(Checked.mul(cin, cout / g), kernelVolume)
            let inVolume = try input.map { try Checked.product($0) }
            let part = CostPart(name: "tconv", outChannels: cout, weights: w, biases: bias ? cout : 0,
                                macs: try inVolume.map { try Checked.mul($0, w) }, spatial: output)
            return (try total([part]), cout)
        case .dwconv:
            let cin = try need(), cout = try Checked.mul(layer.multiplier, cin)
            let part = try convolution("depthwise", cin: cin, cout: cout, groups: cin, kernel: kernelVolume, bias: bias, spatial: output)
            return (try total([part]), cout)
        case .sepconv:
            let cin = try need(), middle = try Checked.mul(layer.multiplier, cin), cout = layer.outChannels ?? cin
            let depthwise = try convolution("depthwise \(kernelText)", cin: cin, cout: middle, groups: cin, kernel: kernelVolume, bias: false, spatial: output)
            let pointwise = try convolution("pointwise 1x1", cin: middle, cout: cout, groups: 1, kernel: 1, bias: bias, spatial: output)
            return (try total([depthwise, pointwise]), cout)
        case .asym:
            let cin = try need(), cout = layer.outChannels ?? cin
            var parts: [CostPart] = []
            var current = input
            for dim in 0..<geometry.dims {
                let shape = (0..<geometry.dims).map { $0 == dim ? String(geometry.kernel[dim]) : "1" }.joined(separator: "x")
                if let size = current { current![dim] = try geometry.step(dim, input: size[dim]).output }
                parts.append(try convolution("conv \(shape)", cin: dim == 0 ? cin : cout, cout: cout, groups: 1,
                                             kernel: geometry.kernel[dim], bias: bias, spatial: current))
            }
            return (try total(parts), cout)
        case .deform:
            let cin = try need(), cout = layer.outChannels ?? cin, offsetGroups = layer.groups ?? 1
            guard cin % offsetGroups == 0 else { throw CostError.notDivisible(what: "input channels", value: cin, by: "offset groups", divisor: offsetGroups) }
            let perTap = geometry.dims + (layer.deformableVersion == 2 ? 1 : 0)
            let offsetChannels = try Checked.mul(Checked.mul(perTap, offsetGroups), kernelVolume)
            let main = try convolution("deformable conv", cin: cin, cout: cout, groups: 1, kernel: kernelVolume, bias: bias, spatial: output)
            let offsets = try convolution(layer.deformableVersion == 2 ? "offset+mask conv" : "offset conv", cin: cin, cout: offsetChannels,
                                          groups: 1, kernel: kernelVolume, bias: true, spatial: output)
            var cost = try total([main, offsets])
            // Bilinear sampling: 2^D multiply-adds per sampled value (cin·Πk per output), +1 for the mask.
            let perSample = (1 << geometry.dims) + (layer.deformableVersion == 2 ? 1 : 0)
            cost.samplingMACs = try outVolume.map { try Checked.mul(Checked.mul($0, Checked.mul(cin, kernelVolume)), perSample) }
            return (cost, cout)
        default:
            preconditionFailure("\(layer.type) is not a convolution")
        }
    }

    /// Every other layer: SE, batch norm, fully connected, and the layers without parameters.
    func otherCost() throws -> (LayerCost, Int?) {
        switch layer.type {
        case .se:
            let c = try need(), hidden = try seHidden(channels: c)
            let squeeze = try convolution("fc \(c)→\(hidden)", cin: c, cout: hidden, groups: 1, kernel: 1, bias: bias, spatial: ones)
            let excite = try convolution("fc \(hidden)→\(c)", cin: hidden, cout: c, groups: 1, kernel: 1, bias: bias, spatial: ones)
            // Rescaling every element by its channel's gate: one multiply each.
            let rescale = CostPart(name: layer.gate == .sigmoid ? "rescale" : "rescale (\(layer.gate.rawValue))", outChannels: c, weights: 0, biases: 0,
                                   macs: try outVolume.map { try Checked.mul($0, c) }, spatial: output, elementwise: true)
            return (try total([squeeze, excite, rescale]), c)
        case .bn, .layernorm:
            let c = try need()
            return (LayerCost(weights: c, biases: c, macs: 0), c)
        case .groupnorm:
            let c = try need(), g = layer.groups ?? 1
            guard c % g == 0 else { throw CostError.notDivisible(what: "channels", value: c, by: "groups", divisor: g) }
            return (LayerCost(weights: c, biases: c, macs: 0), c)
        case .layerscale:
            let c = try need()
            return (LayerCost(weights: c, biases: 0, macs: try outVolume.map { try Checked.mul($0, c) }), c)
        case .shift, .scale:
            return try learnedTensorCost()
        case .prelu:
            if layer.slopes != 1, let c = channels, layer.slopes != c { throw CostError.slopes(layer.slopes, channels: c) }
            return (LayerCost(weights: layer.slopes, biases: 0, macs: 0), channels)
        case .flatten:
            let c = try need()
            guard let input else {
                throw CostError.needsSpatialSize("flatten makes C·H·W channels, so the channels after it depend on the spatial size; give \(StackSetting.inputSize.optionName)")
            }
            return (LayerCost(), try Checked.mul(c, Checked.product(input)))
        case .fc:
            let c = try need(), cout = layer.outChannels ?? c
            guard let input else {
                throw CostError.needsSpatialSize("fc flattens C·H·W, so its parameters depend on the spatial size; give \(StackSetting.inputSize.optionName) (or put gap before it)")
            }
            let features = try Checked.mul(c, Checked.product(input))
            let part = try convolution("fc", cin: features, cout: cout, groups: 1, kernel: 1, bias: bias, spatial: ones)
            return (try total([part]), cout)
        case .pixelshuffle:
            guard let c = channels else { return (LayerCost(), nil) }
            let factor = try Checked.product(geometry.stride)
            guard c % factor == 0 else { throw CostError.notDivisible(what: "channels", value: c, by: "r^\(geometry.dims) =", divisor: factor) }
            return (LayerCost(), c / factor)
        case .channelmean, .channelmax:
            return (LayerCost(), 1)
        case .pixelunshuffle:
            return (LayerCost(), try spaceToDepthChannels())
        case .shuffle:
            if let c = channels, let g = layer.groups, c % g != 0 {
                throw CostError.notDivisible(what: "channels", value: c, by: "groups", divisor: g)
            }
            return (LayerCost(), channels)
        case .input, .maxpool, .avgpool, .upsample, .relu, .gap, .conv, .tconv, .dwconv, .sepconv, .asym, .deform,
             .relu6, .clip, .silu, .hswish, .hsigmoid, .sigmoid, .gelu, .tanh, .leakyrelu, .elu, .softmax,
             .identity, .dropout, .adaptiveavgpool, .adaptivemaxpool, .crop:
            return (LayerCost(), channels)
        }
    }

    /// shift: n values added (biases, 0 MACs); scale: n values multiplied (weights, one
    /// multiply per output element).
    func learnedTensorCost() throws -> (LayerCost, Int?) {
        guard layer.type == .scale else { return (LayerCost(weights: 0, biases: layer.slopes, macs: 0), channels) }
        let c = try need()
        return (LayerCost(weights: layer.slopes, biases: 0, macs: try outVolume.map { try Checked.mul($0, c) }), c)
    }

    /// pixelunshuffle's output channels, C·r^dims; the input size must be a multiple of r
    /// (PyTorch: "pixel_unshuffle expects height to be divisible by downscale_factor").
    func spaceToDepthChannels() throws -> Int? {
        let factor = try Checked.product(geometry.stride)
        if let input, let dim = input.indices.first(where: { input[$0] % geometry.stride[$0] != 0 }) {
            throw CostError.notDivisible(what: "the input size", value: input[dim], by: "r", divisor: geometry.stride[dim])
        }
        return try channels.map { try Checked.mul($0, factor) }
    }

    /// SE's hidden width: `hidden` as given, else ⌊C/r⌋, rounded with `div` as torchvision's
    /// `_make_divisible(v, div)`: `max(div, ⌊v + div/2⌋ // div · div)`, plus `div` when that
    /// is below 0.9·v (MobileNet v3: `_make_divisible(C // 4, 8)`).
    func seHidden(channels c: Int) throws -> Int {
        if let hidden = layer.hidden { return hidden }
        let r = layer.reduction ?? LayerSchema.defaultSEReduction
        var hidden = c / r
        if let d = layer.divisor {
            let rounded = try Checked.add(2 * hidden, d) / 2   // ⌊v + d/2⌋, in integers
            hidden = max(d, rounded / d * d)
            if try Checked.mul(10, hidden) < Checked.mul(9, c / r) { hidden = try Checked.add(hidden, d) }
        }
        guard hidden >= 1 else { throw CostError.noHiddenUnits(channels: c, reduction: r) }
        return hidden
    }
}
