import ConvCalcCore

/// Where a drawing goes: the terminal (text) or an SVG file.
enum DrawingFormat: String, CaseIterable {
    case text, svg

    /// `--draw`'s value; nil when it is not given.
    static func parse(_ text: String?) throws -> DrawingFormat? {
        guard let text else { return nil }
        guard let format = DrawingFormat(rawValue: text) else {
            throw LayerError.malformedValue(.option("--draw"), value: text, expected: allCases.map(\.rawValue).joinedAsChoice())
        }
        return format
    }
}

/// Which views of a layer `shape --draw` draws.
enum DrawingViews: String, CaseIterable {
    case window, scatter, both

    /// The views for a layer: `both` is the window view alone for a layer that is not transposed.
    func views(transposed: Bool) -> [DrawingView] {
        switch self {
        case .window: return [.window]
        case .scatter: return [.scatter]
        case .both: return transposed ? [.window, .scatter] : [.window]
        }
    }
}

/// The drawing options' rows, shared by the commands that draw.
enum DrawOptionTable {
    /// A word after `--draw` meant as a format that is none (`pdf`, `png`, `ascii`): a short
    /// word of letters that is no layer type and no word of the network language (shape and
    /// rf, whose other words are layers; run's are files, which may be named anything).
    static func looksLikeFormat(_ word: String) -> Bool {
        let language = ["def", "repeat", "include"] + MergeKind.allKinds.map(\.name)
        return (1...8).contains(word.count) && word.allSatisfy { ("a"..."z").contains($0) }
            && !LayerType.allNames.contains(word) && !language.contains(word)
    }

    /// `--draw [FORMAT]` with the command's help.
    static func draw(_ help: String, operandsAreLayers: Bool = true) -> OptionSpec {
        OptionSpec(.draw, ["--draw"], value: "FORMAT", group: .command, help: help)
            .optionalValue(DrawingFormat.allCases.map(\.rawValue), claiming: operandsAreLayers ? looksLikeFormat : { _ in false })
    }

    static let receptiveField = draw("draw the heat map of --map: text (the default, as --map) or svg").manual("Draw the heat map of --map: text (the default) in the terminal, as --map does; svg writes it as an SVG picture alone (to -o FILE or standard output): a cell per input position coloured by its number of paths, holes white, the field's box and its centre marked, and a legend. Fields wider than \(HeatMapSVG.positionLimit) positions are binned, each cell the most over a square of positions.")

    static let run = draw("draw the working of --explain (implied): text (the default, --explain itself) or svg, the element --at names",
                          operandsAreLayers: false).manual("Draw the working of --explain (which it implies): text (the default) is --explain itself; svg draws the element --at names as an SVG picture (to -o FILE or standard output): per input channel it reads, the padded input (for --transposed, the input) with every value, the values read outlined, each with the weight it is multiplied by; the kernel as used (turned by 180° with --flip); the output with the element marked; and the sum term by term.")

    static let shape: [OptionSpec] = [
        draw("draw the layer instead: text (the default, in the terminal) or svg").manual("Draw one layer instead of printing its working: the input with its padding (for a transposed convolution, with the zeros its stride inserts), the window of each output in turn, and the output, labelled with their sizes. text (the default) draws in the terminal, in colour on a terminal (not for pipes, NO_COLOR or TERM=dumb), in ASCII with --ascii; svg writes an SVG picture (to -o FILE or standard output). Takes conv, dwconv, sepconv, asym, deform, maxpool, avgpool, pixelunshuffle and tconv layers, 1-D or 2-D, grids up to \(ShapeDrawing.cellLimit) cells a side; without --in, the input is 5 (3 for tconv), or larger when the window needs it."),
        OptionSpec(.cell, ["--cell"], value: "R,C", group: .command,
                   help: "with --draw: only the frame of this output, row and column from 0 (1-D: one number)")
            .manual("With --draw: draw only the frame of this output, row and column counted from 0 (1-D: one number). In the scatter view, the frames of the inputs that reach this output."),
        OptionSpec(.view, ["--view"], value: "VIEW", group: .command,
                   help: "with --draw, for tconv: window (zeros inserted, stride-1 window), scatter (each input spreading the kernel) or both",
                   default: "both"),
        OptionSpec(.composite, ["--composite"], group: .command,
                   help: "with --draw: one picture instead of frames, each cell showing how many windows cover it (0: never read)"),
        OptionSpec(.animate, ["--animate"], group: .command,
                   help: "with --draw svg: one animated picture cycling through the frames (SMIL, 1 s a frame) instead of a sheet of all frames"),
    ]
}

/// `--draw` and the options that shape a drawing, typed.
struct DrawOptions {
    var format: DrawingFormat
    /// `--cell` as given; read once the output's size is known.
    var cell: String?
    var views: DrawingViews
    var composite: Bool
    var animate: Bool

    /// Nil without `--draw`.
    /// - Throws: `UsageError` for a drawing option without `--draw`, or options that exclude
    ///   each other; `LayerError` for a value that is not one of the words.
    init?(_ args: ParsedArguments, table: [OptionSpec]) throws {
        guard let format = try DrawingFormat.parse(args.value(.draw)) else {
            for id in [OptionID.cell, .view, .composite, .animate] where args.has(id) {
                throw UsageError.invalid("\(args.name(id, in: table)) shapes a drawing; give --draw too")
            }
            return nil
        }
        self.format = format
        cell = args.value(.cell)
        let viewText = args.value(.view) ?? DrawingViews.both.rawValue
        guard let views = DrawingViews(rawValue: viewText) else {
            throw LayerError.malformedValue(.option("--view"), value: viewText, expected: DrawingViews.allCases.map(\.rawValue).joinedAsChoice())
        }
        self.views = views
        composite = args.has(.composite)
        animate = args.has(.animate)
        if animate && format != .svg { throw UsageError.invalid("--animate makes an animated SVG; give --draw svg") }
        if animate && (composite || cell != nil) {
            throw UsageError.invalid("--animate cycles through every frame; it takes neither --cell nor --composite")
        }
        if composite && cell != nil { throw UsageError.invalid("--composite draws every window at once; give it or --cell, not both") }
        if args.has(.quiet) || args.has(.json) {
            throw UsageError.invalid("--draw prints a picture; give it or \(args.has(.json) ? "--json" : "-q"), not both")
        }
    }
}
