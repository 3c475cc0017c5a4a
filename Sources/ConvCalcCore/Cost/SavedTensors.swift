/// The activations autograd keeps from the forward for the backward (issue #17), as PyTorch
/// 2.15 saves them (Tests/fixtures/train_notes.md, observed with `saved_tensors_hooks`):
///
/// - conv, dwconv, tconv, fc: the input; sepconv and asym also each inner convolution's input;
///   deform: the input and the offsets (and mask) its offset convolution makes;
/// - bn, layernorm, groupnorm: the input, and the mean and inverse deviation (fp32);
/// - relu, sigmoid, tanh, softmax: the output; relu6 and the other activations: the input (in
///   place, a copy of it: ReLU6(inplace=True) saves no memory);
/// - maxpool, adaptivemaxpool: the input and the indices (int64, one per output); channelmax:
///   the indices; channelmean: nothing;
///   avgpool and adaptive average pooling to more than 1: the input;
/// - dropout: a mask the size of its input, at the activation type (PyTorch's CPU kernel; the
///   CUDA kernel saves a bool mask);
/// - se: the pooled vector, the hidden vector, the gates and the input (for the rescaling);
///   layerscale, scale and prelu: the input; shift: nothing;
/// - gap, upsample, pixelshuffle, pixelunshuffle, shuffle, crop, identity, flatten, add, concat
///   and split: nothing; mul: its factors, every branch's output (a product's gradient).
///
/// A tensor saved by two layers (a relu's output that is the next conv's input) is counted
/// once, as PyTorch keeps it once. Parameters that autograd also saves are not counted here:
/// they are in memory anyway.
public struct SavedTensors: Sendable {
    /// Activation values saved, at the activation type.
    public var values = 0
    /// Max-pool indices saved (int64, 8 bytes each).
    public var indices = 0
    /// Normalisation statistics saved (fp32): mean and inverse deviation.
    public var statistics = 0
    /// Per layer (index 1-based): the activation values it adds to what is saved.
    public var perLayer: [Int: Int] = [:]

    /// The bytes of it all, activations at `type`.
    public func bytes(_ type: DataType) throws -> Int {
        try Checked.sum([Checked.mul(values, type.bytes), Checked.mul(indices, 8), Checked.mul(statistics, DataType.fp32.bytes)])
    }

    /// The saved tensors of `network` run as `settings` says; nil when sizes are unknown.
    public static func of(_ network: NetworkCost, settings: RunSettings) throws -> SavedTensors? {
        guard network.entries.allSatisfy({ $0.channels != nil && $0.spatial != nil }),
              let channels = network.stack.inputChannels, let size = network.stack.inputSize else { return nil }
        var saved = SavedTensors()
        var kept: Set<Int> = []
        var nextID = 1
        let entries = Dictionary(uniqueKeysWithValues: network.entries.map { ($0.index - 1, $0) })
        let start = Tensor(id: 0, values: try Checked.mul(Checked.mul(settings.batch, channels), Checked.product(size)))
        _ = try StackTree.fold(network.stack.nodes, from: start, layer: { index, input -> ((), Tensor) in
            let entry = entries[index]!
            var step = LayerStep(entry: entry, input: input, settings: settings, nextID: nextID)
            try step.run()
            nextID = step.nextID
            var added = 0
            for tensor in step.saved where kept.insert(tensor.id).inserted { added = try Checked.add(added, tensor.values) }
            saved.perLayer[entry.index] = added
            saved.values = try Checked.add(saved.values, added)
            saved.indices = try Checked.add(saved.indices, step.indices)
            saved.statistics = try Checked.add(saved.statistics, step.statistics)
            return ((), step.output)
        }, branchInputs: { kind, input, count in
            kind.branchValues(input.values, branches: count).map { Tensor(id: input.id, values: $0) }   // a split's shares are views
        }, merge: { kind, _, outputs in
            defer { nextID += 1 }
            if kind == .mul {
                // A product's backward needs each factor: the branches' outputs are saved.
                for tensor in outputs where kept.insert(tensor.id).inserted { saved.values = try Checked.add(saved.values, tensor.values) }
            }
            return ((), Tensor(id: nextID, values: try kind.mergedValues(outputs.map(\.values))))
        })
        return saved
    }

    /// A tensor by identity (the same storage has the same id) and size.
    struct Tensor {
        var id: Int
        var values: Int
    }

    /// One layer's output tensor and what it saves.
    struct LayerStep {
        let entry: NetworkCost.Entry
        let input: Tensor
        let settings: RunSettings
        var nextID: Int
        var saved: [Tensor] = []
        var indices = 0
        var statistics = 0
        var output = Tensor(id: 0, values: 0)

        init(entry: NetworkCost.Entry, input: Tensor, settings: RunSettings, nextID: Int) {
            self.entry = entry
            self.input = input
            self.settings = settings
            self.nextID = nextID
        }

        mutating func fresh(_ values: Int) -> Tensor {
            defer { nextID += 1 }
            return Tensor(id: nextID, values: values)
        }

        mutating func run() throws {
            let batch = settings.batch
            let outValues = try Checked.mul(Checked.mul(batch, entry.channels!), Checked.product(entry.spatial!))
            let type = entry.layer.type
            // A view keeps its input's storage but has its own size (a crop's is smaller).
            output = RunCost.isView(type, settings) ? Tensor(id: input.id, values: outValues) : fresh(outValues)
            switch type {
            case .conv, .dwconv, .tconv, .fc, .layerscale, .scale, .prelu, .avgpool:
                saved = [input]
            case .sepconv, .asym, .deform:
                saved = [input]
                for part in entry.cost.parts.dropFirst() where part.spatial != nil {
                    saved.append(fresh(try Checked.mul(Checked.mul(batch, part.outChannels), Checked.product(part.spatial!))))
                }
            case .bn, .layernorm, .groupnorm:
                saved = [input]
                let count = type == .bn ? entry.channels! : type == .groupnorm ? batch * (entry.layer.groups ?? 1) : try Checked.mul(batch, Checked.product(entry.spatial!))
                statistics = try Checked.mul(count, 2)
            case .relu, .sigmoid, .tanh, .softmax:
                saved = [output]
            case .relu6, .clip, .silu, .hswish, .hsigmoid, .gelu, .leakyrelu, .elu:
                saved = [settings.inPlace && output.id == input.id ? fresh(input.values) : input]
            case .maxpool, .adaptivemaxpool:
                saved = [input]
                indices = outValues
            case .channelmax:
                indices = outValues
            case .adaptiveavgpool:
                if entry.spatial!.contains(where: { $0 != 1 }) { saved = [input] }
            case .dropout:
                saved = [fresh(input.values)]
            case .se:
                let c = entry.channels!, hidden = entry.cost.parts.first?.outChannels ?? 0
                saved = [input, fresh(try Checked.mul(batch, c)), fresh(try Checked.mul(batch, hidden)), fresh(try Checked.mul(batch, c))]
            case .input, .gap, .upsample, .pixelshuffle, .pixelunshuffle, .shuffle, .crop, .identity, .flatten, .channelmean, .shift:
                break
            }
        }
    }
}
