import ConvCalcCore

/// A converted graph as the network language's tree: a sequence of layers and merges whose
/// branches all start from one value and end in one join (`add`, `concat`, `mul`), or start
/// from a `split`'s outputs and end in the concat of them in order.
///
/// Each join's branches start at its immediate dominator: the last unit every path from the
/// input to the join passes through (for a DAG in topological order, the nearest common
/// ancestor of its inputs in the dominator tree). Walking back from the output, a layer
/// unit prepends itself and continues from its input; a join prepends a merge of the walks
/// from its dominator to each input and continues from the dominator. A graph that is not
/// series-parallel shows up as a unit reached twice (its output feeds branches that join at
/// different places): an error naming its node.
struct SeriesParallel {
    indirect enum Piece {
        case unit(Int)
        case merge(MergeKind, [[Piece]])
    }

    let units: [Unit]
    private var dominator: [Int]
    private var depth: [Int]
    private var reached: [Int]

    init(units: [Unit]) {
        self.units = units
        dominator = Array(repeating: 0, count: units.count)
        depth = Array(repeating: 0, count: units.count)
        reached = Array(repeating: 0, count: units.count)
        for u in units.indices.dropFirst() {
            let predecessors = units[u].inputs.map(\.unit)
            var common = predecessors[0]
            for p in predecessors.dropFirst() { common = nearestCommon(common, p) }
            dominator[u] = common
            depth[u] = depth[common] + 1
        }
    }

    private func nearestCommon(_ a: Int, _ b: Int) -> Int {
        var (a, b) = (a, b)
        while a != b {
            if depth[a] >= depth[b] { a = dominator[a] } else { b = dominator[b] }
        }
        return a
    }

    /// Units of layers or joins that the walk never reached: their outputs lead nowhere near
    /// the output (dead ends of the graph).
    var unreached: [Int] {
        units.indices.dropFirst().filter { reached[$0] == 0 && units[$0].kind != .input }
    }

    /// The tree computing `output` from the input (unit 0).
    mutating func pieces(to output: (unit: Int, output: Int)) throws -> [Piece] {
        try sequence(from: 0, to: output).pieces
    }

    private mutating func reach(_ unit: Int) throws {
        reached[unit] += 1
        guard reached[unit] == 1 else {
            throw OnnxError.structure("node '\(units[unit].label)': its output feeds branches that join at different places, so the graph is not series-parallel (every add, concat, mul and split of convcalc's language starts its branches from one value)")
        }
    }

    /// The pieces from `start`'s output to `value`, and the output of `start` the walk ended at.
    private mutating func sequence(from start: Int, to value: (unit: Int, output: Int), depth: Int = 0) throws -> (pieces: [Piece], endOutput: Int) {
        guard depth <= StackSyntax.maximumDepth else {
            throw OnnxError.node(units[value.unit].label, problem: "it sits inside more than \(StackSyntax.maximumDepth) nested joins, more than convcalc's language nests")
        }
        var reversed: [Piece] = []
        var current = value
        while current.unit != start {
            let unit = units[current.unit]
            try reach(current.unit)
            switch unit.kind {
            case .input:
                throw OnnxError.graph("internal: the walk passed the input")   // start dominates every value it walks from
            case .layers:
                reversed.append(.unit(current.unit))
                current = unit.inputs[0]
            case let .join(kind):
                let branchPoint = dominator[current.unit]
                if case let .split(shares) = units[branchPoint].kind, branchPoint != start {
                    reversed.append(try splitMerge(join: current.unit, kind: kind, split: branchPoint, shares: shares, depth: depth + 1))
                    try reach(branchPoint)
                    current = units[branchPoint].inputs[0]
                } else {
                    var branches: [[Piece]] = []
                    if case .split = units[branchPoint].kind {
                        throw OnnxError.structure("node '\(unit.label)': it joins outputs of the split '\(units[branchPoint].label)' inside one of its branches; convcalc follows split { } { } branches concatenated back")
                    }
                    for group in groups(unit.inputs, below: branchPoint) {
                        branches.append(try branch(group, kind: kind, from: branchPoint, depth: depth + 1))
                    }
                    reversed.append(.merge(kind, branches))
                    current = (branchPoint, 0)
                }
            case .split:
                throw OnnxError.structure("node '\(unit.label)': its outputs are not all joined by one Concat in their order; convcalc follows a channel split whose branches are concatenated back (split { } { })")
            }
        }
        return (reversed.reversed(), current.output)
    }

    /// The join's inputs in order, adjacent ones that pass through the same unit below the
    /// branch point grouped: a join of several inputs is associative (PyTorch's legacy
    /// exporter flattens Inception v3's `cat([cat([a, b]), c])` into one Concat of a, b, c,
    /// where a and b come from one branch).
    private func groups(_ inputs: [(unit: Int, output: Int)], below branchPoint: Int) -> [[(unit: Int, output: Int)]] {
        func top(_ unit: Int) -> Int? {
            var u = unit
            while u != branchPoint && dominator[u] != branchPoint { u = dominator[u] }
            return u == branchPoint ? nil : u
        }
        var groups: [[(unit: Int, output: Int)]] = []
        var last: Int?
        for input in inputs {
            let t = top(input.unit)
            if let t, t == last { groups[groups.count - 1].append(input) } else { groups.append([input]) }
            last = t
        }
        return groups
    }

    /// A branch from `start` to one input, or to a group's inputs joined by the same kind
    /// from their own branch point.
    private mutating func branch(_ group: [(unit: Int, output: Int)], kind: MergeKind, from start: Int, depth: Int) throws -> [Piece] {
        guard group.count > 1 else { return try sequence(from: start, to: group[0], depth: depth).pieces }
        let inner = group.map(\.unit).dropFirst().reduce(group[0].unit) { nearestCommon($0, $1) }
        guard units[inner].outputShapes.count == 1 else {
            throw OnnxError.structure("node '\(units[inner].label)': its outputs are joined inside one branch of a wider join")
        }
        var pieces = try sequence(from: start, to: (inner, 0), depth: depth).pieces
        var nested: [[Piece]] = []
        for input in group { nested.append(try sequence(from: inner, to: input, depth: depth + 1).pieces) }
        pieces.append(.merge(kind, nested))
        return pieces
    }

    /// `split:c=… { } { }`: branch `i` must run from the split's output `i` to the concat's input `i`.
    private mutating func splitMerge(join: Int, kind: MergeKind, split: Int, shares: [Int], depth: Int) throws -> Piece {
        let inputs = units[join].inputs
        guard kind == .concat, inputs.count == shares.count else {
            throw OnnxError.structure("node '\(units[join].label)': it joins outputs of the split '\(units[split].label)' other than by concatenating all of them in order; convcalc follows split { } { } branches concatenated back")
        }
        var branches: [[Piece]] = []
        for (i, input) in inputs.enumerated() {
            let walk = try sequence(from: split, to: input, depth: depth)
            guard walk.endOutput == i else {
                throw OnnxError.structure("node '\(units[join].label)': it concatenates the outputs of the split '\(units[split].label)' in another order; convcalc follows split { } { } branches concatenated back in order")
            }
            branches.append(walk.pieces)
        }
        return .merge(.split(shares: shares), branches)
    }

    /// The tree as words of the network language, each layer located at its node (its text
    /// is `StackSyntax.text(of:)`, the node names as comments).
    static func words(_ pieces: [Piece], units: [Unit], file: String, input: String) -> [StackWord] {
        var words = [StackWord(input, location: "\(file): the input")]
        var weights: Set<String> = []
        func walk(_ pieces: [Piece]) {
            for piece in pieces {
                switch piece {
                case let .unit(index):
                    for token in units[index].tokens(seen: &weights) {
                        var word = StackWord(token, location: "\(file): node '\(units[index].label)'")
                        word.node = units[index].label
                        words.append(word)
                    }
                case let .merge(kind, branches):
                    words.append(StackWord(SeriesParallel.word(kind)))
                    for branch in branches {
                        words.append(StackWord("{"))
                        walk(branch)
                        words.append(StackWord("}"))
                    }
                }
            }
        }
        walk(pieces)
        return words
    }

    /// The word that opens a merge: `add`, `concat`, `mul`, `split:c=24x40`.
    static func word(_ kind: MergeKind) -> String {
        if let shares = kind.givenShares { return "split:c=" + shares.map(String.init).joined(separator: "x") }
        return kind.name
    }
}
