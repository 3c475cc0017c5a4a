/// The keys `shape --solve` finds.
public enum SolveKey: String, CaseIterable, Sendable {
    case k, s, p, d, op
    case input = "in"
}

/// Where `shape --solve` searches: every value of each unknown in these ranges (stated in the
/// output), so a listed solution is checked and none inside is missed.
public enum SolveBounds {
    public static let kernel = 1...11
    public static let stride = 1...8
    public static let dilation = 1...6
    /// Padding per side, at most the full padding `ke − 1` (more only adds outputs of padding).
    public static func padding(effectiveKernel: Int) -> ClosedRange<Int> { 0...(effectiveKernel - 1) }
    /// Inputs tried when solving for `in`.
    public static let input = 1...65_536
}

/// One answer of `shape --solve` along one dimension: the layer's keys and the step they give.
public struct LayerSolution: Equatable, Sendable {
    public var kernel: Int
    public var stride: Int
    public var dilation: Int
    public var pad: PadPair
    public var outputPadding: Int
    public var step: DimensionStep

    /// Keys away from PyTorch's defaults (s = 1, or k for pools; p = 0; d = 1; op = 0), the
    /// first measure of simplicity.
    func changedKeys(pool: Bool) -> Int {
        [stride != (pool ? kernel : 1), pad != PadPair(0, 0), dilation != 1, outputPadding != 0].filter { $0 }.count
    }
}

/// Solves one layer along one dimension for unknown keys, or a chain of layers for its input,
/// by trying every value within `SolveBounds` through `LayerGeometry.step`, the arithmetic
/// every size comes from.
public enum LayerSolver {
    /// Every assignment of `unknowns` (among k, s, p, d, op) that takes `input` to `target`
    /// along `dim`, the simplest first: fewest keys away from their defaults, then the
    /// smallest kernel, symmetric padding before asymmetric, then stride, padding, dilation.
    /// Padding is tried as `p` on both sides and as `p` before, `p + 1` after (TensorFlow's
    /// 'same' order).
    /// With `target` nil, every assignment that gives an output at all.
    public static func solve(_ layer: Layer, dims: Int, dim: Int, unknowns: Set<SolveKey>, input: Int, target: Int?) -> [LayerSolution] {
        let known = slice(layer, dims: dims, dim: dim)
        let pool = layer.type.isPool
        var found: [LayerSolution] = []
        for k in unknowns.contains(.k) ? Array(SolveBounds.kernel) : [known.kernel] {
            for d in unknowns.contains(.d) ? Array(SolveBounds.dilation) : [known.dilation] {
                let ke = d * (k - 1) + 1
                let strides = unknowns.contains(.s) ? Array(SolveBounds.stride) : [known.stride ?? (pool ? k : 1)]
                for s in strides {
                    let pads: [PadPair?] = unknowns.contains(.p)
                        ? SolveBounds.padding(effectiveKernel: ke).flatMap { p in p + 1 < ke ? [PadPair(p, p), PadPair(p, p + 1)] : [PadPair(p, p)] }
                        : [known.pad]
                    let outputPaddings = unknowns.contains(.op) ? Array(0..<max(s, d)) : [known.outputPadding]
                    for pad in pads {
                        for op in outputPaddings {
                            var candidate = layer
                            candidate.kernel = DimSize(k)
                            candidate.dilation = DimSize(d)
                            candidate.stride = DimSize(s)
                            candidate.outputPadding = DimSize(op)
                            candidate.padding = pad.map { .explicit([$0]) } ?? known.named
                            let geometry = LayerGeometry(layer: candidate, dims: 1)
                            guard (try? geometry.validate()) != nil, let step = try? geometry.step(0, input: input), target == nil || step.output == target else { continue }
                            found.append(LayerSolution(kernel: k, stride: s, dilation: d, pad: step.pad, outputPadding: step.outputPadding, step: step))
                        }
                    }
                }
            }
        }
        return found.sorted { a, b in
            let keyA = [a.changedKeys(pool: pool), a.kernel, a.pad.isSymmetric ? 0 : 1, a.stride, a.pad.before + a.pad.after, a.dilation, a.outputPadding]
            let keyB = [b.changedKeys(pool: pool), b.kernel, b.pad.isSymmetric ? 0 : 1, b.stride, b.pad.before + b.pad.after, b.dilation, b.outputPadding]
            return keyA.lexicographicallyPrecedes(keyB)
        }
    }

    /// Every input within `SolveBounds.input` that `output(n)` (a chain of layers along one
    /// dimension; nil when there is no output) takes to `target`, as ranges.
    public static func inputs(target: Int, output: (Int) -> Int?) -> [ClosedRange<Int>] {
        var ranges: [ClosedRange<Int>] = []
        for n in SolveBounds.input where output(n) == target {
            if let last = ranges.last, last.upperBound == n - 1 {
                ranges[ranges.count - 1] = last.lowerBound...n
            } else {
                ranges.append(n...n)
            }
        }
        return ranges
    }

    /// The layer's known values along `dim`: nil stride for a pool's default (its kernel),
    /// nil padding for a named rule (same, valid, full), kept as `named`.
    struct Slice {
        var kernel: Int
        var stride: Int?
        var dilation: Int
        var pad: PadPair?
        var named: Padding
        var outputPadding: Int
    }

    static func slice(_ layer: Layer, dims: Int, dim: Int) -> Slice {
        var pad: PadPair?
        if case let .explicit(pairs) = layer.padding { pad = pairs.count == 1 ? pairs[0] : pairs[dim] }
        return Slice(kernel: layer.kernel?.expanded(to: dims)[dim] ?? 1, stride: layer.stride?.expanded(to: dims)[dim],
                     dilation: layer.dilation.expanded(to: dims)[dim], pad: pad, named: layer.padding,
                     outputPadding: layer.outputPadding.expanded(to: dims)[dim])
    }
}
