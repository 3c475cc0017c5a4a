import ConvCalcCore

/// `shape --solve KEYS --out SIZE`: every value of the unknown keys within `SolveBounds` that
/// gives the output (one layer), or every input size (one layer or a chain), with the working
/// that checks each.
struct ShapeSolve {
    /// At most this many solutions are written out in text; -q and --json list all.
    static let shownInText = 20

    let unknowns: [SolveKey]
    let layer: Layer?
    let stack: LayerStack
    let input: [Int]?
    let wanted: [Int]
    let uniform: Bool
    /// Per dimension shown (one when every dimension is alike): the solutions.
    let solutions: [[LayerSolution]]
    /// Solving for `in`: per dimension shown, the input sizes as ranges.
    let inputs: [[ClosedRange<Int>]]
    /// Solving for `in`: per dimension shown, every output the chain gives, with its inputs
    /// (worked out once, for `inputs` and for the nearest outputs when none fits).
    let reached: [[(size: Int, inputs: [ClosedRange<Int>])]]

    /// - Throws: `UsageError` for a request that cannot be solved as asked.
    init(_ stack: LayerStack, unknowns: [SolveKey], target: String) throws {
        let parsed = try DimSize.parse(target, subject: .option("--out"), minimum: 1)
        guard parsed.values.count == 1 || parsed.values.count == stack.dims else {
            throw LayerError.dimensionMismatch(.option("--out"), value: target, count: parsed.values.count, dims: stack.dims)
        }
        self.stack = stack
        self.unknowns = unknowns
        wanted = parsed.expanded(to: stack.dims)
        uniform = stack.isUniform && parsed.isUniform && (stack.inputSize.map { Set($0).count == 1 } ?? true)
        let shownDims = uniform ? [0] : Array(0..<stack.dims)
        if unknowns == [.input] {
            guard !stack.hasBranches else { throw UsageError.invalid("--solve in follows a chain of layers; this stack has branches") }
            guard stack.inputSize == nil else { throw UsageError.invalid("--solve in finds the input size; drop --in (or the input: line)") }
            layer = stack.layers.count == 1 ? stack.layers[0] : nil
            input = nil
            solutions = []
            let geometries = stack.layers.indices.map { stack.geometry(of: $0) }
            reached = try shownDims.map { dim in try LayerSolver.outputs(through: Self.sizeMaps(geometries, dim: dim)) }
            inputs = zip(shownDims, reached).map { dim, outputs in outputs.first { $0.size == parsed.expanded(to: stack.dims)[dim] }?.inputs ?? [] }
            return
        }
        guard stack.layers.count == 1, !stack.hasBranches else {
            throw UsageError.invalid("--solve \(unknowns.map(\.rawValue).joined(separator: ",")) solves one layer; this stack has \(stack.layers.count) (only in is solved through a chain)")
        }
        guard let given = stack.inputSize else { throw UsageError.invalid("--solve needs --in, the input size (or solve for in alone)") }
        let type = stack.layers[0].type
        let geometry = stack.geometry(of: 0)
        guard geometry.rule == .window || geometry.rule == .transposed else {
            throw UsageError.invalid("--solve finds the keys of convolutions, pools and tconv; \(type.rawValue) has none that set its size")
        }
        for key in unknowns where !type.keys.contains(where: { $0.rawValue == key.rawValue }) {
            throw UsageError.invalid("--solve \(key.rawValue): \(type.rawValue) has no key \(key.rawValue) (its keys: \(type.keys.map(\.rawValue).joined(separator: ", ")))")
        }
        layer = stack.layers[0]
        input = given
        inputs = []
        reached = []
        solutions = shownDims.map { dim in
            LayerSolver.solve(stack.layers[0], dims: stack.dims, dim: dim, unknowns: Set(unknowns), input: given[dim], target: parsed.expanded(to: stack.dims)[dim])
        }
    }

    /// The bounds searched, in words.
    var boundsText: String {
        var parts: [String] = []
        for key in unknowns {
            switch key {
            case .k: parts.append("k \(SolveBounds.kernel.lowerBound)–\(SolveBounds.kernel.upperBound)")
            case .s: parts.append("s \(SolveBounds.stride.lowerBound)–\(SolveBounds.stride.upperBound)")
            case .d: parts.append("d \(SolveBounds.dilation.lowerBound)–\(SolveBounds.dilation.upperBound)")
            case .p: parts.append(layer?.type.isPool == true ? "p 0 to ⌊k/2⌋ a side (PyTorch's limit for pools)" : "p 0 to ke − 1 a side, the odd one after")
            case .op: parts.append("op 0 to max(s, d) − 1")
            case .input: parts.append("in \(SolveBounds.input.lowerBound)–\(SolveBounds.input.upperBound)")
            }
        }
        return parts.joined(separator: ", ")
    }

    /// `k=3,s=2,p=1` for the unknowns of a solution.
    func keys(_ solution: LayerSolution) -> String {
        unknowns.map { key -> String in
            switch key {
            case .k: return "k=\(solution.kernel)"
            case .s: return "s=\(solution.stride)"
            case .d: return "d=\(solution.dilation)"
            case .p: return "p=\(solution.pad.isSymmetric ? "\(solution.pad.before)" : solution.pad.description)"
            case .op: return "op=\(solution.outputPadding)"
            case .input: return ""
            }
        }.joined(separator: ",")
    }

    static func rangeText(_ range: ClosedRange<Int>) -> String {
        range.count == 1 ? "\(range.lowerBound)" : "\(range.lowerBound)…\(range.upperBound)"
    }

    var quiet: String {
        let lines: [String]
        if unknowns == [.input] {
            lines = inputs.enumerated().flatMap { dim, ranges in
                ranges.map { (inputs.count > 1 ? DimensionNames.label(dim, of: stack.dims) + ": " : "")
                    + ($0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)") }
            }
        } else {
            lines = solutions.enumerated().flatMap { dim, list in
                list.map { (solutions.count > 1 ? DimensionNames.label(dim, of: stack.dims) + ": " : "") + keys($0) }
            }
        }
        return lines.map { $0 + "\n" }.joined()
    }
}

extension ShapeSolve {
    /// The layer's token with the unknowns' keys replaced by a solution's (nil: by `?`), the
    /// keys in the schema's order.
    func token(_ solution: LayerSolution?) -> String {
        guard let layer else { return "" }
        let parts = layer.token.split(separator: ":", maxSplits: 1).map(String.init)
        let names = Set(unknowns.map(\.rawValue))
        let kept = parts.count > 1 ? parts[1].split(separator: ",").filter { !names.contains(String($0.prefix { $0 != "=" })) }.map(String.init) : []
        let solved = solution.map { keys($0).split(separator: ",").map(String.init) } ?? unknowns.map { $0.rawValue + "=?" }
        let order = LayerKey.allCases.map(\.rawValue)
        let all = (kept + solved).sorted { (order.firstIndex(of: String($0.prefix { $0 != "=" })) ?? 99) < (order.firstIndex(of: String($1.prefix { $0 != "=" })) ?? 99) }
        return parts[0] + ":" + all.joined(separator: ",")
    }

    /// The numbers of a step's working: `⌊(224 + 1 + 1 − 3)/2⌋ + 1 = ⌊223/2⌋ + 1 = 112`.
    static func check(_ step: DimensionStep, type: LayerType) -> String {
        let working = ShapeWorking.output(step, type: type)
        let parts = working.split(separator: " = ", omittingEmptySubsequences: false).map(String.init)
        return parts.count > 2 ? parts.dropFirst(2).joined(separator: " = ") : working
    }

    /// Sizes through the chain along `dim` from input `n`, up to the first layer with no
    /// output: `[111, 56, 28]`.
    /// Each layer's output size along `dim` from an input size (nil: no output).
    static func sizeMaps(_ geometries: [LayerGeometry], dim: Int) -> [(Int) -> Int?] {
        geometries.map { geometry in { n in (try? geometry.step(dim, input: n))?.output } }
    }

    static func chain(_ geometries: [LayerGeometry], _ n: Int, dim: Int) -> [Int] {
        var sizes = [n]
        for geometry in geometries {
            guard let step = try? geometry.step(dim, input: sizes.last!) else { break }
            sizes.append(step.output)
        }
        return sizes
    }

    func chain(_ n: Int, dim: Int) -> [Int] {
        Self.chain(stack.layers.indices.map { stack.geometry(of: $0) }, n, dim: dim)
    }

    func text(layout: TextLayout) -> String {
        var lines: [String] = []
        let dims = uniform ? [0] : Array(0..<stack.dims)
        for (shown, dim) in dims.enumerated() {
            let label = dims.count > 1 ? DimensionNames.label(dim, of: stack.dims) + ": " : ""
            if shown > 0 { lines.append("") }
            if unknowns == [.input] {
                lines += inputLines(dim: dim, shown: shown, label: label)
            } else {
                lines += keyLines(dim: dim, shown: shown, label: label)
            }
        }
        return lines.flatMap { LineFit.prose($0, layout: layout, hang: 4) }.joined(separator: "\n") + "\n"
    }

    /// Why there is no solution along the first dimension that has none (nil: every one has).
    var failure: String? {
        let dims = uniform ? [0] : Array(0..<stack.dims)
        for (shown, dim) in dims.enumerated() {
            let label = dims.count > 1 ? " along " + DimensionNames.label(dim, of: stack.dims) : ""
            if unknowns == [.input] {
                guard inputs[shown].isEmpty else { continue }
                return "no input from \(SolveBounds.input.lowerBound) to \(SolveBounds.input.upperBound) gives \(wanted[dim])\(label)" + nearestInputs(shown: shown, dim: dim)
            }
            guard solutions[shown].isEmpty else { continue }
            // Every assignment that gives some output, the simplest first, searched once.
            let all = LayerSolver.solve(layer!, dims: stack.dims, dim: dim, unknowns: Set(unknowns), input: input![dim], target: nil)
            let outputs = all.map(\.step.output)
            let reach = outputs.min().map { "these keys give outputs from \($0) to \(outputs.max()!) only" } ?? "these keys give no output at all"
            return "no \(unknowns.map(\.rawValue).joined(separator: ", ")) within the bounds (\(boundsText)) gives \(wanted[dim]) from \(input![dim])\(label): " + reach + nearest(all, dim: dim)
        }
        return nil
    }

    func keyLines(dim: Int, shown: Int, label: String) -> [String] {
        let list = solutions[shown]
        let subject = "\(label)\(token(nil)): in \(input![dim]) → out \(wanted[dim])"
        var lines = [subject, "\(list.count) solution\(list.count == 1 ? "" : "s") within \(boundsText); the simplest first (fewest keys away from their defaults, then the smallest kernel):"]
        let tokens = list.prefix(Self.shownInText).map(token)
        let width = tokens.map(\.count).max() ?? 0
        for (solution, token) in zip(list, tokens) {
            lines.append("  " + token + String(repeating: " ", count: width - token.count + 2) + Self.check(solution.step, type: layer!.type))
        }
        if list.count > Self.shownInText { lines.append("  … \(list.count - Self.shownInText) more (-q or --json lists them all)") }
        return lines
    }

    /// The nearest outputs below and above the wanted one among `all` (every assignment, the
    /// simplest first), each with its simplest assignment.
    func nearest(_ all: [LayerSolution], dim: Int) -> String {
        let outputs = all.map(\.step.output)
        let below = outputs.filter { $0 < wanted[dim] }.max(), above = outputs.filter { $0 > wanted[dim] }.min()
        let near = [below, above].compactMap { $0 }.map { target -> String in
            let first = all.first { $0.step.output == target }
            return "\(target)" + (first.map { " (\(token($0)))" } ?? "")
        }
        return near.isEmpty ? "" : "; the nearest outputs are " + near.joined(separator: " and ")
    }

    func inputLines(dim: Int, shown: Int, label: String) -> [String] {
        let ranges = inputs[shown]
        let what = stack.layers.count == 1 ? stack.layers[0].token : "these \(stack.layers.count) layers"
        var lines = ["\(label)\(what): which inputs give \(wanted[dim])? (searched in \(SolveBounds.input.lowerBound)–\(SolveBounds.input.upperBound))"]

        lines.append("in = " + ranges.map(Self.rangeText).joined(separator: ", ")
                     + (ranges.last?.upperBound == SolveBounds.input.upperBound ? " (the search stops at \(SolveBounds.input.upperBound); larger inputs are not tried)" : ""))
        for range in ranges.prefix(Self.shownInText) {
            for n in range.count <= 4 ? Array(range) : [range.lowerBound, range.upperBound] {
                lines.append("  in \(n): " + chainCheck(n, dim: dim) + inverse(n, dim: dim))
            }
        }
        return lines
    }

    /// One layer's working, or a chain's sizes.
    func chainCheck(_ n: Int, dim: Int) -> String {
        if stack.layers.count == 1, let step = try? stack.geometry(of: 0).step(dim, input: n) {
            return Self.check(step, type: stack.layers[0].type)
        }
        return chain(n, dim: dim).map(String.init).joined(separator: " → ")
    }

    /// For one strided convolution: the output padding a transposed convolution with the same
    /// keys needs to give `n` back (which of the inputs it makes is its choice).
    func inverse(_ n: Int, dim: Int) -> String {
        guard stack.layers.count == 1, stack.layers[0].type == .conv, let step = try? stack.geometry(of: 0).step(dim, input: n), step.stride > 1 else { return "" }
        let back = (step.output - 1) * step.stride - step.pad.before - step.pad.after + step.effectiveKernel
        let op = n - back
        guard op >= 0, op < max(step.stride, step.dilation) else { return "" }
        return "; tconv with the same k, s, p, d gives \(n) back with op=\(op)"
    }

    /// The nearest outputs an input can give (a transposed layer: the output padding that would give this one).
    func nearestInputs(shown: Int, dim: Int) -> String {
        var words: [String] = []
        if stack.layers.count == 1, stack.layers[0].type == .tconv {
            let geometry = stack.geometry(of: 0)
            for op in 0..<max(geometry.stride[dim], geometry.dilation[dim]) where op != geometry.outputPadding[dim] {
                let changed = geometry.replacingOutputPadding(with: op, dim: dim)
                if let n = SolveBounds.input.first(where: { (try? changed.step(dim, input: $0))?.output == wanted[dim] }) {
                    words.append("with op=\(op) the input \(n) gives it")
                }
            }
        }
        // The nearest outputs below and above, each from its smallest input.
        let outputs = reached[shown]
        let below = outputs.last { $0.size < wanted[dim] }, above = outputs.first { $0.size > wanted[dim] }
        for group in [below, above].compactMap({ $0 }) { words.append("in \(group.inputs[0].lowerBound) gives \(group.size)") }
        return words.isEmpty ? "" : "; " + words.joined(separator: "; ")
    }

    var json: JSON {
        let dims = uniform ? Array(repeating: 0, count: stack.dims) : Array(0..<stack.dims)
        let entries: [JSON] = dims.map { shown in
            if unknowns == [.input] {
                let ranges = inputs[shown]
                return .object([("inputs", .array(ranges.map { .ints([$0.lowerBound, $0.upperBound]) })),
                                ("count", .number(ranges.reduce(0) { $0 + $1.count }))])
            }
            let list = solutions[shown]
            return .object([("solutions", .array(list.map { solution in
                .object([("token", .string(token(solution))), ("k", .number(solution.kernel)), ("s", .number(solution.stride)),
                         ("p", .ints([solution.pad.before, solution.pad.after])), ("d", .number(solution.dilation)),
                         ("op", .number(solution.outputPadding)), ("in", .number(solution.step.input)), ("out", .number(solution.step.output))])
            })), ("count", .number(list.count))])
        }
        return .object([
            ("unknowns", .array(unknowns.map { .string($0.rawValue) })),
            ("bounds", .string(boundsText)),
            ("in", input.map { .ints($0) } ?? .null),
            ("out", .ints(wanted)),
            ("dims", .array(entries)),
        ])
    }
}
