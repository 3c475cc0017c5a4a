/// Padding (or output padding) that makes a layer produce a wanted output size.
public enum PaddingSolution: Equatable, Sendable {
    /// The same padding on both sides works; `totals` are all total paddings that give the size.
    case symmetric(PadPair, totals: ClosedRange<Int>)
    /// Only an odd total works, so one side gets one more (TensorFlow puts it after).
    case asymmetricOnly(PadPair, totals: ClosedRange<Int>)
    /// Transposed convolution: this output padding with this padding.
    /// `paddingChanged` is true when the layer's own padding could not give the size.
    case outputPadding(op: Int, pad: PadPair, paddingChanged: Bool)

    /// The padding to use.
    public var pad: PadPair {
        switch self {
        case let .symmetric(pad, _), let .asymmetricOnly(pad, _), let .outputPadding(_, pad, _): return pad
        }
    }
}

/// Why no padding gives the wanted size.
public enum PaddingSolverError: UserFacingError, Equatable {
    case noSolution(dim: String, reason: String)
    case notPaddable(type: String)

    public var message: String {
        switch self {
        case let .noSolution(dim, reason): return "no padding gives that size\(dim.isEmpty ? "" : " along \(dim)"): \(reason)"
        case let .notPaddable(type): return "\(Subject.option("--out").name(.options)) solves the padding of convolutions, pools and tconv; '\(type)' has no padding"
        }
    }
    public var category: ErrorCategory { .data }
}

/// Solves `out(in, padding) = target` for the padding of one layer along one dimension.
///
/// Convolutions and pools: `⌊(in + P − ke)/s⌋ + 1 = N` holds for total padding
/// `P ∈ [(N−1)·s + ke − in, (N−1)·s + ke − in + s − 1]`; an even `P` in that range splits
/// evenly, otherwise only asymmetric padding works. Pools keep PyTorch's limit of ⌊k/2⌋ a side.
/// Transposed convolutions: `op = N − ((in − 1)·s − P + ke)` with `0 ≤ op < max(s, d)`;
/// when the layer's padding cannot give `N`, the smallest symmetric padding that can is offered.
public enum PaddingSolver {
    /// - Parameter alike: true when every dimension is alike, so messages need not name one.
    public static func solve(_ geometry: LayerGeometry, dim: Int, input: Int, target: Int, alike: Bool = false) throws -> PaddingSolution {
        let label = geometry.dims > 1 && !alike ? DimensionNames.label(dim, of: geometry.dims) : ""
        guard target >= 1 else {
            throw PaddingSolverError.noSolution(dim: label, reason: "the wanted size must be at least 1")
        }
        switch geometry.rule {
        case .window: return try solveWindow(geometry, dim: dim, input: input, target: target, label: label)
        case .transposed: return try solveTransposed(geometry, dim: dim, input: input, target: target, label: label)
        default: throw PaddingSolverError.notPaddable(type: geometry.type.rawValue)
        }
    }

    static func solveWindow(_ g: LayerGeometry, dim: Int, input: Int, target: Int, label: String) throws -> PaddingSolution {
        let s = g.stride[dim], ke = try g.effectiveKernel(dim)
        let base = try Checked.sub(Checked.add(Checked.mul(target - 1, s), ke), input)
        func output(_ total: Int) -> Int? {
            let pad = PadPair(total / 2, total - total / 2)
            return try? g.replacingPadding(with: pad, dim: dim).step(dim, input: input).output
        }
        // Candidate totals: floor mode needs [base, base + s − 1]; ceil mode shifts by up to s.
        let low = max(0, g.ceilMode ? base - s + 1 : base)
        let high = try Checked.add(base, g.ceilMode ? s : s - 1)
        var works: [Int] = []
        if high >= low {
            if g.ceilMode {
                var total = low
                while total <= high && total - low < 200_000 {
                    if output(total) == target { works.append(total) }
                    total += 1
                }
            } else {
                works = [low, high]   // the whole range works in floor mode
            }
        }
        guard let first = works.first, let last = works.last else {
            let unpadded = output(0).map { "with no padding the output is already \($0)" } ?? "the input is too small"
            throw PaddingSolverError.noSolution(dim: label, reason: "\(unpadded); padding only makes it larger, so use a larger stride or kernel")
        }
        let totals = first...last
        let candidates = g.ceilMode ? works : Array(totals.prefix(2))
        let limit = g.type.isPool ? g.kernel[dim] / 2 : Int.max
        let fits: (PadPair) -> Bool = { max($0.before, $0.after) <= limit }
        if let even = candidates.first(where: { $0 % 2 == 0 && fits(PadPair($0 / 2, $0 / 2)) }) {
            return .symmetric(PadPair(even / 2, even / 2), totals: totals)
        }
        if let odd = candidates.first(where: { fits(PadPair($0 / 2, $0 - $0 / 2)) }) {
            return .asymmetricOnly(PadPair(odd / 2, odd - odd / 2), totals: totals)
        }
        throw PaddingSolverError.noSolution(dim: label,
            reason: "it needs padding \(first / 2) or more on a side, but \(g.type.rawValue) allows at most ⌊k/2⌋ = \(limit) (PyTorch)")
    }

    static func solveTransposed(_ g: LayerGeometry, dim: Int, input: Int, target: Int, label: String) throws -> PaddingSolution {
        let s = g.stride[dim], ke = try g.effectiveKernel(dim)
        let opLimit = max(s, g.dilation[dim])
        // (in − 1)·s + ke: the output before padding is removed and output padding added.
        let grown = try Checked.add(Checked.mul(input - 1, s), ke)
        if g.padding != .same {
            let pad = try g.padPair(dim, input: input)
            let op = try Checked.sub(target, Checked.sub(grown, Checked.add(pad.before, pad.after)))
            if op >= 0 && op < opLimit { return .outputPadding(op: op, pad: pad, paddingChanged: false) }
        }
        // Another padding: P = grown + op − N, symmetric when even.
        var asymmetric: PaddingSolution?
        for op in 0..<min(opLimit, 1_000_000) {
            let total = try Checked.sub(Checked.add(grown, op), target)
            guard total >= 0 else { break }
            if total % 2 == 0 { return .outputPadding(op: op, pad: PadPair(total / 2, total / 2), paddingChanged: true) }
            if asymmetric == nil { asymmetric = .outputPadding(op: op, pad: PadPair(total / 2, total - total / 2), paddingChanged: true) }
        }
        if let asymmetric { return asymmetric }
        let most = try Checked.add(grown, opLimit - 1)
        throw PaddingSolverError.noSolution(dim: label,
            reason: "with no padding and the largest output padding \(opLimit - 1) the output is at most \(most); use a larger stride or kernel")
    }
}

/// The padding that keeps a layer's size (stride 1), gives ⌈in/s⌉ (windows at stride > 1)
/// or s·in (tconv), whatever the input size.
public enum KeepingPadding: Equatable, Sendable {
    /// A window layer at stride > 1: no padding keeps the size; `same` gives ⌈in/s⌉, with total
    /// padding `sameTotal` = ke − s when s divides in (less otherwise when negative).
    case strided(stride: Int, sameTotal: Int)
    /// A window layer at stride 1: this padding keeps out = in (asymmetric when the total
    /// ke − 1 is odd); `poolLimit` is PyTorch's ⌊k/2⌋ for pools when the padding exceeds it.
    case window(PadPair, poolLimit: Int?)
    /// tconv: this padding keeps out = in (s = 1) or gives s·in; when asymmetric, output
    /// padding `alternativeOutputPadding` with symmetric padding `pad.after` also works when op < max(s, d).
    case transposed(PadPair, stride: Int, alternativeOutputPadding: Int?)
    /// tconv whose ke < s: no padding, and this output padding.
    case transposedOutputPadding(Int, stride: Int)
}

extension PaddingSolver {
    /// The padding that keeps the size along `dim` (`KeepingPadding`); nil for layers without padding.
    ///
    /// Windows: total ke − 1 at stride 1. tconv: total ke − s + op, since
    /// (in − 1)·s − P + ke + op = s·in exactly when P = ke − s + op.
    public static func keeping(_ geometry: LayerGeometry, dim: Int) throws -> KeepingPadding? {
        let s = geometry.stride[dim], ke = try geometry.effectiveKernel(dim)
        switch geometry.rule {
        case .window:
            guard s == 1 else { return .strided(stride: s, sameTotal: ke - s) }
            let total = ke - 1
            let pad = PadPair(total / 2, total - total / 2)
            let limit = geometry.kernel[dim] / 2
            return .window(pad, poolLimit: geometry.type.isPool && pad.after > limit ? limit : nil)
        case .transposed:
            let total = ke - s + geometry.outputPadding[dim]
            if total < 0 { return .transposedOutputPadding(s - ke, stride: s) }
            let pad = PadPair(total / 2, total - total / 2)
            return .transposed(pad, stride: s, alternativeOutputPadding: pad.isSymmetric ? nil : geometry.outputPadding[dim] + 1)
        default:
            return nil
        }
    }
}

extension LayerGeometry {
    /// The same layer with `pad` along `dim` (other dimensions keep theirs, resolved for size 1 when named).
    public func replacingPadding(with pad: PadPair, dim: Int) -> LayerGeometry {
        var pairs: [PadPair] = []
        for d in 0..<dims {
            pairs.append(d == dim ? pad : ((try? padPair(d, input: 1)) ?? PadPair(0, 0)))
        }
        var copy = self
        copy.padding = .explicit(pairs)
        return copy
    }
}

extension LayerGeometry {
    /// The same layer with output padding `op` along `dim`.
    /// The same layer with dilation `d` along `dim`.
    public func replacingDilation(with d: Int, dim: Int) -> LayerGeometry {
        var copy = self
        copy.dilation[dim] = d
        return copy
    }

    public func replacingOutputPadding(with op: Int, dim: Int) -> LayerGeometry {
        var copy = self
        copy.outputPadding[dim] = op
        return copy
    }
}
