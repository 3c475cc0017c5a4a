import ConvCalcCore

/// Walks an ONNX graph in node order (ONNX requires a topological order) and turns each
/// operator on the data flow into `Unit`s of convcalc layers, working out every value's shape
/// with convcalc's own layer arithmetic. Constants (initializers, `Constant` nodes and
/// `Identity` of either, as the PyTorch exporter writes shared weights) give weights' dims and
/// small values (axes, pads, scales).
struct OnnxConverter {
    let model: OnnxModel
    let file: String
    var dims = 2
    var inputSpatial: [Int] = []
    /// The spatial size the model declares, nil when some dimension is symbolic.
    var declaredSpatial: [Int]?
    var inputChannelCount = 0
    var batch = 1
    /// The data input's name (the first one's).
    var inputName = ""
    /// Every data input's name.
    var inputNames: [String] = []
    var units: [Unit] = []
    /// Every data value: the unit and output that make it, and its shape.
    var values: [String: (unit: Int, output: Int, shape: TensorShape)] = [:]
    var constants: [String: OnnxTensor] = [:]
    /// The constants that are weights: initializers, and Identity of one (not `Constant`
    /// nodes, not arithmetic on constants).
    var parameters: Set<String> = []
    /// The node that makes each value (indices into the graph's nodes).
    var producers: [String: Int] = [:]
    /// Nodes that read each value (indices into the graph's nodes).
    var consumers: [String: [Int]] = [:]
    /// Nodes already converted as part of a pattern that started earlier.
    var handled: Set<Int> = []
    /// Padding of a `Pad` node, added to the convolution or pool that reads its output (by node index).
    var pendingPads: [Int: [PadPair]] = [:]
    var uncounted: [String: Int] = [:]
    var warnings: [String] = []
    var shapes: [String: [Int]] = [:]

    /// The `input:` line of the emitted network.
    var inputLine: String {
        "input:in=" + OnnxConverter.size(inputSpatial) + ",c=\(inputChannelCount)" + (dims == 2 ? "" : ",dims=\(dims)")
    }

    init(model: OnnxModel, file: String, inputSize: DimSize?, inputChannels: Int?) throws {
        self.model = model
        self.file = file
        let graph = model.graph
        constants = graph.initializers
        parameters = Set(graph.initializers.keys)
        for (index, node) in graph.nodes.enumerated() {
            for input in node.inputs where !input.isEmpty { consumers[input, default: []].append(index) }
            for output in node.outputs where !output.isEmpty && producers[output] == nil { producers[output] = index }
        }
        let dataInputs = graph.inputs.filter { constants[$0.name] == nil }
        guard !dataInputs.isEmpty else { throw OnnxError.graph("the model has no data input (every graph input is a weight)") }
        // Several inputs: --in and --cin apply to each; the graph is then counted layer by layer.
        for input in dataInputs { try readInput(input, inputSize: inputSize, inputChannels: inputChannels) }
        inputNames = dataInputs.map(\.name)
    }

    /// The input's channels and spatial size (N×C×spatial), `--in` and `--cin` filling or
    /// replacing what the model says.
    private mutating func readInput(_ input: OnnxValueInfo, inputSize: DimSize?, inputChannels: Int?) throws {
        let first = units.isEmpty
        if first { inputName = input.name }
        guard [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 16].contains(input.elementType) else {
            throw OnnxError.unsupportedInput(name: input.name, reason: "its element type \(OnnxValueInfo.typeName(input.elementType)) is not a number type")
        }
        guard let shape = input.shape else {
            throw OnnxError.unsupportedInput(name: input.name, reason: "the model gives no shape for it; convcalc needs N×C×H×W (give --in and --cin)")
        }
        guard (3...5).contains(shape.count) else {
            throw OnnxError.unsupportedInput(name: input.name, reason: "its shape \(OnnxValueInfo.text(shape)) has rank \(shape.count); convcalc reads image-like inputs N×C×L, N×C×H×W or N×C×D×H×W")
        }
        guard first || shape.count - 2 == dims else {
            throw OnnxError.unsupportedInput(name: input.name, reason: "it has \(shape.count - 2) spatial dimensions, the first input '\(inputName)' \(dims)")
        }
        dims = shape.count - 2
        if first, case let .value(n) = shape[0], n >= 1 { batch = n }
        let channels: Int
        switch (shape[1], inputChannels) {
        case let (.value(c), given?) where c != given:
            throw OnnxError.unsupportedInput(name: input.name, reason: "the model's input has \(c) channels and its weights are made for them; --cin \(given) cannot change it")
        case let (.value(c), _) where c >= 1: channels = c
        case let (_, given?): channels = given
        default: throw OnnxError.unsupportedInput(name: input.name, reason: "its channels are \(OnnxValueInfo.text([shape[1]])); give them with --cin")
        }
        let declared = shape.dropFirst(2).compactMap { dimension -> Int? in
            if case let .value(v) = dimension, v >= 1 { return v }
            return nil
        }
        let spatial: [Int]
        if let inputSize {
            guard inputSize.values.count == 1 || inputSize.values.count == dims else {
                throw LayerError.dimensionMismatch(.stack(.inputSize), value: "\(inputSize)", count: inputSize.values.count, dims: dims)
            }
            spatial = inputSize.values.count == 1 ? Array(repeating: inputSize.values[0], count: dims) : inputSize.values
        } else {
            spatial = try shape.dropFirst(2).map { dimension in
                guard case let .value(v) = dimension, v >= 1 else { throw OnnxError.needsInputSize(input: input.name, shape: OnnxValueInfo.text(shape)) }
                return v
            }
        }
        if first {
            (inputChannelCount, inputSpatial) = (channels, spatial)
            declaredSpatial = declared.count == dims ? declared : nil
        }
        let start = TensorShape(channels: channels, spatial: spatial)
        units.append(Unit(kind: .input, inputs: [], label: input.name, outputShapes: [start]))
        record(input.name, unit: units.count - 1, output: 0, shape: start)
    }

    mutating func record(_ name: String, unit: Int, output: Int, shape: TensorShape) {
        values[name] = (unit, output, shape)
        shapes[name] = shape.onnxDims(batch: batch)
    }

    /// Converts every node that is on the data flow, in order, after folding every node that
    /// depends on constants only (a pattern may look ahead at a constant written later).
    mutating func convertNodes() throws {
        var unevaluated: [String: String] = [:]
        for (index, node) in model.graph.nodes.enumerated()
        where node.inputs.allSatisfy({ $0.isEmpty || constants[$0] != nil }) && node.inputs.contains(where: { !$0.isEmpty }) || node.inputs.isEmpty {
            if foldConstant(node) || evaluate(node) { handled.insert(index) }
        }
        for (index, node) in model.graph.nodes.enumerated() where !handled.contains(index) {
            // A node without an output feeds nothing: nothing to follow or count.
            guard let first = node.outputs.first, !first.isEmpty else { continue }
            let dataInputs = node.inputs.filter { values[$0] != nil }
            if dataInputs.isEmpty {
                if !foldConstant(node) && !evaluate(node) {
                    for output in node.outputs { unevaluated[output] = node.opType }
                }
                continue
            }
            for input in node.inputs where !input.isEmpty && values[input] == nil && constants[input] == nil {
                if let op = unevaluated[input] {
                    throw OnnxError.node(node.label, problem: "its input '\(input)' is computed by \(op) from constants, which convcalc does not evaluate")
                }
                throw OnnxError.node(node.label, problem: "its input '\(input)' is made by no earlier node (ONNX nodes are in topological order)")
            }
            do {
                try convert(index, node)
            } catch let error as OnnxError {
                throw error
            } catch let error as UserFacingError {
                // Checked arithmetic on the node's sizes (a count beyond 64 bits).
                throw OnnxError.node(node.label, problem: error.message(.tokens))
            }
        }
    }

    /// A node off the data flow: `Constant` and `Identity` of a constant give constants (true);
    /// other nodes on constants only are evaluated by `evaluate` where they can be.
    @discardableResult
    private mutating func foldConstant(_ node: OnnxNode) -> Bool {
        switch node.opType {
        case "Constant":
            guard let output = node.outputs.first else { return false }
            if case let .tensor(tensor)? = node.attributes["value"] {
                var named = tensor
                named.name = output
                constants[output] = named
            } else if case let .ints(list)? = node.attributes["value_ints"] {
                constants[output] = OnnxTensor(name: output, dataType: 7, dims: [list.count], values: list.map(Double.init))
            } else if case let .int(v)? = node.attributes["value_int"] {
                constants[output] = OnnxTensor(name: output, dataType: 7, dims: [], values: [Double(v)])
            } else if case let .floats(list)? = node.attributes["value_floats"] {
                constants[output] = OnnxTensor(name: output, dataType: 1, dims: [list.count], values: list.map(Double.init))
            } else if case let .float(v)? = node.attributes["value_float"] {
                constants[output] = OnnxTensor(name: output, dataType: 1, dims: [], values: [Double(v)])
            } else {
                return false
            }
            return true
        case "Identity":
            if let source = node.inputs.first.flatMap({ constants[$0] }), let output = node.outputs.first {
                constants[output] = source
                if parameters.contains(node.inputs[0]) { parameters.insert(output) }
                return true
            }
            return false
        default: return false
        }
    }

    /// The value the network ends at: the graph's one output.
    func graphOutput() throws -> (unit: Int, output: Int) {
        let outputs = model.graph.outputs.map(\.name)
        guard let name = outputs.first else { throw OnnxError.graph("the model has no output") }
        guard inputNames.count == 1 else {
            throw OnnxError.structure("the model has \(inputNames.count) inputs (\(inputNames.map { "'\($0)'" }.joined(separator: ", "))); the network language follows one")
        }
        for output in outputs where values[output] == nil {
            throw OnnxError.graph("the output '\(output)' does not depend on the input" + (inputNames.count == 1 ? " '\(inputName)'" : "s"))
        }
        guard outputs.count == 1 else {
            throw OnnxError.structure("the model has \(outputs.count) outputs (\(outputs.map { "'\($0)'" }.joined(separator: ", "))); the network language follows one")
        }
        let value = values[name]!   // every output was checked to have one above
        return (value.unit, value.output)
    }

    // MARK: - Helpers for operators

    func shape(_ name: String) -> TensorShape { values[name]!.shape }

    /// The constant named `name`, or an error naming the node that needs it.
    func constant(_ name: String, of node: OnnxNode, role: String) throws -> OnnxTensor {
        guard let tensor = constants[name] else {
            throw OnnxError.node(node.label, problem: "its \(role) '\(name)' is computed, not a constant; convcalc reads \(node.opType) with a constant \(role)")
        }
        return tensor
    }

    /// A constant of one value per channel, the "1-dimensional tensor of size C" of the ONNX
    /// operators (Conv's B, BatchNormalization's and InstanceNormalization's parameters):
    /// other dims ([7] for 4 channels, [-4], [4, 4], []) are another model's count.
    func requireOnePerChannel(_ tensor: OnnxTensor, channels: Int, of node: OnnxNode, role: String, channel: String) throws {
        guard tensor.dims == [channels] else {
            throw OnnxError.node(node.label, problem: "its \(role) '\(tensor.name)' has dims \(tensor.dims), not [\(channels)], one value per \(channel) channel")
        }
    }

    /// Integer values of a small constant input, when given (optional inputs may be `""`).
    func integers(_ node: OnnxNode, input index: Int, role: String) throws -> [Int]? {
        guard index < node.inputs.count, !node.inputs[index].isEmpty else { return nil }
        let tensor = try constant(node.inputs[index], of: node, role: role)
        guard let values = tensor.integers else {
            throw OnnxError.node(node.label, problem: "its \(role) '\(tensor.name)' holds no readable integers")
        }
        return values
    }

    /// Whether a tensor of `dims` broadcasts unidirectionally onto `target` (ONNX's
    /// Broadcasting.md): at most as many dims, each, aligned from the right, 1 or equal.
    /// Negative dims never do (every target size is ≥ 1); no arithmetic, so no overflow.
    static func broadcasts(_ dims: [Int], onto target: [Int]) -> Bool {
        dims.count <= target.count && zip(dims.reversed(), target.reversed()).allSatisfy { $0 == 1 || $0 == $1 }
    }

    /// Axis `axis` of a tensor of `rank`, negative counting from the end.
    func axis(_ axis: Int, rank: Int, node: OnnxNode) throws -> Int {
        let resolved = axis < 0 ? axis + rank : axis
        guard (0..<rank).contains(resolved) else { throw OnnxError.node(node.label, problem: "axis \(axis) is outside a rank-\(rank) tensor") }
        return resolved
    }

    /// Applies layer `tokens` to `input`'s shape with convcalc's arithmetic: the output shape.
    func apply(_ tokens: [String], to input: TensorShape, node: OnnxNode) throws -> TensorShape {
        try tokens.reduce(input) { current, token in try counted(token, on: current, label: node.label).output }
    }

    /// One layer on `input`, counted by convcalc's own rules (a one-layer stack): its entry
    /// (cost, channels, size) and its output shape; errors name the node (`label`).
    func counted(_ token: String, on input: TensorShape, label: String) throws -> (entry: NetworkCost.Entry, output: TensorShape) {
        do {
            let layer = try Layer.parse(token)
            let stack = try LayerStack(layers: [layer], inputSize: DimSize(input.spatial), inputChannels: input.channels, dims: dims)
            let entry = try NetworkCost(stack: stack).entries[0]
            let output = TensorShape(channels: entry.channels ?? input.channels, spatial: entry.spatial ?? input.spatial,
                                     flat: input.flat || layer.type == .flatten || layer.type == .fc)
            return (entry, output)
        } catch let error as LayerContextError {
            throw OnnxError.node(label, problem: "as \(token): " + error.underlying.message(.tokens))
        } catch let error as UserFacingError {
            throw OnnxError.node(label, problem: "as \(token): " + error.message(.tokens))
        }
    }

    /// A unit of layer `tokens` on data value `input`; its output is named `output`.
    mutating func emit(_ tokens: [String], input: String, node: OnnxNode, output: String) throws {
        let source = values[input]!
        var result = try apply(tokens, to: source.shape, node: node)
        result.channelsLast = source.shape.channelsLast   // layers per position keep the layout
        units.append(Unit(kind: .layers(tokens), inputs: [(source.unit, source.output)], label: node.label, outputShapes: [result]))
        record(output, unit: units.count - 1, output: 0, shape: result)
    }

    /// The node's output names the same value as its input (Identity, and patterns folded away).
    mutating func alias(_ output: String, to input: String) {
        let source = values[input]!
        record(output, unit: source.unit, output: source.output, shape: source.shape)
    }

    /// The one node reading `value`, when exactly one does.
    func soleConsumer(_ value: String) -> Int? {
        guard let readers = consumers[value], readers.count == 1,
              !model.graph.outputs.contains(where: { $0.name == value }) else { return nil }
        return readers[0]
    }
}

extension OnnxValueInfo {
    /// `1x3x224x224`, `batchx3xheightxwidth`, `?` for an unknown dimension.
    static func text(_ shape: [Dimension]) -> String {
        shape.map { dimension -> String in
            switch dimension {
            case let .value(v): return String(v)
            case let .parameter(name): return name
            case .unknown: return "?"
            }
        }.joined(separator: "x")
    }

    /// TensorProto.DataType's name for messages.
    static func typeName(_ type: Int) -> String {
        let names = [0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64", 8: "STRING",
                     9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64", 14: "COMPLEX64", 15: "COMPLEX128", 16: "BFLOAT16"]
        return names[type] ?? "type \(type)"
    }
}
