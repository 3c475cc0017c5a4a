import ConvCalcCore

/// A model whose graph is not series-parallel, or that has several outputs: it cannot be
/// written in the network language, but every layer still has its input as the graph gives
/// it. Each layer is counted on that input (by convcalc's own per-layer rules, a one-layer
/// stack), each join by the merge rules, in node order; the totals follow the real data flow.
/// `rf` and `--emit net` need the tree and say why they cannot have it (`reason`).
public struct OnnxGraphCount: Sendable {
    public struct Row: Sendable {
        /// The layer token, or the join's word (`add`, `concat`, `mul`, `split:c=…`).
        public var token: String
        public var node: String
        /// nil for a layer.
        public var merge: MergeKind?
        /// N×C×spatial of each input, and of each output (a split has several).
        public var inputs: [[Int]]
        public var outputs: [[Int]]
        public var weights = 0
        public var biases = 0
        /// nil for none counted (never unknown here: every size is known).
        public var macs = 0
    }

    public var rows: [Row]
    /// The graph's outputs and their shapes (N×C×spatial).
    public var outputs: [(name: String, shape: [Int])]
    public var weights: Int
    public var biases: Int
    public var params: Int
    public var macs: Int
    /// Why the graph is not a tree of branches (the error `rf` and `--emit net` give).
    public var reason: OnnxError
}

extension OnnxConverter {
    /// Every unit counted on its own inputs, in order.
    func graphCount(reason: OnnxError) throws -> OnnxGraphCount {
        var rows: [OnnxGraphCount.Row] = []
        var weights: Set<String> = []
        for unit in units.dropFirst() {
            let inputs = unit.inputs.map { units[$0.unit].outputShapes[$0.output] }
            let dimsOf = { (shape: TensorShape) in shape.onnxDims(batch: batch) }
            switch unit.kind {
            case .input: continue
            case .layers:
                var current = inputs[0]
                for token in unit.tokens(seen: &weights) {
                    let (entry, next) = try counted(token, on: current, label: unit.label)
                    rows.append(.init(token: token, node: unit.label, merge: nil, inputs: [dimsOf(current)], outputs: [dimsOf(next)],
                                      weights: entry.cost.weights, biases: entry.cost.biases, macs: entry.cost.macs ?? 0))
                    current = next
                }
            case let .join(kind):
                let merge = try NetworkCost.merge(kind, inputs.map { ($0.channels, $0.spatial) }, after: 0)
                rows.append(.init(token: SeriesParallel.word(kind), node: unit.label, merge: kind, inputs: inputs.map(dimsOf),
                                  outputs: unit.outputShapes.map(dimsOf), macs: merge.macs ?? 0))
            case let .split(shares):
                rows.append(.init(token: SeriesParallel.word(.split(shares: shares)), node: unit.label, merge: .split(shares: shares),
                                  inputs: inputs.map(dimsOf), outputs: unit.outputShapes.map(dimsOf)))
            }
        }
        let outputs = model.graph.outputs.compactMap { output in values[output.name].map { (output.name, $0.shape.onnxDims(batch: batch)) } }
        let weightTotal = try Checked.sum(rows.map(\.weights)), biasTotal = try Checked.sum(rows.map(\.biases))
        return OnnxGraphCount(rows: rows, outputs: outputs, weights: weightTotal, biases: biasTotal,
                              params: try Checked.add(weightTotal, biasTotal), macs: try Checked.sum(rows.map(\.macs)), reason: reason)
    }
}
