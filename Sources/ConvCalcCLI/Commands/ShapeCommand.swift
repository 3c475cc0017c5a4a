import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// `convcalc shape`: output sizes with the working, formulas of `in`, and padding solving.
enum ShapeCommand {
    static let options: [OptionSpec] = CommonOptions.layer + CommonOptions.stack + [
        OptionSpec(.out, ["--out"], value: "SIZE", group: .command,
                   help: "solve for the padding (conv, pools) or output padding (tconv) of the last layer that gives this output size; needs --in")
            .manual("Solve for the padding of the last layer that gives this output size; needs --in. Earlier layers of a stack are applied as given. With --solve, the size the unknowns must give."),
        OptionSpec(.solve, ["--solve"], value: "KEYS", group: .command,
                   help: "with --out: find every value of these unknown keys (k, s, p, d, op; or in alone) that gives the output, the simplest first")
            .manual("With --out: find every value of the unknown keys, among k, s, p, d and op of one layer (with --in), or in alone (one layer or a chain of layers, without --in), that gives the output size; keys not given are unknown only when named here. The search is exhaustive within stated bounds (k 1–11, s 1–8, d 1–6, p 0 to ke − 1 a side with the odd one after, op below max(s, d), in 1–65536), and the solutions are listed simplest first: fewest keys away from their defaults, then the smallest kernel, symmetric padding before asymmetric. Each is checked by the working. For in, the sizes come as ranges (a stride maps several inputs to one output) and, for one strided conv, the output padding a tconv with the same keys needs to give each back. Without a solution it is an error (exit 1, as for --out) naming the outputs the unknowns can give and the nearest ones."),
    ] + DrawOptionTable.shape + CommonOptions.output + [CommonOptions.documentFormat, CommonOptions.outputFile]

    static let command = Command(
        name: "shape",
        summary: "output sizes of convolution, pooling and transposed layers, with the working",
        usage: ["convcalc shape [options] --k SIZE [--s SIZE] [--p PAD] [--d SIZE] [--in SIZE]",
                "convcalc shape [options] LAYER... [--in SIZE]",
                "convcalc shape [options] -f FILE [--in SIZE]", "convcalc shape [options] MODEL.onnx [--in SIZE]"],
        overview: [
            "Prints each layer's output size with the formula and the numbers substituted. Without --in, gives the output size as a formula of in, the effective kernel, and the padding that keeps the size. With --out, solves for the padding that gives a wanted size.",
        ],
        options: options,
        sections: [
            ("FORMULAS (per spatial dimension)", [
                "ke = d·(k − 1) + 1 (the effective kernel); pb, pa = padding before and after.",
                "conv, pools: out = ⌊(in + pb + pa − ke)/s⌋ + 1.",
                "pools with --ceil: out = ⌈(in + pb + pa − ke)/s⌉ + 1, minus 1 when the last window would start in the right padding, (out − 1)·s ≥ in + pb (PyTorch's rule).",
                "tconv: out = (in − 1)·s − pb − pa + ke + op, with op < max(s, d).",
                "same: out = ⌈in/s⌉, total padding max((out − 1)·s + ke − in, 0), pb = ⌊total/2⌋, the extra one after (TensorFlow, PyTorch). valid: none. full: ke − 1 on each side.",
                "upsample: out = in·s. pixelshuffle: out = in·r. gap, fc: out = 1.",
            ]),
            ("OUTPUT", [
                "-q prints the final output size (28, or 28x26 per dimension); without --in, the formula of in; with --out, the padding as --p takes it (for tconv, the output padding, or p=P,op=N when the padding had to change).",
                "--json prints {\"out\": [...], \"layers\": [{\"layer\", \"in\", \"out\", ...}], \"merges\", \"tree\"}; sizes are arrays, one number per dimension; tree nests the layers and merges as written (a merge holds its \"branches\").",
                "Warnings (stderr, exit 0): input rows or columns never read, windows lying entirely in padding.",
            ]),
        ],
        examples: [
            ("convcalc shape --k 3 --d 2 --s 1", "effective kernel 5, out = in − 4, and the padding 2 that keeps the size"),
            ("convcalc shape -q --in 224 --k 7 --s 2 --p 3", "prints 112"),
            ("convcalc shape --in 224 conv:k=7,s=2,p=3 maxpool:k=3,s=2,p=1", "a stack: 224 → 112 → 56, with the working"),
            ("convcalc shape tconv:k=3,s=2,p=1,op=1 --in 3", "a transposed convolution: 6"),
            ("convcalc shape --in 32 --k 4 --out 32", "the padding that keeps 32 with a 4-wide kernel (only asymmetric: 1:2)"),
            ("convcalc shape --in 10 maxpool:k=1,s=2,ceil=1", "PyTorch's ceil mode drops the last window: 5"),
        ],
        execute: execute
    )

    static func execute(_ args: ParsedArguments, _ context: InputContext) throws -> CommandResult {
        let options = try ShapeOptions(args)
        return try Documents.written(outputPath: options.outputPath, document: options.document, title: "convcalc shape", context: context) {
            try result(options, context)
        }
    }

    static func result(_ options: ShapeOptions, _ context: InputContext) throws -> CommandResult {
        let stack: LayerStack
        do {
            stack = try StackInput.build(options.stack, context: context)
        } catch let graph as GraphModelError where options.target == nil && !options.stack.emit && options.stack.tokens.isEmpty {
            return graph.shapeText(style: options.style, layout: context.layout)
        }
        if options.stack.emit { return CommandResult(output: context.emittedNetwork ?? "") }
        if let unknowns = options.solve {
            let solve = try ShapeSolve(stack, unknowns: unknowns, target: options.target!)
            if let failure = solve.failure { throw ShapeError.invalidGeometry(failure) }
            switch options.style {
            case .quiet: return CommandResult(output: solve.quiet)
            case .json: return CommandResult(json: solve.json)
            case .text: return CommandResult(output: solve.text(layout: context.layout))
            }
        }
                if let draw = options.draw {
            // Colour is for a terminal: never in a file given by -o.
            var layout = context.layout
            if options.outputPath != nil { layout.colour = false }
            return try drawing(stack, draw, layout: layout)
        }
        let style = options.style
        if let outText = options.target {
            return try solve(stack, target: outText, style: style, layout: context.layout)
        }
        guard let input = stack.inputSize else { return try symbolic(stack, style: style, layout: context.layout) }
        let trace = try ShapeTrace(stack: stack, input: input)
        let warnings = layerWarnings(trace)
        switch style {
        case .quiet: return CommandResult(output: SizeText.format(trace.output, uniform: stack.isUniform) + "\n", warnings: warnings)
        case .json: return CommandResult(json: json(trace, stack: stack, warnings: warnings), warnings: warnings)
        case .text:
            if let format = options.document { return Documents.result(Documents.shape(trace, stack: stack), format: format, warnings: warnings) }
            return CommandResult(output: text(trace, stack: stack, layout: context.layout), warnings: warnings)
        }
    }

    enum OutputStyle { case text, quiet, json }

    /// `--draw`: one layer drawn in the terminal or as SVG.
    static func drawing(_ stack: LayerStack, _ options: DrawOptions, layout: TextLayout) throws -> CommandResult {
        guard stack.nodes.count == 1, case let .layer(index) = stack.nodes[0] else {
            let count = stack.layers.count
            throw UsageError.invalid("--draw draws one layer; this stack has \(count) layer\(count == 1 ? "" : "s")\(stack.hasBranches ? " and branches" : "") (give one, e.g. conv:k=3,s=2,p=1)")
        }
        let layer = stack.layers[index]
        let picture: ShapeDrawing
        do {
            picture = try ShapeDrawing(layer: layer, geometry: stack.geometry(of: index), input: stack.inputSize, options: options)
        } catch let error as ShapeError {
            throw LayerContextError(index: index + 1, token: layer.token, underlying: error)
        }
        // The same warnings as the working's (rows never read, windows in padding).
        let warnings = layerWarnings(try ShapeTrace(stack: stack, input: picture.input))
        switch options.format {
        case .text:
            return CommandResult(output: DrawingText.render(picture, layout: layout), warnings: warnings)
        case .svg:
            var result = CommandResult(output: DrawingSVG.render(picture, animate: options.animate), warnings: warnings)
            result.isVerbatim = true
            return result
        }
    }

    /// The trace's warnings, each naming its layer.
    static func layerWarnings(_ trace: ShapeTrace) -> [String] {
        trace.layers.flatMap { layer in
            layer.warnings.map { "layer \(layer.index) '\(layer.layer.token)'\(LayerContextError.place(layer.layer.context)): \($0.message)" }
        }
    }

    /// Whether one dimension's working stands for all (uniform stack, identical steps).
    static func sameAcrossDimensions(_ stack: LayerStack, _ steps: [DimensionStep]) -> Bool {
        stack.isUniform && steps.allSatisfy { $0 == steps[0] }
    }

    /// Working rows indented by `indent` (under the heading's token), one block per dimension
    /// labelled `H:`, `W:`, or one unlabelled block when every dimension is `alike`.
    static func perDimension(_ rows: [[String]], alike: Bool, dims: Int, indent: Int) -> [String] {
        let shown = alike ? [0] : Array(rows.indices)
        let margin = String(repeating: " ", count: indent)
        var lines: [String] = []
        for dim in shown {
            let prefix = shown.count > 1 ? margin + DimensionNames.label(dim, of: dims) + ": " : margin
            let indent = String(repeating: " ", count: prefix.count)
            for (i, row) in rows[dim].enumerated() { lines.append((i == 0 ? prefix : indent) + row) }
        }
        return lines
    }

    // MARK: Numeric

    /// The rows of a nesting depth: four spaces a level.
    static func indent(_ depth: Int) -> String { String(repeating: "    ", count: depth) }

    /// Lines fitted to the width: working broken before an `=`, under the first.
    static func fitted(_ lines: [String], layout: TextLayout) -> String {
        lines.flatMap { LineFit.equation($0, layout: layout) }.joined(separator: "\n") + "\n"
    }

    /// A layer's sizes as its heading shows them: `224x224 → 55x55`.
    static func sizes(_ layer: ShapeTrace.LayerTrace, uniform: Bool) -> String {
        SizeText.format(layer.input, uniform: uniform) + " → " + SizeText.format(layer.output, uniform: uniform)
    }

    static func text(_ trace: ShapeTrace, stack: LayerStack, layout: TextLayout) -> String {
        let uniform = stack.isUniform
        let widest = trace.layers.map { layout.columns(sizes($0, uniform: uniform)) }.max() ?? 0
        let headings = LayerHeadings(stack: stack, sizesWidth: widest, depth: LayerHeadings.depth(trace.tree), layout: layout)
        let origins = OriginHeadings(trace.tree) { $0.layer.origin }
        var mergesSeen = 0
        let blocks = StackTree.reduce(trace.tree, layer: { index, layer, depth in
            (origins.beforeLayer[index] ?? []).map { indent(depth) + $0 }
                + layerLines(layer, geometry: stack.geometry(of: index), stack: stack, headings: headings).map { indent(depth) + $0 }
        }, merge: { kind, merge, branches, depth in
            let heading = origins.mergesInReduceOrder[mergesSeen].map { indent(depth) + $0 }
            mergesSeen += 1
            return heading + mergeLines(kind, branches.map { $0.flatMap { $0 } }, input: merge.input, outputs: merge.branchOutputs,
                                        output: merge.output, uniform: uniform, indent: indent(depth))
        })
        var lines = blocks.flatMap { $0 }
        lines.append("")
        let final = "output: " + SizeText.format(trace.output, uniform: uniform)
        if trace.layers.count > 1 && !stack.hasBranches {
            // The sizes in turn, continued under the first when they do not fit.
            let chain = [trace.layers[0].input] + trace.layers.map(\.output)
            let opening = final + "   ("
            lines += LineFit.fit(opening + chain.map { SizeText.format($0, uniform: uniform) }.joined(separator: " → ") + ")",
                                 layout: layout, indent: layout.columns(opening))
        } else {
            lines.append(final)
        }
        return fitted(lines, layout: layout)
    }

    /// One layer's heading and working.
    static func layerLines(_ layer: ShapeTrace.LayerTrace, geometry: LayerGeometry, stack: LayerStack, headings: LayerHeadings) -> [String] {
        var lines = headings.lines(number: layer.index, token: layer.layer.token, sizes: sizes(layer, uniform: stack.isUniform))
        let working = layer.steps.map { step -> [String] in
            var rows: [String] = []
            if let ke = ShapeWorking.effectiveKernel(step) { rows.append(ke) }
            if let rule = ShapeWorking.paddingRule(geometry.padding, step, type: geometry.type) { rows.append(rule) }
            rows.append(ShapeWorking.output(step, type: geometry.type))
            return rows
        }
        lines += perDimension(working, alike: sameAcrossDimensions(stack, layer.steps), dims: stack.dims, indent: headings.workingIndent)
        return lines
    }

    /// A merge: a header, each branch's rows (already indented one level deeper), and the merge's result.
    static func mergeLines(_ kind: MergeKind, _ branches: [[String]], input: [Int]?, outputs: [[Int]]?, output: [Int]?,
                           uniform: Bool, indent: String) -> [String] {
        let from = input.map { ", each from \(SizeText.format($0, uniform: uniform))" } ?? ""
        var lines = [indent + MergeText.header(kind, branches: branches.count, shares: kind.givenShares) + "\(from):"]
        for (b, branch) in branches.enumerated() {
            lines.append(indent + "  branch \(b + 1)" + (branch.isEmpty ? ": identity" : ":"))
            lines += branch
        }
        if let outputs, let output {
            let parts = outputs.map { SizeText.format($0, uniform: uniform) }
            lines.append(indent + "\(kind.name): " + parts.joined(separator: kind == .add ? " + " : " ∥ ") + " → "
                         + SizeText.format(output, uniform: uniform) + (kind == .add ? "" : " (channels add up; see convcalc params)"))
        } else {
            lines.append(indent + "\(kind.name): the branches must give the same size")
        }
        return lines
    }

    static func json(_ trace: ShapeTrace, stack: LayerStack, warnings: [String]) -> JSON {
        func layer(_ layer: ShapeTrace.LayerTrace) -> [(String, JSON)] {
            [
                ("layer", .string(layer.layer.token)),
                ("type", .string(layer.layer.type.rawValue)),
            ] + layer.layer.originPairs + [
                ("in", .ints(layer.input)),
                ("out", .ints(layer.output)),
                ("effective_kernel", .ints(layer.steps.map(\.effectiveKernel))),
                ("stride", .ints(layer.steps.map(\.stride))),
                ("padding", .array(layer.steps.map { .ints([$0.pad.before, $0.pad.after]) })),
                ("ceil_dropped", .bool(layer.steps.contains { $0.ceilDropped })),
            ]
        }
        return .object([
            ("out", .ints(trace.output)),
            ("in", .ints(stack.inputSize ?? [])),
            ("dims", .number(stack.dims)),
            ("layers", .array(trace.layers.map { .object(layer($0)) })),
            ("merges", .array(trace.merges.map { merge in
                .object([("kind", .string(merge.kind.name))] + MergeText.sharePairs(merge.kind, shares: merge.kind.givenShares)
                        + [("in", .ints(merge.input)), ("branches", .array(merge.branchOutputs.map { .ints($0) })), ("out", .ints(merge.output))])
            })),
            ("tree", .tree(trace.tree, layer: { layer($1) }, merge: { kind, merge in
                MergeText.sharePairs(kind, shares: kind.givenShares)
                    + [("in", .ints(merge.input)), ("branch_out", .array(merge.branchOutputs.map { .ints($0) })), ("out", .ints(merge.output))]
            })),
            ("warnings", .array(warnings.map { .string($0) })),
        ])
    }

    // MARK: Symbolic (no --in)

    static func symbolic(_ stack: LayerStack, style: OutputStyle, layout: TextLayout) throws -> CommandResult {
        let allDims = Array(0..<stack.dims)
        let composed = allDims.map { stack.composedFormula($0) }
        let minimum = allDims.map { stack.minimumInput($0) }
        // After gap or fc the size no longer depends on the input: a constant below 1 is an error for every input.
        for formula in composed {
            if let formula, formula.p == 0, let value = formula.evaluate(0), value < 1 {
                throw ShapeError.invalidGeometry("this stack's output size would be \(value), below 1, whatever the input size (a layer after gap or fc needs an output of at least 1 from a 1×1 input)")
            }
        }
        switch style {
        case .quiet:
            guard composed.allSatisfy({ $0 != nil }) else {
                throw ShapeError.invalidGeometry("this stack has no single formula of in (a ceil-mode pool or an upsampling after a stride); give --in for the size")
            }
            let texts = composed.map { $0!.render(variable: "in") }
            let shown = stack.isUniform && texts.allSatisfy({ $0 == texts[0] }) ? [texts[0]] : texts
            return CommandResult(output: shown.joined(separator: ", ") + "\n")
        case .json:
            return CommandResult(json: try symbolicJSON(stack, composed: composed, minimum: minimum))
        case .text:
            return CommandResult(output: try symbolicText(stack, composed: composed, minimum: minimum, layout: layout))
        }
    }

    /// Per layer (in the stack's tree shape), what `make` gives for it; merges carry nothing.
    static func perLayer<T>(_ stack: LayerStack, _ make: (Int) throws -> T) rethrows -> [StackResult<T, Void>] {
        try StackTree.fold(stack.nodes, from: (), layer: { index, _ in (try make(index), ()) }, merge: { _, _, _ in ((), ()) }).results
    }

    static func symbolicJSON(_ stack: LayerStack, composed: [SizeFormula?], minimum: [Int?]) throws -> JSON {
        let allDims = Array(0..<stack.dims)
        let tree = try perLayer(stack) { index -> [(String, JSON)] in
            let geometry = stack.geometry(of: index)
            let formulas = try allDims.map { try geometry.formula($0)?.formula.render(variable: "in") }
            let keep = try allDims.map { try ShapeWorking.keepingPadding(geometry, dim: $0) }
            return [
                ("layer", .string(stack.layers[index].token)),
                ("type", .string(stack.layers[index].type.rawValue)),
            ] + stack.layers[index].originPairs + [
                ("in", .null),
                ("out", .null),
                ("formula", .array(formulas.map { $0.map(JSON.string) ?? .null })),
                ("effective_kernel", .ints(try allDims.map { try geometry.effectiveKernel($0) })),
                ("keep_size", .array(keep.map { $0.map(JSON.string) ?? .null })),
                ("min_in", .array(allDims.map { LayerGeometry.minimumInput([geometry], dim: $0).map(JSON.number) ?? .null })),
            ]
        }
        return .object([
            ("out", .null),
            ("formula", .array(composed.map { $0.map { .string($0.render(variable: "in")) } ?? .null })),
            ("min_in", .array(minimum.map { $0.map(JSON.number) ?? .null })),
            ("dims", .number(stack.dims)),
            ("layers", .array(StackTree.layerValues(tree).map { .object($0) })),
            ("tree", .tree(tree, layer: { $1 }, merge: { _, _ in [] })),
        ])
    }

    static func symbolicText(_ stack: LayerStack, composed: [SizeFormula?], minimum: [Int?], layout: TextLayout) throws -> String {
        let headings = LayerHeadings(stack: stack, sizesWidth: 0, depth: LayerHeadings.depth(perLayer(stack) { _ in () }), layout: layout)
        let tree = try perLayer(stack) { try symbolicLayer(stack, $0, headings: headings) }
        var lines = StackTree.reduce(tree, layer: { _, rows, depth in rows.map { indent(depth) + $0 } }, merge: { kind, _, branches, depth in
            mergeLines(kind, branches.map { $0.flatMap { $0 } }, input: nil, outputs: nil, output: nil,
                       uniform: stack.isUniform, indent: indent(depth))
        }).flatMap { $0 }
        if stack.layers.count > 1 {
            lines.append("")
            let texts = (0..<stack.dims).map { dim -> String in
                var text = composed[dim].map { "out = " + $0.render(variable: "in") }
                    ?? "no single formula (a ceil-mode pool, or an upsampling after a stride): apply the layers in turn"
                if let minimum = minimum[dim], minimum > 1 { text += ", valid for in ≥ \(minimum)" }
                return text
            }
            let shown = stack.isUniform && texts.allSatisfy({ $0 == texts[0] }) ? [texts[0]] : texts
            for (dim, text) in shown.enumerated() {
                let label = shown.count > 1 ? DimensionNames.label(dim, of: stack.dims) + ": " : ""
                lines.append("stack: " + label + text)
            }
        }
        lines.append("")
        lines.append("give --in SIZE for numbers")
        return fitted(lines, layout: layout)
    }

    /// One layer's formula of `in`, effective kernel, validity and size-keeping padding.
    static func symbolicLayer(_ stack: LayerStack, _ index: Int, headings: LayerHeadings) throws -> [String] {
        let allDims = Array(0..<stack.dims)
        let geometry = stack.geometry(of: index)
        var lines = headings.lines(number: index + 1, token: stack.layers[index].token)
        let renderings = try allDims.map { dim -> [String] in
            var rows: [String] = []
            let ke = try geometry.effectiveKernel(dim)
            if geometry.rule == .window || geometry.rule == .transposed {
                let k = geometry.kernel[dim], d = geometry.dilation[dim]
                rows.append(d == 1 ? "ke = k = \(ke)" : "ke = d·(k − 1) + 1 = \(d)·(\(k) − 1) + 1 = \(ke)")
            }
            rows.append(try ShapeWorking.symbolic(geometry, dim: dim))
            if let minimum = LayerGeometry.minimumInput([geometry], dim: dim), minimum > 1 {
                rows.append("valid for in ≥ \(minimum)")
            }
            if let keep = try ShapeWorking.keepingPadding(geometry, dim: dim) { rows.append(keep) }
            return rows
        }
        lines += perDimension(renderings, alike: stack.isUniform && renderings.allSatisfy { $0 == renderings[0] }, dims: stack.dims,
                              indent: headings.workingIndent)
        return lines
    }

    // MARK: Solving for padding (--out)

    static func solve(_ stack: LayerStack, target targetText: String, style: OutputStyle, layout: TextLayout) throws -> CommandResult {
        guard let input = stack.inputSize else {
            throw UsageError.invalid("--out needs --in (the input size to solve for)")
        }
        let target = try DimSize.parse(targetText, subject: .option("--out"), minimum: 1)
        guard target.values.count == 1 || target.values.count == stack.dims else {
            throw LayerError.dimensionMismatch(.option("--out"), value: targetText, count: target.values.count, dims: stack.dims)
        }
        let wanted = target.expanded(to: stack.dims)
        let uniform = stack.isUniform && target.isUniform
        // Layers before the last run as given; the last one is solved.
        guard case let .layer(index) = stack.nodes.last else {
            throw ShapeError.invalidGeometry("--out solves the padding of the last layer, but this stack ends with a merge; end it with the layer to solve")
        }
        var layerInput = input
        if stack.nodes.count > 1 {
            var prefix = stack
            prefix.nodes.removeLast()
            layerInput = try ShapeTrace(stack: prefix, input: input).output
        }
        let geometry = stack.geometry(of: index)
        let token = stack.layers[index].token
        let solutions: [PaddingSolution]
        do {
            solutions = try (0..<stack.dims).map { dim in
                try PaddingSolver.solve(geometry, dim: dim, input: layerInput[dim], target: wanted[dim],
                                        alike: uniform && Set(layerInput).count == 1)
            }
        } catch let error as UserFacingError {
            throw LayerContextError(index: index + 1, token: token, underlying: error)
        }
        let answer = PaddingAnswer(index: index, token: token, geometry: geometry, input: layerInput, wanted: wanted,
                                   uniform: uniform, solutions: solutions)
        switch style {
        case .quiet: return CommandResult(output: answer.quiet + "\n")
        case .json: return CommandResult(json: answer.json)
        case .text: return CommandResult(output: try answer.text(layout: layout))
        }
    }

    /// The padding (or output padding) of the last layer that gives the wanted size, per dimension.
    struct PaddingAnswer {
        var index: Int
        var token: String
        var geometry: LayerGeometry
        var input: [Int]
        var wanted: [Int]
        var uniform: Bool
        var solutions: [PaddingSolution]

        var isTransposed: Bool { geometry.rule == .transposed }
        var pads: [PadPair] { solutions.map(\.pad) }
        var outputPaddings: [Int] {
            solutions.map { solution -> Int in
                if case let .outputPadding(op, _, _) = solution { return op }
                return 0
            }
        }
        var paddingChanged: Bool { solutions.contains { if case .outputPadding(_, _, true) = $0 { return true } else { return false } } }
        var paddingText: String { SizeText.padding(pads, uniform: true) }   // one value serves every dimension
        var opText: String { SizeText.format(outputPaddings, uniform: uniform) }

        /// `-q`: the padding as --p takes it; for tconv the output padding, or p=P,op=N when the padding had to change.
        var quiet: String {
            guard isTransposed else { return paddingText }
            return paddingChanged ? "p=\(paddingText),op=\(opText)" : opText
        }

        var json: JSON {
            .object([
                ("layer", .string(token)),
                ("in", .ints(input)),
                ("out", .ints(wanted)),
                ("padding", .array(pads.map { .ints([$0.before, $0.after]) })),
                ("symmetric", .bool(pads.allSatisfy(\.isSymmetric))),
                ("output_padding", isTransposed ? .ints(outputPaddings) : .null),
                ("padding_changed", .bool(paddingChanged)),
            ])
        }

        func text(layout: TextLayout) throws -> String {
            let dims = geometry.dims
            var lines = ["\(index + 1)  \(token)   in \(SizeText.format(input, uniform: uniform)) → wanted out \(SizeText.format(wanted, uniform: uniform))"]
            let perDimensionRows = try (0..<dims).map { dim in
                try ShapeCommand.solutionRows(geometry, solutions[dim], dim: dim, input: input[dim], wanted: wanted[dim],
                                              outputPadding: outputPaddings[dim])
            }
            lines += ShapeCommand.perDimension(perDimensionRows, alike: uniform && solutions.allSatisfy { $0 == solutions[0] }, dims: dims,
                                               indent: String(index + 1).count + 2)
            lines.append("")
            let use = !isTransposed ? "--p \(paddingText)" : paddingChanged ? "--p \(paddingText) --op \(opText)" : "--op \(opText)"
            return ShapeCommand.fitted(lines + ["use: " + use], layout: layout)
        }
    }

    /// One dimension's working for `--out`: the equation, the padding found, and the check.
    static func solutionRows(_ geometry: LayerGeometry, _ solution: PaddingSolution, dim: Int, input n: Int, wanted: Int,
                             outputPadding: Int) throws -> [String] {
        let solved = geometry.replacingPadding(with: solution.pad, dim: dim)
        var rows: [String] = []
        let ke = try geometry.effectiveKernel(dim), s = geometry.stride[dim]
        switch solution {
        case let .symmetric(pad, totals), let .asymmetricOnly(pad, totals):
            let opening = geometry.ceilMode ? "⌈(\(n) + P − \(ke))/\(s)⌉ + 1" : "⌊(\(n) + P − \(ke))/\(s)⌋ + 1"
            let range = totals.lowerBound == totals.upperBound ? "P = \(totals.lowerBound)" : "P = \(totals.lowerBound) to \(totals.upperBound)"
            rows.append("\(opening) = \(wanted) for total padding \(range)")
            if pad.isSymmetric {
                rows.append("padding: p=\(pad.before) (\(pad.before) before, \(pad.after) after)")
            } else {
                rows.append("only asymmetric padding works: p=\(pad) (\(pad.before) before, \(pad.after) after; TensorFlow's 'same' also puts the extra one after)")
            }
        case let .outputPadding(op, pad, changed):
            if changed {
                let given = try geometry.padPair(dim, input: n)
                let needed = wanted - ((n - 1) * s - given.before - given.after + ke)
                rows.append("with p=\(given) the output padding would have to be \(needed), but 0 ≤ op < max(s, d) = \(max(s, geometry.dilation[dim]))")
                rows.append("use p=\(pad) with op=\(op)")
            } else {
                rows.append("(\(n) − 1)·\(s) − \(pad.before) − \(pad.after) + \(ke) + op = \(wanted) → op = \(op)")
                rows.append("output padding: op=\(op)")
            }
        }
        var check = solved
        if geometry.rule == .transposed { check = check.replacingOutputPadding(with: outputPadding, dim: dim) }
        let step = try check.step(dim, input: n)
        rows.append("check: " + ShapeWorking.output(step, type: geometry.type))
        return rows
    }
}
