import ConvCalcCore

/// `params`' options for memory and training (issue #17), and how they print.
enum RunOptionsTable {
    static let options: [OptionSpec] = [
        OptionSpec(.memory, ["--memory"], group: .command,
                   help: "add each layer's activations (output values and bytes), their peak over the tensors' lifetimes and the weights in bytes; implied by the options below"),
        OptionSpec(.batch, ["--batch"], value: "N", group: .command, help: "batch size for activations and MACs", default: "1"),
        OptionSpec(.inPlace, ["--inplace"], group: .command,
                   help: "element-wise activations and dropout write into their input, as PyTorch's inplace=True (no new values)"),
        OptionSpec(.dtype, ["--dtype"], value: "TYPE", group: .command,
                   help: "number format of activations (and of weights unless --weight-dtype): " + DataType.allCases.map(\.rawValue).joinedAsChoice(), default: "fp32"),
        OptionSpec(.weightDtype, ["--weight-dtype"], value: "TYPE", group: .command, help: "number format of the weights", default: "the --dtype"),
        OptionSpec(.train, ["--train"], group: .command,
                   help: "add the cost of a training step: backward MACs (input and weight gradients), gradients, optimizer state and the total"),
        OptionSpec(.optimizer, ["--optimizer"], value: "NAME", group: .command,
                   help: "optimizer for --train: " + Optimizer.allCases.map(\.rawValue).joinedAsChoice() + " (0, 1, 2, 2 copies of the weights)", default: "sgd"),
        OptionSpec(.masterWeights, ["--master-weights"], group: .command, help: "with --train: an fp32 copy of the trained weights (mixed precision)"),
        OptionSpec(.freezeUpto, ["--freeze-upto"], value: "N", group: .command,
                   help: "with --train: layers 1 to N are frozen (no weight gradients, no optimizer state)"),
        OptionSpec(.top, ["--top"], value: "N", group: .command, help: "list the N layers with the most MACs, with their shares of parameters, MACs and activations"),
        OptionSpec(.count, ["--count"], value: "TOOL", group: .command,
                   help: "also give the forward MACs as " + CountingTool.allCases.map(\.rawValue).joinedAsChoice() + " counts them (torch: torch.utils.flop_counter / 2)")
            .manual("Also give the forward MACs of the batch as TOOL counts them: convcalc; fvcore (adds batch norm, 2 per element, adaptive average pooling, 1 per input element, upsampling); ptflops (adds biases, batch norm 2, ReLU 2 and ReLU6 1 per element, pools 2 per input element); thop (batch norm 4 per element, average pooling, transposed convolutions per output element); torch, torch.utils.flop_counter.FlopCounterMode / 2 (convolutions and matrix products only). Observed with fvcore 0.1.5, ptflops 0.7.5, thop 0.1.1 and torch 2.15 and checked on ResNet-18, ResNet-50, MobileNet v2, VGG-16 and the U-Net; a layer type whose counting was not observed is refused for that tool."),
    ]

    static let roofline: [OptionSpec] = [
        OptionSpec(.peak, ["--peak"], value: "GFLOPS", group: .command,
                   help: "with --bandwidth: the machine's peak, in GFLOP/s, for each layer's roofline time and bound"),
        OptionSpec(.bandwidth, ["--bandwidth"], value: "GB/S", group: .command,
                   help: "with --peak: the memory bandwidth, in GB/s (10^9 bytes a second)"),
    ]

    /// `--peak` and `--bandwidth`, in FLOP/s and byte/s.
    static func machine(_ args: ParsedArguments) throws -> (peak: Double, bandwidth: Double)? {
        guard args.has(.peak) || args.has(.bandwidth) else { return nil }
        guard let peakText = args.value(.peak), let bandwidthText = args.value(.bandwidth) else {
            throw UsageError.invalid("give --peak GFLOPS and --bandwidth GB/S together (the roofline needs both)")
        }
        func positive(_ text: String, _ name: String) throws -> Double {
            guard let value = Double(text), value.isFinite, value > 0, value < 1e12 else {
                throw LayerError.malformedValue(.option(name), value: text, expected: "a positive number below 10^12")
            }
            return value * 1e9
        }
        return (try positive(peakText, "--peak"), try positive(bandwidthText, "--bandwidth"))
    }

    /// `--count TOOL`.
    static func countingTool(_ args: ParsedArguments) throws -> CountingTool? {
        guard let text = args.value(.count) else { return nil }
        guard let tool = CountingTool(rawValue: text) else {
            throw LayerError.malformedValue(.option("--count"), value: text, expected: CountingTool.allCases.map(\.rawValue).joinedAsChoice())
        }
        return tool
    }

    /// The run settings when any of these options is given; whether to add training; `--top`.
    static func settings(_ args: ParsedArguments) throws -> (RunSettings?, Bool, Int?) {
        let given = (options + roofline).filter { args.has($0.id) && $0.id != .count }
        guard !given.isEmpty else { return (nil, false, nil) }
        var settings = RunSettings()
        func whole(_ id: OptionID, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = args.value(id) else { return nil }
            guard let value = Int(text) else {
                throw LayerError.malformedValue(.option(args.name(id, in: options)), value: text,
                                                expected: "a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            // A number out of range is bad data (exit 1), as SPEC §1 has it; not a number, usage (2).
            guard range.contains(value) else { throw LayerError.outOfRange(.option(args.name(id, in: options)), value: text, requirement: .within(range)) }
            return value
        }
        func choice<T: RawRepresentable & CaseIterable>(_ id: OptionID, _ type: T.Type) throws -> T? where T.RawValue == String {
            guard let text = args.value(id) else { return nil }
            guard let value = T(rawValue: text) else {
                throw LayerError.malformedValue(.option(args.name(id, in: options)), value: text, expected: T.allCases.map(\.rawValue).joinedAsChoice())
            }
            return value
        }
        settings.batch = try whole(.batch, 1...1_000_000) ?? 1
        settings.inPlace = args.has(.inPlace)
        settings.activationType = try choice(.dtype, DataType.self) ?? .fp32
        settings.weightType = try choice(.weightDtype, DataType.self) ?? settings.activationType
        let train = args.has(.train)
        for id in [OptionID.optimizer, .masterWeights, .freezeUpto] where args.has(id) && !train {
            throw UsageError.invalid("\(args.name(id, in: options)) is about training; add --train")
        }
        settings.optimizer = try choice(.optimizer, Optimizer.self) ?? .sgd
        settings.masterWeights = args.has(.masterWeights)
        settings.frozenThrough = try whole(.freezeUpto, 0...Int.max) ?? 0
        return (settings, train, try whole(.top, 1...1_000_000))
    }
}

extension ParamsCommand {
    /// `96,337,920 bytes (91.9 MiB)`: exact, then in binary units.
    static func bytes(_ n: Int) -> String {
        let units: [(Double, String)] = [(1_099_511_627_776, "TiB"), (1_073_741_824, "GiB"), (1_048_576, "MiB"), (1024, "KiB")]
        guard let unit = units.first(where: { Double(n) >= $0.0 }) else { return "\(Count.grouped(n)) bytes" }
        let value = Double(n) / unit.0
        let text = value >= 100 ? "\(Int(value.rounded()))" : "\((value * 10).rounded() / 10)"
        return "\(Count.grouped(n)) bytes (\(text) \(unit.1))"
    }

    /// The memory (and training) section after the totals: a table of each layer's
    /// activations (and backward MACs), then the totals with every assumption said.
    static func memoryText(_ network: NetworkCost, _ run: RunCost, train: Bool, top: Int?, layout: TextLayout) throws -> String {
        let settings = run.settings
        var header = ["#", "layer", "values", "bytes"]
        if train { header += ["bwd MACs"] }
        var rows = run.layers.map { layer -> [String] in
            let entry = network.entries[layer.index - 1]
            var row = ["\(layer.index)", entry.layer.token, layer.outputElements.map(Count.grouped) ?? "-",
                       layer.outputBytes.map(Count.grouped) ?? "-"]
            if train {
                let backward = layer.backwardInputMACs.flatMap { i in layer.backwardWeightMACs.map { i + $0 } }
                row.append(backward.map(Count.grouped) ?? "-")
            }
            return row
        }
        if let top { rows = topRows(network, run, count: top) ; header = ["#", "layer", "params %", "MACs %", "activations %"] }
        let what = "batch \(settings.batch), activations \(settings.activationType.rawValue), weights \(settings.weightType.rawValue)"
        let table = ["", "memory (\(what)):"] + TextTable.fitted(header: header, rows: rows, rightAligned: Set(2..<header.count), tokens: 1, layout: layout).lines
        return prose((table, try memoryTotals(network, run, train: train)), layout: layout)   // the totals broken to the width
    }

    /// The `--top N` rows: the layers with the most MACs, with their shares.
    static func topRows(_ network: NetworkCost, _ run: RunCost, count: Int) -> [[String]] {
        func share(_ part: Int?, _ whole: Int?) -> String {
            guard let part, let whole, whole > 0 else { return "-" }
            return "\((Double(part) / Double(whole) * 1000).rounded() / 10)"
        }
        let ranked = run.layers.sorted { ($0.forwardMACs ?? 0, -$0.index) > ($1.forwardMACs ?? 0, -$1.index) }.prefix(count)
        return ranked.map { layer in
            let entry = network.entries[layer.index - 1]
            return ["\(layer.index)", entry.layer.token, share(entry.cost.params, network.params),
                    share(layer.forwardMACs, run.forwardMACs), share(layer.outputElements, run.outputElements)]
        }
    }

    static func memoryTotals(_ network: NetworkCost, _ run: RunCost, train: Bool) throws -> [String] {
        let settings = run.settings
        var lines = [""]
        if let values = run.outputElements, let size = run.outputBytes {
            let input = run.inputElements.map { "the input's \(Count.grouped($0)) and " } ?? ""
            let views = settings.inPlace ? "; activations in place" : ""
            lines.append("activations: \(Count.grouped(values)) values\(Count.scaled(values)) = \(bytes(size)) (\(input)every layer's and merge's new output, batch \(settings.batch)\(views))")
        } else {
            lines.append("activations: give --in SIZE and --cin C (they depend on the output sizes)")
        }
        lines.append("weights: \(Count.grouped(network.params)) = \(bytes(run.weightBytes)) at \(settings.weightType.rawValue)")
        if let peak = try PeakMemory.of(network, settings: settings) {
            let size = try Checked.mul(peak.values, settings.activationType.bytes)
            let place = peak.atLayer.map { "at layer \($0)" } ?? (peak.afterMerge ? "at a merge" : "at the input")
            let live = peak.live.map { tensor in
                (tensor.madeBy == 0 ? "the input" : tensor.madeBy < 0 ? "a merge's output" : "layer \(tensor.madeBy)'s output") + " (\(Count.grouped(tensor.values)))"
            }
            lines.append("peak inference activations: \(Count.grouped(peak.values)) values = \(bytes(size)) \(place), live: " + live.joined(separator: ", ")
                         + " (each tensor freed after its last use; a merge's input held until its branches end)")
        }
        guard train else { return lines }
        if let input = run.backwardInputMACs, let weight = run.backwardWeightMACs, let forward = run.forwardMACs {
            lines.append("backward MACs: \(Count.grouped(input)) for input gradients + \(Count.grouped(weight)) for weight gradients = \(Count.grouped(input + weight)) (forward \(Count.grouped(forward)); as torch.utils.flop_counter: element-wise work and bias gradients not counted, no input gradient before the first trained layer)")
        }
        let optimizer = settings.optimizer
        var parts = ["weights \(bytes(run.weightBytes))", "gradients \(bytes(run.gradientBytes)) (\(Count.grouped(run.trainedParams)) trained parameters)",
                     "\(optimizer.rawValue) state \(bytes(run.optimizerBytes)) (\(optimizer.stateCopies) cop\(optimizer.stateCopies == 1 ? "y" : "ies") of the trained weights)"]
        if settings.masterWeights { parts.append("fp32 master weights \(bytes(run.masterBytes))") }
        var sum = [run.weightBytes, run.gradientBytes, run.optimizerBytes, run.masterBytes]
        if let saved = try SavedTensors.of(network, settings: settings) {
            let savedBytes = try saved.bytes(settings.activationType)
            lines.append("saved for backward: \(Count.grouped(saved.values)) activation values, \(Count.grouped(saved.indices)) max-pool indices (int64) and \(Count.grouped(saved.statistics)) normalisation statistics (fp32) = \(bytes(savedBytes)) (what PyTorch autograd keeps; see the man page)")
            parts.append("saved activations \(bytes(savedBytes))")
            sum.append(savedBytes)
        } else {
            parts.append("saved activations unknown (give --in and --cin)")
        }
        let total = (try? Checked.sum(sum)).map(bytes) ?? "more than 2^63 bytes"
        lines.append("training memory per step: " + parts.joined(separator: " + ") + " = \(total)")
        return lines
    }

    /// The JSON of `params` with the memory and training figures added per layer and in total.
    static func json(_ network: NetworkCost, run: RunCost?, train: Bool) throws -> JSON {
        guard let run, case let .object(pairs) = json(network) else { return json(network) }
        let settings = run.settings
        let peak = try PeakMemory.of(network, settings: settings)
        var memory: [(String, JSON)] = [
            ("batch", .number(settings.batch)), ("dtype", .string(settings.activationType.rawValue)),
            ("weight_dtype", .string(settings.weightType.rawValue)),
            ("activation_elements", run.outputElements.map(JSON.number) ?? .null),
            ("activation_bytes", run.outputBytes.map(JSON.number) ?? .null),
            ("weight_bytes", .number(run.weightBytes)),
            ("peak_activation_elements", peak.map { JSON.number($0.values) } ?? .null),
            ("peak_at_layer", peak?.atLayer.map(JSON.number) ?? .null),
            ("layers", .array(run.layers.map { layer in
                let entry = network.entries[layer.index - 1]
                func share(_ part: Int?, _ whole: Int?) -> JSON {
                    guard let part, let whole, whole > 0 else { return .null }
                    return .double(Double(part) / Double(whole))
                }
                var fields: [(String, JSON)] = [("index", .number(layer.index)),
                                                ("activation_elements", layer.outputElements.map(JSON.number) ?? .null),
                                                ("activation_bytes", layer.outputBytes.map(JSON.number) ?? .null),
                                                ("weight_bytes", .number(layer.weightBytes)),
                                                ("params_share", share(entry.cost.params, network.params)),
                                                ("macs_share", share(layer.forwardMACs, run.forwardMACs)),
                                                ("activation_share", share(layer.outputElements, run.outputElements)),
                                                ("bytes_moved", layer.bytesMoved.map(JSON.number) ?? .null),
                                                ("intensity", layer.intensity.map(JSON.double) ?? .null)]
                if train {
                    fields += [("backward_input_macs", layer.backwardInputMACs.map(JSON.number) ?? .null),
                               ("backward_weight_macs", layer.backwardWeightMACs.map(JSON.number) ?? .null),
                               ("trained", .bool(layer.trained))]
                }
                return .object(fields)
            })),
        ]
        if train {
            let saved = try SavedTensors.of(network, settings: settings)
            memory += [("saved_activation_elements", saved.map { JSON.number($0.values) } ?? .null),
                       ("saved_indices", saved.map { JSON.number($0.indices) } ?? .null),
                       ("saved_statistics", saved.map { JSON.number($0.statistics) } ?? .null),
                       ("saved_bytes", try saved.map { try $0.bytes(settings.activationType) }.map(JSON.number) ?? .null)]
            memory += [("backward_input_macs", run.backwardInputMACs.map(JSON.number) ?? .null),
                       ("backward_weight_macs", run.backwardWeightMACs.map(JSON.number) ?? .null),
                       ("optimizer", .string(settings.optimizer.rawValue)), ("trained_params", .number(run.trainedParams)),
                       ("gradient_bytes", .number(run.gradientBytes)), ("optimizer_bytes", .number(run.optimizerBytes)),
                       ("master_weight_bytes", .number(run.masterBytes))]
        }
        return .object(pairs + [("memory", .object(memory))])
    }
}

extension ParamsCommand {
    /// `--peak` and `--bandwidth`: each layer's arithmetic intensity, its roofline time (the
    /// larger of its FLOPs over the peak and its bytes over the bandwidth) and what bounds it.
    static func rooflineText(_ network: NetworkCost, _ run: RunCost, machine: (peak: Double, bandwidth: Double), layout: TextLayout) -> String {
        func format(_ x: Double) -> String {
            x >= 100 ? String(Int(x.rounded())) : x >= 10 ? String((x * 10).rounded() / 10) : String((x * 100).rounded() / 100)
        }
        var total = 0.0
        var rows: [[String]] = []
        for layer in run.layers {
            let entry = network.entries[layer.index - 1]
            guard let time = layer.time(peak: machine.peak, bandwidth: machine.bandwidth) else { continue }
            total += time.seconds
            rows.append(["\(layer.index)", entry.layer.token, layer.intensity.map(format) ?? "-", format(time.seconds * 1e6),
                         time.computeBound ? "compute" : "memory"])
        }
        guard !rows.isEmpty else { return "\nroofline: give --in SIZE and --cin C\n" }
        let ridge = machine.peak / machine.bandwidth
        var lines = ["", "roofline (peak \(format(machine.peak / 1e9)) GFLOP/s, bandwidth \(format(machine.bandwidth / 1e9)) GB/s; ridge at \(format(ridge)) FLOP/byte):"]
        lines += TextTable.fitted(header: ["#", "layer", "FLOP/byte", "µs", "bound"], rows: rows, rightAligned: [2, 3], tokens: 1, layout: layout).lines
        lines.append("")
        return prose((lines, ["forward lower bound: \(format(total * 1e6)) µs (each layer's larger of FLOPs / peak and bytes / bandwidth; bytes: its input, weights and output once)"]), layout: layout)
    }
}
