import ConvCalcCore

/// `--format markdown|latex` of shape, rf and params: their reports as documents, from the
/// same traces, rows and sentences the text shows. Other outputs of a command (symbolic
/// formulas, solving, comparisons, memory) are included as they are written, verbatim.
enum Documents {
    /// A command's result as it is written: `-o`'s file opened before the work (so a path
    /// that cannot be written fails at once), the text made a document when one is asked for.
    static func written(outputPath: String?, document: DocumentFormat?, title: String, context: InputContext,
                        _ make: () throws -> CommandResult) throws -> CommandResult {
        let destination = try outputPath.map { try OutputFile(path: $0, directory: context.directory) }
        var result = try make()
        if let document, !result.isDocument { result = verbatim(result, title: title, format: document) }
        result.destination = destination
        return result
    }

    /// A document as a command's output.
    static func result(_ document: ReportDocument, format: DocumentFormat, warnings: [String] = []) -> CommandResult {
        var result = CommandResult(output: document.render(format), warnings: warnings)
        result.isDocument = true
        return result
    }

    /// A text report as a document: its lines verbatim under a title.
    static func verbatim(_ result: CommandResult, title: String, format: DocumentFormat) -> CommandResult {
        guard !result.isVerbatim, result.stream == nil else { return result }
        var document = ReportDocument(title: title)
        document.blocks.append(.verbatim(result.output))
        return CommandResult(output: document.render(format), warnings: result.warnings)
    }

    /// `shape`: the sizes in a table, then each layer's working as equations.
    static func shape(_ trace: ShapeTrace, stack: LayerStack) -> ReportDocument {
        let uniform = stack.isUniform
        var document = ReportDocument(title: "Output sizes")
        document.blocks.append(.paragraph("Per spatial dimension: ke = d·(k − 1) + 1; conv and pools: out = ⌊(in + pb + pa − ke)/s⌋ + 1; tconv: out = (in − 1)·s − pb − pa + ke + op."))
        document.blocks.append(.table(header: ["#", "layer", "in", "out"],
                                      rows: trace.layers.map { ["\($0.index)", $0.layer.token, SizeText.format($0.input, uniform: uniform), SizeText.format($0.output, uniform: uniform)] },
                                      numeric: [0, 2, 3]))
        for layer in trace.layers {
            document.blocks.append(.heading("Layer \(layer.index): \(layer.layer.token), \(ShapeCommand.sizes(layer, uniform: uniform))"))
            let geometry = stack.geometry(of: layer.index - 1)
            let alike = ShapeCommand.sameAcrossDimensions(stack, layer.steps)
            for (dim, step) in layer.steps.enumerated() where !alike || dim == 0 {
                if !alike { document.blocks.append(.paragraph(DimensionNames.label(dim, of: stack.dims) + ":")) }
                var rows: [String] = []
                if let ke = ShapeWorking.effectiveKernel(step) { rows.append(ke) }
                rows.append(ShapeWorking.output(step, type: geometry.type))
                document.blocks.append(.equations(rows.map(equationOnly)))
            }
        }
        document.blocks.append(.paragraph("Output: " + SizeText.format(trace.output, uniform: uniform) + "."))
        return document
    }

    /// The equation of a working line, without words after a `;` (they are prose).
    static func equationOnly(_ line: String) -> String {
        String(line.prefix { $0 != ";" })
    }

    /// `rf`: the rules as equations, the per-layer table, then the field and its coverage.
    static func receptiveField(_ field: ReceptiveField, stack: LayerStack, trace: ShapeTrace?) -> ReportDocument {
        var document = ReportDocument(title: "Receptive field")
        document.blocks.append(.paragraph("Per layer, with ke = d·(k − 1) + 1 and pb the padding before:"))
        document.blocks.append(.equations(["rf' = rf + (ke − 1)·jump", "jump' = jump·s", "start' = start + ((ke − 1)/2 − pb)·jump"]))
        var header = ["#", "layer"]
        if trace != nil { header.append("out") }
        header += ["ke", "jump", "rf", "start"]
        let rows = ReceptiveFieldCommand.tableRows(field, stack: stack, trace: trace, columns: header.count)
            .map { $0.map { $0.trimmingLeadingSpaces } }
        document.blocks.append(.table(header: header, rows: rows, numeric: Set(2..<header.count)))
        for line in ReceptiveFieldCommand.summaryLines(field, stack: stack) where !line.isEmpty {
            document.blocks.append(.paragraph(line))
        }
        return document
    }

    /// `params`: the conventions, the per-layer table, the totals and notes.
    static func params(_ network: NetworkCost) -> ReportDocument {
        var document = ReportDocument(title: "Parameters and multiply–accumulates")
        document.blocks.append(.paragraph("Conventions (1 MAC = 2 FLOPs; bias additions are not MACs):"))
        document.blocks.append(.equations(["weights (conv) = cout·(cin/g)·Π k", "MACs (conv) = Π out·cout·(cin/g)·Π k",
                                           "MACs (tconv) = Π in·cin·(cout/g)·Π k"]))
        let rows = ParamsCommand.tableRows(network).map { $0.map { $0.trimmingLeadingSpaces } }
        document.blocks.append(.table(header: ParamsCommand.header, rows: rows, numeric: [0, 3, 4, 5, 6]))
        for line in ParamsCommand.totals(network) + ParamsCommand.notes(network) where !line.isEmpty {
            document.blocks.append(.paragraph(line))
        }
        return document
    }
}

extension String {
    var trimmingLeadingSpaces: String { String(drop { $0 == " " }) }
}

extension CommonOptions {
    /// `--format` of shape, rf and params.
    static let documentFormat = OptionSpec(.format, ["--format"], value: "FORMAT", group: .output,
                                           help: "text (the default), markdown or latex: the working, tables and formulas ready to paste into homework",
                                           default: "text")
        .manual("text (the default), markdown or latex: the report as a document ready to paste. shape: a table of sizes and each layer's working as equations with the numbers substituted; rf: the rules as equations, the per-layer table, the field and its coverage; params: the conventions as equations, the per-layer table, totals and notes. Markdown uses pipe tables and $$ math (GitHub, Jupyter, pandoc); LaTeX is a whole document that compiles with pdflatex and amsmath alone (ASCII, signs as math). Outputs without a table of their own (formulas of in, --solve, --vs, --memory) come verbatim under a title.")

    /// `--format`'s value for shape, rf and params: nil for text.
    static func document(_ args: ParsedArguments) throws -> DocumentFormat? {
        guard let text = args.value(.format), text != "text" else { return nil }
        guard let format = DocumentFormat(rawValue: text) else {
            throw LayerError.malformedValue(.option("--format"), value: text, expected: (["text"] + DocumentFormat.allCases.map(\.rawValue)).joinedAsChoice())
        }
        if args.has(.quiet) || args.has(.json) { throw UsageError.invalid("--format \(text) writes a document; give it or \(args.has(.json) ? "--json" : "-q"), not both") }
        if args.value(.draw) != nil { throw UsageError.invalid("--format \(text) writes a document; give it or --draw, not both") }
        return format
    }
}
