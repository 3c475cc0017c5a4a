import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// `convcalc params`: parameters and multiply–accumulates per layer and in total; `--vs`.
enum ParamsCommand {
    static let options: [OptionSpec] = CommonOptions.layer + CommonOptions.stack + [
        OptionSpec(.vs, ["--vs"], value: nil, group: .command,
                   help: "compare with a second stack: the layers after --vs (tokens, -f FILE or layer options) on the same input; prints both and the ratios B/A and A/B")
            .manual("Compare with a second stack: the words after --vs give it, as tokens, -f FILE or layer options. Stack options (--in, --cin, --dims, --bias, --no-bias) apply to both, given on either side but not differently on both. Prints both tables and the ratios of parameters and MACs both ways, B/A and A/B."),
    ] + RunOptionsTable.options + RunOptionsTable.roofline + CommonOptions.output + [CommonOptions.documentFormat]

    static let conventions: [(String, String)] = [
        ("mac", "1 MAC (multiply-accumulate) = 2 FLOPs"),
        ("bias", "bias additions are not MACs; biases are counted apart from weights"),
        ("conv", "MACs = Πout·cout·(cin/g)·Πk"),
        ("tconv", "MACs = Πin·cin·(cout/g)·Πk, counted per input element"),
        ("deform", "main conv plus offset conv (D·g·Πk channels, (D+1)·g·Πk with the v2 mask), g the offset groups; bilinear sampling (2^D multiply-adds per sampled value, +1 for the mask) in sampling_macs, not in macs"),
        ("bn", "2·C parameters (γ, β); 0 MACs, folded into the preceding convolution at inference"),
        ("se", "two FC layers with biases, C→⌊C/r⌋→C; MACs include the C·H·W rescaling"),
        ("zero", "pools, relu, upsample, pixelshuffle, shuffle and gap: no parameters, 0 MACs"),
        ("norm", "layernorm and groupnorm: 2·C parameters (γ, β), 0 MACs"),
        ("layerscale", "C parameters; one multiply per element, C·Πout MACs"),
        ("activation", "relu6, silu, hswish, hsigmoid, sigmoid, gelu, tanh, leakyrelu, elu, softmax, identity, dropout, flatten, adaptive pools: no parameters, 0 MACs; prelu: its n slopes"),
        ("se_hidden", "hidden= when given, else ⌊C/r⌋, rounded by div= as torchvision's _make_divisible"),
        ("merge", "add, concat and split: no parameters, 0 MACs (element-wise additions and copies are not MACs); mul: one MAC per output element per branch after the first (a gate's multiplies, as se's rescaling)"),
        ("bias_default", "layers have a bias unless bias=0; --no-bias removes the biases of convolutions (se and fc keep theirs); sepconv's depthwise part never has one"),
    ]

    static let command = Command(
        name: "params",
        summary: "parameters and multiply-accumulates of every convolution variant and of whole networks",
        usage: ["convcalc params [options] --cin C LAYER... [--in SIZE]",
                "convcalc params [options] -f FILE", "convcalc params [options] MODEL.onnx",
                "convcalc params [options] --cin C LAYER... --vs LAYER..."],
        overview: [
            "Per layer and in total: weights and biases apart, the output shape C×H×W (with --in), and MACs (multiply-accumulates, with --in; 1 MAC = 2 FLOPs). Channels flow through the stack from --cin; every output channel count defaults to the input's.",
        ],
        options: options,
        sections: [
            ("CONVENTIONS", conventions.map { "\($0.0): \($0.1)." }),
            ("OUTPUT", [
                "-q prints the total number of parameters (with --vs, two lines: A then B).",
                "--json prints {\"params\", \"weights\", \"biases\", \"macs\" (null without --in), \"flops\", \"layers\": [{\"layer\", \"params\", \"weights\", \"biases\", \"macs\", \"out\": [C, ...spatial], \"parts\"}], \"merges\", \"tree\", \"conventions\"}; tree nests the layers and merges as written (a merge holds its \"branches\"); with --vs, {\"a\": {...}, \"b\": {...}, \"params_ratio\", \"macs_ratio\" (B/A), \"params_ratio_a_b\", \"macs_ratio_a_b\" (A/B)}.",
                "With --memory, --train or their options, \"memory\": {\"batch\", \"dtype\", \"weight_dtype\", \"activation_elements\", \"activation_bytes\", \"weight_bytes\", \"peak_activation_elements\", \"peak_at_layer\", \"layers\": [{\"index\", \"activation_elements\", \"activation_bytes\", \"weight_bytes\", \"params_share\", \"macs_share\", \"activation_share\", \"bytes_moved\", \"intensity\", with --train \"backward_input_macs\", \"backward_weight_macs\", \"trained\"}], with --train \"saved_activation_elements\", \"saved_indices\", \"saved_statistics\", \"saved_bytes\", \"backward_input_macs\", \"backward_weight_macs\", \"optimizer\", \"trained_params\", \"gradient_bytes\", \"optimizer_bytes\", \"master_weight_bytes\"}; with --count, \"counted\": {\"tool\", \"macs\", with torch and --train \"training_macs\"}.",
            ]),
        ],
        examples: [
            ("convcalc params --cin 10 --no-bias conv:k=5 --vs conv:k=3 conv:k=3", "one 5x5 against two 3x3 on 10 channels: 2,500 against 1,800 parameters"),
            ("convcalc params --in 5 --cin 1 --no-bias conv:k=3 --vs conv:k=1x3 conv:k=3x1", "81 MACs against 45 + 27 = 72"),
            ("convcalc params -q -f examples/nets/vgg16.net", "prints 138357544, as torchvision's VGG-16"),
            ("convcalc params examples/models/resnet18.onnx", "an ONNX model, layer by layer (--emit net prints it as a network file)"),
            ("convcalc params --cin 32 --in 112 sepconv:k=3,c=64", "a depthwise separable convolution, part by part"),
        ],
        execute: execute
    )

    enum FirstStack {
        case stack(LayerStack)
        /// Printed already: `--emit net`, or a model counted layer by layer.
        case done(CommandResult)
    }

    /// The first stack, or what stands for the whole answer: `--emit net`'s text, or a model
    /// whose graph is no tree of branches, counted layer by layer (unless an option needs the tree).
    static func firstStack(_ options: ParamsOptions, context: InputContext) throws -> FirstStack {
        let stack: LayerStack
        do {
            stack = try StackInput.build(options.stack, context: context)
        } catch let graph as GraphModelError
                    where options.comparison == nil && options.run == nil && options.countingTool == nil && !options.stack.emit && options.stack.tokens.isEmpty {
            return .done(graph.paramsText(style: options.style, layout: context.layout))
        }
        if options.stack.emit || options.comparison?.emit == true {
            guard options.comparison == nil else { throw UsageError.invalid("--emit net prints one network; give it without --vs") }
            return .done(CommandResult(output: context.emittedNetwork ?? ""))
        }
        return .stack(stack)
    }

    static let shared: [OptionID] = [.input, .cin, .dims, .bias, .noBias] + (RunOptionsTable.options + RunOptionsTable.roofline).map(\.id)

    static func execute(_ args: ParsedArguments, _ context: InputContext) throws -> CommandResult {
        let options = try ParamsOptions(args)
        return try Documents.written(outputPath: nil, document: options.document, title: "convcalc params", context: context) {
            try result(options, context)
        }
    }

    static func result(_ options: ParamsOptions, _ context: InputContext) throws -> CommandResult {
        let a: NetworkCost
        switch try firstStack(options, context: context) {
        case let .stack(stack): a = try NetworkCost(stack: stack)
        case let .done(result): return result
        }
        let layout = context.layout
        guard let comparison = options.comparison else {
            let run = try options.run.map { try RunCost(network: a, stack: a.stack, settings: $0) }
            let counted = try options.countingTool.map { tool in (tool, try a.countedMACs(by: tool, batch: options.run?.batch ?? 1)) }
            // `--count torch --train`: FlopCounterMode's forward + backward, as it counts them.
            let torchTraining = try options.countingTool == .torch && options.train ? run.flatMap { try a.torchTrainingMACs($0) } : nil
            switch options.style {
            case .quiet: return CommandResult(output: "\(a.params)\n")
            case .json:
                let object = try json(a, run: run, train: options.train)
                guard let counted, case let .object(pairs) = object else { return CommandResult(json: object) }
                var countedPairs: [(String, JSON)] = [("tool", .string(counted.0.rawValue)), ("macs", counted.1.map(JSON.number) ?? .null)]
                if let torchTraining { countedPairs.append(("training_macs", .number(torchTraining))) }
                return CommandResult(json: .object(pairs + [("counted", .object(countedPairs))]))
            case .text:
                if let format = options.document, run == nil, counted == nil { return Documents.result(Documents.params(a), format: format) }
                let choice = tableChoice([a], layout: layout)
                let countLine = counted.map { tool, macs in
                    macs.map { "as \(tool.rawValue) counts them: \(Count.grouped($0)) MACs\(Count.scaled($0)) (batch \(options.run?.batch ?? 1); see --help for what it counts)" }
                        ?? "as \(tool.rawValue) counts them: give --in SIZE"
                }.map { line in
                    line + (torchTraining.map { "; a training step, forward and backward, as torch.utils.flop_counter counts it (a grouped convolution's weight gradient g times): \(Count.grouped($0)) MACs" } ?? "")
                }
                var text = prose((table(a, layout: layout, choice: choice), compactNote(choice, layout: layout) + totals(a) + (countLine.map { [$0] } ?? []) + notes(a)), layout: layout)
                if let run { text += try memoryText(a, run, train: options.train, top: options.top, layout: layout) }
                if let run, let machine = options.machine { text += rooflineText(a, run, machine: machine, layout: layout) }
                return CommandResult(output: text)
            }
        }
        if options.run != nil || options.countingTool != nil {
            throw UsageError.invalid("--memory, --train, --count and their options describe one network; compare two with --vs without them, or run each on its own")
        }
        let b: NetworkCost
        do {
            b = try NetworkCost(stack: try StackInput.build(comparison, context: context))
        } catch let error as UserFacingError {
            throw ComparisonError(underlying: error)
        }
        switch options.style {
        case .quiet:
            return CommandResult(output: "\(a.params)\n\(b.params)\n")
        case .json:
            let object = JSON.object([
                ("a", json(a)), ("b", json(b)),
                ("params_ratio", ratio(b.params, a.params).map(JSON.double) ?? .null),
                ("macs_ratio", a.macs.flatMap { am in b.macs.flatMap { ratio($0, am) } }.map(JSON.double) ?? .null),
                ("params_ratio_a_b", ratio(a.params, b.params).map(JSON.double) ?? .null),
                ("macs_ratio_a_b", a.macs.flatMap { am in b.macs.flatMap { ratio(am, $0) } }.map(JSON.double) ?? .null),
            ])
            return CommandResult(json: object)
        case .text:
            return CommandResult(output: comparisonText(a, b, layout: layout))
        }
    }

    /// Text lines joined, those after the tables (the totals and notes, with a table's own
    /// lines already fitted) broken at spaces to the width.
    static func prose(_ parts: (table: [String], rest: [String]), layout: TextLayout) -> String {
        (parts.table + parts.rest.flatMap { LineFit.prose($0, layout: layout) }).joined(separator: "\n") + "\n"
    }

    /// The two designs side by side, with the ratios B/A and A/B.
    static func comparisonText(_ a: NetworkCost, _ b: NetworkCost, layout: TextLayout) -> String {
        let choice = tableChoice([a, b], layout: layout)
        var lines = ["A"] + table(a, layout: layout, choice: choice) + ["", "B"] + table(b, layout: layout, choice: choice)
        lines += compactNote(choice, layout: layout).flatMap { LineFit.prose($0, layout: layout) } + [""]
        // Both ratios: papers quote A/B ("3x fewer"), B/A reads as "B costs this much of A".
        func row(_ name: String, _ x: Int?, _ y: Int?) -> [String] {
            guard let x, let y else { return [name, x.map(Count.grouped) ?? "-", y.map(Count.grouped) ?? "-", "-", "-"] }
            return [name, Count.grouped(x), Count.grouped(y), ratio(y, x).map(Count.ratio) ?? "-", ratio(x, y).map(Count.ratio) ?? "-"]
        }
        let rows = [row("parameters", a.params, b.params), row("  weights", a.weights, b.weights),
                    row("  biases", a.biases, b.biases), row("MACs", a.macs, b.macs)]
        lines += TextTable.render(header: ["", "A", "B", "B/A", "A/B"], rows: rows, rightAligned: [1, 2, 3, 4], measure: layout.columns)
        var rest = notes(a, label: "A") + notes(b, label: "B")
        if a.macs == nil || b.macs == nil { rest.append("give --in SIZE for MACs (they depend on the output size)") }
        rest.append("1 MAC = 2 FLOPs; bias additions are not MACs")
        return prose((lines, rest), layout: layout)
    }

    static func ratio(_ b: Int, _ a: Int) -> Double? { a == 0 ? nil : Double(b) / Double(a) }

    // MARK: Text

    static func shape(_ channels: Int?, _ spatial: [Int]?) -> String {
        guard let channels else { return "-" }
        return ([channels] + (spatial ?? [])).map(String.init).joined(separator: "×")
    }

    /// How the per-layer tables are laid out for the width: whole, or without the weights and
    /// biases columns (`compact`); `naturalWidth` is the widest whole table unbroken.
    struct TableChoice {
        var compact: Bool
        var naturalWidth: Int
    }

    static let header = ["#", "layer", "out", "weights", "biases", "params", "MACs"]
    /// The columns a compact table leaves out: weights and biases (params is their sum).
    static let splitColumns: Set = [3, 4]

    /// Whole tables when each fits the width as it is or with long tokens broken after a comma
    /// in only a few rows; else compact (the totals below the tables still part weights and
    /// biases). The tables of a comparison are laid out alike.
    static func tableChoice(_ networks: [NetworkCost], layout: TextLayout) -> TableChoice {
        var choice = TableChoice(compact: false, naturalWidth: 0)
        for network in networks {
            let rows = tableRows(network)
            let whole = TextTable.fitted(header: header, rows: rows, rightAligned: [3, 4, 5, 6], tokens: 1, layout: layout)
            if !whole.fits || whole.brokenRows > max(1, rows.count / 8) { choice.compact = true }
            choice.naturalWidth = max(choice.naturalWidth, whole.naturalWidth)
        }
        return choice
    }

    /// The per-layer table as `choice` says, long tokens broken after a comma to fit the width.
    /// Numbers are never shortened.
    static func table(_ network: NetworkCost, layout: TextLayout, choice: TableChoice) -> [String] {
        let rows = tableRows(network)
        guard choice.compact else {
            return TextTable.fitted(header: header, rows: rows, rightAligned: [3, 4, 5, 6], tokens: 1, layout: layout).lines
        }
        let keep = { (row: [String]) in row.indices.filter { !splitColumns.contains($0) }.map { row[$0] } }
        return TextTable.fitted(header: keep(header), rows: rows.map(keep), rightAligned: [3, 4], tokens: 1, layout: layout).lines
    }

    /// Under compact tables: what was left out, and how to see it.
    static func compactNote(_ choice: TableChoice, layout: TextLayout) -> [String] {
        guard choice.compact else { return [] }
        return ["(weights and biases per layer left out to fit \(layout.width) columns; COLUMNS=\(choice.naturalWidth) shows them)"]
    }

    /// The table's rows: one per layer and part, and per merge a header, its branches and its result; the total.
    static func tableRows(_ network: NetworkCost) -> [[String]] {
        let origins = OriginHeadings(network.tree) { $0.layer.origin }
        var mergesSeen = 0
        // Headings start at the column's left edge, whatever the nesting: labels, not rows.
        func heading(_ lines: [String]?, _ indent: String) -> [[String]] {
            (lines ?? []).map { ["", $0, "", "", "", "", ""] }
        }
        var rows = StackTree.reduce(network.tree, layer: { index, entry, depth in
            let indent = String(repeating: "    ", count: depth)
            return heading(origins.beforeLayer[index], indent) + entryRows(entry, indent: indent)
        }, merge: { kind, merge, branches, depth in
            let indent = String(repeating: "    ", count: depth)
            var rows = heading(origins.mergesInReduceOrder[mergesSeen], indent)
            mergesSeen += 1
            rows.append(["", indent + MergeText.header(kind, branches: branches.count, shares: merge.shares), "", "", "", "", ""])
            for (b, branch) in branches.enumerated() {
                rows.append(["", indent + "  branch \(b + 1)" + (branch.isEmpty ? ": identity" : ""), "", "", "", "", ""])
                rows += branch.flatMap { $0 }
            }
            rows.append(["", indent + "= \(kind.name)", shape(merge.channels, merge.spatial), "0", "0", "0", merge.macs.map(Count.grouped) ?? "-"])
            return rows
        }).flatMap { $0 }
        rows.append(["", "total", "", Count.grouped(network.weights), Count.grouped(network.biases),
                     Count.grouped(network.params), network.macs.map(Count.grouped) ?? "-"])
        return rows
    }

    /// A layer's row, then one row per part (sepconv, deform, se).
    static func entryRows(_ entry: NetworkCost.Entry, indent: String) -> [[String]] {
        let cost = entry.cost
        var rows = [["\(entry.index)", indent + entry.layer.token, shape(entry.channels, entry.spatial),
                     Count.grouped(cost.weights), Count.grouped(cost.biases), Count.grouped(cost.params),
                     cost.macs.map(Count.grouped) ?? "-"]]
        for part in cost.parts {
            rows.append(["", indent + "  " + part.name, shape(part.outChannels, part.spatial),
                         Count.grouped(part.weights), Count.grouped(part.biases), Count.grouped(part.weights + part.biases),
                         part.macs.map(Count.grouped) ?? "-"])
        }
        return rows
    }

    static func totals(_ network: NetworkCost) -> [String] {
        var lines = [""]
        lines.append(Count.parameters(network.params, weights: network.weights, biases: network.biases))
        if let macs = network.macs {
            lines.append(Count.multiplyAccumulates(macs))
        } else {
            lines.append("MACs: give --in SIZE (they depend on the output size); 1 MAC = 2 FLOPs")
        }
        return lines
    }

    static func notes(_ network: NetworkCost, label: String? = nil) -> [String] {
        var lines: [String] = []
        for entry in network.entries {
            if let sampling = entry.cost.samplingMACs {
                let who = (label.map { "\($0): " } ?? "") + "layer \(entry.index) '\(entry.layer.token)'"
                lines.append("\(who): bilinear sampling adds \(Count.grouped(sampling)) multiply-adds, not in the MACs above")
            }
            if entry.layer.type == .tconv, entry.cost.macs != nil {
                let who = (label.map { "\($0): " } ?? "") + "layer \(entry.index) '\(entry.layer.token)'"
                lines.append("\(who): transposed convolution MACs are counted per input element, Πin·cin·(cout/g)·Πk")
            }
        }
        return lines
    }

    // MARK: JSON

    static func json(_ network: NetworkCost) -> JSON {
        func sized(_ channels: Int?, _ spatial: [Int]?) -> JSON { channels.map { .ints([$0] + (spatial ?? [])) } ?? .null }
        func layer(_ entry: NetworkCost.Entry) -> [(String, JSON)] {
            var pairs: [(String, JSON)] = [
                ("layer", .string(entry.layer.token)),
                ("type", .string(entry.layer.type.rawValue)),
            ] + entry.layer.originPairs + [
                ("params", .number(entry.cost.params)),
                ("weights", .number(entry.cost.weights)),
                ("biases", .number(entry.cost.biases)),
                ("macs", entry.cost.macs.map(JSON.number) ?? .null),
                ("out", sized(entry.channels, entry.spatial)),
            ]
            if let sampling = entry.cost.samplingMACs { pairs.append(("sampling_macs", .number(sampling))) }
            if !entry.cost.parts.isEmpty {
                pairs.append(("parts", .array(entry.cost.parts.map { part in
                    .object([("name", .string(part.name)), ("out_channels", .number(part.outChannels)),
                             ("weights", .number(part.weights)), ("biases", .number(part.biases)),
                             ("macs", part.macs.map(JSON.number) ?? .null)])
                })))
            }
            return pairs
        }
        let branchOut = { (merge: NetworkCost.Merge) -> JSON in .array(merge.branches.map { sized($0.channels, $0.spatial) }) }
        let mergeMACs = { (merge: NetworkCost.Merge) -> JSON in merge.macs.map(JSON.number) ?? .null }
        return .object([
            ("params", .number(network.params)),
            ("weights", .number(network.weights)),
            ("biases", .number(network.biases)),
            ("macs", network.macs.map(JSON.number) ?? .null),
            ("flops", network.macs.flatMap { try? Checked.mul($0, 2) }.map(JSON.number) ?? .null),
            ("sampling_macs", network.samplingMACs.map(JSON.number) ?? .null),
            ("layers", .array(network.entries.map { .object(layer($0)) })),
            ("merges", .array(network.merges.map { merge in
                .object([("kind", .string(merge.kind.name))] + MergeText.sharePairs(merge.kind, shares: merge.shares)
                        + [("branches", branchOut(merge)), ("out", sized(merge.channels, merge.spatial)), ("macs", mergeMACs(merge))])
            })),
            ("tree", .tree(network.tree, layer: { layer($1) }, merge: { kind, merge in
                MergeText.sharePairs(kind, shares: merge.shares) + [("branch_out", branchOut(merge)), ("out", sized(merge.channels, merge.spatial)),
                                                                    ("macs", mergeMACs(merge))]
            })),
            ("conventions", .object(conventions.map { ($0.0, JSON.string($0.1)) })),
        ])
    }
}

/// An error in the second stack of a comparison: says so.
struct ComparisonError: UserFacingError {
    let underlying: UserFacingError
    var message: String { "in the stack after --vs: " + underlying.message }
    var category: ErrorCategory { underlying.category }
}

/// Counts as people read them.
enum Count {
    /// `138,357,544`.
    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return (n < 0 ? "−" : "") + out
    }

    /// `n noun`, grouped, the noun plural unless n is 1: `1 bias`, `2,048 biases`.
    static func of(_ n: Int, _ singular: String, _ plural: String) -> String {
        "\(grouped(n)) \(n == 1 ? singular : plural)"
    }

    /// The totals' first line: `41 parameters: 40 weights + 1 bias`.
    static func parameters(_ params: Int, weights: Int, biases: Int) -> String {
        "\(of(params, "parameter", "parameters"))\(scaled(params)): \(of(weights, "weight", "weights")) + \(of(biases, "bias", "biases"))"
    }

    /// The totals' second line: `40 MACs = 80 FLOPs (1 MAC = 2 FLOPs; …)`.
    static func multiplyAccumulates(_ macs: Int) -> String {
        let flops = (try? Checked.mul(macs, 2)).map { grouped($0) } ?? "more than 2^63"
        return "\(of(macs, "MAC", "MACs"))\(scaled(macs)) = \(flops) FLOPs (1 MAC = 2 FLOPs; bias additions are not MACs)"
    }

    /// ` (138.4 M)`, or nothing below ten thousand.
    static func scaled(_ n: Int) -> String {
        let units: [(Double, String)] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        guard n >= 10_000, let unit = units.first(where: { Double(n) >= $0.0 }) else { return "" }
        let value = Double(n) / unit.0
        let text = value >= 100 ? "\(Int(value.rounded()))" : "\((value * 10).rounded() / 10)"
        return " (\(text) \(unit.1))"
    }

    /// A ratio to 3 significant digits: `0.72`, `1.5`, `0.333`.
    static func ratio(_ x: Double) -> String {
        guard x.isFinite, x > 0 else { return "-" }
        var digits = 3
        var scale = 1.0
        while x * scale < 100 && digits < 12 { scale *= 10; digits += 1 }
        var text = "\((x * scale).rounded() / scale)"
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text
    }
}
