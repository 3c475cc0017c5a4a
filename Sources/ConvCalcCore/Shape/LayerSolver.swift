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

/// `shape --solve in` through a chain that keeps too many distinct sizes too long.
public struct SolveWorkError: UserFacingError, Equatable {
    public var layers: Int
    /// Layers followed before the limit.
    public var reached: Int
    /// Sizes worked out at most (`LayerSolver.inputWorkLimit`).
    public var limit: Int
    public var message: String {
        "solving for in follows every input from \(SolveBounds.input.lowerBound) to \(SolveBounds.input.upperBound) through the layers; "
            + "past layer \(reached) of \(layers) that is more than \(limit) sizes to work out (give --in instead, or fewer layers)"
    }
    public var category: ErrorCategory { .data }
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

    /// The most layer sizes `inputs(target:through:)` works out (2^26, about a second): a
    /// chain of a thousand layers and more that keep 65,536 distinct sizes is refused, not a
    /// hang (a stride merges sizes, so striding chains of any length are followed).
    public static let inputWorkLimit = 1 << 26

    /// Every input within `SolveBounds.input` that the chain `layers` (one size map a layer
    /// along one dimension; nil when there is no output) takes to `target`, as ranges. The
    /// inputs are followed as groups of equal size, layer by layer (a stride merges them), so
    /// a long chain costs the distinct sizes of each layer, not 65,536 chains.
    ///
    /// - Throws: `SolveWorkError` past `inputWorkLimit` sizes.
    public static func inputs(target: Int, through layers: [(Int) -> Int?], workLimit: Int = inputWorkLimit) throws -> [ClosedRange<Int>] {
        try outputs(through: layers, workLimit: workLimit).first { $0.size == target }?.inputs ?? []
    }

    /// Every output the chain `layers` gives from the inputs of `SolveBounds.input`,
    /// ascending, with the inputs that give it as ranges, ascending and apart
    /// (`inputs(target:through:)`).
    public static func outputs(through layers: [(Int) -> Int?], workLimit: Int = inputWorkLimit) throws -> [(size: Int, inputs: [ClosedRange<Int>])] {
        let first = SolveBounds.input.lowerBound, count = SolveBounds.input.count
        // Groups of equal size, ascending: their size and the input (index) that stands for
        // each; `merged[i]` is the input whose group input i's joined (itself while it leads one).
        var (sizes, leaders) = (Array(SolveBounds.input), Array(0..<count))
        var merged = Array(0..<count)
        var work = 0
        var next: [(size: Int, leader: Int)] = []
        next.reserveCapacity(count)
        for (index, layer) in layers.enumerated() where !sizes.isEmpty {
            work += sizes.count
            guard work <= workLimit else { throw SolveWorkError(layers: layers.count, reached: index, limit: workLimit) }
            next.removeAll(keepingCapacity: true)
            for (size, leader) in zip(sizes, leaders) {
                if let out = layer(size) { next.append((out, leader)) }
            }
            if !zip(next, next.dropFirst()).allSatisfy({ $0.size <= $1.size }) {
                next = next.enumerated().sorted { ($0.element.size, $0.offset) < ($1.element.size, $1.offset) }.map(\.element)
            }
            sizes.removeAll(keepingCapacity: true)
            leaders.removeAll(keepingCapacity: true)
            for group in next {
                if sizes.last == group.size { merged[group.leader] = leaders[leaders.count - 1] } else { sizes.append(group.size); leaders.append(group.leader) }
            }
        }
        var finalSize = [Int?](repeating: nil, count: count)
        for (size, leader) in zip(sizes, leaders) { finalSize[leader] = size }
        // Each input's size: its leader's, found through the merges (halved paths).
        var rangesBySize: [Int: [ClosedRange<Int>]] = [:]
        for input in 0..<count {
            var leader = input
            while merged[leader] != leader {
                merged[leader] = merged[merged[leader]]
                leader = merged[leader]
            }
            guard let size = finalSize[leader] else { continue }
            let n = first + input
            if let last = rangesBySize[size]?.last, last.upperBound == n - 1 {
                rangesBySize[size]![rangesBySize[size]!.count - 1] = last.lowerBound...n
            } else {
                rangesBySize[size, default: []].append(n...n)
            }
        }
        return rangesBySize.keys.sorted().map { ($0, rangesBySize[$0]!) }
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
