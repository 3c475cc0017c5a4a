/// The forward MACs as other tools count them, so a number from a paper or a tool can be
/// reconciled (issue #17, `params --count`). Observed with torch 2.15, fvcore 0.1.5,
/// ptflops 0.7.5 and thop 0.1.1 (Tests/fixtures/train_notes.md), per sample, in MACs:
///
/// | layer | torch (FlopCounterMode / 2) | fvcore | ptflops | thop |
/// | --- | --- | --- | --- | --- |
/// | conv, fc | the products | the same | + one per output element with a bias | the same |
/// | tconv | per input element | the same | + bias | per **output** element |
/// | deform | the offset convolution only | — | — | — |
/// | bn | 0 | 2 per element (eval) | 2 per element | 4 per element |
/// | relu | 0 | 0 | 2 per element | 0 |
/// | relu6 | 0 | 0 | 1 per element | 0 |
/// | maxpool | 0 | 0 | 2 per input element | 0 |
/// | avgpool | 0 | 0 | 2 per input element | 1 per output element |
/// | adaptive avg pool, gap | 0 | 1 per input element | 2 per input element | (Π(in_d/out_d) + 1) per output element, fractional, the total truncated |
/// | upsample (nearest) | 0 | 1 per output element | 2 per output element | 1 per output element |
/// | dropout, flatten, identity, crop, merges | 0 | 0 | 0 | 0 |
///
/// `gap` is taken as the `AdaptiveAvgPool2d(1)` module torchvision's ResNet and VGG use; a
/// network that pools with `x.mean` or the functional form is counted differently by the
/// module-hook tools. Layer types whose counting was not observed are refused for the tools
/// (not guessed).
public enum CountingTool: String, CaseIterable, Sendable {
    case convcalc, fvcore, ptflops, thop, torch
}

/// A layer a tool's count is not known for.
public struct UnknownCount: UserFacingError {
    public var tool: CountingTool
    public var layer: String
    public var message: String {
        "--count \(tool.rawValue): how \(tool.rawValue) counts \(layer) was not observed; known: conv, tconv, dwconv, sepconv, asym, fc, bn, relu, relu6, maxpool, avgpool, gap, adaptiveavgpool, upsample, dropout, flatten, identity, crop and the merges (torch: every layer)"
    }
    public var category: ErrorCategory { .data }
}

extension NetworkCost {
    /// The forward MACs of the batch as `tool` counts them; nil when sizes are unknown.
    public func countedMACs(by tool: CountingTool, batch: Int) throws -> Int? {
        guard tool != .convcalc else { return try macs.map { try Checked.mul($0, batch) } }
        var total = 0
        for entry in entries {
            guard let count = try entry.countedMACs(by: tool) else { return nil }
            total = try Checked.add(total, count)
        }
        return try Checked.mul(total, batch)
    }
}

extension NetworkCost.Entry {
    /// thop's `count_adap_avgpool`: `int((Π(in_d/out_d) + 1)·outputs)` in doubles, the ratios
    /// fractional (in 7 → out 3: (7/3)² + 1 per output; an integer ratio undercounted it).
    func thopAdaptiveAverage(_ inSpatial: [Int], _ outSpatial: [Int], outElements: Int) throws -> Int {
        let kernel = zip(inSpatial, outSpatial).reduce(1.0) { $0 * (Double($1.0) / Double(max($1.1, 1))) }
        let count = ((kernel + 1) * Double(outElements)).rounded(.towardZero)
        guard count < 0x1p63 else { throw ArithmeticError.overflow }
        return Int(count)
    }

    /// This layer's forward MACs for one sample as `tool` counts them.
    func countedMACs(by tool: CountingTool) throws -> Int? {
        guard let products = cost.productMACs(layer), let inSpatial = inputSpatial, let inC = inputChannels,
              let outSpatial = spatial, let outC = channels else { return nil }
        let inElements = try Checked.mul(inC, Checked.product(inSpatial)), outElements = try Checked.mul(outC, Checked.product(outSpatial))
        let unknown = UnknownCount(tool: tool, layer: "'\(layer.type.rawValue)' (layer \(index))")
        // FlopCounterMode counts convolutions and matrix products only, and not torchvision's
        // deform_conv2d operator: of a deformable convolution, its offset convolution.
        if tool == .torch { return layer.type == .deform ? cost.parts.last?.macs : products }
        switch layer.type {
        case .conv, .dwconv, .sepconv, .asym, .fc:
            guard tool == .ptflops else { return products }
            var biases = 0
            for part in cost.parts.isEmpty ? [CostPart(name: "", outChannels: outC, weights: cost.weights, biases: cost.biases, macs: products, spatial: outSpatial)] : cost.parts
            where part.biases > 0 {
                biases = try Checked.add(biases, Checked.mul(part.outChannels, Checked.product(part.spatial ?? outSpatial)))
            }
            return try Checked.add(products, biases)
        case .tconv:
            switch tool {
            // products = Πin·cin·(cout/g)·Πk; thop counts Πout·cout·(cin/g)·Πk, the same per position.
            case .thop: return try Checked.mul(products / max(Checked.product(inSpatial), 1), Checked.product(outSpatial))
            case .ptflops: return try Checked.add(products, cost.biases > 0 ? outElements : 0)
            default: return products
            }
        case .bn:
            return try Checked.mul(outElements, [.fvcore: 2, .ptflops: 2, .thop: 4][tool] ?? 0)
        case .relu:
            return tool == .ptflops ? try Checked.mul(outElements, 2) : 0
        case .relu6:
            return tool == .ptflops ? outElements : 0
        case .maxpool:
            return tool == .ptflops ? try Checked.mul(inElements, 2) : 0
        case .avgpool:
            return tool == .ptflops ? try Checked.mul(inElements, 2) : tool == .thop ? outElements : 0
        case .gap, .adaptiveavgpool:
            switch tool {
            case .fvcore: return inElements
            case .ptflops: return try Checked.mul(inElements, 2)
            case .thop: return try thopAdaptiveAverage(inSpatial, outSpatial, outElements: outElements)
            default: return 0
            }
        case .upsample:
            return tool == .ptflops ? try Checked.mul(outElements, 2) : tool == .torch ? 0 : outElements
        case .dropout, .flatten, .identity, .crop, .input:
            return 0   // slicing (crop) and views are no operators the tools count
        default:
            throw unknown
        }
    }
}

extension NetworkCost {
    /// A training step's MACs as `torch.utils.flop_counter.FlopCounterMode` counts them
    /// (FLOPs / 2): the forward, the input gradients, and the weight gradients as its formula
    /// gives them — a grouped convolution's multiplied by its groups (PyTorch 2.15's count; the
    /// exact one is `RunCost.backwardWeightMACs`).
    public func torchTrainingMACs(_ run: RunCost) throws -> Int? {
        guard let forward = try countedMACs(by: .torch, batch: run.settings.batch), let input = run.backwardInputMACs else { return nil }
        var weights = 0
        for (entry, layer) in zip(entries, run.layers) where layer.trained {
            guard let exact = layer.backwardWeightMACs else { return nil }
            if entry.layer.type == .sepconv, let depthwise = entry.cost.parts.first?.macs, let cin = entry.inputChannels {
                // The depthwise part's weight gradient counted cin times, the pointwise part's once.
                let part = try Checked.mul(depthwise, run.settings.batch)
                weights = try Checked.add(weights, Checked.add(exact - part, Checked.mul(part, cin)))
            } else {
                weights = try Checked.add(weights, Checked.mul(exact, entry.flopCounterGroups))
            }
        }
        return try Checked.sum([forward, input, weights])
    }
}

extension NetworkCost.Entry {
    /// The factor FlopCounterMode's weight-gradient formula puts on this layer: the groups of
    /// a grouped, depthwise or grouped transposed convolution (1 otherwise; a separable
    /// convolution's depthwise part is weighed by `torchTrainingMACs`).
    var flopCounterGroups: Int {
        switch layer.type {
        case .conv, .tconv: return layer.groups ?? 1
        case .dwconv: return inputChannels ?? 1
        default: return 1
        }
    }
}
