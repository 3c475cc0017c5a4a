/// How a layer maps an input size to an output size along one dimension.
public enum SizeRule: Equatable, Sendable {
    /// A sliding window (convolutions, pools): `out = ⌊(in + pb + pa − ke)/s⌋ + 1`.
    case window
    /// Transposed convolution: `out = (in − 1)·s − pb − pa + ke + op`.
    case transposed
    /// Upsampling or pixel shuffle: `out = in·f`.
    case scale
    /// Global pooling or a fully connected layer: `out = 1`.
    case global
    /// Adaptive pooling: `out` as given, whatever the input.
    case fixed
    /// The size passes through.
    case unchanged
}

/// One layer's arithmetic along one dimension, with every number used, for showing the working.
public struct DimensionStep: Equatable, Sendable {
    public var rule: SizeRule
    public var input: Int
    public var output: Int
    public var kernel = 1
    public var dilation = 1
    /// Stride, or the scale factor for `.scale`.
    public var stride = 1
    /// `d·(k − 1) + 1`.
    public var effectiveKernel = 1
    public var pad = PadPair(0, 0)
    public var outputPadding = 0
    public var ceilMode = false
    /// Ceil mode dropped the last window because it would start in the right padding.
    public var ceilDropped = false
}

/// A layer resolved to a dimension count: per-dimension kernel, stride, dilation, padding.
public struct LayerGeometry: Sendable {
    public let type: LayerType
    public let dims: Int
    public internal(set) var kernel: [Int]
    public internal(set) var stride: [Int]
    public internal(set) var dilation: [Int]
    /// Adaptive pooling's output size per dimension (1s for other layers).
    public let fixedOutput: [Int]
    /// How the layer maps positions for the receptive field: `rule`, except that layers
    /// reading global context (`se`, `groupnorm`, `gap`, `fc`, `flatten`) read everything,
    /// and adaptive pooling becomes a window or global once its input is known
    /// (`resolvingForField(input:local:)`).
    public internal(set) var fieldRule: SizeRule
    public internal(set) var outputPadding: [Int]
    /// Explicit pairs (one per dimension) or a named rule.
    public internal(set) var padding: Padding
    public let ceilMode: Bool

    public init(layer: Layer, dims: Int) {
        type = layer.type
        self.dims = dims
        kernel = layer.kernel?.expanded(to: dims) ?? Array(repeating: 1, count: dims)
        switch layer.type {
        case .pixelshuffle: stride = Array(repeating: layer.reduction ?? 1, count: dims)
        case .pixelunshuffle:
            // Space-to-depth: each output position takes an r×r block, a window k = s = r.
            stride = Array(repeating: layer.reduction ?? 1, count: dims)
            kernel = stride
        default: stride = layer.effectiveStride.expanded(to: dims)
        }
        dilation = layer.dilation.expanded(to: dims)
        outputPadding = layer.outputPadding.expanded(to: dims)
        if case let .explicit(pairs) = layer.padding {
            padding = .explicit(pairs.count == 1 ? Array(repeating: pairs[0], count: dims) : pairs)
        } else {
            padding = layer.padding
        }
        ceilMode = layer.ceilMode
        fixedOutput = layer.adaptiveOutput?.expanded(to: dims) ?? Array(repeating: 1, count: dims)
        fieldRule = .unchanged
        fieldRule = layer.type.readsGlobalContext ? .global : rule
    }

    /// A centre crop as the field sees it: output `o` reads input `o + offset`, a window of 1
    /// with the padding `−offset` before, where `offset = round((in − out)/2)`, rounding
    /// half to even as torchvision's `center_crop` (Python's `round`).
    func croppedForField(input: [Int]?) throws -> LayerGeometry {
        guard let input else { throw ShapeError.invalidGeometry("the field of crop depends on where it cuts, so on its input size; give --in") }
        var copy = self
        let pairs = try (0..<dims).map { dim -> PadPair in
            let cut = input[dim] - fixedOutput[dim]
            guard cut >= 0 else { throw ShapeError.invalidGeometry("crop to \(fixedOutput[dim]) needs an input of at least \(fixedOutput[dim]), not \(input[dim])") }
            let half = cut / 2
            let offset = cut % 2 == 0 || half % 2 == 0 ? half : half + 1
            return PadPair(-offset, -(cut - offset))
        }
        copy.padding = .explicit(pairs)
        copy.fieldRule = .window
        return copy
    }

    /// The geometry the receptive field follows, for layer inputs `input` (nil: unknown).
    ///
    /// Adaptive pooling to 1 reads everything; to `out` from an input `in` that `out` divides
    /// it is the window `k = s = in/out` (PyTorch's windows `⌊i·in/out⌋ ..< ⌈(i+1)·in/out⌉`);
    /// otherwise its windows differ in size and the field is refused. With `local`, layers
    /// reading global context count as reading one position: the field of the convolutional
    /// path, what is usually quoted for SE networks.
    public func resolvingForField(input: [Int]?, local: Bool) throws -> LayerGeometry {
        var copy = try resolvingPadding(input: input)
        if local && type.readsGlobalContext { copy.fieldRule = .unchanged }
        if type == .crop { return try copy.croppedForField(input: input) }
        guard type.isAdaptivePool else { return copy }
        if fixedOutput.allSatisfy({ $0 == 1 }) {
            copy.fieldRule = local ? .unchanged : .global
            return copy
        }
        guard let input, zip(input, fixedOutput).allSatisfy({ $0 % $1 == 0 }) else {
            let size = fixedOutput.map(String.init).joined(separator: "x")
            throw ShapeError.invalidGeometry(input == nil
                ? "the field of \(type.rawValue) to \(size) depends on its input size; give --in"
                : "\(type.rawValue) from \(input!.map(String.init).joined(separator: "x")) to \(size) has windows of different sizes; its field is exact only when the output divides the input")
        }
        copy.kernel = zip(input, fixedOutput).map { $0 / $1 }
        copy.stride = copy.kernel
        copy.fieldRule = .window
        return copy
    }

    /// The same layer with `same`, `valid` and `full` turned into explicit padding for the
    /// given input sizes (nil: unknown, see `padPair(_:knownInput:)`).
    public func resolvingPadding(input: [Int]?) throws -> LayerGeometry {
        var copy = self
        copy.padding = .explicit(try (0..<dims).map { try padPair($0, knownInput: input?[$0]) })
        return copy
    }

    /// The rule this layer's type follows.
    public var rule: SizeRule {
        switch type {
        case .tconv: return .transposed
        case .upsample, .pixelshuffle: return .scale
        case .pixelunshuffle: return .window
        case .gap, .fc, .flatten: return .global
        case .adaptiveavgpool, .adaptivemaxpool, .crop: return .fixed
        case _ where type.slidesWindow: return .window
        default: return .unchanged
        }
    }

    /// `ke = d·(k − 1) + 1` along `dim`.
    ///
    /// - Throws: `ArithmeticError.overflow` when it does not fit in 64 bits.
    public func effectiveKernel(_ dim: Int) throws -> Int {
        try Checked.add(Checked.mul(dilation[dim], kernel[dim] - 1), 1)
    }

    /// Checks the rules that do not depend on the input size.
    ///
    /// - tconv: `op < max(s, d)` (PyTorch: "output padding must be smaller than either stride or dilation").
    /// - pools: explicit padding at most half the kernel on each side (PyTorch
    ///   `pool2d_shape_check`: "pad should be at most half of effective kernel size").
    public func validate() throws {
        for dim in 0..<dims {
            _ = try effectiveKernel(dim)
            if type == .tconv {
                let limit = max(stride[dim], dilation[dim])
                if outputPadding[dim] >= limit {
                    throw LayerError.outOfRange(.key(.op), value: "\(outputPadding[dim])",
                                                requirement: .belowStrideOrDilation(limit: limit))
                }
                if padding == .same && outputPadding[dim] != 0 {
                    throw LayerError.overrides(type: type, key: .p, value: "same", other: .op, effect: "sets the output to in·s itself")
                }
            }
            if type.isPool, case let .explicit(pairs) = padding {
                let half = kernel[dim] / 2
                let widest = max(pairs[dim].before, pairs[dim].after)
                if widest > half {
                    throw LayerError.outOfRange(.key(.p), value: "\(pairs[dim])", requirement: .rule(
                        "\(type.rawValue) padding may be at most half the kernel, ⌊\(kernel[dim])/2⌋ = \(half) (PyTorch refuses more)"))
                }
            }
        }
    }

    /// The padding used along `dim` for an input of size `input`.
    ///
    /// `same` (TensorFlow, PyTorch `padding='same'`): `out = ⌈in/s⌉`,
    /// total `max((out − 1)·s + ke − in, 0)`, `pb = ⌊total/2⌋`, the extra one after.
    /// For tconv, `same` is Keras `Conv2DTranspose` 'same': total `max(ke − s, 0)`.
    /// `full`: `ke − 1` on each side. `valid`: none.
    public func padPair(_ dim: Int, input: Int) throws -> PadPair {
        try padPair(dim, knownInput: input)
    }

    /// As `padPair(_:input:)`; with the input unknown, `same` assumes the stride divides it
    /// (total padding `max(ke − s, 0)`).
    public func padPair(_ dim: Int, knownInput input: Int?) throws -> PadPair {
        let ke = try effectiveKernel(dim)
        switch padding {
        case let .explicit(pairs): return pairs[dim]
        case .valid: return PadPair(0, 0)
        case .full: return PadPair(ke - 1, ke - 1)
        case .same:
            let s = stride[dim]
            let total: Int
            if type == .tconv {
                total = max(ke - s, 0)
            } else if let input {
                let out = Checked.ceilDiv(input, s)
                total = max(try Checked.sub(Checked.add(Checked.mul(out - 1, s), ke), input), 0)
            } else {
                total = max(ke - s, 0)
            }
            return PadPair(total / 2, total - total / 2)
        }
    }

    /// Adaptive pooling's or a crop's output along `dim`: its size as given; a crop needs an
    /// input at least that large.
    func fixedStep(_ dim: Int, input: Int, label: String) throws -> Int {
        if type == .crop && input < fixedOutput[dim] {
            throw ShapeError.invalidGeometry("\(label.isEmpty ? "" : label + ": ")crop to \(fixedOutput[dim]) needs an input of at least \(fixedOutput[dim]), not \(input)")
        }
        return fixedOutput[dim]
    }

    /// The output size along `dim` for an input of size `input`, with the working.
    ///
    /// - Throws: `ShapeError.outputTooSmall` when the output would be below 1,
    ///   `ArithmeticError.overflow` when a size does not fit in 64 bits.
    public func step(_ dim: Int, input: Int) throws -> DimensionStep {
        var step = DimensionStep(rule: rule, input: input, output: input)
        let label = DimensionNames.label(dim, of: dims)
        switch rule {
        case .unchanged:
            return step
        case .global, .fixed:
            step.output = rule == .global ? 1 : try fixedStep(dim, input: input, label: label)
            return step
        case .scale:
            step.stride = stride[dim]
            step.output = try Checked.mul(input, stride[dim])
            return step
        case .window, .transposed:
            break
        }
        let s = stride[dim], ke = try effectiveKernel(dim)
        let pad = try padPair(dim, input: input)
        step.kernel = kernel[dim]
        step.dilation = dilation[dim]
        step.stride = s
        step.effectiveKernel = ke
        step.pad = pad
        let padTotal = try Checked.add(pad.before, pad.after)
        if rule == .transposed {
            // out = (in − 1)·s − pb − pa + ke + op   (PyTorch ConvTranspose docs)
            let op = padding == .same ? max(s - ke, 0) : outputPadding[dim]
            step.outputPadding = op
            let grown = try Checked.add(Checked.add(Checked.mul(input - 1, s), ke), op)
            step.output = grown - padTotal
            if step.output < 1 {
                throw ShapeError.outputTooSmall(dim: label, output: step.output,
                    detail: "padding \(pad.before)+\(pad.after) = \(padTotal) removes all of (in − 1)·s + ke + op = \(grown); use less padding")
            }
            return step
        }
        try checkFrameworkLimits(dim, input: input, label: label)
        // out = ⌊(in + pb + pa − ke)/s⌋ + 1   (PyTorch Conv/Pool docs)
        let span = try Checked.sub(Checked.add(input, padTotal), ke)
        step.ceilMode = ceilMode
        if ceilMode {
            // ATen pooling_output_shape_pad_lr: ceil, then drop the last window if it would
            // start in the right padding: (out − 1)·s ≥ in + pb.
            step.output = Checked.ceilDiv(span, s) + 1
            if step.output > 1, try Checked.mul(step.output - 1, s) >= Checked.add(input, pad.before) {
                step.output -= 1
                step.ceilDropped = true
            }
        } else {
            step.output = Checked.floorDiv(span, s) + 1
        }
        if step.output < 1 {
            throw ShapeError.outputTooSmall(dim: label, output: step.output,
                detail: "the input \(input) padded by \(pad.before)+\(pad.after) is \(input + padTotal), smaller than the effective kernel \(ke); pad by at least \(ke - input - padTotal) more or use a smaller kernel")
        }
        return step
    }
}

extension LayerGeometry {
    /// Inputs PyTorch refuses although the formula would give a size.
    func checkFrameworkLimits(_ dim: Int, input: Int, label: String) throws {
        if type == .pixelunshuffle && input % stride[dim] != 0 {
            // PyTorch pixel_unshuffle and ONNX SpaceToDepth need a size the factor divides.
            throw ShapeError.invalidGeometry("\(label.isEmpty ? "" : label + ": ")pixelunshuffle by r=\(stride[dim]) needs an input size that r divides, not \(input) (PyTorch: \"pixel_unshuffle expects height to be divisible by downscale_factor\")")
        }
        if type == .avgpool && dims == 3 && input < kernel[dim] {
            // ATen avg_pool3d checks the unpadded input against the kernel (avg_pool2d does not).
            throw ShapeError.invalidGeometry("\(label): PyTorch avg_pool3d refuses an input of \(input) smaller than the kernel \(kernel[dim]), even with padding")
        }
    }
}

/// A remark about a valid but surprising geometry (printed on stderr, exit 0).
///
/// `dim` is the dimension's label (`H`), or empty when the remark holds for every dimension.
public enum ShapeWarning: Equatable, Sendable {
    /// The last `count` of `input` positions are never read: the windows stop short.
    case unreadTail(dim: String, nouns: String, count: Int, input: Int, stride: Int)
    /// The stride is larger than the effective kernel: positions between windows are skipped.
    case skippedBetweenWindows(dim: String, nouns: String, skipped: Int, stride: Int, effectiveKernel: Int)
    /// `count` windows read only padding (their output is the bias alone, or a pool of padding).
    case windowsInPadding(dim: String, count: Int, total: Int)

    public var message: String {
        switch self {
        case let .unreadTail(dim, nouns, count, input, stride):
            return ShapeWarning.prefix(dim) + "the last \(count) of \(input) \(nouns) \(count == 1 ? "is" : "are") never read (stride \(stride) does not fit the padded input evenly)"
        case let .skippedBetweenWindows(dim, nouns, skipped, stride, ke):
            return ShapeWarning.prefix(dim) + "stride \(stride) is larger than the effective kernel \(ke), so \(skipped) of every \(stride) \(nouns) \(skipped == 1 ? "is" : "are") never read"
        case let .windowsInPadding(dim, count, total):
            return ShapeWarning.prefix(dim) + "\(count) of \(total) windows lie entirely in padding"
        }
    }

    static func prefix(_ dim: String) -> String { dim.isEmpty ? "" : dim + ": " }

    /// The warnings for one step (window layers only); `dim` nil means every dimension alike.
    public static func check(_ step: DimensionStep, dim: Int?, of dims: Int) -> [ShapeWarning] {
        guard step.rule == .window else { return [] }
        let label = dim.map { DimensionNames.label($0, of: dims) } ?? ""
        let nouns = DimensionNames.plural(dim, of: dims)
        let (s, k, d, ke, n) = (step.stride, step.kernel, step.dilation, step.effectiveKernel, step.input)
        let pb = step.pad.before, out = step.output
        var warnings: [ShapeWarning] = []
        // Window j reads input positions j·s − pb + t·d for t in 0..<k.
        let (lastStart, o1) = (out - 1).multipliedReportingOverflow(by: s)
        if !o1 {
            let lastRead = lastStart - pb + (ke - 1)
            let unread = n - 1 - lastRead
            // A tail no longer than the gap between windows is part of the skipping reported below.
            if unread > 0 && unread > max(0, s - ke) {
                warnings.append(.unreadTail(dim: label, nouns: nouns, count: unread, input: n, stride: s))
            }
        }
        if s > ke && out > 1 {
            warnings.append(.skippedBetweenWindows(dim: label, nouns: nouns, skipped: s - ke, stride: s, effectiveKernel: ke))
        }
        // Windows wholly before the input: j·s − pb + (k − 1)·d < 0; wholly after: j·s − pb ≥ n.
        var empty = 0
        let reach = (k - 1) * d   // < ke, which fits
        if pb > reach { empty += min(out, Checked.ceilDiv(pb - reach, s)) }
        let firstAfter = Checked.ceilDiv(n + pb, s)   // n + pb fits: n + pb + pa did
        if out > firstAfter { empty += out - firstAfter }
        if n < d && out <= 1_000_000 && !o1 {
            // Windows that straddle the whole input with no tap inside it.
            for j in 0..<out {
                let start = j * s - pb
                if start + reach < 0 || start >= n { continue }
                let firstTap = start >= 0 ? 0 : Checked.ceilDiv(-start, d)
                if start + firstTap * d >= n { empty += 1 }
            }
        }
        if empty > 0 { warnings.append(.windowsInPadding(dim: label, count: min(empty, out), total: out)) }
        return warnings
    }
}

/// Names of spatial dimensions for messages: L (1-D); H, W (2-D); D, H, W (3-D).
public enum DimensionNames {
    public static func label(_ dim: Int, of dims: Int) -> String {
        switch dims {
        // Literals, no array a call: `step` asks for a label every time (`shape --solve in`
        // follows 65,536 inputs through each layer).
        case 1: return "L"
        case 2: return dim == 0 ? "H" : "W"
        default: return dim == 0 ? "D" : dim == 1 ? "H" : "W"
        }
    }

    /// What positions along a dimension are called (`nil`: along every dimension alike).
    public static func plural(_ dim: Int?, of dims: Int) -> String {
        switch (dims, dim) {
        case (1, _): return "positions"
        case (2, nil): return "rows and columns"
        case (2, let d?): return ["rows", "columns"][d]
        case (_, nil): return "slices, rows and columns"
        case (_, let d?): return ["slices", "rows", "columns"][d]
        }
    }
}

/// The sizes after every layer of a stack, with the working and the warnings.
public struct ShapeTrace: Sendable {
    public struct LayerTrace: Sendable {
        public var index: Int
        public var layer: Layer
        public var steps: [DimensionStep]
        public var warnings: [ShapeWarning]
        public var input: [Int] { steps.map(\.input) }
        public var output: [Int] { steps.map(\.output) }
    }

    /// A merge of branches: what each branch gives and the merged size.
    public struct MergeTrace: Sendable {
        public var kind: MergeKind
        public var input: [Int]
        public var branchOutputs: [[Int]]
        public var output: [Int]
    }

    /// Every layer's and merge's trace, in the stack's tree shape.
    public var tree: [StackResult<LayerTrace, MergeTrace>]
    /// Every layer, in the order written (inside branches too).
    public var layers: [LayerTrace]
    /// Every merge, in the order its `add`/`concat` is written.
    public var merges: [MergeTrace]
    public var output: [Int]

    /// Applies the stack to `input` (one size per dimension), through every branch.
    ///
    /// - Throws: `LayerContextError` naming the layer whose output would be below 1 or
    ///   overflow; `ShapeError.branchMismatch` when the branches of a merge disagree.
    public init(stack: LayerStack, input: [Int]) throws {
        var lastLayer = 0   // the layer a merge ends after, for messages
        let folded = try StackTree.fold(stack.nodes, from: input, layer: { index, current in
            let trace = try ShapeTrace.layer(stack, index, current)
            lastLayer = trace.index
            return (trace, trace.output)
        }, merge: { kind, current, outputs in
            guard let merged = kind.mergedSize(outputs) else {
                let b = outputs.firstIndex { $0 != outputs[0] && !(kind == .mul && $0.allSatisfy { $0 == 1 }) } ?? 1
                throw ShapeError.branchMismatch(kind: kind.name, first: outputs[0], other: outputs[b], branch: b + 1, after: lastLayer)
            }
            return (MergeTrace(kind: kind, input: current, branchOutputs: outputs, output: merged), merged)
        })
        tree = folded.results
        output = folded.output
        layers = StackTree.layerValues(tree)
        merges = StackTree.mergeValues(tree)
    }

    static func layer(_ stack: LayerStack, _ index: Int, _ current: [Int]) throws -> LayerTrace {
        let geometry = stack.geometry(of: index)
        do {
            let steps = try (0..<stack.dims).map { dim -> DimensionStep in
                do {
                    return try geometry.step(dim, input: current[dim])
                } catch ShapeError.outputTooSmall(_, let output, let detail) where stack.isUniform && Set(current).count == 1 {
                    throw ShapeError.outputTooSmall(dim: "", output: output, detail: detail)
                }
            }
            // Every dimension alike: one warning for all (`rows and columns`), not one per dimension.
            let alike = steps.allSatisfy { $0 == steps[0] }
            let warnings = alike
                ? ShapeWarning.check(steps[0], dim: nil, of: stack.dims)
                : steps.enumerated().flatMap { ShapeWarning.check($0.element, dim: $0.offset, of: stack.dims) }
            return LayerTrace(index: index + 1, layer: stack.layers[index], steps: steps, warnings: warnings)
        } catch let error as UserFacingError {
            throw LayerContextError(index: index + 1, token: stack.layers[index].token, origin: stack.layers[index].context, underlying: error)
        }
    }
}
