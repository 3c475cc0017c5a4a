import ConvCalcCore

/// The small integer arithmetic exporters leave unfolded: a Pad's pads built by
/// ConstantOfShape, Concat, Reshape, Slice, Transpose and Cast; `x.chunk(2, dim=1)` as
/// Shape, Gather, Add, Div and Mul feeding Slices. Evaluated on constants of at most
/// `OnnxTensor.smallLimit` elements; anything else stays unevaluated, and a message names the
/// operator if data ever needs its output.
extension OnnxConverter {
    /// Evaluates `node` when every input is a known small constant; false when it cannot.
    mutating func evaluate(_ node: OnnxNode) -> Bool {
        guard let output = node.outputs.first, !output.isEmpty else { return false }
        let inputs = node.inputs.map { $0.isEmpty ? nil : constants[$0] }
        if let result = (try? evaluated(node, inputs)) ?? nil {
            var named = result
            named.name = output
            constants[output] = named
            return true
        }
        return false
    }

    /// Evaluates the constant `name` ahead of node order when the nodes making it depend only
    /// on constants and on the shapes of data values already followed.
    mutating func resolve(_ name: String, depth: Int = 0) {
        guard !name.isEmpty, constants[name] == nil, values[name] == nil, depth < 64,
              let index = producers[name] else { return }
        let node = model.graph.nodes[index]
        if node.opType == "Shape", values[node.inputs.first ?? ""] != nil {
            shapeOf(node)
        } else {
            for input in node.inputs { resolve(input, depth: depth + 1) }
            guard node.inputs.allSatisfy({ $0.isEmpty || constants[$0] != nil }), evaluate(node) else { return }
        }
        handled.insert(index)
    }

    private func evaluated(_ node: OnnxNode, _ inputs: [OnnxTensor?]) throws -> OnnxTensor? {
        func values(_ i: Int) -> [Double]? { i < inputs.count ? inputs[i]?.values : nil }
        func tensor(_ values: [Double], dims: [Int], type: Int) -> OnnxTensor? {
            values.count <= OnnxTensor.smallLimit ? OnnxTensor(name: "", dataType: type, dims: dims, values: values) : nil
        }
        let first = inputs.first ?? nil
        let type = first?.dataType ?? 7
        switch node.opType {
        case "Identity", "Cast", "Squeeze", "Unsqueeze", "Reshape", "Flatten":
            guard let first, let v = first.values else { return nil }
            var dims = [v.count]
            if node.opType == "Reshape", let shape = values(1)?.compactMap(OnnxTensor.clampedInteger), shape.count == values(1)?.count,
               !shape.contains(where: { $0 < -1 }) {
                dims = shape.enumerated().map { i, d in d == 0 && i < first.dims.count ? first.dims[i] : d }
                guard let known = try? Checked.product(dims.filter { $0 != -1 }) else { return nil }
                if let free = dims.firstIndex(of: -1) { dims[free] = v.count / max(known, 1) }
            }
            if node.opType == "Squeeze" && v.count == 1 { dims = [] }
            let to = int(node, "to", default: type)
            let cast = node.opType == "Cast" && [2, 3, 4, 5, 6, 7, 12, 13].contains(to) ? v.map { $0.rounded(.towardZero) } : v
            return tensor(cast, dims: dims, type: node.opType == "Cast" ? to : type)
        case "ConstantOfShape":
            guard let shape = values(0)?.compactMap(OnnxTensor.clampedInteger), shape.count == values(0)?.count,
                  shape.allSatisfy({ $0 >= 0 }), let count = try? Checked.product(shape), count <= OnnxTensor.smallLimit else { return nil }
            var fill = 0.0
            if case let .tensor(t)? = node.attributes["value"], let v = t.values?.first { fill = v }
            return tensor(Array(repeating: fill, count: count), dims: shape, type: 7)
        case "Shape":
            guard let first else { return nil }
            return tensor(first.dims.map(Double.init), dims: [first.dims.count], type: 7)
        case "Gather":
            guard let data = values(0), let indices = values(1), int(node, "axis", default: 0) == 0 else { return nil }
            let picked = try indices.map { index -> Double in
                guard let given = OnnxTensor.clampedInteger(index) else { throw OnnxError.node(node.label, problem: "index \(index) is not whole") }
                let i = given < 0 ? given + data.count : given
                guard data.indices.contains(i) else { throw OnnxError.node(node.label, problem: "index \(given) outside \(data.count) values") }
                return data[i]
            }
            return tensor(picked, dims: inputs[1]?.dims ?? [picked.count], type: type)
        case "Concat":
            let parts = inputs.compactMap { $0?.values }
            guard parts.count == inputs.count else { return nil }
            let joined = parts.flatMap { $0 }
            return tensor(joined, dims: [joined.count], type: type)
        case "Add", "Sub", "Mul", "Div":
            return arithmetic(node.opType, inputs, type: type)
        case "Neg", "Floor", "Ceil", "Abs":
            return first.flatMap { OnnxConverter.unary(node.opType, $0) }
        case "Slice":
            return try slicedConstant(node, inputs)
        case "Transpose":
            guard let first, let v = first.values, first.dims.count == 2, ints(node, "perm") ?? [1, 0] == [1, 0] else { return nil }
            let (rows, columns) = (first.dims[0], first.dims[1])
            guard rows >= 1, columns >= 1, rows <= v.count, columns <= v.count, rows * columns == v.count else { return nil }
            let transposed = (0..<columns).flatMap { c in (0..<rows).map { r in v[r * columns + c] } }
            return tensor(transposed, dims: [columns, rows], type: type)
        default:
            return nil
        }
    }

    /// Neg, Floor, Ceil or Abs of a constant.
    static func unary(_ op: String, _ tensor: OnnxTensor) -> OnnxTensor? {
        guard let v = tensor.values else { return nil }
        let f: (Double) -> Double = op == "Neg" ? { -$0 } : op == "Floor" ? { $0.rounded(.down) } : op == "Ceil" ? { $0.rounded(.up) } : { abs($0) }
        return OnnxTensor(name: "", dataType: tensor.dataType, dims: tensor.dims, values: v.map(f))
    }

    /// Add, Sub, Mul, Div of two constants, one of them possibly a single value (broadcast);
    /// integer division truncates, as ONNX's Div on integers.
    private func arithmetic(_ op: String, _ inputs: [OnnxTensor?], type: Int) -> OnnxTensor? {
        guard inputs.count == 2, let a = inputs[0]?.values, let b = inputs[1]?.values, !a.isEmpty, !b.isEmpty,
              a.count == b.count || a.count == 1 || b.count == 1 else { return nil }
        let integral = ![1, 10, 11, 16].contains(type)
        let n = max(a.count, b.count)
        let result = (0..<n).map { i -> Double in
            let (x, y) = (a[a.count == 1 ? 0 : i], b[b.count == 1 ? 0 : i])
            switch op {
            case "Add": return x + y
            case "Sub": return x - y
            case "Mul": return x * y
            default: return y == 0 ? .nan : integral ? (x / y).rounded(.towardZero) : x / y
            }
        }
        guard n <= OnnxTensor.smallLimit, result.allSatisfy({ $0.isFinite && abs($0) < 9e15 }) else { return nil }
        return OnnxTensor(name: "", dataType: type, dims: (a.count >= b.count ? inputs[0] : inputs[1])?.dims ?? [n], values: result)
    }

    /// Slice of a 1-D constant (steps may be negative: the pads chain reverses a list), or of
    /// the first axis of a 2-D one.
    private func slicedConstant(_ node: OnnxNode, _ inputs: [OnnxTensor?]) throws -> OnnxTensor? {
        // INT64_MIN and MAX stand for "to the end": clamped, as a slice clamps them anyway.
        func integers(_ i: Int) -> [Int]? {
            guard i < inputs.count, let v = inputs[i]?.values else { return nil }
            let whole = v.compactMap(OnnxTensor.clampedInteger)
            return whole.count == v.count ? whole : nil
        }
        guard let data = inputs.first ?? nil, let v = data.values, let starts = integers(1),
              let ends = integers(2), starts.count == 1, ends.count == 1 else { return nil }
        let axes = integers(3) ?? [0]
        let steps = integers(4) ?? [1]
        guard axes == [0] || axes == [-data.dims.count], steps.count == 1, steps[0] != 0, !data.dims.isEmpty else { return nil }
        let rows = data.dims[0]
        // Rows that hold the values exactly, so the walk below is at most v.count long.
        guard rows >= 1, rows <= v.count, v.count % rows == 0 else { return nil }
        let width = v.count / rows
        let step = steps[0]
        func clamp(_ x: Int, low: Int, high: Int) -> Int { min(max(x, low), high) }
        var start = starts[0] < 0 ? starts[0] + rows : starts[0]
        var end = ends[0] < 0 ? ends[0] + rows : ends[0]
        start = step > 0 ? clamp(start, low: 0, high: rows) : clamp(start, low: -1, high: rows - 1)
        end = step > 0 ? clamp(end, low: 0, high: rows) : clamp(end, low: -1, high: rows - 1)
        var picked: [Double] = []
        var i = start
        while step > 0 ? i < end : i > end {
            picked += v[(i * width)..<((i + 1) * width)]
            i += step
        }
        let count = width == 0 ? 0 : picked.count / width
        return OnnxTensor(name: "", dataType: data.dataType, dims: [count] + data.dims.dropFirst(), values: picked)
    }
}
