/// Every layer type of the stack language (SPEC §2).
public enum LayerType: String, CaseIterable, Sendable {
    case input, conv, tconv, dwconv, sepconv, asym, deform
    case maxpool, avgpool, upsample, pixelshuffle, pixelunshuffle, shuffle, se, bn, relu, gap, fc
    // Activations, element by element.
    case relu6, clip, silu, hswish, hsigmoid, sigmoid, gelu, tanh, leakyrelu, elu, prelu, softmax
    // Shape and bookkeeping.
    case identity, dropout, flatten, adaptiveavgpool, adaptivemaxpool, crop, channelmean, channelmax
    // Normalisation and scaling.
    case groupnorm, layernorm, layerscale, shift, scale

    /// Other spellings accepted for a type.
    public static let aliases: [String: LayerType] = [
        "deconv": .tconv, "swish": .silu, "hardswish": .hswish, "hardsigmoid": .hsigmoid,
        "leaky_relu": .leakyrelu, "adaptive_avg_pool": .adaptiveavgpool, "adaptive_max_pool": .adaptivemaxpool,
        "gn": .groupnorm, "ln": .layernorm, "hardtanh": .clip, "pixel_unshuffle": .pixelunshuffle,
    ]

    /// Every accepted name, aliases included, for messages.
    public static var allNames: [String] {
        allCases.map(\.rawValue) + aliases.keys.sorted()
    }

    /// Looks a type up by name or alias.
    public init?(name: String) {
        if let t = LayerType(rawValue: name) { self = t } else if let t = LayerType.aliases[name] { self = t } else { return nil }
    }

    /// The keys a token of this type may carry, in table order (from `LayerSchema`).
    public var keys: [LayerKey] {
        LayerSchema.rows.filter { $0.types.contains(self) }.map(\.key)
    }

    /// Keys without which the layer means nothing, with an example token (from `LayerSchema`).
    public var requiredKeys: [(LayerKey, String)] {
        LayerSchema.rows.compactMap { row in row.required[self].map { (row.key, $0) } }
    }

    /// One line on what the layer is, for help and the man page.
    public var summary: String {
        switch self {
        case .input: return "pseudo-layer giving the input size and channels (first only)"
        case .conv: return "convolution (PyTorch Conv{1,2,3}d): dilated, grouped, 1x1, asymmetric"
        case .tconv: return "transposed convolution (PyTorch ConvTranspose*d), alias deconv"
        case .dwconv: return "depthwise convolution: g = cin, c = m*cin"
        case .sepconv: return "depthwise separable: dwconv (no bias) then 1x1 conv to c (Keras SeparableConv2D)"
        case .asym: return "spatially factorised k x 1 then 1 x k convolution, nothing between (Inception v3's pairs have bn relu between: write two convs)"
        case .deform: return "deformable convolution with its offset conv (v=2 adds the mask)"
        case .maxpool: return "max pooling, stride k by default, ceil as PyTorch"
        case .avgpool: return "average pooling, stride k by default, ceil as PyTorch"
        case .upsample: return "nearest upsampling by the factor s"
        case .pixelshuffle: return "depth-to-space by r: C*r^2 x H x W -> C x rH x rW"
        case .pixelunshuffle: return "space-to-depth by r: C x H x W -> C*r^2 x H/r x W/r (PyTorch PixelUnshuffle, ONNX SpaceToDepth)"
        case .shuffle: return "channel shuffle with g groups"
        case .se: return "squeeze-and-excitation with reduction r (two FC layers, SENet)"
        case .bn: return "batch norm: 2*C parameters, folded into the convolution before it"
        case .relu: return "ReLU activation"
        case .gap: return "global average pool to 1x1"
        case .fc: return "fully connected to c outputs (flattens C*H*W)"
        case .relu6, .clip, .silu, .hswish, .hsigmoid, .sigmoid, .gelu, .tanh, .leakyrelu, .elu:
            return "activation, element by element (\(pytorchName))"
        case .prelu: return "PReLU: n learnable slopes, 1 (default) or one per channel"
        case .softmax: return "softmax over the channels at each position"
        case .identity: return "the input unchanged"
        case .dropout: return "dropout (the identity at inference)"
        case .flatten: return "flattens C*H*W into channels of a 1x1 output"
        case .adaptiveavgpool: return "average pool to the size out (PyTorch AdaptiveAvgPool)"
        case .adaptivemaxpool: return "max pool to the size out (PyTorch AdaptiveMaxPool)"
        case .channelmean: return "mean over the channels at each position: C x H x W -> 1 x H x W (CBAM's spatial attention; x.mean(dim=1, keepdim=True))"
        case .channelmax: return "max over the channels at each position: C x H x W -> 1 x H x W (x.amax(dim=1, keepdim=True))"
        case .crop: return "centre crop to the size out (the U-Net's crop before concat; torchvision CenterCrop)"
        case .groupnorm: return "group norm with g groups: 2*C parameters; statistics over each group's whole plane"
        case .layernorm: return "layer norm over the channels at each position (channels-last, as ConvNeXt): 2*C parameters"
        case .layerscale: return "layer scale: C learnable factors, one multiply per element (ConvNeXt)"
        case .shift: return "a learned tensor of n values added, broadcast (a bias, a position embedding; ONNX Add of a weight)"
        case .scale: return "a learned tensor of n values multiplied, broadcast: one multiply per element (ONNX Mul of a weight)"
        }
    }

    /// Parameters and MACs under convcalc's conventions (README, man page).
    public var costText: String {
        switch self {
        case .conv, .dwconv: return "cout·(cin/g)·Πk weights; MACs Πout·cout·(cin/g)·Πk"
        case .tconv: return "cin·(cout/g)·Πk weights; MACs per input element, Πin·cin·(cout/g)·Πk"
        case .sepconv, .asym, .deform: return "the sum of its convolutions (shown as parts)"
        case .se: return "two FC layers with biases, C·h + h + h·C + C; MACs 2·C·h + C·Πout (the rescaling)"
        case .bn, .layernorm: return "2·C (γ, β); 0 MACs"
        case .groupnorm: return "2·C (γ, β); 0 MACs"
        case .layerscale: return "C; MACs C·Πout (one multiply per element)"
        case .shift: return "n; 0 MACs"
        case .scale: return "n; MACs C·Πout (one multiply per element)"
        case .prelu: return "n slopes; 0 MACs"
        case .fc: return "C·Πin·c + c; MACs C·Πin·c"
        default: return "none; 0 MACs"
        }
    }

    /// What the layer does to the receptive field (`rf`).
    public var fieldText: String {
        switch self {
        case .input: return "-"
        case .conv, .dwconv, .sepconv, .deform, .maxpool, .avgpool: return "a window: rf + (ke − 1)·jump, jump·s"
        case .pixelunshuffle: return "a window of r, stride r"
        case .asym: return "a window of k×1 then 1×k"
        case .tconv, .upsample, .pixelshuffle: return "divides the jump; adds the widest span"
        case .gap, .fc, .flatten, .se, .groupnorm: return "every position: the whole input (the local field takes it as pointwise)"
        case .adaptiveavgpool, .adaptivemaxpool: return "out=1: the whole input; a window k = s = in/out when out divides in"
        case .crop: return "pointwise, shifted by the crop's offset (give --in)"
        default: return "pointwise: unchanged"
        }
    }

    /// The PyTorch module of an activation.
    var pytorchName: String {
        switch self {
        case .relu6: return "ReLU6"
        case .clip: return "Hardtanh or clamp to [min, max], ONNX Clip; alias hardtanh"
        case .silu: return "SiLU, alias swish"
        case .hswish: return "Hardswish"
        case .hsigmoid: return "Hardsigmoid"
        case .sigmoid: return "Sigmoid"
        case .gelu: return "GELU"
        case .tanh: return "Tanh"
        case .leakyrelu: return "LeakyReLU"
        case .elu: return "ELU"
        default: return rawValue
        }
    }

    /// What a layer does to the receptive field: the position read (pointwise), a window,
    /// or every position of the input (global context).
    public var readsGlobalContext: Bool {
        switch self {
        case .gap, .fc, .flatten, .se, .groupnorm: return true
        default: return false
        }
    }

    /// Adaptive pooling to a given size.
    public var isAdaptivePool: Bool { self == .adaptiveavgpool || self == .adaptivemaxpool }

    /// Convolutions that slide a window of `k` over the input.
    public var isConvolution: Bool {
        switch self {
        case .conv, .dwconv, .sepconv, .asym, .deform: return true
        default: return false
        }
    }

    /// Layers whose output is 1×1 whatever the input (global pooling, fully connected, flatten).
    public var isGlobal: Bool { self == .gap || self == .fc || self == .flatten }

    /// Max and average pooling.
    public var isPool: Bool { self == .maxpool || self == .avgpool }

    /// Layers whose output size follows the sliding-window formula.
    public var slidesWindow: Bool { isConvolution || isPool }
}

/// One layer as written: its type and the keys given, not yet resolved to a dimension count.
///
/// Defaults follow PyTorch: stride 1 (pools: the kernel size), padding 0, dilation 1,
/// output padding 0, groups 1, bias on for convolution-like layers, ceil mode off.
public struct Layer: Equatable, Sendable {
    public var type: LayerType
    /// The token as it would be written, e.g. `conv:k=3,d=2`.
    public var token: String
    public var kernel: DimSize?
    /// `nil`: the default (1; pools use the kernel size).
    public var stride: DimSize?
    public var padding: Padding = .zero
    public var dilation = DimSize(1)
    public var outputPadding = DimSize(0)
    /// `nil`: the default (1; `dwconv` uses the input channels).
    public var groups: Int?
    /// `nil`: the input channels.
    public var outChannels: Int?
    public var multiplier = 1
    /// `nil`: the default (`LayerSchema.defaultSEReduction` for SE).
    public var reduction: Int?
    public var deformableVersion = 1
    /// `nil`: the stack's default (`--bias` / `--no-bias`, else on).
    public var bias: Bool?
    public var ceilMode = false
    /// Where the layer came from when a block use or repeat produced it (`StackWord.origin`).
    public var origin: [String] = []
    /// The model node it was converted from (ONNX), for messages.
    public var node: String?
    /// Weights shared with an earlier layer (`tied=1`): no parameters of its own.
    public var tied = false

    /// Where the layer came from, for errors and warnings: its block uses and repeats, then
    /// its model node (`node '/layer1/layer1.0/conv1/Conv'`).
    public var context: [String] { origin + (node.map { ["node '\($0)'"] } ?? []) }
    /// The `input:` pseudo-layer's size.
    public var inputSize: DimSize?
    /// The `input:` pseudo-layer's dimension count (`dims`).
    public var inputDims: Int?
    /// PReLU's learnable slopes (`n`): 1, or the channel count.
    public var slopes = 1
    /// Adaptive pooling's output size (`out`).
    public var adaptiveOutput: DimSize?
    /// SE's hidden width when given (`hidden`), instead of ⌊C/r⌋.
    public var hidden: Int?
    /// SE's rounding of ⌊C/r⌋ to a multiple (`div`, torchvision's `_make_divisible`).
    public var divisor: Int?
    /// SE's gate activation (`gate`).
    public var gate = SEGate.sigmoid

    public init(type: LayerType, token: String) {
        self.type = type
        self.token = token
    }

    /// The stride in effect: as given, else the kernel for pools, else 1.
    public var effectiveStride: DimSize {
        if let stride { return stride }
        if type.isPool, let kernel { return kernel }
        return DimSize(1)
    }

    /// Parses `TYPE[:key=value[,key=value]...]`.
    ///
    /// Whitespace around keys and values is ignored (stack files may align them).
    /// - Throws: `LayerError` naming the type, key or value that is wrong.
    public static func parse(_ token: String) throws -> Layer {
        let trimmed = token.trimmingWhitespace()
        let head: Substring
        let tail: Substring?
        if let colon = trimmed.firstIndex(of: ":") {
            head = trimmed[..<colon]
            tail = trimmed[trimmed.index(after: colon)...]
        } else {
            head = Substring(trimmed)
            tail = nil
        }
        let typeName = String(head).trimmingWhitespace()
        guard !typeName.isEmpty else {
            throw LayerError.malformedToken(token, reason: "the layer type is missing")
        }
        var assignments: [(String, String)] = []
        if let tail {
            guard !tail.trimmingWhitespace().isEmpty else {
                throw LayerError.malformedToken(token, reason: "nothing after ':'")
            }
            // No value holds ';': `conv:k=3;s=2` is keys separated the way a matrix row is.
            if tail.contains(";") {
                let commas = typeName + ":" + tail.split(separator: ";", omittingEmptySubsequences: false).joined(separator: ",")
                throw LayerError.malformedToken(token, reason: "keys are separated by commas, not ';' (write \(commas))")
            }
            for item in tail.split(separator: ",", omittingEmptySubsequences: false) {
                let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    let shown = String(item).trimmingWhitespace()
                    throw LayerError.malformedToken(token, reason: shown.isEmpty ? "an empty key=value item" : "'\(shown)' is not key=value")
                }
                let key = String(parts[0]).trimmingWhitespace()
                guard !key.isEmpty else { throw LayerError.malformedToken(token, reason: "a value without a key") }
                assignments.append((key, String(parts[1]).trimmingWhitespace()))
            }
        }
        return try make(typeName: typeName, assignments: assignments)
    }

    /// Builds a layer from a type name and `key=value` assignments, validating each.
    ///
    /// Single-layer command-line options (`--k 3 --s 2`) come here too, so a layer has one
    /// set of rules however it is written. The canonical token is rebuilt from the assignments.
    public static func make(typeName: String, assignments: [(String, String)]) throws -> Layer {
        guard let type = LayerType(name: typeName) else {
            let suggestion = NameSuggestion.nearest(to: typeName, among: LayerType.allNames)
            throw LayerError.unknownType(typeName, suggestion: suggestion)
        }
        let tokenText = assignments.isEmpty
            ? typeName
            : typeName + ":" + assignments.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        var layer = Layer(type: type, token: tokenText)
        var seen: Set<String> = []
        for (written, value) in assignments {
            let keyName = LayerSchema.aliases[written] ?? written   // `stride=2` is `s=2`
            guard let key = LayerKey(rawValue: keyName), type.keys.contains(key) else {
                throw LayerError.unknownKey(type: type, key: written)
            }
            guard seen.insert(keyName).inserted else { throw LayerError.duplicateKey(written) }
            try key.spec.assign(value, to: &layer)
        }
        for (key, example) in type.requiredKeys where !seen.contains(key.rawValue) {
            throw LayerError.missingKey(type: type, key: key, example: example)
        }
        try layer.checkTypeRules()
        return layer
    }

    /// Rules that need only this token (rules that need the dimension count live in `LayerStack`).
    private func checkTypeRules() throws {
        switch type {
        case .tconv where padding == .full:
            throw LayerError.unsupportedValue(type: type, key: .p, value: "full",
                                              reason: "; give a number, before:after, valid, or same (output in·s, as Keras)")
        case .se where hidden != nil && (reduction != nil || divisor != nil):
            throw LayerError.conflict("se:hidden=\(hidden!) gives the hidden width itself; drop r and div (they derive it from C)")
        case .maxpool, .avgpool:
            if padding == .full {
                throw LayerError.unsupportedValue(type: type, key: .p, value: "full",
                                                  reason: ": its first and last windows would lie entirely in padding")
            }
        default: break
        }
    }

    /// `1`, `true`, `yes`, `on` or `0`, `false`, `no`, `off`.
    static func boolean(_ value: String, subject: Subject) throws -> Bool {
        switch value {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw LayerError.malformedValue(subject, value: value, expected: "0 or 1")
        }
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and line ends.
    public func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard let start = firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = lastIndex(where: { !isSpace($0) })!
        return String(self[start...end])
    }
}

/// Suggests the nearest of a list of names for a misspelt one ("did you mean --stride?").
public enum NameSuggestion {
    /// The closest name by edit distance, if it is close enough to be a likely typo.
    public static func nearest(to name: String, among candidates: [String]) -> String? {
        // The distance is at least the difference in length, and a suggestion at most a third
        // of the candidate's length away: others are not scored (a megabyte-long word was
        // scored against every name, in seconds and gigabytes).
        let length = name.count
        let scored = candidates.filter { abs($0.count - length) <= max(1, $0.count / 3) }.map { ($0, distance(name, $0)) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        let limit = max(1, min(name.count, best.0.count) / 3)
        return best.1 <= limit ? best.0 : nil
    }

    /// Edit distance over characters, a swap of two neighbours counting as one edit
    /// (optimal string alignment: `cnov` is one edit from `conv`).
    static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var table = Array(repeating: Array(repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in 0...x.count { table[i][0] = i }
        for j in 0...y.count { table[0][j] = j }
        for i in 1...x.count {
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                var best = Swift.min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] {
                    best = Swift.min(best, table[i - 2][j - 2] + 1)
                }
                table[i][j] = best
            }
        }
        return table[x.count][y.count]
    }
}

/// The activation that makes SE's channel gates.
public enum SEGate: String, CaseIterable, Sendable {
    case sigmoid, hsigmoid
}
