import ConvCalcCore

/// Each ONNX operator as convcalc layers, with the operator's attribute semantics
/// (https://onnx.ai/onnx/operators/): defaults as ONNX gives them (strides 1 for pools too,
/// pads 0, dilations 1, group 1), `pads` as [x1_begin, x2_begin, …, x1_end, x2_end], `auto_pad`
/// worked out on the input size.
extension OnnxConverter {
    /// Activations that keep the shape and cost nothing: ONNX op type → convcalc layer.
    static let activations: [String: String] = [
        "Relu": "relu", "Sigmoid": "sigmoid", "HardSigmoid": "hsigmoid", "HardSwish": "hswish", "Tanh": "tanh",
        "LeakyRelu": "leakyrelu", "Elu": "elu", "Gelu": "gelu", "Softmax": "softmax", "Dropout": "dropout",
    ]

    /// Operators followed on a channels-last value: they act at each position alike.
    static let perPosition: Set<String> = ["LayerNormalization", "MatMul", "Add", "Sub", "Mul", "Div", "Sum", "Transpose", "Identity",
                                           "Clip", "Erf", "PRelu", "Cast"]

    /// The inputs an operator needs (data, weight, …), where more than one.
    static let minimumInputs: [String: Int] = ["Conv": 2, "ConvTranspose": 2, "Gemm": 2, "MatMul": 2, "PRelu": 2, "BatchNormalization": 5]

    /// Shape-keeping operators with no convcalc layer: counted as zero, with one warning.
    static let uncountedElementwise: Set<String> = [
        "Cast", "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Erf", "Sin", "Cos",
        "Softplus", "Softsign", "Mish", "Selu", "Celu", "ThresholdedRelu", "LpNormalization", "InstanceNormalization",
        "LRN", "MeanVarianceNormalization", "Sign", "Not", "IsNaN", "IsInf", "LogSoftmax", "Hardmax", "Shrink",
        "Sub", "Div", "Pow", "Add", "Mul", "Max", "Min", "Mean", "Sum", "Where", "Equal", "Less", "Greater", "QuantizeLinear", "DequantizeLinear",
    ]

    mutating func convert(_ index: Int, _ node: OnnxNode) throws {
        guard node.domain.isEmpty || node.domain == "ai.onnx" else { return try uncounted(node) }
        let needed = OnnxConverter.minimumInputs[node.opType] ?? 1
        guard node.inputs.count >= needed else {
            throw OnnxError.node(node.label, problem: "\(node.opType) has \(node.inputs.count) input\(node.inputs.count == 1 ? "" : "s"), fewer than its \(needed)")
        }
        let input = node.inputs[0]
        // Channels last, only what acts per position (and the Transpose back) is followed.
        if node.inputs.contains(where: { values[$0]?.shape.channelsLast == true }), !OnnxConverter.perPosition.contains(node.opType),
           OnnxConverter.activations[node.opType] == nil {
            throw OnnxError.node(node.label, problem: "\(node.opType) on a channels-last value (after Transpose to N×H×W×C): convcalc follows LayerNormalization, MatMul, element-wise operators and activations there, then the Transpose back")
        }
        // Operators on one data value read it first (a joins' inputs may come in any order).
        guard values[input] != nil || ["Add", "Mul", "Sum", "Concat"].contains(node.opType) || OnnxConverter.uncountedElementwise.contains(node.opType) else {
            throw OnnxError.node(node.label, problem: "its first input '\(input)' is a constant; convcalc follows \(node.opType) on computed data")
        }
        let output = node.outputs.first ?? ""
        let unitsBefore = units.count
        defer {
            // A weight read under one name by several nodes is one weight (tying): the
            // rendering counts it at its first use in the network (`tied=1` after).
            if ["Conv", "ConvTranspose", "Gemm", "MatMul"].contains(node.opType), node.inputs.count >= 2,
               model.graph.initializers[node.inputs[1]] != nil, units.count == unitsBefore + 1 {
                units[units.count - 1].weight = node.inputs[1]
            }
        }
        switch node.opType {
        case "Conv": try emit([try convolution(node, transposed: false, pads: pendingPads[index])], input: input, node: node, output: output)
        case "ConvTranspose": try emit([try convolution(node, transposed: true, pads: nil)], input: input, node: node, output: output)
        case "MaxPool", "AveragePool": try emit([try pool(node, pads: pendingPads[index])], input: input, node: node, output: output)
        case "GlobalAveragePool": try emit(["gap"], input: input, node: node, output: output)
        case "GlobalMaxPool": try emit(["adaptivemaxpool:out=1"], input: input, node: node, output: output)
        case "ReduceMean", "ReduceMax": try reduce(node)
        case "BatchNormalization": try batchNorm(node)
        case "LayerNormalization": try layerNorm(node)
        case "Flatten": try flatten(node)
        case "Reshape": try reshape(index, node)
        case "Gemm": try gemm(node)
        case "MatMul": try matMul(index, node)
        case "Identity": alias(output, to: input)
        case "Shape": shapeOf(node)
        case "Clip": try emit([try clip(node)], input: input, node: node, output: output)
        case "PRelu": try emit([try prelu(node)], input: input, node: node, output: output)
        case "Sigmoid", "HardSigmoid": try gatedActivation(index, node)
        case _ where OnnxConverter.activations[node.opType] != nil:
            try emit([OnnxConverter.activations[node.opType]!], input: input, node: node, output: output)
        case "Add", "Mul", "Sum", "Sub", "Div": try elementwise(index, node)
        case "Concat": try concat(node)
        case "Split": try split(node)
        case "Resize", "Upsample": try resize(node)
        case "DepthToSpace": try emit(["pixelshuffle:r=\(try positive(node, "blocksize"))"], input: input, node: node, output: output)
        case "SpaceToDepth": try emit(["pixelunshuffle:r=\(try positive(node, "blocksize"))"], input: input, node: node, output: output)
        case "Pad": try pad(index, node)
        case "Slice": try slice(node)
        case "Transpose": try transpose(node)
        case "Squeeze", "Unsqueeze": try squeeze(node)
        default: try uncounted(node)
        }
    }

    /// Shape of a data value: a constant (N×C×spatial as convcalc follows it), for the shape
    /// arithmetic exporters write (`start` and `end` from opset 15).
    mutating func shapeOf(_ node: OnnxNode) {
        let dims = shape(node.inputs[0]).onnxDims(batch: batch)
        let clamp = { (v: Int) in min(max(v < 0 ? v + dims.count : v, 0), dims.count) }
        let start = clamp(int(node, "start", default: 0)), end = clamp(int(node, "end", default: dims.count))
        let picked = start < end ? Array(dims[start..<end]) : []
        constants[node.outputs[0]] = OnnxTensor(name: node.outputs[0], dataType: 7, dims: [picked.count], values: picked.map(Double.init))
    }

    /// An operator convcalc has no layer for: passed through when it keeps the shape (counted
    /// as zero, named in a warning), an error when the shape would change or a constant it
    /// reads is malformed (`checkConstants`).
    mutating func uncounted(_ node: OnnxNode) throws {
        let dataInputs = node.inputs.filter { values[$0] != nil }
        let first = shape(dataInputs[0])
        let sameShapes = dataInputs.allSatisfy { shape($0) == first || shape($0).spatial.allSatisfy { $0 == 1 } && !shape($0).flat }
        let keepsShape = OnnxConverter.uncountedElementwise.contains(node.opType)
        guard keepsShape, sameShapes, node.outputs.count >= 1 else {
            throw OnnxError.node(node.label, problem: "\(node.domain.isEmpty ? "" : node.domain + ".")\(node.opType) is not an operator convcalc follows, and it may change the shape; convcalc maps "
                                 + "Conv, ConvTranspose, pools, Gemm, MatMul, BatchNormalization, activations, Add, Mul, Concat, Split, Flatten, Reshape, Resize, Pad, Slice and the others listed in the man page")
        }
        try checkOperandDims(node, onto: first)
        try checkConstants(node, onto: first)
        if dataInputs.count == 1 || dataInputs.dropFirst().allSatisfy({ $0 == dataInputs[0] }) {
            uncounted[node.opType, default: 0] += 1
            alias(node.outputs[0], to: dataInputs[0])
        } else {
            try join(.add, node, inputs: dataInputs, counted: false)
        }
    }

    /// Operators whose inputs broadcast multidirectionally (ONNX Broadcasting.md): a constant
    /// operand that keeps the data's shape broadcasts onto it.
    static let broadcasting: Set<String> = ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean", "Sum", "Where", "Equal", "Less", "Greater"]

    /// The constant inputs of an element-wise operator on `data`: every tensor's dims are sizes
    /// ≥ 0 whose product (its element count) fits in 64 bits (ONNX TensorProto); for the
    /// broadcasting operators each also broadcasts onto the data, so the output keeps its
    /// shape. A constant of dims [-4] or [2^62, 2^62] was counted as zero, with exit 0.
    func checkConstants(_ node: OnnxNode, onto data: TensorShape) throws {
        let target = data.layoutDims(batch: batch)
        for name in node.inputs where !name.isEmpty && values[name] == nil {
            guard let tensor = constants[name] else { continue }
            if tensor.dims.contains(where: { $0 < 0 }) {
                throw OnnxError.node(node.label, problem: "its constant '\(name)' has dims \(tensor.dims); a size below 0 is no size")
            }
            guard tensor.elementCount != nil else {
                throw OnnxError.node(node.label, problem: "its constant '\(name)' has dims \(tensor.dims), more elements than 64 bits count")
            }
            if OnnxConverter.broadcasting.contains(node.opType), !OnnxConverter.broadcasts(tensor.dims, onto: target) {
                throw OnnxError.node(node.label, problem: "its constant '\(name)' of dims \(tensor.dims) does not broadcast onto \(target); convcalc follows \(node.opType) on a constant that keeps the shape")
            }
        }
    }

    /// The per-operator dims rules of the operators counted as zero that read parameters
    /// (ONNX Operators.md): a model that breaks them is another model, whatever it counts.
    func checkOperandDims(_ node: OnnxNode, onto data: TensorShape) throws {
        switch node.opType {
        case "InstanceNormalization": try checkInstanceNormalization(node, onto: data)
        case "QuantizeLinear", "DequantizeLinear": try checkQuantization(node, onto: data)
        default: break
        }
    }

    /// InstanceNormalization(input, scale, B): scale and B are both required and each "the
    /// 1-dimensional … tensor of size C", the input's channels (ONNX InstanceNormalization,
    /// every opset). A constant of other dims ([7] for 4 channels, [4, 1, 1], [], [-4],
    /// overflowing ones) was counted as zero with exit 0.
    func checkInstanceNormalization(_ node: OnnxNode, onto data: TensorShape) throws {
        for (index, role) in [(1, "scale"), (2, "B")] {
            guard index < node.inputs.count, !node.inputs[index].isEmpty else {
                throw OnnxError.node(node.label, problem: "its \(role) input is missing; InstanceNormalization needs all three")
            }
            guard let tensor = constants[node.inputs[index]] else { continue }
            try requireOnePerChannel(tensor, channels: data.channels, of: node, role: role, channel: "input")
        }
    }

    /// QuantizeLinear / DequantizeLinear(x, scale, zero_point): the scale is per tensor (a
    /// scalar, or [1]), per axis (1-D of the input's size along `axis`, default 1, opset 13 on)
    /// or, with `block_size` ≥ 1 (opset 21 on), blocked (the input's dims but ⌈D_axis/block_size⌉
    /// along `axis`); the zero point, when given, has the scale's dims (ONNX QuantizeLinear,
    /// DequantizeLinear). A scale of [7] for 4 channels, [-4] or overflowing dims was counted as zero with exit 0.
    func checkQuantization(_ node: OnnxNode, onto data: TensorShape) throws {
        let prefix = node.opType == "QuantizeLinear" ? "y" : "x"
        guard node.inputs.count >= 2, !node.inputs[1].isEmpty else {
            throw OnnxError.node(node.label, problem: "its \(prefix)_scale input is missing; \(node.opType) needs one")
        }
        guard let scale = constants[node.inputs[1]] else { return }
        let target = data.layoutDims(batch: batch)
        let axis = try self.axis(int(node, "axis", default: 1), rank: target.count, node: node)
        let blockSize = int(node, "block_size", default: 0)
        let perTensor = scale.dims == [] || scale.dims == [1]
        var expected = [target[axis]]
        if blockSize >= 1 {
            expected = target
            expected[axis] = target[axis] / blockSize + (target[axis] % blockSize == 0 ? 0 : 1)
        }
        guard perTensor && blockSize < 1 || scale.dims == expected else {
            throw OnnxError.node(node.label, problem: "its \(prefix)_scale '\(scale.name)' has dims \(scale.dims), "
                                 + (blockSize >= 1 ? "not \(expected), blocks of \(blockSize) along axis \(axis) of its input \(target)"
                                                   : "neither per tensor ([] or [1]) nor per axis (\(expected), axis \(axis) of its input \(target))"))
        }
        guard node.inputs.count >= 3, !node.inputs[2].isEmpty, let zero = constants[node.inputs[2]] else { return }
        guard zero.dims == scale.dims || perTensor && (zero.dims == [] || zero.dims == [1]) else {
            throw OnnxError.node(node.label, problem: "its \(prefix)_zero_point '\(zero.name)' has dims \(zero.dims), not its \(prefix)_scale's \(scale.dims)")
        }
    }

    /// PRelu(X, slope) → `prelu:n=…`, the slope's elements its parameters: slope broadcasts
    /// unidirectionally onto X (ONNX PRelu, opsets 7 on), [C, 1, 1] or [1] as PyTorch writes it.
    func prelu(_ node: OnnxNode) throws -> String {
        let slope = try constant(node.inputs[1], of: node, role: "slope")
        let target = shape(node.inputs[0]).layoutDims(batch: batch)
        guard OnnxConverter.broadcasts(slope.dims, onto: target), let count = slope.elementCount else {
            throw OnnxError.node(node.label, problem: "its slope '\(slope.name)' has dims \(slope.dims), which do not broadcast onto its input \(target)")
        }
        return "prelu:n=\(count)"
    }

    /// A join of several data values: add (same shape) or concat (channels add up).
    mutating func join(_ kind: MergeKind, _ node: OnnxNode, inputs: [String], counted: Bool = true) throws {
        let shapes = inputs.map { shape($0) }
        let sizes = shapes.map { $0.onnxDims(batch: batch).map(String.init).joined(separator: "x") }.joined(separator: " and ")
        guard let spatial = kind.mergedSize(shapes.map(\.spatial)), shapes.allSatisfy({ $0.flat == shapes[0].flat }) else {
            throw OnnxError.node(node.label, problem: "its inputs have the sizes \(sizes); convcalc joins values of the same spatial size"
                                 + (kind == .mul ? " (or 1x1, broadcast)" : ""))
        }
        var result = TensorShape(channels: shapes[0].channels, spatial: spatial, flat: shapes[0].flat)
        for other in shapes.dropFirst() {
            let broadcast = kind == .mul && (other.channels == 1 || result.channels == 1)
            if kind != .concat, other.channels != result.channels, !broadcast {
                throw OnnxError.node(node.label, problem: "its inputs have the sizes \(sizes): \(kind == .add ? "it adds" : "it multiplies") \(result.channels) channels by \(other.channels)")
            }
            result.channels = kind == .concat ? try Checked.add(result.channels, other.channels) : max(result.channels, other.channels)
        }
        if !counted { uncounted[node.opType, default: 0] += 1 }
        let given = inputs.map { (unit: values[$0]!.unit, output: values[$0]!.output) }
        let sources = kind == .concat ? OnnxConverter.reusingConcat(given, units: units) : given
        units.append(Unit(kind: .join(kind), inputs: sources, label: node.label, outputShapes: [result]))
        if kind == .concat { units[units.count - 1].concatenated = given }
        record(node.outputs[0], unit: units.count - 1, output: 0, shape: result)
    }

    /// A concat whose first inputs are, in order, those of an earlier concat reads that
    /// concat's output instead (concatenation is associative): DenseNet's layers each
    /// concatenate all earlier features anew, and the regrouping makes them nested branches
    /// (`concat { } { layer }`), a series-parallel graph, with the same sizes and counts.
    static func reusingConcat(_ sources: [(unit: Int, output: Int)], units: [Unit]) -> [(unit: Int, output: Int)] {
        var best: (unit: Int, length: Int)?
        for (index, unit) in units.enumerated() where unit.kind == .join(.concat) {
            // Compared as the file wrote it, before its own regrouping.
            guard let earlier = unit.concatenated, earlier.count >= 2, earlier.count < sources.count else { continue }
            let prefix = zip(earlier, sources).allSatisfy { $0.unit == $1.unit && $0.output == $1.output }
            if prefix, earlier.count > (best?.length ?? 1) { best = (index, earlier.count) }
        }
        guard let best else { return sources }
        return [(best.unit, 0)] + sources.dropFirst(best.length)
    }

    func positive(_ node: OnnxNode, _ name: String) throws -> Int {
        guard case let .int(value)? = node.attributes[name], value >= 1 else {
            throw OnnxError.node(node.label, problem: "its attribute \(name) must be a whole number ≥ 1")
        }
        return value
    }

    func ints(_ node: OnnxNode, _ name: String) -> [Int]? {
        if case let .ints(values)? = node.attributes[name] { return values }
        return nil
    }

    func int(_ node: OnnxNode, _ name: String, default value: Int) -> Int {
        if case let .int(v)? = node.attributes[name] { return v }
        return value
    }

    func string(_ node: OnnxNode, _ name: String) -> String? {
        if case let .string(v)? = node.attributes[name] { return v }
        return nil
    }
}
