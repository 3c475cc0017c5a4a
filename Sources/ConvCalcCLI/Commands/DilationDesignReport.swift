import ConvCalcCore

/// `rf --solve d --out RF`: the dilations of a chain of windows that reach a field, those
/// without holes first (their coverage from `ReceptiveField`, the same count `rf` reports),
/// then those the gridding problem leaves with holes.
struct DilationDesignReport {
    /// At most this many sequences of each kind are written out in text.
    static let shown = 20

    let stack: LayerStack
    let target: Int
    /// Layers (0-based) whose dilation is solved.
    let unknown: [Int]
    let whole: [DilationDesign]
    let holed: [DilationDesign]
    /// Sequences that reach the field but leave a layer without output at `--in`.
    let tooLargeForInput: Int

    init(_ stack: LayerStack, target text: String) throws {
        guard let target = Int(text) else {
            throw LayerError.malformedValue(.option("--out"), value: text, expected: "the receptive field wanted, a whole number ≥ 1")
        }
        guard target >= 1 else { throw LayerError.outOfRange(.option("--out"), value: text, requirement: .atLeast(1)) }
        let geometries = stack.layers.indices.map { stack.geometry(of: $0) }
        guard !stack.hasBranches, !stack.layers.isEmpty,
              zip(stack.layers, geometries).allSatisfy({ ($0.type.slidesWindow && $0.type != .asym) || $1.rule == .unchanged }) else {
            throw UsageError.invalid("--solve d designs a chain of convolutions, pools and pointwise layers (no branches, asym, upsampling or global layers)")
        }
        self.stack = stack
        self.target = target
        // A layer with d given keeps it; one without a d key (avgpool, pointwise layers) has 1.
        let given = stack.layers.map { layer -> Int? in
            guard layer.type.keys.contains(.d) else { return 1 }
            let keys = layer.token.split(separator: ":", maxSplits: 1).dropFirst().first?.split(separator: ",").map { String($0.prefix { $0 != "=" }) } ?? []
            return keys.contains("d") ? layer.dilation.values[0] : nil
        }
        unknown = given.indices.filter { given[$0] == nil }
        guard !unknown.isEmpty else { throw UsageError.invalid("--solve d: every layer gives its d; leave d out of the layers to solve") }
        var designs: [DilationDesign]
        do {
            designs = try DilationSolver.designs(kernels: geometries.map { $0.kernel[0] }, strides: geometries.map { $0.stride[0] },
                                                 fixed: given, target: target)
        } catch DilationSolver.Failure.tooMany(let limit) {
            throw ShapeError.invalidGeometry("more than \(limit) dilation sequences reach \(target) with these layers; give fewer layers, fix some d, or ask for a smaller field")
        }
        // With --in, only dilations every layer can take at that size.
        let reaching = designs.count
        if let input = stack.inputSize {
            designs = designs.filter { design in
                var size = input[0]
                for (geometry, d) in zip(geometries, design.dilations) {
                    guard let step = try? geometry.replacingDilation(with: d, dim: 0).step(0, input: size) else { return false }
                    size = step.output
                }
                return true
            }
        }
        tooLargeForInput = reaching - designs.count
        func order(_ design: DilationDesign) -> [Int] {
            [design.dilations.max() ?? 0, design.dilations.reduce(0, +)] + design.dilations
        }
        whole = designs.filter { $0.coverage == 1 }.sorted { order($0).lexicographicallyPrecedes(order($1)) }
        holed = designs.filter { $0.coverage < 1 }.sorted { a, b in
            a.coverage != b.coverage ? a.coverage > b.coverage : a.dilations.lexicographicallyPrecedes(b.dilations)
        }
    }

    /// The coverage `rf` itself reports for the chain with these dilations.
    func coverage(_ design: DilationDesign) -> Double? {
        // Along the first dimension, as the search counts it.
        var layers = stack.layers
        for (i, d) in design.dilations.enumerated() {
            let geometry = stack.geometry(of: i)
            layers[i].dilation = DimSize(d)
            layers[i].kernel = layers[i].kernel.map { _ in DimSize(geometry.kernel[0]) }
            layers[i].stride = DimSize(geometry.stride[0])
            if case let .explicit(pairs) = layers[i].padding { layers[i].padding = .explicit([pairs[0]]) }
        }
        guard let chain = try? LayerStack(layers: layers, inputSize: nil, inputChannels: nil, dims: 1),
              let field = try? ReceptiveField(stack: chain) else { return nil }
        return field.coverage
    }

    static func percent(_ share: Double) -> String {
        let value = (share * 1000).rounded() / 10
        return value == value.rounded() ? "\(Int(value))%" : "\(value)%"
    }

    func line(_ design: DilationDesign) -> String {
        var text = "d = " + design.dilations.map(String.init).joined(separator: ", ")
        text += "   coverage " + (coverage(design).map(Self.percent) ?? "?")
        if let m2 = design.hdcM2 {
            let k = stack.geometry(of: 0).kernel[0]
            text += "   HDC M₂ = \(m2) \(m2 <= k ? "≤" : ">") K = \(k)"
        }
        if let factor = design.commonFactor { text += "   the dilations share the factor \(factor)" }
        return text
    }

    func text(layout: TextLayout) -> String {
        let names = unknown.map { String($0 + 1) }.joined(separator: ", ")
        let found = whole.count + holed.count
        var lines = ["\(stack.layers.count) layer\(stack.layers.count == 1 ? "" : "s"), d solved in layer\(unknown.count == 1 ? "" : "s") \(names): receptive field \(target) wanted (along the first dimension)",
                     "searched d 1–\(DilationSolver.largest) a layer: \(found) sequence\(found == 1 ? " reaches" : "s reach") \(target), \(whole.count) without holes (coverage along that dimension, as rf --dims 1 counts it)"]
        if !whole.isEmpty {
            lines.append("without holes, the smallest dilations first:")
            lines += whole.prefix(Self.shown).map { "  " + line($0) }
            if whole.count > Self.shown { lines.append("  … \(whole.count - Self.shown) more (-q or --json lists them all)") }
        }
        if !holed.isEmpty {
            lines.append("with holes (the gridding problem: some input positions inside the field reach the output by no path):")
            lines += holed.prefix(5).map { "  " + line($0) }
            if holed.count > 5 { lines.append("  … \(holed.count - 5) more") }
        }
        if whole.isEmpty && holed.isEmpty {
            let why = divisibility.isEmpty ? ", which no d up to \(DilationSolver.largest) makes \(target)" : divisibility
            lines.append("no sequence reaches \(target): the field is 1 + Σ (k − 1)·d·jump" + why)
        }
        return lines.flatMap { LineFit.prose($0, layout: layout, hang: 4) }.joined(separator: "\n") + "\n"
    }

    /// Why no sequence reaches the field without holes (nil: some does).
    var failure: String? {
        guard whole.isEmpty else { return nil }
        if let best = holed.first {
            return "no dilations reach \(target) without holes; the best of the \(holed.count) with holes: d = " + best.dilations.map(String.init).joined(separator: ", ")
                + " (coverage " + Self.percent(best.coverage) + (best.commonFactor.map { "; the dilations share the factor \($0)" } ?? "") + ")"
        }
        if tooLargeForInput > 0 {
            return "no dilations reach \(target) at --in \(stack.inputSize![0]): the \(tooLargeForInput) sequence\(tooLargeForInput == 1 ? " that reaches" : "s that reach") it leave\(tooLargeForInput == 1 ? "s" : "") a layer without output"
        }
        let why = divisibility.isEmpty ? ", which no d up to \(DilationSolver.largest) makes \(target)" : divisibility
        return "no dilations reach \(target): the field is 1 + Σ (k − 1)·d·jump" + why
    }

    /// Why a field is out of reach when every layer's step shares a factor: "; each layer adds
    /// a multiple of 2, so the field is 1 more than one".
    var divisibility: String {
        var jump = 1, factor = 0, fixed = 0
        for index in stack.layers.indices {
            let geometry = stack.geometry(of: index)
            let step = (geometry.kernel[0] - 1) * jump
            if unknown.contains(index) { factor = Checked.gcd(factor, step) } else { fixed += step * geometry.dilation[0] }
            jump *= geometry.stride[0]
        }
        return factor > 1 && (target - 1 - fixed) % factor != 0 ? ", and each solved layer adds a multiple of \(factor)" : ""
    }

    var quiet: String { whole.map { $0.dilations.map(String.init).joined(separator: ",") + "\n" }.joined() }

    var json: JSON {
        func entry(_ design: DilationDesign) -> JSON {
            .object([("d", .ints(design.dilations)), ("coverage", .double(design.coverage)),
                      ("hdc_m2", design.hdcM2.map(JSON.number) ?? .null), ("common_factor", design.commonFactor.map(JSON.number) ?? .null)])
        }
        return .object([("rf", .number(target)), ("layers", .number(stack.layers.count)), ("solved", .ints(unknown.map { $0 + 1 })),
                        ("designs", .array(whole.map(entry))), ("with_holes", .array(holed.map(entry)))])
    }
}
