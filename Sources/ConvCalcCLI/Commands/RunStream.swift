import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// `convcalc run` as a filter (`--stream`): INPUT read piece by piece (`MatrixStream`), its
/// rows computed in bands as soon as every row a band reads has come (`BandConvolution`), and
/// each band printed and written at once; memory proportional to the kernel's height times
/// the width. The output is the whole run's, byte for byte: the same sums (see
/// `BandConvolution`) printed by the same formatter, row by row.
///
/// The first `max(BandConvolution.minimumRows, Convolution.choiceHeight + 1)` rows are read
/// before anything is decided: an input that ends there, a JSON input, one with several
/// channels, and an FFT run whose kernel holds inf or nan are read whole and run as before.
/// The FFT streams in tile rows (`BandConvolution.useFourier`).
enum RunStream {
    /// `--stream auto` streams a regular file from this size on (pipes and devices always).
    static let fileThreshold = 256 << 20

    /// What `begin` made of INPUT: a streamed run, or the operands read whole.
    enum Start {
        case streaming(CommandResult)
        case whole(RunCommand.Operands)
    }

    /// Whether the options allow streaming at all (before anything is read).
    static func allowed(_ options: RunOptions) -> Bool {
        guard options.stream != .never, options.mode == .compute, options.format != .json, options.inputSize == nil,
              options.like != .numpy, options.operands.count == 2 else { return false }
        let (input, kernel) = (options.operands[0], options.operands[1])
        return RunCommand.inlineMatrix(input) == nil && kernel != "-" && options.biasArgument != "-"
    }

    /// Starts a streamed run when the options and the input allow it; nil when the run reads
    /// INPUT whole as before (nothing of it read yet).
    static func begin(_ options: RunOptions, context: InputContext, timer: inout PhaseTimer) throws -> Start? {
        guard allowed(options) else { return nil }
        let argument = options.operands[0]
        // What cannot be opened is reported by the whole run's reading, with its hints.
        guard context.exists(argument) else { return nil }
        if options.stream == .auto, let size = context.knownSize(argument), size <= fileThreshold { return nil }
        let name = argument == "-" ? "<stdin>" : argument
        let pieces = try context.pieces(argument)
        // A line (or JSON, or an input read whole after all) from a pipe is held up to the limit of reading one whole.
        let limit = pieces.size == nil ? FileReader.streamLimit() : Int.max
        let reader = MatrixStream(holdLimit: limit, tooLong: { InputError.tooLarge(path: name, limit: limit) }) { try pieces.read($0) }   // the pieces (and a file's descriptor) live as long as the reader
        let operands = try RunCommand.Operands(options, context: context, input: [], timer: &timer)
        let whole = { (first: [MatrixStream.Rows]) in Start.whole(try operands.with(input: readWhole(reader, name: name, threads: options.threads, first: first))) }
        guard operands.kernel.count == 1, try !named(name, { try reader.isJSON() }) else { return try whole([]) }
        // The first rows: enough for auto's choice and for the height to be unable to fail the run.
        var first: [MatrixStream.Rows] = []
        var held = 0
        var engine: BandConvolution?
        var streaming = options
        while held < max(Convolution.choiceHeight + 1, engine?.minimumRows ?? 0), let rows = try named(name, { try reader.next() }) {
            first += rows
            held += rows.reduce(0) { $0 + ($1.block == 0 ? $1.count : 0) }
            if first.contains(where: { $0.block > 0 }) { return try whole(first) }
            if engine == nil, held > Convolution.choiceHeight, let width = first.first?.columns {
                engine = try streamEngine(&streaming, operands, rows: held, columns: width)
                if engine == nil { return try whole(first) }
            }
        }
        guard let engine, held >= engine.minimumRows else { return try whole(first) }
        let kernel = operands.kernel[0]
        // The method auto chooses for this width: the same for every height from here on.
        let plan = try ConvolutionPlan(inputChannels: 1, rows: held, columns: engine.columns, kernelBlocks: 1, kernelRows: kernel.rows,
                                       kernelColumns: kernel.columns, stated: operands.statedShape,
                                       biasCount: operands.bias.map { $0.count == 1 ? 1 : $0.count }, spec: streaming.spec)
        // The FFT runs in tile rows as the whole run's does (`FourierRows`); a kernel with inf
        // or nan (the whole run turns to direct, with its limits) is read whole.
        if Convolution.method(plan, options.method) == .fft, !engine.useFourier(plan) { return try whole(first) }
        timer.lap("read and parse input (first \(held) rows)", note: "streamed, \(engine.method.rawValue)")
        return .streaming(result(engine, reader: reader, first: first, name: name, plan: plan, operands: operands, options: streaming))
    }

    /// The band engine for these options (`--like` applied as the whole run applies it, to an
    /// input of this size), nil when the run cannot stream.
    static func streamEngine(_ options: inout RunOptions, _ operands: RunCommand.Operands, rows: Int, columns: Int) throws -> BandConvolution? {
        if let library = options.like {
            var probe = operands.with(input: [Matrix(rows: rows, columns: columns)])
            try RunCommand.adapt(&options, &probe, to: library)
            if options.swapped { return nil }
        }
        let kernel = operands.kernel[0]
        guard BandConvolution.streams(options.spec, kernelRows: kernel.rows) else { return nil }
        let execution = Execution(level: try Machine.kernelLevel(), threads: options.threads, method: .direct)
        return try BandConvolution(kernel: kernel, columns: columns, spec: options.spec, bias: operands.bias?.first, execution: execution)
    }

    /// The streamed run's result: its `stream` reads, computes and writes the rest.
    static func result(_ engine: BandConvolution, reader: MatrixStream, first: [MatrixStream.Rows], name: String,
                       plan: ConvolutionPlan, operands: RunCommand.Operands, options: RunOptions) -> CommandResult {
        var result = CommandResult(output: "")
        let failure = FailureBox()
        let formatter = MatrixFormatter(precision: options.precision)
        result.stream = { write in
            func emit(_ band: Matrix) -> Bool { formatter.stream([band], format: options.format, threads: options.threads, write: write) }
            do {
                for rows in first {
                    guard try rows.values.withUnsafeBufferPointer({ try engine.append($0, rows: rows.count, emit: emit) }) else { return false }
                }
                // The next pieces are parsed on a thread of their own while these are computed and printed.
                var otherChannel = false
                let complete = try ReadAhead.run(ahead: options.threads > 1 ? 2 : 0, produce: { try named(name) { try reader.next() } }) { pieces in
                    for rows in pieces where !otherChannel {
                        if rows.block > 0 {
                            otherChannel = true   // the rest is still read: its errors come first, as in the whole run
                        } else if try !rows.values.withUnsafeBufferPointer({ try engine.append($0, rows: rows.count, emit: emit) }) {
                            return false
                        }
                    }
                    return true
                }
                guard complete else { return false }
                if otherChannel { try otherChannels(reader.blocks, plan: plan, operands: operands, options: options) }
                return try engine.finish(emit: emit)
            } catch let error as UserFacingError {
                failure.error = error
            } catch {
                failure.error = UsageError.invalid("unexpected failure: \(error)")
            }
            return false
        }
        result.streamFailure = { failure.error }
        return result
    }

    /// Channels after the first in a streamed input (read to its end, for its errors, as the
    /// whole run finds them first): the whole run's error for that many channels.
    static func otherChannels(_ channels: Int, plan: ConvolutionPlan, operands: RunCommand.Operands, options: RunOptions) throws {
        _ = try RunCommand.notingInputChannels(channels) {
            try ConvolutionPlan(inputChannels: channels, rows: plan.inputRows, columns: plan.inputColumns, kernelBlocks: 1,
                                kernelRows: plan.kernelRows, kernelColumns: plan.kernelColumns, stated: operands.statedShape,
                                biasCount: plan.outputChannels, spec: options.spec)
        }
        throw ConvolutionError.channels("the input has \(channels) channels; the kernel has one block")
    }

    /// INPUT read whole from `reader` (after the rows `first` it already gave): its blocks.
    static func readWhole(_ reader: MatrixStream, name: String, threads: Int, first: [MatrixStream.Rows] = []) throws -> [Matrix] {
        if first.isEmpty, try named(name, { try reader.isJSON() }) {
            let bytes = try reader.rest()
            return try named(name) { try bytes.withUnsafeBufferPointer { try MatrixText.parseBlocks(bytes: $0, threads: threads) }.matrices }
        }
        var blocks: [[Double]] = []
        var shape = (rows: 0, columns: 0)
        var all = first
        while let rows = try named(name, { try reader.next() }) {
            all += rows
            guard reader.bytesRead <= reader.holdLimit else { throw reader.tooLong() }
        }
        for rows in all {
            if rows.block >= blocks.count { blocks.append([]) }
            blocks[rows.block] += rows.values
            if rows.block == 0 { shape = (shape.rows + rows.count, rows.columns) }
        }
        return blocks.map { Matrix(rows: shape.rows, columns: shape.columns, values: $0) }
    }

    /// Runs `body`; a matrix error is named by its source, as `RunCommand.operand` names it.
    static func named<R>(_ name: String, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as MatrixTextError {
            throw NamedSourceError(name: name, underlying: error)
        }
    }

    /// The error a stream met, kept for after it ends.
    final class FailureBox {
        var error: UserFacingError?
    }
}
