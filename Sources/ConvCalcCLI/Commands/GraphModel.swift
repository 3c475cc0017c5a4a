import ConvCalcCore
import ConvCalcONNX

/// A model whose graph is not a tree of branches (`OnnxGraphCount`): `params` and `shape`
/// count and size it layer by layer in node order; everything that needs the tree (`rf`,
/// `--emit net`, memory and training, `--vs`) says why it cannot.
struct GraphModelError: UserFacingError {
    var path: String
    var count: OnnxGraphCount

    var message: String {
        "\(path): \(count.reason.message); rf, --emit net, --memory, --train, --count and --vs need a graph of branches from one input (params and shape count it layer by layer)"
    }

    var category: ErrorCategory { .data }

    /// The note under a graph's table: why it is listed flat.
    var note: String {
        "\(path) is counted layer by layer in node order, each on its input as the graph gives it: \(count.reason.message)"
    }

    /// `64×56×56` (N left out), `1000` for N×F.
    static func shape(_ dims: [Int]) -> String {
        dims.dropFirst().map(String.init).joined(separator: "×")
    }

    /// `params`: the table, the totals, the note.
    func paramsText(style: ShapeCommand.OutputStyle, layout: TextLayout) -> CommandResult {
        switch style {
        case .quiet: return CommandResult(output: "\(count.params)\n")
        case .json: return CommandResult(json: paramsJSON)
        case .text:
            var rows = count.rows.enumerated().map { i, row -> [String] in
                [row.merge == nil ? "\(i + 1)" : "", row.token, row.node, row.outputs.map(GraphModelError.shape).joined(separator: ", "),
                 Count.grouped(row.weights + row.biases), Count.grouped(row.macs)]
            }
            rows.append(["", "total", "", "", Count.grouped(count.params), Count.grouped(count.macs)])
            let table = TextTable.fitted(header: ["#", "layer", "node", "out", "params", "MACs"], rows: rows, rightAligned: [4, 5],
                                         tokens: 1, layout: layout).lines
            let rest = ["", Count.parameters(count.params, weights: count.weights, biases: count.biases),
                        Count.multiplyAccumulates(count.macs), note]
            return CommandResult(output: ParamsCommand.prose((table, rest), layout: layout))
        }
    }

    var paramsJSON: JSON {
        .object([
            ("params", .number(count.params)), ("weights", .number(count.weights)), ("biases", .number(count.biases)),
            ("macs", .number(count.macs)), ("flops", (try? Checked.mul(count.macs, 2)).map(JSON.number) ?? .null),
            ("layers", .array(count.rows.filter { $0.merge == nil }.map { row in
                .object([("layer", .string(row.token)), ("node", .string(row.node)), ("params", .number(row.weights + row.biases)),
                         ("weights", .number(row.weights)), ("biases", .number(row.biases)), ("macs", .number(row.macs)),
                         ("in", .ints(Array(row.inputs[0].dropFirst()))), ("out", .ints(Array(row.outputs[0].dropFirst())))])
            })),
            ("merges", .array(count.rows.filter { $0.merge != nil }.map { row in
                .object([("kind", .string(row.merge!.name)), ("node", .string(row.node)), ("macs", .number(row.macs)),
                         ("branches", .array(row.inputs.map { .ints(Array($0.dropFirst())) })),
                         ("out", .array(row.outputs.map { .ints(Array($0.dropFirst())) }))])
            })),
            ("outputs", .object(count.outputs.map { ($0.name, JSON.ints(Array($0.shape.dropFirst()))) })),
            ("graph", .string(count.reason.message)),
        ])
    }

    /// `shape`: each layer's input and output, the graph's outputs.
    func shapeText(style: ShapeCommand.OutputStyle, layout: TextLayout) -> CommandResult {
        let spatial = { (dims: [Int]) in dims.count > 2 ? dims.dropFirst(2).map(String.init).joined(separator: "x") : "1" }
        switch style {
        case .quiet:
            return CommandResult(output: count.outputs.map { spatial($0.shape) }.joined(separator: "\n") + "\n")
        case .json:
            return CommandResult(json: .object([
                ("outputs", .object(count.outputs.map { ($0.name, JSON.ints(Array($0.shape.dropFirst(2)))) })),
                ("layers", .array(count.rows.map { row in
                    .object([("layer", .string(row.token)), ("node", .string(row.node)),
                             ("in", .array(row.inputs.map { .ints(Array($0.dropFirst(2))) })),
                             ("out", .array(row.outputs.map { .ints(Array($0.dropFirst(2))) }))])
                })),
                ("graph", .string(count.reason.message)),
            ]))
        case .text:
            let rows = count.rows.enumerated().map { i, row -> [String] in
                [row.merge == nil ? "\(i + 1)" : "", row.token, row.node,
                 row.inputs.map(spatial).joined(separator: ", ") + " → " + row.outputs.map(spatial).joined(separator: ", ")]
            }
            var lines = TextTable.fitted(header: ["#", "layer", "node", "size"], rows: rows, rightAligned: [], tokens: 1, layout: layout).lines
            lines.append("")
            lines += count.outputs.map { "output '\($0.name)': \(spatial($0.shape))" }
            return CommandResult(output: ParamsCommand.prose((lines, [note]), layout: layout))
        }
    }
}
