import ConvCalcCore

/// Conv, ConvTranspose, MaxPool and AveragePool: the sliding-window operators.
extension OnnxConverter {
    /// A window's geometry as the attributes give it.
    struct Window {
        var kernel: [Int]
        var strides: [Int]
        var dilations: [Int]
        var pads: [PadPair]
    }

    /// `kernel_shape` (else the weight's dims), `strides`, `dilations`, and `pads` or
    /// `auto_pad` on `input` (for ConvTranspose, `output_shape` and auto_pad as its spec
    /// says: total padding `s·(in−1) + op + ke − out`, the odd one at the end for SAME_UPPER,
    /// at the beginning otherwise).
    func window(_ node: OnnxNode, weightKernel: [Int]?, input: [Int], transposed: Bool, outputPadding: [Int]) throws -> Window {
        let kernel = ints(node, "kernel_shape") ?? weightKernel ?? []
        guard kernel.count == dims, kernel.allSatisfy({ $0 >= 1 }) else {
            throw OnnxError.node(node.label, problem: "kernel_shape \(kernel) does not give one size ≥ 1 per spatial dimension (\(dims))")
        }
        let strides = ints(node, "strides") ?? Array(repeating: 1, count: dims)
        let dilations = ints(node, "dilations") ?? Array(repeating: 1, count: dims)
        for (name, list) in [("strides", strides), ("dilations", dilations)] where list.count != dims || list.contains(where: { $0 < 1 }) {
            throw OnnxError.node(node.label, problem: "\(name) \(list) does not give one value ≥ 1 per spatial dimension (\(dims))")
        }
        let autoPad = string(node, "auto_pad") ?? "NOTSET"
        var pads: [PadPair]
        switch autoPad {
        case "NOTSET", "":
            if transposed, let shape = ints(node, "output_shape") {
                guard shape.count >= dims else { throw OnnxError.node(node.label, problem: "output_shape \(shape) does not give \(dims) sizes") }
                let target = Array(shape.suffix(dims))
                pads = try (0..<dims).map { d in
                    let total = try Checked.sub(OnnxConverter.transposedSize(input[d], stride: strides[d], kernel: kernel[d],
                                                                              dilation: dilations[d], outputPadding: outputPadding[d]), target[d])
                    guard total >= 0 else {
                        throw OnnxError.node(node.label, problem: "output_shape \(shape) is larger than the transposed convolution can give (\(target[d] + total) at most)")
                    }
                    return PadPair(total - total / 2, total / 2)
                }
            } else {
                let given = ints(node, "pads") ?? Array(repeating: 0, count: 2 * dims)
                guard given.count == 2 * dims, given.allSatisfy({ $0 >= 0 }) else {
                    throw OnnxError.node(node.label, problem: "pads \(given) does not give a begin and an end ≥ 0 per spatial dimension (\(2 * dims) values)")
                }
                pads = (0..<dims).map { PadPair(given[$0], given[$0 + dims]) }
            }
        case "VALID":
            pads = Array(repeating: PadPair(0, 0), count: dims)
        case "SAME_UPPER", "SAME_LOWER":
            pads = try (0..<dims).map { d in
                let effective = try Checked.add(Checked.mul(kernel[d] - 1, dilations[d]), 1)
                let total: Int
                if transposed {
                    let given = ints(node, "output_shape").flatMap { $0.count >= dims ? Array($0.suffix(dims))[d] : nil }
                    let target = try given ?? Checked.mul(input[d], strides[d])
                    total = max(0, try Checked.sub(OnnxConverter.transposedSize(input[d], stride: strides[d], kernel: kernel[d],
                                                                                 dilation: dilations[d], outputPadding: outputPadding[d]), target))
                } else {
                    let out = Checked.ceilDiv(input[d], strides[d])
                    total = max(0, try Checked.sub(Checked.add(Checked.mul(out - 1, strides[d]), effective), input[d]))
                }
                return autoPad == "SAME_UPPER" ? PadPair(total / 2, total - total / 2) : PadPair(total - total / 2, total / 2)
            }
        default:
            throw OnnxError.node(node.label, problem: "auto_pad '\(autoPad)' is none of NOTSET, SAME_UPPER, SAME_LOWER, VALID")
        }
        return Window(kernel: kernel, strides: strides, dilations: dilations, pads: pads)
    }

    /// ConvTranspose's output before padding: `s·(in − 1) + op + (k − 1)·d + 1`.
    static func transposedSize(_ input: Int, stride: Int, kernel: Int, dilation: Int, outputPadding: Int) throws -> Int {
        try Checked.sum([Checked.mul(stride, input - 1), outputPadding, Checked.mul(kernel - 1, dilation), 1])
    }

    /// `pads` plus the padding of a Pad node read by this one.
    static func adding(_ extra: [PadPair]?, to pads: [PadPair]) throws -> [PadPair] {
        guard let extra else { return pads }
        return try zip(pads, extra).map { PadPair(try Checked.add($0.before, $1.before), try Checked.add($0.after, $1.after)) }
    }

    /// Conv → `conv`, ConvTranspose → `tconv`, with the channels and groups the weight gives:
    /// Conv's W is [C_out, C_in/group, k…], ConvTranspose's [C_in, C_out/group, k…].
    func convolution(_ node: OnnxNode, transposed: Bool, pads extra: [PadPair]?) throws -> String {
        guard node.inputs.count >= 2 else { throw OnnxError.node(node.label, problem: "it has no weight input") }
        let weight = try constant(node.inputs[1], of: node, role: "weight")
        let input = shape(node.inputs[0])
        guard weight.dims.count == dims + 2, weight.dims.allSatisfy({ $0 >= 1 }) else {
            throw OnnxError.node(node.label, problem: "its weight '\(weight.name)' has dims \(weight.dims), not \(dims + 2) sizes ≥ 1 for a \(dims)-D input")
        }
        if let given = ints(node, "kernel_shape"), given != Array(weight.dims.dropFirst(2)) {
            throw OnnxError.node(node.label, problem: "kernel_shape \(given) disagrees with its weight's dims \(weight.dims)")
        }
        let group = int(node, "group", default: 1)
        guard group >= 1 else { throw OnnxError.node(node.label, problem: "group \(group) is below 1") }
        let expectedInput = transposed ? weight.dims[0] : try Checked.mul(weight.dims[1], group)
        guard input.channels == expectedInput else {
            throw OnnxError.node(node.label, problem: "its input has \(input.channels) channels but its weight \(weight.dims) with group \(group) needs \(expectedInput)")
        }
        let outChannels = transposed ? try Checked.mul(weight.dims[1], group) : weight.dims[0]
        let outputPadding = transposed ? (ints(node, "output_padding") ?? Array(repeating: 0, count: dims)) : Array(repeating: 0, count: dims)
        guard outputPadding.count == dims else { throw OnnxError.node(node.label, problem: "output_padding \(outputPadding) does not give one value per dimension") }
        var window = try self.window(node, weightKernel: Array(weight.dims.dropFirst(2)), input: input.spatial, transposed: transposed, outputPadding: outputPadding)
        window.pads = try OnnxConverter.adding(extra, to: window.pads)
        var keys = ["k=" + OnnxConverter.size(window.kernel)]
        keys += OnnxConverter.optional("s", window.strides, unless: 1)
        keys += OnnxConverter.padding(window.pads)
        keys += OnnxConverter.optional("d", window.dilations, unless: 1)
        if transposed { keys += OnnxConverter.optional("op", outputPadding, unless: 0) }
        if group != 1 { keys.append("g=\(group)") }
        keys.append("c=\(outChannels)")
        let hasBias = node.inputs.count >= 3 && !node.inputs[2].isEmpty
        if hasBias {
            // B is [C_out] (ONNX Conv, ConvTranspose): other dims would be another model's count.
            try requireOnePerChannel(try constant(node.inputs[2], of: node, role: "bias"), channels: outChannels, of: node, role: "bias", channel: "output")
        } else {
            keys.append("bias=0")
        }
        return (transposed ? "tconv:" : "conv:") + keys.joined(separator: ",")
    }

    /// MaxPool → `maxpool`, AveragePool → `avgpool`; the stride is always written, as ONNX's
    /// default is 1 where convcalc's (PyTorch's) is the kernel. `count_include_pad` and
    /// `storage_order` change values, not sizes.
    func pool(_ node: OnnxNode, pads extra: [PadPair]?) throws -> String {
        if node.outputs.count > 1, !node.outputs[1].isEmpty, consumers[node.outputs[1]] != nil {
            throw OnnxError.node(node.label, problem: "its second output (the indices of the maxima) is used; convcalc follows the pooled values only")
        }
        let input = shape(node.inputs[0])
        var window = try self.window(node, weightKernel: nil, input: input.spatial, transposed: false, outputPadding: Array(repeating: 0, count: dims))
        window.pads = try OnnxConverter.adding(extra, to: window.pads)
        let isMax = node.opType == "MaxPool"
        if !isMax && window.dilations.contains(where: { $0 != 1 }) {
            throw OnnxError.node(node.label, problem: "AveragePool with dilations \(window.dilations): convcalc's avgpool has no dilation")
        }
        var keys = ["k=" + OnnxConverter.size(window.kernel), "s=" + OnnxConverter.size(window.strides)]
        keys += OnnxConverter.padding(window.pads)
        if isMax { keys += OnnxConverter.optional("d", window.dilations, unless: 1) }
        if int(node, "ceil_mode", default: 0) != 0 { keys.append("ceil=1") }
        return (isMax ? "maxpool:" : "avgpool:") + keys.joined(separator: ",")
    }

    /// `3` when every dimension has the same size, else `3x5`.
    static func size(_ values: [Int]) -> String {
        values.allSatisfy { $0 == values[0] } ? String(values[0]) : values.map(String.init).joined(separator: "x")
    }

    /// `key=value` unless every value is the default.
    static func optional(_ key: String, _ values: [Int], unless defaultValue: Int) -> [String] {
        values.allSatisfy { $0 == defaultValue } ? [] : ["\(key)=" + size(values)]
    }

    /// `p=1`, `p=1x2`, or `p=0:2x1:0` when some side differs; nothing for no padding.
    static func padding(_ pads: [PadPair]) -> [String] {
        if pads.allSatisfy({ $0.before == 0 && $0.after == 0 }) { return [] }
        if pads.allSatisfy({ $0.before == $0.after }) { return ["p=" + size(pads.map(\.before))] }
        let pairs = pads.map { "\($0.before):\($0.after)" }
        return ["p=" + (pairs.allSatisfy { $0 == pairs[0] } ? pairs[0] : pairs.joined(separator: "x"))]
    }
}
