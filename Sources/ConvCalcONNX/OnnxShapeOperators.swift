import ConvCalcCore

/// Operators that pool globally, flatten, reshape, join, split, resize, pad and crop, and the
/// patterns exporters write for layers ONNX has no operator for (SiLU as Sigmoid and Mul, a
/// channel shuffle as Reshape, Transpose, Reshape).
extension OnnxConverter {
    /// ReduceMean / ReduceMax over every spatial axis → `gap` / `adaptivemaxpool:out=1`
    /// (axes an attribute before opset 18, the second input from 18).
    mutating func reduce(_ node: OnnxNode) throws {
        let input = shape(node.inputs[0])
        let rank = input.rank
        let given = try ints(node, "axes") ?? integers(node, input: 1, role: "axes")
        let axes = Set(try (given ?? Array(0..<rank)).map { try axis($0, rank: rank, node: node) })
        if !input.flat, axes == [1], int(node, "keepdims", default: 1) == 1 {
            return try emit([node.opType == "ReduceMean" ? "channelmean" : "channelmax"], input: node.inputs[0], node: node, output: node.outputs[0])
        }
        guard !input.flat, axes == Set(2..<rank) else {
            throw OnnxError.node(node.label, problem: "\(node.opType) over axes \(given.map { "\($0)" } ?? "all"): convcalc follows a reduction over every spatial axis (global pooling) only")
        }
        try emit([node.opType == "ReduceMean" ? "gap" : "adaptivemaxpool:out=1"], input: node.inputs[0], node: node, output: node.outputs[0])
        // keepdims 0: N×C, what follows reads it as flattened.
        if int(node, "keepdims", default: 1) == 0 { relabel(node.outputs[0], flat: true) }
    }

    /// The value `name` marked flattened (N×C) or not (N×C×1×…): the same data, another rank.
    mutating func relabel(_ name: String, flat: Bool, squeezed: Int = 0, channelsLast: Bool = false) {
        guard var value = values[name] else { return }
        value.shape.flat = flat
        value.shape.squeezed = squeezed
        value.shape.channelsLast = channelsLast
        units[value.unit].outputShapes[value.output] = value.shape
        record(name, unit: value.unit, output: value.output, shape: value.shape)
    }

    /// Squeeze of every spatial axis of a 1×1 value (N×C×1×1 → N×C, before a Linear), and
    /// Unsqueeze back (N×C → N×C×1×1): the same values, so nothing is counted.
    mutating func squeeze(_ node: OnnxNode) throws {
        let input = shape(node.inputs[0])
        let rank = input.rank
        let given = try ints(node, "axes") ?? integers(node, input: 1, role: "axes")
        let squeezing = node.opType == "Squeeze"
        let axes = try given.map { list in Set(try list.map { try axis($0, rank: squeezing ? rank : rank + list.count, node: node) }) }
        // Only trailing spatial axes of size 1 come and go: the same values, another rank.
        if input.spatial.allSatisfy({ $0 == 1 }) {
            // Without axes Squeeze drops every 1 (the batch of 1 too): the batch is not followed.
            let removed = squeezing ? (axes ?? Set(2..<rank)) : []
            let added = squeezing ? [] : (axes ?? [])
            let newRank = rank - removed.count + added.count
            let trailing = squeezing ? removed == Set((rank - removed.count)..<rank) : added == Set(rank..<newRank)
            if trailing, removed.allSatisfy({ $0 >= 2 }), (2...(2 + dims)).contains(newRank) {
                alias(node.outputs[0], to: node.inputs[0])
                return relabel(node.outputs[0], flat: newRank == 2, squeezed: newRank == 2 ? 0 : 2 + dims - newRank)
            }
        }
        throw OnnxError.node(node.label, problem: "\(node.opType) with axes \(given.map { "\($0)" } ?? "all") of a \(input.onnxDims(batch: batch)) value: convcalc follows it only on the trailing 1s of N×C×1×1")
    }

    /// Flatten with axis 1 → `flatten` (N×C×H×W → N×(C·H·W)).
    mutating func flatten(_ node: OnnxNode) throws {
        let input = shape(node.inputs[0])
        let rank = input.rank
        guard try axis(int(node, "axis", default: 1), rank: rank, node: node) == 1 else {
            throw OnnxError.node(node.label, problem: "Flatten with axis \(int(node, "axis", default: 1)): convcalc flattens everything but the batch (axis 1)")
        }
        if input.flat { return alias(node.outputs[0], to: node.inputs[0]) }
        try emit(["flatten"], input: node.inputs[0], node: node, output: node.outputs[0])
    }

    /// Reshape: to N×F (`flatten`), to the same shape (nothing), or the first step of a
    /// channel shuffle: Reshape to N×g×(C/g)×H×W, Transpose (0, 2, 1, 3, 4), Reshape back.
    mutating func reshape(_ index: Int, _ node: OnnxNode) throws {
        let input = shape(node.inputs[0])
        guard let target = try integers(node, input: 1, role: "shape") else {
            throw OnnxError.node(node.label, problem: "it has no shape input")
        }
        let elements = try Checked.mul(input.channels, Checked.product(input.spatial))
        // 0 copies the input's dimension (unless allowzero), -1 is inferred.
        let current = input.onnxDims(batch: batch)
        let resolved = target.enumerated().map { i, v in v == 0 && int(node, "allowzero", default: 0) == 0 && i < current.count ? current[i] : v }
        if resolved.count == 2, resolved[1] == elements || (resolved[1] == -1 && resolved[0] != -1) {
            if input.flat { return alias(node.outputs[0], to: node.inputs[0]) }
            return try emit(["flatten"], input: node.inputs[0], node: node, output: node.outputs[0])
        }
        if !input.flat, Array(resolved.dropFirst()) == [input.channels] + input.spatial {
            return alias(node.outputs[0], to: node.inputs[0])
        }
        if let groups = try shuffleGroups(node, resolved: resolved, input: input) {
            return try emit(["shuffle:g=\(groups.count)"], input: node.inputs[0], node: node, output: groups.output)
        }
        if let pixel = try pixelShuffle(node, resolved: resolved, input: input) {
            return try emit([pixel.token], input: node.inputs[0], node: node, output: pixel.output)
        }
        throw OnnxError.node(node.label, problem: "Reshape to \(target) is not a flatten (N×F), a channel shuffle or a pixel (un)shuffle, the reshapes convcalc follows")
    }

    /// The groups and final output of a channel shuffle starting at this Reshape, marking its
    /// Transpose and second Reshape handled; nil when the nodes are not that pattern.
    private mutating func shuffleGroups(_ node: OnnxNode, resolved: [Int], input: TensorShape) throws -> (count: Int, output: String)? {
        guard !input.flat, resolved.count == dims + 3, resolved[1] >= 1, input.channels % resolved[1] == 0,
              resolved[2] == input.channels / resolved[1] || resolved[2] == -1,
              Array(resolved.suffix(dims)) == input.spatial,
              let transposeIndex = soleConsumer(node.outputs[0]) else { return nil }
        let transpose = model.graph.nodes[transposeIndex]
        let perm = [0, 2, 1] + (3..<(dims + 3)).map { $0 }
        guard transpose.opType == "Transpose", ints(transpose, "perm") == perm,
              let backIndex = soleConsumer(transpose.outputs.first ?? "") else { return nil }
        let back = model.graph.nodes[backIndex]
        resolve(back.inputs.count > 1 ? back.inputs[1] : "")
        guard back.opType == "Reshape", let shape = try integers(back, input: 1, role: "shape"), shape.count == dims + 2,
              shape[1] == input.channels || shape[1] == -1 else { return nil }
        handled.formUnion([transposeIndex, backIndex])
        return (resolved[1], back.outputs.first ?? "")
    }

    /// PyTorch's pixel_unshuffle and pixel_shuffle as the exporter writes them in 2-D:
    /// Reshape to N×C×H/r×r×W/r×r, Transpose (0, 1, 3, 5, 2, 4), Reshape to N×C·r²×H/r×W/r →
    /// `pixelunshuffle:r=R`; Reshape to N×C/r²×r×r×H×W, Transpose (0, 1, 4, 2, 5, 3), Reshape
    /// to N×C/r²×H·r×W·r → `pixelshuffle:r=R`. The token and the final output; nil otherwise.
    private mutating func pixelShuffle(_ node: OnnxNode, resolved: [Int], input: TensorShape) throws -> (token: String, output: String)? {
        guard dims == 2, !input.flat, resolved.count == 6, let transposeIndex = soleConsumer(node.outputs[0]) else { return nil }
        let (c, h, w) = (input.channels, input.spatial[0], input.spatial[1])
        // Products of sizes from the file, nil beyond 64 bits (never equal to a size then).
        let product = { (values: [Int]) -> Int? in try? Checked.product(values) }
        let unshuffle = resolved[1] == c && resolved[3] >= 1 && resolved[3] == resolved[5]
            && product([resolved[2], resolved[3]]) == h && product([resolved[4], resolved[5]]) == w
        let shuffle = resolved[2] >= 1 && resolved[2] == resolved[3] && product(Array(resolved[1...3])) == c && resolved[4] == h && resolved[5] == w
        guard unshuffle || shuffle, resolved[2] >= 1, resolved[3] >= 1 else { return nil }
        let r = unshuffle ? resolved[3] : resolved[2]
        let transpose = model.graph.nodes[transposeIndex]
        guard transpose.opType == "Transpose", ints(transpose, "perm") == (unshuffle ? [0, 1, 3, 5, 2, 4] : [0, 1, 4, 2, 5, 3]),
              let backIndex = soleConsumer(transpose.outputs.first ?? "") else { return nil }
        let back = model.graph.nodes[backIndex]
        resolve(back.inputs.count > 1 ? back.inputs[1] : "")
        let expected: [Int?] = unshuffle ? [product([c, r, r]), h / r, w / r] : [resolved[1], product([h, r]), product([w, r])]
        guard back.opType == "Reshape", let shape = try integers(back, input: 1, role: "shape"), shape.count == 4,
              shape.dropFirst().map(Optional.some) == expected else { return nil }
        handled.formUnion([transposeIndex, backIndex])
        return ((unshuffle ? "pixelunshuffle" : "pixelshuffle") + ":r=\(r)", back.outputs.first ?? "")
    }

    /// Transpose outside a channel shuffle: only the identity permutation is followed.
    mutating func transpose(_ node: OnnxNode) throws {
        let input = shape(node.inputs[0])
        let rank = input.rank
        // Channels last (0, 2, …, 1) and back (0, rank−1, 1, …): the layout ConvNeXt's blocks use.
        let toLast = [0] + Array(2..<max(rank, 2)) + [1], toFirst = [0, rank - 1] + Array(1..<max(rank - 1, 1))
        if !input.flat, input.squeezed == 0, rank > 2, let perm = ints(node, "perm"), perm == (input.channelsLast ? toFirst : toLast) {
            alias(node.outputs[0], to: node.inputs[0])
            return relabel(node.outputs[0], flat: false, channelsLast: !input.channelsLast)
        }
        guard let perm = ints(node, "perm"), perm != Array(0..<rank) else {
            if ints(node, "perm") == nil && rank > 1 {
                throw OnnxError.node(node.label, problem: "Transpose reversing every axis moves the batch and channels; convcalc follows a Transpose only inside a channel shuffle (Reshape, Transpose, Reshape)")
            }
            return alias(node.outputs[0], to: node.inputs[0])
        }
        throw OnnxError.node(node.label, problem: "Transpose with perm \(perm): convcalc follows a channel shuffle (Reshape to N×g×C/g×H×W, Transpose (0, 2, 1, …), Reshape back) and channels moved last and back (\(toLast), \(toFirst))")
    }

    /// Gemm(A, B, C) with constant B → `fc`: B is [out, in] with transB = 1 (PyTorch's Linear),
    /// [in, out] otherwise. A is N×in (after a flatten). C, when given, broadcasts
    /// unidirectionally to the output [M, N] = [batch, out] (ONNX Gemm): dims [], [out],
    /// [1, out], [batch, out], or 1 in place of either; other dims ([3] for 5 outputs, [-5])
    /// belong to another model. `fc`'s bias is one value per output, as a PyTorch Linear's
    /// (its out parameters, which thop and fvcore count, no MACs): C of [out] or [1, out].
    /// One value for every output ([], [1], [1, 1]) is a Linear without bias and one learned
    /// value added, `fc:c=…,bias=0` then `shift:n=1` (as MatMul then Add of a [1] weight);
    /// C over the batch ([M, out], [M, 1] with M > 1) is a value per sample, which no layer
    /// has (refused as an Add's weight over the batch is).
    mutating func gemm(_ node: OnnxNode) throws {
        guard node.inputs.count >= 2 else { throw OnnxError.node(node.label, problem: "it has no B input") }
        let weight = try constant(node.inputs[1], of: node, role: "B")
        guard int(node, "transA", default: 0) == 0 else {
            throw OnnxError.node(node.label, problem: "Gemm with transA = 1: convcalc reads A as N×features")
        }
        guard weight.dims.count == 2, weight.dims.allSatisfy({ $0 >= 1 }) else {
            throw OnnxError.node(node.label, problem: "its B '\(weight.name)' has dims \(weight.dims), not two sizes ≥ 1")
        }
        let transB = int(node, "transB", default: 0) != 0
        let (features, outputs) = transB ? (weight.dims[1], weight.dims[0]) : (weight.dims[0], weight.dims[1])
        var (hasBias, added) = (false, [String]())
        if node.inputs.count >= 3 && !node.inputs[2].isEmpty {
            let bias = try constant(node.inputs[2], of: node, role: "C")
            guard OnnxConverter.broadcasts(bias.dims, onto: [batch, outputs]) else {
                throw OnnxError.node(node.label, problem: "its C '\(bias.name)' has dims \(bias.dims), which do not broadcast to its output [\(batch), \(outputs)]")
            }
            guard bias.dims.count < 2 || bias.dims[0] == 1 else {
                throw OnnxError.node(node.label, problem: "its C '\(bias.name)' has dims \(bias.dims), a value per sample of the batch of \(batch); convcalc's fc has one bias per output, the same for every sample")
            }
            hasBias = bias.dims.last ?? 1 == outputs
            if !hasBias { added = ["shift:n=1"] }
        }
        try fullyConnected(node, features: features, outputs: outputs, bias: hasBias, output: node.outputs[0], then: added)
    }

    /// MatMul(A, B) with a constant 2-D B [in, out] on N×in → `fc` without bias, or with the
    /// bias when its only reader is Add of a constant (PyTorch's Linear on N×in, exported as
    /// MatMul and Add).
    mutating func matMul(_ index: Int, _ node: OnnxNode) throws {
        guard values[node.inputs[1]] == nil else {
            throw OnnxError.node(node.label, problem: "MatMul of two computed values (attention): convcalc reads MatMul with a constant weight as a fully connected layer")
        }
        let weight = try constant(node.inputs[1], of: node, role: "B")
        guard weight.dims.count == 2 else {
            throw OnnxError.node(node.label, problem: "its B '\(weight.name)' has dims \(weight.dims); convcalc reads MatMul with a 2-D constant weight as a fully connected layer")
        }
        var output = node.outputs[0]
        var bias = false
        if let next = soleConsumer(output), model.graph.nodes[next].opType == "Add" {
            let add = model.graph.nodes[next]
            // The Add's constant is the bias when it is one value per output, broadcast: [out], [1, out], ….
            if let other = add.inputs.first(where: { $0 != output }), let tensor = constants[other], tensor.elementCount == weight.dims[1],
               tensor.dims.count <= shape(node.inputs[0]).rank, tensor.dims.dropLast().allSatisfy({ $0 == 1 }) {
                handled.insert(next)
                output = add.outputs.first ?? ""
                bias = true
            }
        }
        if shape(node.inputs[0]).channelsLast {
            // A Linear on the channels at every position (channels last): a 1×1 convolution.
            guard weight.dims[0] == shape(node.inputs[0]).channels else {
                throw OnnxError.node(node.label, problem: "its weight \(weight.dims) does not take the \(shape(node.inputs[0]).channels) channels of its channels-last input")
            }
            return try emit(["conv:k=1,c=\(weight.dims[1])" + (bias ? "" : ",bias=0")], input: node.inputs[0], node: node, output: output)
        }
        try fullyConnected(node, features: weight.dims[0], outputs: weight.dims[1], bias: bias, output: output)
    }

    /// BatchNormalization → `bn`, 2·C parameters: scale, B, input_mean and input_var are each
    /// [C], C the input's channels (ONNX BatchNormalization, every opset; in opsets 7 and 8
    /// `spatial` = 0 makes them [C, D1, …], one per channel and position, which `bn` is not).
    /// Other dims (a [7] mean for 4 channels, [-4], [4, 4]) belong to another model.
    mutating func batchNorm(_ node: OnnxNode) throws {
        if int(node, "spatial", default: 1) == 0 {
            throw OnnxError.node(node.label, problem: "BatchNormalization with spatial = 0 (opsets 7 and 8) normalises each channel and position apart; convcalc's bn has one scale and shift per channel")
        }
        let channels = shape(node.inputs[0]).channels
        for (index, role) in ["scale", "B", "input_mean", "input_var"].enumerated() {
            guard !node.inputs[index + 1].isEmpty else { throw OnnxError.node(node.label, problem: "its \(role) input is missing; BatchNormalization needs all five") }
            try requireOnePerChannel(try constant(node.inputs[index + 1], of: node, role: role), channels: channels, of: node, role: role, channel: "input")
        }
        try emit(["bn"], input: node.inputs[0], node: node, output: node.outputs[0])
    }

    /// LayerNormalization over the last axis of a channels-last value (ConvNeXt) → `layernorm`:
    /// the channels at each position, 2·C parameters (Scale and B). ONNX LayerNormalization
    /// (opset 17) lets Scale and B broadcast unidirectionally onto X; `layernorm` counts one of
    /// each per channel, so each must hold the C normalised values: [C], or [1, …, 1, C] up to
    /// X's rank. A [1] or [] Scale (one value for every channel), [H, W, C] (one per position),
    /// [7] for 4 channels, [-4] and overflowing dims are refused: they are not layernorm's 2·C.
    mutating func layerNorm(_ node: OnnxNode) throws {
        let input = shape(node.inputs[0])
        guard input.channelsLast, try axis(int(node, "axis", default: -1), rank: input.rank, node: node) == input.rank - 1 else {
            throw OnnxError.node(node.label, problem: "LayerNormalization over other axes than the channels of a channels-last value: convcalc's layernorm normalises the channels at each position (as ConvNeXt)")
        }
        guard node.inputs.count >= 3, !node.inputs[1].isEmpty, !node.inputs[2].isEmpty else {
            throw OnnxError.node(node.label, problem: "LayerNormalization without a \(node.inputs.count >= 2 && !node.inputs[1].isEmpty ? "bias" : "scale"): convcalc's layernorm has 2·C parameters")
        }
        for (index, role) in [(1, "Scale"), (2, "B")] {
            let tensor = try constant(node.inputs[index], of: node, role: role)
            guard tensor.dims.last == input.channels, tensor.dims.count <= input.rank, tensor.dims.dropLast().allSatisfy({ $0 == 1 }) else {
                throw OnnxError.node(node.label, problem: "its \(role) '\(tensor.name)' has dims \(tensor.dims), not [\(input.channels)], one value per normalised channel (convcalc's layernorm counts 2·C)")
            }
        }
        try emit(["layernorm"], input: node.inputs[0], node: node, output: node.outputs[0])
    }

    /// `fc:c=outputs` on N×features, then the layers `then` in the same unit.
    private mutating func fullyConnected(_ node: OnnxNode, features: Int, outputs: Int, bias: Bool, output: String, then: [String] = []) throws {
        let input = shape(node.inputs[0])
        let elements = try Checked.mul(input.channels, Checked.product(input.spatial))
        guard input.flat || input.spatial.allSatisfy({ $0 == 1 }), elements == features else {
            throw OnnxError.node(node.label, problem: "its input is \(input.onnxDims(batch: batch)) but its weight takes \(features) features; convcalc reads \(node.opType) as a fully connected layer on N×features")
        }
        try emit(["fc:c=\(outputs)" + (bias ? "" : ",bias=0")] + then, input: node.inputs[0], node: node, output: output)
    }

    /// Clip(x, min, max): `relu6` for [0, 6] (PyTorch's ReLU6), `relu` for [0, ∞), else `clip`.
    func clip(_ node: OnnxNode) throws -> String {
        func bound(_ index: Int, attribute: String) throws -> Double? {
            if index < node.inputs.count, !node.inputs[index].isEmpty {
                return try constant(node.inputs[index], of: node, role: index == 1 ? "min" : "max").values?.first
            }
            if case let .float(v)? = node.attributes[attribute] { return Double(v) }
            return nil
        }
        let (low, high) = (try bound(1, attribute: "min"), try bound(2, attribute: "max"))
        if low == 0 && high == 6 { return "relu6" }
        if low == 0 && high == nil { return "relu" }
        return "clip"
    }

    /// Sigmoid or HardSigmoid: `silu` / `hswish` when its only reader multiplies it by its own
    /// input (x·σ(x), x·hardsigmoid(x)); an SE block's gate (see `squeezeExcitation`); else the
    /// activation.
    mutating func gatedActivation(_ index: Int, _ node: OnnxNode) throws {
        let input = node.inputs[0]
        if let next = soleConsumer(node.outputs[0]), model.graph.nodes[next].opType == "Mul",
           Set(model.graph.nodes[next].inputs) == Set([input, node.outputs[0]]) {
            handled.insert(next)
            return try emit([node.opType == "Sigmoid" ? "silu" : "hswish"], input: input, node: node, output: model.graph.nodes[next].outputs.first ?? "")
        }
        try emit([node.opType == "Sigmoid" ? "sigmoid" : "hsigmoid"], input: input, node: node, output: node.outputs[0])
    }

    /// Add, Sub, Mul, Div and Sum: of data values a join (`add`, `mul`; Sub and Div of two
    /// computed values are counted as zero); with a weight (an initializer, a learned tensor:
    /// a bias, a position embedding, a scale), `shift:n=…` or `scale:n=…` with its values as
    /// parameters, Mul by one factor per channel `layerscale`; with a constant that is no
    /// weight (a `Constant` node, arithmetic), counted as zero with the warning.
    mutating func elementwise(_ index: Int, _ node: OnnxNode) throws {
        let data = node.inputs.filter { values[$0] != nil }
        if data.count >= 2 {
            guard node.opType != "Sub" && node.opType != "Div" else { return try uncounted(node) }
            return try join(node.opType == "Mul" ? .mul : .add, node, inputs: data)
        }
        if node.opType == "Div", let output = try geluOutput(node) {
            return try emit(["gelu"], input: data[0], node: node, output: output)
        }
        let input = shape(data[0])
        try checkConstants(node, onto: input)
        guard let name = node.inputs.first(where: { !$0.isEmpty && values[$0] == nil }), parameters.contains(name),
              let weight = constants[name], let count = weight.elementCount, count >= 1 else { return try uncounted(node) }
        let full = input.layoutDims(batch: batch)
        let broadcasts = weight.dims.count <= full.count
            && zip(weight.dims.reversed(), full.reversed()).allSatisfy { $0 == 1 || $0 == $1 } && (weight.dims.count < full.count || weight.dims[0] == 1)
        guard broadcasts else {
            throw OnnxError.node(node.label, problem: "its weight '\(name)' of dims \(weight.dims) does not broadcast onto \(full); convcalc follows a weight that keeps the shape")
        }
        let multiplies = node.opType == "Mul" || node.opType == "Div"
        let channelAxis = input.channelsLast ? weight.dims.count - 1 : weight.dims.count - dims - 1
        let perChannel = !input.flat && input.channels > 1 && count == input.channels && channelAxis >= 0
            && weight.dims[channelAxis] == input.channels
        let token = multiplies ? (perChannel ? "layerscale" : "scale:n=\(count)") : "shift:n=\(count)"
        try emit([token], input: data[0], node: node, output: node.outputs[0])
    }

    /// GELU as exporters before opset 20 write it, x·0.5·(1 + erf(x/√2)): Div(x, √2), Erf,
    /// Add 1, Mul by x, Mul by 0.5, each read only by the next. The last Mul's output, the
    /// nodes marked handled; nil when `node` does not start that pattern.
    mutating func geluOutput(_ node: OnnxNode) throws -> String? {
        let x = node.inputs[0]
        var chain: [Int] = []
        var current = node.outputs.first ?? ""
        for (step, op) in ["Erf", "Add", "Mul", "Mul"].enumerated() {
            guard let next = soleConsumer(current), model.graph.nodes[next].opType == op else { return nil }
            let other = model.graph.nodes[next].inputs.filter { $0 != current }
            // The first Mul multiplies by x (either order: Mul(x, ·) or the 0.5 first).
            if step == 2 && other != [x] && !(other.count == 1 && constants[other[0]] != nil) { return nil }
            if step == 3 && other != [x] && !(other.count == 1 && constants[other[0]] != nil) { return nil }
            chain.append(next)
            current = model.graph.nodes[next].outputs.first ?? ""
        }
        let multipliedByX = chain.dropFirst(2).contains { model.graph.nodes[$0].inputs.contains(x) }
        guard multipliedByX, !current.isEmpty else { return nil }
        handled.formUnion(chain)
        return current
    }

    /// Concat along the channels → a `concat` join.
    mutating func concat(_ node: OnnxNode) throws {
        let data = node.inputs.filter { !$0.isEmpty }
        guard data.allSatisfy({ values[$0] != nil }) else {
            throw OnnxError.node(node.label, problem: "it concatenates a constant; convcalc joins computed values")
        }
        let rank = shape(data[0]).rank
        guard try axis(int(node, "axis", default: 1), rank: rank, node: node) == 1 else {
            throw OnnxError.node(node.label, problem: "Concat along axis \(int(node, "axis", default: 1)): convcalc concatenates channels (axis 1)")
        }
        if data.count == 1 { return alias(node.outputs[0], to: data[0]) }
        try join(.concat, node, inputs: data)
    }

    /// Split along the channels: the shares from `split` (attribute before opset 13, input
    /// from 13), else equal ones (`num_outputs` from opset 18, else the output count).
    mutating func split(_ node: OnnxNode) throws {
        let input = shape(node.inputs[0])
        let rank = input.rank
        guard try axis(int(node, "axis", default: 0), rank: rank, node: node) == 1 else {
            throw OnnxError.node(node.label, problem: "Split along axis \(int(node, "axis", default: 0)): convcalc splits channels (axis 1)")
        }
        let count = node.outputs.count
        guard count >= 1 else { throw OnnxError.node(node.label, problem: "it has no outputs") }
        var shares = try ints(node, "split") ?? integers(node, input: 1, role: "split")
        if shares == nil {
            // Equal chunks of ⌈C/n⌉, the last smaller (ONNX Split with num_outputs).
            let chunk = Checked.ceilDiv(input.channels, count)
            shares = try (0..<count).map { min(chunk, max(0, input.channels - (try Checked.mul($0, chunk)))) }
        }
        guard let shares, shares.count == count, shares.allSatisfy({ $0 >= 1 }), (try? Checked.sum(shares)) == input.channels else {
            throw OnnxError.node(node.label, problem: "it splits \(input.channels) channels into \(shares.map { "\($0)" } ?? "?"), not \(count) shares ≥ 1 adding up to them")
        }
        let outputs = shares.map { TensorShape(channels: $0, spatial: input.spatial, flat: input.flat) }
        let source = values[node.inputs[0]]!
        units.append(Unit(kind: .split(shares), inputs: [(source.unit, source.output)], label: node.label, outputShapes: outputs))
        for (i, name) in node.outputs.enumerated() where !name.isEmpty {
            record(name, unit: units.count - 1, output: i, shape: outputs[i])
        }
    }
}

/// Resize, Pad and Slice.
extension OnnxConverter {
    /// Resize / Upsample by a whole factor per spatial axis → `upsample:s=F` (every mode:
    /// nearest, linear and cubic have the same shape, and convcalc counts no MACs for
    /// interpolation). Scales from the `scales` attribute (Upsample before opset 9) or input
    /// (Upsample 9: input 1; Resize: input 2 from opset 11, else 1), or sizes (Resize input 3).
    mutating func resize(_ node: OnnxNode) throws {
        let input = shape(node.inputs[0])
        guard !input.flat else { throw OnnxError.node(node.label, problem: "it resizes a flattened value") }
        let rank = dims + 2
        var factors: [Double]?
        if case let .floats(list)? = node.attributes["scales"] { factors = list.map(Double.init) }
        let scalesInput = node.opType == "Resize" && node.inputs.count >= 3 ? 2 : 1
        if factors == nil, scalesInput < node.inputs.count, !node.inputs[scalesInput].isEmpty,
           let tensor = constants[node.inputs[scalesInput]], let list = tensor.values, !list.isEmpty {
            factors = list
        }
        if factors == nil, node.opType == "Resize", node.inputs.count >= 4, let sizes = try integers(node, input: 3, role: "sizes") {
            let full = input.onnxDims(batch: batch)
            guard sizes.count == rank else { throw OnnxError.node(node.label, problem: "sizes \(sizes) does not give \(rank) sizes") }
            factors = zip(sizes, full).map { Double($0) / Double($1) }
        }
        guard let factors, factors.count == rank, factors[0] == 1, factors[1] == 1 else {
            throw OnnxError.node(node.label, problem: "its scales or sizes are not constants that keep N and C (convcalc needs them to follow the size)")
        }
        let spatial = Array(factors.dropFirst(2))
        guard spatial.allSatisfy({ $0 >= 1 && $0 == $0.rounded() && $0 <= 1e9 }) else {
            throw OnnxError.node(node.label, problem: "scales \(spatial.map { "\($0)" }.joined(separator: ", ")) are not whole factors ≥ 1; convcalc follows upsampling by a whole factor (upsample:s=F)")
        }
        if string(node, "mode").map({ $0 != "nearest" }) == true, !warnings.contains(where: { $0.hasPrefix("Resize") }) {
            warnings.append("Resize with mode '\(string(node, "mode")!)' is counted as upsample: the same size, no MACs for the interpolation")
        }
        try emit(["upsample:s=" + OnnxConverter.size(spatial.map { Int($0) })], input: node.inputs[0], node: node, output: node.outputs[0])
    }

    /// Pad of the spatial axes whose only reader is a convolution or pool: its padding is
    /// added to that layer's (the same sizes and counts; `mode` changes values only).
    mutating func pad(_ index: Int, _ node: OnnxNode) throws {
        let rank = dims + 2
        let given = try ints(node, "pads") ?? integers(node, input: 1, role: "pads")
        guard var pads = given, !shape(node.inputs[0]).flat else { throw OnnxError.node(node.label, problem: "it has no constant pads") }
        if node.inputs.count >= 4, let axes = try integers(node, input: 3, role: "axes") {
            var full = Array(repeating: 0, count: 2 * rank)
            for (i, a) in axes.enumerated() where i + axes.count < pads.count {
                let resolved = try axis(a, rank: rank, node: node)
                full[resolved] = pads[i]
                full[resolved + rank] = pads[i + axes.count]
            }
            pads = full
        }
        guard pads.count == 2 * rank, pads.allSatisfy({ $0 >= 0 }) else {
            throw OnnxError.node(node.label, problem: "pads \(pads) does not give a begin and an end ≥ 0 per axis (\(2 * rank) values)")
        }
        guard pads[0] == 0, pads[1] == 0, pads[rank] == 0, pads[rank + 1] == 0 else {
            throw OnnxError.node(node.label, problem: "it pads the batch or channel axis; convcalc follows spatial padding")
        }
        let spatial = (0..<dims).map { PadPair(pads[2 + $0], pads[rank + 2 + $0]) }
        guard let reader = soleConsumer(node.outputs[0]), ["Conv", "MaxPool", "AveragePool"].contains(model.graph.nodes[reader].opType),
              model.graph.nodes[reader].inputs.first == node.outputs[0] else {
            throw OnnxError.node(node.label, problem: "Pad whose output is not read by one Conv or pool alone: convcalc follows padding as part of the layer that reads it")
        }
        pendingPads[reader] = spatial
        alias(node.outputs[0], to: node.inputs[0])
    }

    /// Slice of spatial axes with step 1 → `crop:out=SIZE` (the U-Net's crop of the skip).
    /// A Slice's starts, ends (clamped to each axis) and axes, checked to have step 1.
    func sliceRanges(_ node: OnnxNode, of input: TensorShape) throws -> [(axis: Int, range: Range<Int>)] {
        let rank = input.rank
        var starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?
        if let s = ints(node, "starts"), let e = ints(node, "ends") {
            (starts, ends, axes, steps) = (s, e, ints(node, "axes"), nil)
        } else {
            guard let s = try clampedIntegers(node, input: 1, role: "starts"), let e = try clampedIntegers(node, input: 2, role: "ends") else {
                throw OnnxError.node(node.label, problem: "it has no constant starts and ends")
            }
            (starts, ends) = (s, e)
            axes = try integers(node, input: 3, role: "axes")
            steps = try integers(node, input: 4, role: "steps")
        }
        let axisList = try (axes ?? Array(0..<starts.count)).map { try axis($0, rank: rank, node: node) }
        guard starts.count == ends.count, axisList.count == starts.count, (steps ?? []).allSatisfy({ $0 == 1 }) else {
            throw OnnxError.node(node.label, problem: "Slice with steps \(steps ?? []) or unmatched starts and ends: convcalc follows a crop or a channel split with step 1")
        }
        let full = input.onnxDims(batch: batch)
        return try axisList.enumerated().map { i, a in
            let n = full[a]
            let clamp: (Int) -> Int = { v in min(max(v < 0 ? v + n : v, 0), n) }
            let (b, e) = (clamp(starts[i]), clamp(ends[i]))
            guard e > b else { throw OnnxError.node(node.label, problem: "it keeps nothing of axis \(a)") }
            return (a, b..<e)
        }
    }

    /// Integers of a constant input, INT64_MIN and INT64_MAX ("to the end") clamped.
    func clampedIntegers(_ node: OnnxNode, input index: Int, role: String) throws -> [Int]? {
        guard index < node.inputs.count, !node.inputs[index].isEmpty else { return nil }
        guard let v = try constant(node.inputs[index], of: node, role: role).values else {
            throw OnnxError.node(node.label, problem: "its \(role) holds no readable integers")
        }
        let whole = v.compactMap(OnnxTensor.clampedInteger)
        guard whole.count == v.count else { throw OnnxError.node(node.label, problem: "its \(role) holds values that are not whole numbers") }
        return whole
    }

    /// Slices of the channels of one value that together cover them in order (PyTorch's
    /// `x.chunk(2, dim=1)` exports as two) → a `split` with those shares.
    mutating func channelSplit(_ node: OnnxNode) throws {
        let source = node.inputs[0]
        let input = shape(source)
        var parts: [(reader: Int, range: Range<Int>, output: String)] = []
        for reader in consumers[source] ?? [] where model.graph.nodes[reader].opType == "Slice" && model.graph.nodes[reader].inputs.first == source {
            // A later Slice's bounds may be computed by nodes after this one (x.chunk's arithmetic).
            for name in model.graph.nodes[reader].inputs.dropFirst() { resolve(name) }
            let ranges = try sliceRanges(model.graph.nodes[reader], of: input)
            // A Slice without an output feeds nothing: it is no part of the split.
            guard ranges.count == 1, ranges[0].axis == 1, let output = model.graph.nodes[reader].outputs.first, !output.isEmpty else { continue }
            parts.append((reader, ranges[0].range, output))
        }
        parts.sort { $0.range.lowerBound < $1.range.lowerBound }
        let covers = parts.count >= 2 && parts.first!.range.lowerBound == 0 && parts.last!.range.upperBound == input.channels
            && zip(parts, parts.dropFirst()).allSatisfy { $0.range.upperBound == $1.range.lowerBound }
        guard covers else {
            throw OnnxError.node(node.label, problem: "Slice of channels: convcalc follows channel slices that together split every channel, in order (x.chunk, torch.split)")
        }
        let outputs = parts.map { TensorShape(channels: $0.range.count, spatial: input.spatial) }
        let value = values[source]!
        units.append(Unit(kind: .split(parts.map(\.range.count)), inputs: [(value.unit, value.output)], label: node.label, outputShapes: outputs))
        for (i, part) in parts.enumerated() { record(part.output, unit: units.count - 1, output: i, shape: outputs[i]) }
        handled.formUnion(parts.map(\.reader))
    }

    mutating func slice(_ node: OnnxNode) throws {
        let input = shape(node.inputs[0])
        let ranges = try sliceRanges(node, of: input)
        if ranges.contains(where: { $0.axis == 1 }) && !input.flat { return try channelSplit(node) }
        var sizes = input.spatial
        var offCentre = false
        for (a, range) in ranges {
            guard a >= 2, !input.flat else { throw OnnxError.node(node.label, problem: "Slice of axis \(a): convcalc follows a spatial crop (axes 2 and up) or a channel split") }
            let n = input.spatial[a - 2]
            let (b, e) = (range.lowerBound, range.upperBound)
            sizes[a - 2] = e - b
            // torchvision's centre crop starts at round((n − out)/2), ties to even.
            let cut = Double(n - (e - b)) / 2
            if b != Int(cut.rounded(.toNearestOrEven)) { offCentre = true }
        }
        if offCentre && !warnings.contains(where: { $0.contains("off-centre") }) {
            warnings.append("a Slice crops off-centre (node '\(node.label)'); it is read as crop:out, a centre crop: sizes and counts are exact, the receptive field's centre may be off by its shift")
        }
        let token = "crop:out=" + OnnxConverter.size(sizes)
        // One Slice per axis (as PyTorch exports x[:, :, a:b, c:d]): a crop of a crop read by
        // nothing else is one crop.
        let source = values[node.inputs[0]]!
        if case let .layers(tokens) = units[source.unit].kind, tokens.count == 1, tokens[0].hasPrefix("crop:"),
           consumers[node.inputs[0]]?.count == 1 {
            let cropped = TensorShape(channels: input.channels, spatial: sizes)
            units[source.unit].kind = .layers([token])
            units[source.unit].outputShapes = [cropped]
            return record(node.outputs[0], unit: source.unit, output: 0, shape: cropped)
        }
        try emit([token], input: node.inputs[0], node: node, output: node.outputs[0])
    }
}
