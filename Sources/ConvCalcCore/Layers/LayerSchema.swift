/// A key of a layer token (`conv:k=3,s=2`). Everything about a key — its option names, value,
/// meaning, default, the layer types that take it — is its row in `LayerSchema.rows`.
public enum LayerKey: String, CaseIterable, Sendable {
    case k, s, p, d, op, g, c, m, r, v, bias, ceil
    case n, out, hidden, div, gate, tied
    /// The input's spatial dimensions, for the `input:` pseudo-layer only (a 1-D or 3-D file).
    case dims
    /// Input size, for the `input:` pseudo-layer only.
    case `in`

    /// This key's row of the schema.
    public var spec: LayerKeySpec { LayerSchema.row[self]! }
}

/// The kind of value a key takes; it decides the parser, the help's value name and how the
/// parsed value is stored in a `Layer`.
public enum KeyValue: Sendable {
    /// `N` or `HxW[xD]`, every value at least `minimum`.
    case size(minimum: Int, store: @Sendable (inout Layer, DimSize) -> Void)
    /// Padding: `N`, `HxW`, `before:after` per dimension, `same`, `valid`, `full`.
    case padding(store: @Sendable (inout Layer, Padding) -> Void)
    /// A whole number in `range`; `expected` says so in messages, `beyond` why larger values fail.
    case integer(ClosedRange<Int>, expected: String, beyond: String? = nil, store: @Sendable (inout Layer, Int) -> Void)
    /// `0`/`1` in a token (also `true`, `yes`, `on`, …); a flag as an option.
    case boolean(store: @Sendable (inout Layer, Bool) -> Void)
    /// One of a few names.
    case choice([String], store: @Sendable (inout Layer, String) -> Void)

    /// The placeholder in help (`SIZE`); nil for a flag.
    public var valueName: String? {
        switch self {
        case .size: return "SIZE"
        case .padding: return "PAD"
        case .integer: return "N"
        case .boolean: return nil
        case .choice: return "NAME"
        }
    }
}

/// One row of the layer-key table: the single owner of everything known about a key.
public struct LayerKeySpec: Sendable {
    public let key: LayerKey
    /// The single-layer options that set this key, preferred first (`--k`, `--kernel`);
    /// empty for keys set otherwise (`bias` by the stack's `--bias`/`--no-bias`, `in` by `--in`).
    public let optionNames: [String]
    /// How the key is set for a whole stack, where it is (`--bias` / `--no-bias`).
    public let stackOptions: [String]
    public let value: KeyValue
    /// What the key means (the KEYS section, the README and man page tables).
    public let meaning: String
    /// The option's help where it says more than `meaning`.
    public let optionHelp: String?
    /// The default, as documented; nil when there is none (required, or absent means off).
    public let defaultText: String?
    /// Every layer type that takes the key, in `LayerType` order.
    public let types: [LayerType]
    /// The types that need the key, each with an example token.
    public let required: [LayerType: String]

    init(_ key: LayerKey, options: [String], stack: [String] = [], _ value: KeyValue, meaning: String, optionHelp: String? = nil,
         default defaultText: String? = nil, types: [LayerType], required: [LayerType: String] = [:]) {
        self.key = key
        self.optionNames = options
        self.stackOptions = stack
        self.value = value
        self.meaning = meaning
        self.optionHelp = optionHelp
        self.defaultText = defaultText
        self.types = types
        self.required = required
    }

    /// Parses `text` as this key's value and stores it in `layer`.
    /// - Throws: `LayerError` about this key.
    public func assign(_ text: String, to layer: inout Layer) throws {
        switch value {
        case let .size(minimum, store): store(&layer, try DimSize.parse(text, subject: .key(key), minimum: minimum))
        case let .padding(store): store(&layer, try Padding.parse(text, subject: .key(key)))
        case let .integer(range, expected, beyond, store):
            let value = try parseInteger(text, subject: .key(key), range: range.lowerBound...Int.max, expected: expected)
            guard value <= range.upperBound else {
                throw LayerError.outOfRange(.key(key), value: text, requirement: beyond.map { .rule($0) } ?? .within(range))
            }
            store(&layer, value)
        case let .boolean(store): store(&layer, try Layer.boolean(text, subject: .key(key)))
        case let .choice(names, store):
            guard names.contains(text) else {
                throw LayerError.malformedValue(.key(key), value: text, expected: names.joined(separator: " or "))
            }
            store(&layer, text)
        }
    }
}

/// The table of layer keys (SPEC §2). Adding a key is one row here plus its computation.
public enum LayerSchema {
    /// The padding grammar, for help, messages and the docs.
    public static let paddingForms = "N, " + paddingShapes
    /// The padding forms besides a single number.
    public static let paddingShapes = "HxW, before:after per dimension (0:1x1:1), same, valid or full"
    /// SE's reduction ratio when `r` is not given (SENet).
    public static let defaultSEReduction = 16

    static let convolutions: [LayerType] = [.conv, .tconv, .dwconv, .sepconv, .asym, .deform]
    static func examples(_ types: [LayerType], _ tail: String) -> [LayerType: String] {
        Dictionary(uniqueKeysWithValues: types.map { ($0, "\($0.rawValue):\(tail)") })
    }

    /// PyTorch's spellings (and a few common ones) accepted beside convcalc's own, options
    /// and token keys alike: the alias → the name it stands for.
    public static let aliases: [String: String] = [
        "--kernel-size": "--k", "--kernel_size": "--k", "--pad": "--p", "--dilate": "--d",
        "--output_padding": "--op", "--out-channels": "--cout", "--out_channels": "--cout",
        "--in-channels": "--cin", "--in_channels": "--cin", "--input": "--in",
        "--padding-mode": "--pad-mode", "--padding_mode": "--pad-mode", "--ceil-mode": "--ceil", "--ceil_mode": "--ceil",
        "kernel_size": "k", "kernel": "k", "stride": "s", "padding": "p", "dilation": "d", "output_padding": "op",
        "groups": "g", "cout": "c", "out_channels": "c", "reduction": "r", "ceil_mode": "ceil",
        "num_parameters": "n", "output_size": "out", "num_groups": "g", "squeeze_channels": "hidden", "divisor": "div",
        "--num_parameters": "--n", "--output_size": "--output-size",
    ]

    public static let rows: [LayerKeySpec] = [
        LayerKeySpec(.k, options: ["--k", "--kernel"], .size(minimum: 1) { $0.kernel = $1 },
                     meaning: "kernel size", optionHelp: "kernel size, e.g. 3 or 1x7",
                     types: convolutions + [.maxpool, .avgpool],
                     required: examples(convolutions, "k=3").merging(examples([.maxpool, .avgpool], "k=2")) { a, _ in a }),
        LayerKeySpec(.s, options: ["--s", "--stride"], .size(minimum: 1) { $0.stride = $1 },
                     meaning: "stride (pools: k; upsample: scale factor)", optionHelp: "stride; for upsample the scale factor",
                     default: "1; pools: k", types: convolutions + [.maxpool, .avgpool, .upsample],
                     required: [.upsample: "upsample:s=2"]),
        LayerKeySpec(.p, options: ["--p", "--padding"], .padding { $0.padding = $1 },
                     meaning: "padding: " + paddingForms, default: "0", types: convolutions + [.maxpool, .avgpool]),
        LayerKeySpec(.d, options: ["--d", "--dilation"], .size(minimum: 1) { $0.dilation = $1 },
                     meaning: "dilation", default: "1", types: convolutions + [.maxpool]),
        LayerKeySpec(.op, options: ["--op", "--output-padding"], .size(minimum: 0) { $0.outputPadding = $1 },
                     meaning: "output padding (tconv only)", optionHelp: "output padding (tconv only), below max(s, d)",
                     default: "0", types: [.tconv]),
        LayerKeySpec(.g, options: ["--g", "--groups"], .integer(1...Int.max, expected: "a whole number ≥ 1") { $0.groups = $1 },
                     meaning: "groups", optionHelp: "groups (shuffle: the channel groups)", default: "1",
                     types: [.conv, .tconv, .deform, .shuffle, .groupnorm], required: [.shuffle: "shuffle:g=4", .groupnorm: "groupnorm:g=32"]),
        LayerKeySpec(.c, options: ["--cout"], .integer(1...Int.max, expected: "a whole number ≥ 1") { $0.outChannels = $1 },
                     meaning: "output channels", default: "input channels",
                     types: [.input, .conv, .tconv, .sepconv, .asym, .deform, .fc], required: [.fc: "fc:c=1000"]),
        LayerKeySpec(.m, options: ["--multiplier"], .integer(1...Int.max, expected: "a whole number ≥ 1") { $0.multiplier = $1 },
                     meaning: "depth multiplier (dwconv, sepconv)", default: "1", types: [.dwconv, .sepconv]),
        LayerKeySpec(.r, options: ["--r", "--reduction"], .integer(1...Int.max, expected: "a whole number ≥ 1") { $0.reduction = $1 },
                     meaning: "SE reduction ratio; pixel-(un)shuffle factor", default: "\(defaultSEReduction) for se",
                     types: [.pixelshuffle, .pixelunshuffle, .se], required: [.pixelshuffle: "pixelshuffle:r=2", .pixelunshuffle: "pixelunshuffle:r=2"]),
        LayerKeySpec(.v, options: ["--dcn"], .integer(1...2, expected: "1 or 2", beyond: "deformable convolution versions are 1 and 2") {
                         $0.deformableVersion = $1 },
                     meaning: "deformable convolution version, 1 or 2", default: "1", types: [.deform]),
        LayerKeySpec(.bias, options: [], stack: ["--bias", "--no-bias"], .boolean { $0.bias = $1 },
                     meaning: "learnable bias, 0 or 1", default: "1",
                     types: convolutions + [.se, .fc]),
        LayerKeySpec(.ceil, options: ["--ceil"], .boolean { $0.ceilMode = $1 },
                     meaning: "pooling ceil mode, 0 or 1", optionHelp: "pooling ceil mode (PyTorch ceil_mode=True)",
                     default: "0", types: [.maxpool, .avgpool]),
        LayerKeySpec(.n, options: ["--n", "--num-parameters"], .integer(1...Int.max, expected: "a whole number ≥ 1") { $0.slopes = $1 },
                     meaning: "PReLU slopes: 1 or the channel count; values of a shift or scale tensor", default: "1", types: [.prelu, .shift, .scale]),
        LayerKeySpec(.out, options: ["--output-size"], .size(minimum: 1) { $0.adaptiveOutput = $1 },
                     meaning: "output size of adaptive pooling or crop", optionHelp: "output size of adaptive pooling or crop, e.g. 7 or 7x7",
                     types: [.adaptiveavgpool, .adaptivemaxpool, .crop],
                     required: [.adaptiveavgpool: "adaptiveavgpool:out=7", .adaptivemaxpool: "adaptivemaxpool:out=7", .crop: "crop:out=56"]),
        LayerKeySpec(.hidden, options: ["--hidden"], .integer(1...Int.max, expected: "a whole number ≥ 1") { $0.hidden = $1 },
                     meaning: "SE hidden width, instead of ⌊C/r⌋ (EfficientNet: the block input's C/4)", default: "⌊C/r⌋", types: [.se]),
        LayerKeySpec(.div, options: ["--divisor"], .integer(1...Int.max, expected: "a whole number ≥ 1") { $0.divisor = $1 },
                     meaning: "SE: round ⌊C/r⌋ to a multiple of div as torchvision's _make_divisible (MobileNet v3: 8)", types: [.se]),
        LayerKeySpec(.gate, options: ["--gate"], .choice(SEGate.allCases.map(\.rawValue)) { $0.gate = SEGate(rawValue: $1)! },
                     meaning: "SE gate activation: sigmoid or hsigmoid (MobileNet v3)", default: "sigmoid", types: [.se]),
        LayerKeySpec(.tied, options: ["--tied"], .boolean { $0.tied = $1 },
                     meaning: "weights shared with an earlier layer, 0 or 1: no parameters of its own, MACs as usual", optionHelp: "the layer's weights are another layer's (tied): no parameters of its own, MACs as usual", default: "0",
                     types: convolutions + [.fc]),
        LayerKeySpec(.dims, options: [], stack: ["--dims"], .integer(1...maxSpatialDimensions, expected: "1, 2 or 3") { $0.inputDims = $1 },
                     meaning: "spatial dimensions of the stack, as --dims (a 1-D or 3-D file)", default: "2", types: [.input]),
        LayerKeySpec(.in, options: [], stack: ["--in"], .size(minimum: 1) { $0.inputSize = $1 },
                     meaning: "input spatial size", types: [.input], required: [.input: "input:in=224x224,c=3"]),
    ]

    static let row: [LayerKey: LayerKeySpec] = Dictionary(uniqueKeysWithValues: rows.map { ($0.key, $0) })
}

/// A setting of the whole stack (not of a layer), named in diagnostics.
public enum StackSetting: String, Sendable, Equatable {
    /// The input spatial size (`--in`).
    case inputSize
    /// The input channels (`--cin`).
    case inputChannels
    /// The number of spatial dimensions (`--dims`).
    case dims
}
