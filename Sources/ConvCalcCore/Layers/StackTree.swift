/// One node of a folded stack: a layer's value, or a merge's value with its branches' results.
///
/// The result tree has the shape of the `StackNode` tree it came from, so every per-node
/// result sits where its node sits: a renderer walks it with `StackTree.reduce` and never
/// keeps a counter in step with the producer.
public indirect enum StackResult<LayerValue, MergeValue> {
    /// Layer `index` (0-based, into `LayerStack.layers`) and its value.
    case layer(index: Int, LayerValue)
    /// A merge, its value, and each branch's results in order (an empty branch is the identity).
    case merge(MergeKind, MergeValue, branches: [[StackResult<LayerValue, MergeValue>]])
}

extension StackResult: Sendable where LayerValue: Sendable, MergeValue: Sendable {}

/// The one walk over a stack's tree of layers and merges.
///
/// Recursion is one level per merge; the parser allows at most `StackSyntax.maximumDepth`.
public enum StackTree {
    /// Folds `nodes` forward from `start`, visiting every layer and merge once, in the order
    /// written (a merge's branches before the merge combines them).
    ///
    /// - Parameters:
    ///   - start: the state entering the first node (e.g. the input size).
    ///   - layer: layer `index` applied to its input state: the layer's value and its output state.
    ///   - branchInputs: a merge's kind, its input state and its number of branches: the state
    ///     each branch starts from, one per branch (a split gives each branch its share of the
    ///     channels). nil: every branch starts from the merge's input state.
    ///   - merge: a merge's kind, its input state and each branch's output state: the merge's
    ///     value and its output state.
    /// - Returns: the result tree (one value per node, branches nested) and the final state.
    /// - Throws: whatever `layer`, `branchInputs` or `merge` throws, at the first node that throws.
    public static func fold<State, L, M>(_ nodes: [StackNode], from start: State,
                                         layer: (Int, State) throws -> (L, State),
                                         branchInputs: ((MergeKind, State, Int) throws -> [State])? = nil,
                                         merge: (MergeKind, State, [State]) throws -> (M, State))
        rethrows -> (results: [StackResult<L, M>], output: State) {
        var state = start
        var results: [StackResult<L, M>] = []
        results.reserveCapacity(nodes.count)
        for node in nodes {
            switch node {
            case let .layer(index):
                let (value, next) = try layer(index, state)
                results.append(.layer(index: index, value))
                state = next
            case let .merge(kind, branches):
                let inputs = try branchInputs?(kind, state, branches.count) ?? Array(repeating: state, count: branches.count)
                precondition(inputs.count == branches.count, "branchInputs must give one state per branch")
                var branchResults: [[StackResult<L, M>]] = []
                var outputs: [State] = []
                for (branch, input) in zip(branches, inputs) {
                    let folded = try fold(branch, from: input, layer: layer, branchInputs: branchInputs, merge: merge)
                    branchResults.append(folded.results)
                    outputs.append(folded.output)
                }
                let (value, next) = try merge(kind, state, outputs)
                results.append(.merge(kind, value, branches: branchResults))
                state = next
            }
        }
        return (results, state)
    }

    /// The final state of `fold`, without keeping per-node values.
    public static func output<State>(_ nodes: [StackNode], from start: State,
                                     layer: (Int, State) throws -> State,
                                     merge: (MergeKind, State, [State]) throws -> State) rethrows -> State {
        try fold(nodes, from: start, layer: { ((), try layer($0, $1)) }, merge: { ((), try merge($0, $1, $2)) }).output
    }

    /// Reduces a result tree bottom-up: `layer` makes a layer's item, `merge` a merge's from its
    /// value and its branches' items (per branch, per node, already reduced one level deeper).
    ///
    /// - Parameter depth: the nesting depth of `results` (0 at the top; a merge's branches are one deeper).
    public static func reduce<L, M, T>(_ results: [StackResult<L, M>], depth: Int = 0,
                                       layer: (Int, L, Int) throws -> T,
                                       merge: (MergeKind, M, [[T]], Int) throws -> T) rethrows -> [T] {
        try results.map { result in
            switch result {
            case let .layer(index, value):
                return try layer(index, value, depth)
            case let .merge(kind, value, branches):
                let reduced = try branches.map { try reduce($0, depth: depth + 1, layer: layer, merge: merge) }
                return try merge(kind, value, reduced, depth)
            }
        }
    }

    /// Every layer's value, in the order written (inside branches too).
    public static func layerValues<L, M>(_ results: [StackResult<L, M>]) -> [L] {
        var values: [L] = []
        visit(results, layer: { values.append($0) }, merge: { _, _ in })
        return values
    }

    /// Every merge's value, in the order its `add`/`concat`/`split` is written (a merge before
    /// the merges inside its branches).
    public static func mergeValues<L, M>(_ results: [StackResult<L, M>]) -> [M] {
        merges(results).map(\.value)
    }

    /// Every merge's kind and value, in the order written (as `mergeValues`).
    public static func merges<L, M>(_ results: [StackResult<L, M>]) -> [(kind: MergeKind, value: M)] {
        var merges: [(kind: MergeKind, value: M)] = []
        visit(results, layer: { _ in }, merge: { merges.append(($0, $1)) })
        return merges
    }

    /// Calls `layer` and `merge` in the order written (a merge before its branches), in time
    /// linear in the tree's size.
    private static func visit<L, M>(_ results: [StackResult<L, M>], layer: (L) -> Void, merge: (MergeKind, M) -> Void) {
        for result in results {
            switch result {
            case let .layer(_, value):
                layer(value)
            case let .merge(kind, value, branches):
                merge(kind, value)
                for branch in branches { visit(branch, layer: layer, merge: merge) }
            }
        }
    }
}
