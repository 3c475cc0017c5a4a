import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// `convcalc rf`: receptive field, jump, centre and coverage through a stack.
enum ReceptiveFieldCommand {
    static let options: [OptionSpec] = CommonOptions.layer + CommonOptions.stack + [
        OptionSpec(.map, ["--map"], group: .command,
                   help: "draw the number of paths from one output to each input position as a heat map (all-ones weights; 2-D; 3-D summed over D)")
            .manual("Draw the number of paths from one output to each input position as a heat map: rows H, columns W (1-D: one row; 3-D: summed over D); a blank inside the frame is a hole. Fields wider than the output (COLUMNS, else the terminal, else 80 columns) are scaled down, each character showing the most over a square of positions. --draw svg draws it as SVG."),
        DrawOptionTable.receptiveField,
        OptionSpec(.solve, ["--solve"], value: "KEYS", group: .command,
                   help: "with --out RF: find the dilations (d) of the layers that leave d out, reaching that receptive field, those without holes first")
            .manual("--solve d --out RF: find every dilation sequence (d from 1 to 32 in each layer that leaves d out; a layer giving d keeps it) with which a chain of convolutions and pools reaches a receptive field of RF, and sort them: those that reach every position of the field first (coverage 100%, counted as rf does; the smallest dilations first), with the hybrid dilated convolution rule's M₂ (Wang et al. 2018: no gaps when M₂ ≤ K), then those with holes, saying when their dilations share a factor (the gridding problem). Layers without a d key (avgpool, pointwise layers) keep 1; with --in, only sequences every layer can take at that size. When no sequence reaches RF without holes it is an error (exit 1) naming the best with holes. -q prints the sequences without holes, one a line (1,2,3); --json {\"rf\", \"layers\", \"solved\", \"designs\": [{\"d\", \"coverage\", \"hdc_m2\", \"common_factor\"}], \"with_holes\": [...]}."),
        OptionSpec(.out, ["--out"], value: "RF", group: .command, help: "with --solve d: the receptive field wanted"),
    ] + CommonOptions.output + [CommonOptions.documentFormat, CommonOptions.outputFile]

    static let command = Command(
        name: "rf",
        summary: "receptive field, jump and centre through a stack; holes left by dilations",
        usage: ["convcalc rf [options] LAYER... [--in SIZE] [--map]",
                "convcalc rf [options] --k SIZE [--s SIZE] [--d SIZE] ...",
                "convcalc rf [options] -f FILE", "convcalc rf [options] MODEL.onnx"],
        overview: [
            "Per layer: the effective kernel, the jump (input positions between neighbouring outputs), the receptive field (input positions that can influence one output), and the centre of the first output's field in input coordinates (start); with --in, the output size too.",
            "Coverage counts the positions inside the field that some path actually reaches: stacked dilations with a common factor leave holes (the gridding problem), reported with a warning.",
        ],
        options: options,
        sections: [
            ("FORMULAS (per spatial dimension; input position 0 has start 0)", [
                "windows (conv, pools): rf' = rf + (ke − 1)·jump, jump' = jump·s, start' = start + ((ke − 1)/2 − pb)·jump.",
                "upsampling (tconv, upsample, pixelshuffle) divides the jump by s (or r), printed as a fraction, and adds the widest span of inputs one output reads: (⌈k·g/s⌉ − 1)·d/g + 1 for tconv with g = gcd(s, d), 1 for the others. Outputs then differ in their fields; convcalc follows each output phase exactly and reports the widest field.",
                "Layers that read global context (gap, fc, flatten, se, groupnorm, adaptive pooling to 1) make the field the whole input from there on; the local field of the convolutional path, taking them as reading one position, is reported beside it. Adaptive pooling to N > 1 is the window k = s = in/N when N divides its input (give --in).",
                "Fields are unbounded: they may reach into padding (a negative start). With p=same and a stride above 1, the padding depends on the input size; without --in the stride is taken to divide it.",
                "Coverage: the number of paths from the widest-field output back to each input position, with all-ones weights (max pooling counted like average pooling); coverage = positions reached / field size. Paths take one branch of every merge for all dimensions at once: branches of differing shapes are counted over the joint positions (a 1x3 and a 3x1 branch reach a plus, 5 of 3x3), otherwise the count is a product over dimensions.",
            ]),
            ("OUTPUT", [
                "-q prints the final receptive field (15, or 15x7 per dimension; the input size, or all, after gap/fc).",
                "--json prints {\"rf\", \"jump\", \"start\", \"coverage\", \"coverage_per_dim\", \"field\", \"counts\", \"layers\": [...], \"merges\", \"tree\"}; tree nests the layers and merges as written (a merge holds its \"branches\"); jump and start are numbers, with exact fractions in jump_text and start_text; counts_joint only for joint counts (counts then sums over the other dimensions).",
            ]),
        ],
        examples: [
            ("convcalc rf conv:k=3 conv:k=3,d=2 conv:k=3,d=4", "fields 3, 7, 15 with full coverage"),
            ("convcalc rf conv:k=3,d=2 conv:k=3,d=2 conv:k=3,d=2 --map", "holes: a warning, and the heat map shows them"),
            ("convcalc rf -f examples/nets/vgg16-features.net", "VGG-16's convolutional part: a field of 212"),
            ("convcalc rf --in 64 conv:k=3,s=2,p=1 tconv:k=4,s=2,p=1", "a jump of 1/2 after a transposed convolution"),
        ],
        execute: execute
    )

    static func execute(_ args: ParsedArguments, _ context: InputContext) throws -> CommandResult {
        let options = try ReceptiveFieldOptions(args)
        return try Documents.written(outputPath: options.outputPath, document: options.document, title: "convcalc rf", context: context) {
            try result(options, context)
        }
    }

    static func result(_ options: ReceptiveFieldOptions, _ context: InputContext) throws -> CommandResult {
        let stack = try StackInput.build(options.stack, context: context)
        if options.stack.emit { return CommandResult(output: context.emittedNetwork ?? "") }
        if let target = options.target {
            let report = try DilationDesignReport(stack, target: target)
            if let failure = report.failure { throw ShapeError.invalidGeometry(failure) }
            switch options.style {
            case .quiet: return CommandResult(output: report.quiet)
            case .json: return CommandResult(json: report.json)
            case .text: return CommandResult(output: report.text(layout: context.layout))
            }
        }
        var trace: ShapeTrace?
        if let input = stack.inputSize { trace = try ShapeTrace(stack: stack, input: input) }
        let field = try ReceptiveField(stack: stack, inputs: trace.map { $0.layers.map(\.input) })
        let warnings = holeWarnings(field, stack: stack)
        let uniform = stack.isUniform
        switch options.style {
        case .quiet: return CommandResult(output: finalSize(field, stack: stack, uniform: uniform) + "\n", warnings: warnings)
        case .json: return CommandResult(json: json(field, stack: stack, trace: trace), warnings: warnings)
        case .text: break
        }
        if options.svg {
            let title = "receptive field of " + stack.layers.map(\.token).joined(separator: " ") + ": " + finalSize(field, stack: stack, uniform: uniform)
            var result = CommandResult(output: try HeatMapSVG.render(field.fieldPaths, dims: stack.dims, title: title, skipped: field.pathsSkippedReason),
                                       warnings: warnings)
            result.isVerbatim = true
            return result
        }
        let layout = context.layout
        if let format = options.document, !options.map {
            return Documents.result(Documents.receptiveField(field, stack: stack, trace: trace), format: format, warnings: warnings)
        }
        var text = table(field, stack: stack, trace: trace, layout: layout)
        if options.map {
            text += "\n" + HeatMap.render(field.fieldPaths, dims: stack.dims, layout: layout, skipped: field.pathsSkippedReason)
        }
        return CommandResult(output: text, warnings: warnings)
    }

    // MARK: Text

    static func fractions(_ values: [Fraction?], uniform: Bool) -> String {
        let texts = values.map { $0?.description ?? "-" }
        if uniform, texts.allSatisfy({ $0 == texts[0] }) { return texts[0] }
        return texts.joined(separator: "x")
    }

    static func sizes(_ values: [Int?], uniform: Bool) -> String {
        let texts = values.map { $0.map(String.init) ?? "all" }
        if uniform, texts.allSatisfy({ $0 == texts[0] }) { return texts[0] }
        return texts.joined(separator: "x")
    }

    static func finalSize(_ field: ReceptiveField, stack: LayerStack, uniform: Bool) -> String {
        let values = field.final.enumerated().map { dim, f in f.size ?? stack.inputSize?[dim] }
        return sizes(values, uniform: uniform)
    }

    /// Nesting levels drawn as indentation in the table; deeper levels show their depth.
    static let indentLevels = 8

    /// The table (layer tokens broken after a comma when it is wider than the layout), then
    /// notes and the summary, broken at spaces.
    static func table(_ field: ReceptiveField, stack: LayerStack, trace: ShapeTrace?, layout: TextLayout) -> String {
        let uniform = stack.isUniform
        var header = ["#", "layer"]
        if trace != nil { header.append("out") }
        header += ["ke", "jump", "rf", "start"]
        let rows = tableRows(field, stack: stack, trace: trace, columns: header.count)
        let notes = field.layers.flatMap { self.notes($0, stack: stack, field: field, uniform: uniform) }
        var lines = TextTable.fitted(header: header, rows: rows, rightAligned: Set(trace == nil ? [2, 3, 4, 5] : [2, 3, 4, 5, 6]),
                                     tokens: 1, layout: layout).lines
        let tableEnd = lines.count
        if !notes.isEmpty {
            lines.append("")
            lines += notes
        }
        lines.append("")
        lines += summaryLines(field, stack: stack)
        let prose = lines[tableEnd...].flatMap { LineFit.prose($0, layout: layout) }
        return (lines[..<tableEnd] + prose).joined(separator: "\n") + "\n"
    }

    /// The field, jump, start, local field, path range and coverage under the table.
    static func summaryLines(_ field: ReceptiveField, stack: LayerStack) -> [String] {
        let uniform = stack.isUniform
        var lines: [String] = []
        let last = field.final
        var summary: String
        if last.contains(where: { $0.size == nil }) {
            summary = "receptive field: the whole input"
            if let input = stack.inputSize { summary += " (\(SizeText.format(input, uniform: uniform)))" }
        } else {
            summary = "receptive field: \(sizes(last.map(\.size), uniform: uniform))   jump: \(fractions(last.map(\.jump), uniform: uniform))   start: \(fractions(last.map(\.start), uniform: uniform))"
        }
        lines.append(summary)
        if let local = field.localField, !local.contains(where: { $0.size == nil }) {
            lines.append("local field of the convolutional path: \(sizes(local.map(\.size), uniform: uniform))   jump: \(fractions(local.map(\.jump), uniform: uniform))   start: \(fractions(local.map(\.start), uniform: uniform))")
            lines.append("  (\(localFieldNote(stack)) taken as reading one position; the field above is the truth)")
        }
        if stack.hasBranches {
            if let range = field.pathFieldRange {
                let smallest = sizes(range.smallest, uniform: uniform), largest = sizes(range.largest, uniform: uniform)
                lines.append("single paths through the branches: the smallest field is \(smallest), the largest \(largest)")
            } else {
                lines.append("single paths through the branches: too many distinct paths to follow, or one reads the whole input")
            }
        }
        lines.append(coverageLine(field, uniform: uniform))
        return lines
    }

    /// The table's rows: a row per layer, and per merge a header, its branches and its union.
    static func tableRows(_ field: ReceptiveField, stack: LayerStack, trace: ShapeTrace?, columns: Int) -> [[String]] {
        let uniform = stack.isUniform
        let blank = Array(repeating: "", count: columns - 2)
        // Indentation grows with nesting only up to `indentLevels`; deeper rows carry their
        // depth as a number instead (deep nesting would otherwise cost quadratic space).
        let indents = (0...2 * indentLevels + 2).map { String(repeating: " ", count: 2 * $0) }
        func indent(_ depth: Int, _ extra: Int = 0) -> String {
            depth <= indentLevels ? indents[2 * depth + extra] : indents[2 * indentLevels + extra] + "[depth \(depth)] "
        }
        func values(_ dims: [FieldDimension]) -> [String] {
            [fractions(dims.map(\.jump), uniform: uniform), sizes(dims.map(\.size), uniform: uniform), fractions(dims.map(\.start), uniform: uniform)]
        }
        let origins = OriginHeadings(field.tree) { $0.layer.origin }
        var mergesSeen = 0
        return StackTree.reduce(field.tree, layer: { index, layer, depth in
            var row = ["\(layer.index)", indent(depth) + layer.layer.token]
            if let trace { row.append(SizeText.format(trace.layers[index].output, uniform: uniform)) }
            let kernels = layer.dims.map { $0.effectiveKernel }
            row.append(kernels.allSatisfy { $0 == nil } ? "-" : sizes(kernels.map { $0 ?? 1 }, uniform: uniform))
            let heading = (origins.beforeLayer[index] ?? []).map { ["", $0] + blank }   // labels at the left edge
            return heading + [row + values(layer.dims)]
        }, merge: { kind, merged, branches, depth in
            var rows = origins.mergesInReduceOrder[mergesSeen].map { ["", $0] + blank }
            mergesSeen += 1
            rows.append(["", indent(depth) + MergeText.header(kind, branches: branches.count, shares: kind.givenShares)] + blank)
            for (b, branch) in branches.enumerated() {
                rows.append(["", indent(depth, 1) + "branch \(b + 1)" + (branch.isEmpty ? ": identity" : "")] + blank)
                rows += branch.flatMap { $0 }
            }
            var row = ["", indent(depth) + "= \(kind.name) (union)"]
            if trace != nil { row.append("") }
            row.append("-")
            rows.append(row + values(merged))
            return rows
        }).flatMap { $0 }
    }

    /// The layers the local field takes as pointwise, by type: `se and gap`.
    static func localFieldNote(_ stack: LayerStack) -> String {
        var names: [String] = []
        for layer in stack.layers where (layer.type.readsGlobalContext || layer.type.isAdaptivePool) && !names.contains(layer.type.rawValue) {
            names.append(layer.type.rawValue)
        }
        return names.count <= 1 ? names.joined() : names.dropLast().joined(separator: ", ") + " and " + names.last!
    }

    /// Notes on upsampling layers and on layers that read the whole input.
    static func notes(_ layer: ReceptiveField.LayerField, stack: LayerStack, field: ReceptiveField, uniform: Bool) -> [String] {
        var notes: [String] = []
        if let span = layer.dims.first?.span, layer.dims.allSatisfy({ $0.span != nil }) {
            let geometry = stack.geometry(of: layer.index - 1)
            let factors = SizeText.format(geometry.stride, uniform: uniform)
            let spans = sizes(layer.dims.map(\.span), uniform: uniform)
            let reach = span == 1 && !spans.contains("x") ? "each output reads 1 input" : "an output's inputs span at most \(spans) positions"
            notes.append("layer \(layer.index) '\(layer.layer.token)' upsamples by \(factors): the jump divides by \(factors), and \(reach)")
        }
        if layer.layer.type.readsGlobalContext || (layer.dims.first.map { $0.size == nil } ?? false) && layer.layer.type.isAdaptivePool {
            let why = layer.layer.type == .se ? " (its squeeze pools over every position)"
                : layer.layer.type == .groupnorm ? " (its statistics span every position)" : ""
            notes.append("layer \(layer.index) '\(layer.layer.token)' reads the whole input\(why): every later field is the whole input")
        }
        return notes
    }

    static func percent(_ x: Double) -> String {
        let tenths = (x * 1000).rounded() / 10
        return tenths == tenths.rounded() ? "\(Int(tenths))%" : "\(tenths)%"
    }

    static func coverageLine(_ field: ReceptiveField, uniform: Bool) -> String {
        guard let paths = field.fieldPaths else {
            return "coverage: not computed (\(field.pathsSkippedReason ?? "too large"))"
        }
        switch paths {
        case .whole:
            return "coverage: 100% (the whole input is reached)"
        case let .joint(grid):
            let box = grid.shape.map(String.init).joined(separator: "x")
            return "coverage: \(percent(paths.coverage)) (\(grid.reached) of \(box) = \(grid.counts.count) positions reached, counted jointly: the branches differ in shape)"
        case let .separable(dims):
            let parts = dims.map { "\($0.reached) of \($0.counts.count)" }
            if uniform, parts.allSatisfy({ $0 == parts[0] }) {
                let each = parts[0] + (dims.count > 1 ? " positions along each dimension" : " positions")
                return "coverage: \(percent(paths.coverage)) (\(each) reached)"
            }
            return "coverage: \(percent(paths.coverage)) (" + parts.joined(separator: " x ") + " positions reached)"
        }
    }

    /// One warning per entry of `field.holes` (a dimension with holes, all alike, or the joint
    /// field), naming where they start and, when dilations share a factor, the gridding problem.
    static func holeWarnings(_ field: ReceptiveField, stack: LayerStack) -> [String] {
        let coverage = field.coverage ?? 1
        return field.holes.map { holes in
            var text = "the receptive field has holes: "
            switch holes.along {
            case let .joint(shape):
                let box = shape.map(String.init).joined(separator: "x")
                text += "coverage \(percent(coverage)), \(holes.reached) of \(holes.positions) positions of the \(box) field reached"
            case .every:
                let along = stack.dims == 1 ? "" : " along each dimension"
                text += "coverage \(percent(coverage)), \(holes.reached) of \(holes.positions) positions reached\(along)"
            case let .dimension(dim):
                let along = stack.dims == 1 ? "" : " along \(DimensionNames.label(dim, of: stack.dims))"
                let share = stack.dims == 1 ? "coverage \(percent(coverage)), " : ""
                text += "\(share)\(holes.reached) of \(holes.positions) positions reached\(along)"
            }
            text += "; they first appear at " + place(holes.firstAt, stack: stack)
            if let gridding = holes.gridding {
                text += "; the dilations of layers \(gridding.layers.map(String.init).joined(separator: ", ")) (d = \(gridding.dilations.map(String.init).joined(separator: ", "))) share the factor \(gridding.factor): the gridding problem"
            }
            return text
        }
    }

    /// Where holes first appear, for messages: a layer, or the merge ending after its last layer.
    static func place(_ place: FieldHoles.Place, stack: LayerStack) -> String {
        switch place {
        case let .layer(index): return "layer \(index + 1) '\(stack.layers[index].token)'"
        case let .merge(kind, last):
            return "the \(kind.name)" + (last.map { " ending after layer \($0 + 1)" } ?? " at the start")
        }
    }

    // MARK: JSON

    static func fractionValues(_ values: [Fraction?]) -> JSON { .array(values.map { $0.map { .double($0.doubleValue) } ?? .null }) }
    /// Exact fractions for JSON, with an ASCII minus (Python's `Fraction("-9/2")` reads them).
    static func fractionTexts(_ values: [Fraction?]) -> JSON { .array(values.map { $0.map { .string($0.asciiDescription) } ?? .null }) }
    static func optionalInts(_ values: [Int?]) -> JSON { .array(values.map { $0.map(JSON.number) ?? .null }) }

    /// A layer's object in `layers` and `tree`.
    static func layerPairs(_ layer: ReceptiveField.LayerField, trace: ShapeTrace?) -> [(String, JSON)] {
        var pairs: [(String, JSON)] = [
            ("layer", .string(layer.layer.token)),
            ("type", .string(layer.layer.type.rawValue)),
        ] + layer.layer.originPairs
        if let trace { pairs.append(("out", .ints(trace.layers[layer.index - 1].output))) }
        pairs += [
            ("effective_kernel", optionalInts(layer.dims.map(\.effectiveKernel))),
            ("span", optionalInts(layer.dims.map(\.span))),
            ("jump", fractionValues(layer.dims.map(\.jump))),
            ("jump_text", fractionTexts(layer.dims.map(\.jump))),
            ("rf", optionalInts(layer.dims.map(\.size))),
            ("start", fractionValues(layer.dims.map(\.start))),
            ("start_text", fractionTexts(layer.dims.map(\.start))),
        ]
        return pairs
    }

    /// A merge's object in `merges` and `tree`.
    static func mergePairs(_ dims: [FieldDimension]) -> [(String, JSON)] {
        [("jump", fractionValues(dims.map(\.jump))), ("rf", optionalInts(dims.map(\.size))), ("start", fractionValues(dims.map(\.start)))]
    }

    static func json(_ field: ReceptiveField, stack: LayerStack, trace: ShapeTrace?) -> JSON {
        let last = field.final
        let whole = last.contains { $0.size == nil }
        let rf: [Int?] = last.enumerated().map { dim, f in f.size ?? stack.inputSize?[dim] }
        func number(_ c: Double) -> JSON { c < 9e15 ? .number(Int(c)) : .double(c) }
        let counts: JSON = .array(field.paths.map { paths in
            paths.map { .array($0.counts.map(number)) } ?? .null
        })
        // Joint counts (only when branches of differing shapes make them non-separable; then
        // `counts` holds per-dimension sums): nested arrays, the first dimension outermost.
        var joint: JSON?
        if case let .joint(grid)? = field.fieldPaths {
            func nest(_ axis: Int, _ base: Int) -> JSON {
                if axis == grid.shape.count - 1 { return .array(grid.counts[base..<base + grid.shape[axis]].map(number)) }
                let inner = grid.shape[(axis + 1)...].reduce(1, *)
                return .array((0..<grid.shape[axis]).map { nest(axis + 1, base + $0 * inner) })
            }
            joint = grid.counts.isEmpty ? .array([]) : nest(0, 0)
        }
        let bounds: JSON = .array(field.paths.map { paths in
            paths.map { .ints([$0.origin, $0.origin + $0.counts.count - 1]) } ?? .null
        })
        var pairs: [(String, JSON)] = [
            ("rf", optionalInts(rf)),
            ("jump", fractionValues(last.map(\.jump))),
            ("jump_text", fractionTexts(last.map(\.jump))),
            ("start", fractionValues(last.map(\.start))),
            ("start_text", fractionTexts(last.map(\.start))),
            ("coverage", field.coverage.map(JSON.double) ?? .null),
            ("coverage_per_dim", .array(field.paths.map { $0.map { .double($0.coverage) } ?? (field.pathsComputed ? .double(1) : .null) })),
            ("whole_input", .bool(whole)),
            ("holes_first_at", optionalInts(field.holesFirstAt)),
            ("field", bounds),
            ("counts", counts),
            ("dims", .number(stack.dims)),
            ("layers", .array(field.layers.map { .object(layerPairs($0, trace: trace)) })),
            ("merges", .array(StackTree.merges(field.tree).map { merge in
                .object([("kind", .string(merge.kind.name))] + MergeText.sharePairs(merge.kind, shares: merge.kind.givenShares) + mergePairs(merge.value))
            })),
            ("tree", .tree(field.tree, layer: { layerPairs($1, trace: trace) }, merge: { kind, dims in
                MergeText.sharePairs(kind, shares: kind.givenShares) + mergePairs(dims)
            })),
            ("path_rf_smallest", stack.hasBranches ? field.pathFieldRange.map { .ints($0.smallest) } ?? optionalInts(Array(repeating: nil, count: stack.dims)) : .null),
            ("path_rf_largest", stack.hasBranches ? field.pathFieldRange.map { .ints($0.largest) } ?? optionalInts(Array(repeating: nil, count: stack.dims)) : .null),
        ]
        if let joint { pairs.insert(("counts_joint", joint), at: pairs.firstIndex { $0.0 == "counts" }! + 1) }
        if let local = field.localField {
            pairs += [("local_rf", optionalInts(local.map(\.size))), ("local_jump", fractionValues(local.map(\.jump))),
                      ("local_start", fractionValues(local.map(\.start)))]
        }
        return .object(pairs)
    }
}
