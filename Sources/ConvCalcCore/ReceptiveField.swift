/// The input positions one output position reads: `first, first + step, …` (`count` of them).
public struct Reads: Equatable, Sendable {
    public var first: Int
    public var step: Int
    public var count: Int
    public var last: Int { first + (count - 1) * step }   // callers build only values that fit
}

extension LayerGeometry {
    /// The positions of this layer's input that output position `o` reads along `dim`, in
    /// unbounded coordinates (padding positions are positions too); `nil` for global layers,
    /// which read everything.
    ///
    /// - window (conv, pools): `o·s − pb + t·d`, t ∈ [0, k).
    /// - tconv: every i with `o + pb = i·s + t·d`, t ∈ [0, k) (PyTorch ConvTranspose);
    ///   with g = gcd(s, d) these i step by d/g.
    /// - upsample (nearest) and pixelshuffle by f: `⌊o/f⌋`.
    public func reads(_ o: Int, dim: Int) throws -> Reads? {
        let k = kernel[dim], s = stride[dim], d = dilation[dim]
        switch rule {
        case .unchanged: return Reads(first: o, step: 1, count: 1)
        case .global: return nil
        case .scale: return Reads(first: Checked.floorDiv(o, s), step: 1, count: 1)
        case .window:
            let pad = try padPair(dim, input: 1)
            let first = try Checked.sub(Checked.mul(o, s), pad.before)
            _ = try Checked.add(first, Checked.mul(k - 1, d))
            return Reads(first: first, step: d, count: k)
        case .transposed:
            let pad = try padPair(dim, input: 1)
            let x = try Checked.add(o, pad.before)
            let g = Checked.gcd(s, d)
            guard x % g == 0 else { return Reads(first: 0, step: 1, count: 0) }
            let (s1, d1) = (s / g, d / g)
            // t·d1 ≡ x/g (mod s1): the smallest such t, then every s1-th.
            let t0 = Modular.multiply(Modular.residue(x / g, s1), Modular.inverse(d1, s1), s1)
            guard t0 < k else { return Reads(first: 0, step: 1, count: 0) }
            let count = (k - 1 - t0) / s1 + 1
            let tMax = t0 + (count - 1) * s1
            let first = try Checked.sub(x, Checked.mul(tMax, d)) / s   // exact division
            return Reads(first: first, step: d1, count: count)
        }
    }

    /// The widest run of input positions one output reads (tconv, upsample, pixelshuffle):
    /// `(⌈k·g/s⌉ − 1)·d/g + 1` for tconv with g = gcd(s, d); 1 for the others.
    public func span(_ dim: Int) -> Int? {
        switch rule {
        case .transposed:
            let s = stride[dim], d = dilation[dim], g = Checked.gcd(s, d)
            let count = (kernel[dim] - 1) / (s / g) + 1
            return (count - 1) * (d / g) + 1
        case .scale: return 1
        default: return nil
        }
    }
}

/// Arithmetic modulo m without overflow.
enum Modular {
    static func residue(_ a: Int, _ m: Int) -> Int {
        let r = a % m
        return r < 0 ? r + m : r
    }

    /// a·b mod m for 0 ≤ a, b < m.
    static func multiply(_ a: Int, _ b: Int, _ m: Int) -> Int {
        let product = a.multipliedFullWidth(by: b)
        return Int(truncatingIfNeeded: UInt(m).dividingFullWidth((UInt(bitPattern: product.high), product.low)).remainder)
    }

    /// The inverse of a modulo m, for gcd(a, m) = 1 (0 when m = 1).
    static func inverse(_ a: Int, _ m: Int) -> Int {
        if m == 1 { return 0 }
        var (oldR, r) = (residue(a, m), m)
        var (oldS, s) = (1, 0)
        while r != 0 {
            let q = oldR / r
            (oldR, r) = (r, oldR - q * r)
            (oldS, s) = (s, oldS - q * s)   // |s| ≤ m: no overflow
        }
        return residue(oldS, m)
    }
}

/// A too-large analysis: the work it would take is refused rather than run for hours.
public enum FieldError: UserFacingError, Equatable {
    case tooLarge(String)
    public var message: String {
        if case let .tooLarge(what) = self { return what }
        return ""
    }
    public var category: ErrorCategory { .data }
}

/// Where the fields of a layer's outputs lie in the input, for every output phase.
///
/// Output `o + period` has the field of output `o` moved by `shift` input positions, so the
/// jump is `shift/period`. Windows keep the period at 1 and this is the classic recurrence
/// (rf' = rf + (ke − 1)·jump, jump' = jump·s, start' = start + ((ke − 1)/2 − pb)·jump);
/// upsampling layers multiply the period, and the bounds stay exact per phase.
public struct FieldBounds: Sendable {
    public var period: Int
    public var shift: Int
    /// (lowest, highest) input position per phase; nil where that output reads nothing.
    public var bounds: [(lo: Int, hi: Int)?]

    static let input = FieldBounds(period: 1, shift: 1, bounds: [(0, 0)])

    /// The bounds of output `m`'s field.
    func field(of m: Int) throws -> (lo: Int, hi: Int)? {
        guard let b = bounds[Modular.residue(m, period)] else { return nil }
        let moved = try Checked.mul(Checked.floorDiv(m, period), shift)
        return (try Checked.add(b.lo, moved), try Checked.add(b.hi, moved))
    }

    /// The bounds after `geometry` along `dim`, or nil for a global layer (the whole input).
    static let workLimit = 20_000_000

    func after(_ geometry: LayerGeometry, dim: Int) throws -> FieldBounds? {
        let s = geometry.stride[dim]
        var next = self
        switch geometry.rule {
        case .unchanged: return self
        case .global: return nil
        case .window:
            next.period = period / Checked.gcd(period, s)
            next.shift = try Checked.mul(shift, Checked.mul(s, next.period) / period)
        case .transposed, .scale:
            next.period = try Checked.mul(period, s)
        }
        guard next.period <= 1_000_000 else {
            throw FieldError.tooLarge("the field repeats only every \(next.period) outputs (upsampling factors multiply); more than 10^6 phases is too many to analyse")
        }
        var work = 0
        next.bounds = try (0..<next.period).map { phase in
            guard let reads = try geometry.reads(phase, dim: dim), reads.count > 0 else { return nil }
            if period == 1 {
                // Fields move right as m grows: the first and last reads bound the union.
                guard let a = try field(of: reads.first), let b = try field(of: reads.last) else { return nil }
                return (a.lo, b.hi)
            }
            work += reads.count
            guard work <= FieldBounds.workLimit else {
                throw FieldError.tooLarge("the field analysis needs more than \(FieldBounds.workLimit) steps; use smaller kernels or fewer upsampling layers")
            }
            var lo = Int.max, hi = Int.min
            for i in 0..<reads.count {
                guard let f = try field(of: reads.first + i * reads.step) else { continue }
                lo = min(lo, f.lo)
                hi = max(hi, f.hi)
            }
            return lo <= hi ? (lo, hi) : nil
        }
        return next
    }

    /// The union of branch fields (a merge): the field of each output is the union of the
    /// branches' fields of that output. nil (the whole input) when any branch is.
    static func union(_ states: [FieldBounds?]) throws -> FieldBounds? {
        guard !states.contains(where: { $0 == nil }) else { return nil }
        let all = states.map { $0! }
        var period = 1
        for state in all { period = try Checked.mul(period / Checked.gcd(period, state.period), state.period) }
        guard period <= 1_000_000 else {
            throw FieldError.tooLarge("the branches' fields repeat only every \(period) outputs; more than 10^6 phases is too many to analyse")
        }
        let shifts = try all.map { try Checked.mul($0.shift, period / $0.period) }
        guard Set(shifts).count == 1 else {
            throw FieldError.tooLarge("the branches of a merge move through the input at different jumps (\(all.map { $0.jump.description }.joined(separator: ", "))), so their union has no single jump")
        }
        let bounds = try (0..<period).map { phase -> (lo: Int, hi: Int)? in
            var lo = Int.max, hi = Int.min
            for state in all {
                guard let f = try state.field(of: phase) else { continue }
                lo = min(lo, f.lo)
                hi = max(hi, f.hi)
            }
            return lo <= hi ? (lo, hi) : nil
        }
        return FieldBounds(period: period, shift: shifts[0], bounds: bounds)
    }

    /// Identifies equal states (for the set of per-path fields).
    var key: [Int] {
        [period, shift] + bounds.flatMap { $0.map { [$0.lo, $0.hi] } ?? [Int.max, Int.min] }
    }

    /// Jump: input positions per output step, `shift/period`.
    public var jump: Fraction { (try? Fraction(shift, period)) ?? .one }

    /// The widest field over all outputs and the first output that has it.
    public var widest: (size: Int, phase: Int)? {
        var best: (Int, Int)?
        for (phase, b) in bounds.enumerated() {
            guard let b else { continue }
            let size = b.hi - b.lo + 1
            if best == nil || size > best!.0 { best = (size, phase) }
        }
        return best
    }
}

/// The number of paths from one output back to each input position (all-ones weights),
/// along one dimension: the effective-receptive-field profile. Zeros inside are holes.
public struct PathCounts: Equatable, Sendable {
    /// Input position of `counts[0]`.
    public var origin: Int
    public var counts: [Double]

    public var reached: Int { counts.filter { $0 > 0 }.count }
    public var coverage: Double { counts.isEmpty ? 1 : Double(reached) / Double(counts.count) }

    static let sizeLimit = 10_000_000

    /// Paths from output `o` of the last of `chain` back to the input; nil when a global layer
    /// makes every input position reached.
    ///
    /// - Throws: `FieldError.tooLarge` when the field or the work exceeds 10^7.
    public static func trace(_ chain: [LayerGeometry], dim: Int, output o: Int) throws -> PathCounts? {
        try trace(chain, dim: dim, from: PathCounts(origin: o, counts: [1]))
    }

    static func trace(_ chain: [LayerGeometry], dim: Int, from start: PathCounts) throws -> PathCounts? {
        var current = start
        var work = 0
        for geometry in chain.reversed() {
            var all: [(Reads, Double)] = []
            var lo = Int.max, hi = Int.min
            for (index, count) in current.counts.enumerated() where count > 0 {
                guard let reads = try geometry.reads(current.origin + index, dim: dim) else { return nil }
                guard reads.count > 0 else { continue }
                lo = min(lo, reads.first)
                hi = max(hi, reads.last)
                all.append((reads, count))
                work += reads.count
            }
            guard lo <= hi else { return PathCounts(origin: 0, counts: []) }
            guard hi - lo < sizeLimit, work <= sizeLimit * 2 else {
                throw FieldError.tooLarge("the field is too large to count paths through (more than 10^7 positions or steps)")
            }
            var next = [Double](repeating: 0, count: hi - lo + 1)
            for (reads, count) in all {
                var position = reads.first - lo
                for _ in 0..<reads.count {
                    next[position] += count
                    position += reads.step
                }
            }
            current = PathCounts(origin: lo, counts: next)
        }
        return current
    }
}

extension PathCounts {
    /// Paths from output `o` of `nodes` back to their input, through every branch (the
    /// counts of a merge are the sums of its branches'); nil when a global layer reaches the
    /// whole input.
    static func trace(_ nodes: [StackNode], chain: [LayerGeometry], dim: Int, output o: Int) throws -> PathCounts? {
        try backward(nodes[...], chain: chain, dim: dim, from: PathCounts(origin: o, counts: [1]))
    }

    static func backward(_ nodes: ArraySlice<StackNode>, chain: [LayerGeometry], dim: Int, from start: PathCounts) throws -> PathCounts? {
        var current = start
        for node in nodes.reversed() {
            switch node {
            case let .layer(index):
                guard let next = try trace([chain[index]], dim: dim, from: current) else { return nil }
                current = next
            case let .merge(_, branches):
                var sum: PathCounts?
                for branch in branches {
                    guard let part = try backward(branch[...], chain: chain, dim: dim, from: current) else { return nil }
                    sum = sum.map { $0.adding(part) } ?? part
                }
                current = sum ?? current
            }
        }
        return current
    }

    /// Element-wise sum, aligned by position.
    func adding(_ other: PathCounts) -> PathCounts {
        if counts.isEmpty { return other }
        if other.counts.isEmpty { return self }
        let lo = min(origin, other.origin)
        let hi = max(origin + counts.count, other.origin + other.counts.count)
        var sum = [Double](repeating: 0, count: hi - lo)
        for (i, c) in counts.enumerated() { sum[origin - lo + i] += c }
        for (i, c) in other.counts.enumerated() { sum[other.origin - lo + i] += c }
        return PathCounts(origin: lo, counts: sum)
    }
}

/// One layer's receptive-field quantities along one dimension.
public struct FieldDimension: Equatable, Sendable {
    /// `d·(k − 1) + 1` for windows and tconv.
    public var effectiveKernel: Int?
    /// Widest run of inputs one output reads, for upsampling layers.
    public var span: Int?
    /// nil once a global layer made the field the whole input.
    public var jump: Fraction?
    /// The widest field over outputs, in input positions; nil for the whole input.
    public var size: Int?
    /// Centre of the first output's field in input coordinates (nil: it reads nothing, or whole input).
    public var start: Fraction?
}

/// Receptive field, jump, centre and coverage through a stack (SPEC §4).
public struct ReceptiveField: Sendable {
    public struct LayerField: Sendable {
        public var index: Int
        public var layer: Layer
        public var dims: [FieldDimension]
    }

    public var layers: [LayerField]
    /// Every merge in the order written: the field of its output per dimension (the union
    /// of its branches' fields).
    public var merges: [[FieldDimension]]
    /// The last node's field per dimension (a layer's or a merge's).
    public var final: [FieldDimension]
    /// With branches: per dimension, the smallest and the largest field of a single path
    /// (nil when there are too many distinct paths to follow, or a path reads everything).
    public var pathFieldRange: [(smallest: Int, largest: Int)?]
    /// Per dimension: the paths from the widest-field output of the last layer back to the
    /// input (nil: the whole input is reached, after gap/fc).
    public var paths: [PathCounts?]
    /// Per dimension: the layer (1-based) after which holes first appear, if any.
    public var holesFirstAt: [Int?]
    /// Whether `paths` could be computed (false: too large to count; `reason` says why).
    public var pathsComputed: Bool
    public var pathsSkippedReason: String?

    /// Coverage of the whole field: the product of the per-dimension coverages
    /// (all-ones paths are separable, so reached positions form a product set).
    public var coverage: Double? {
        guard pathsComputed else { return nil }
        return paths.reduce(1.0) { $0 * ($1?.coverage ?? 1) }
    }

    /// - Parameter inputs: each layer's input size per dimension, when known (`same` padding
    ///   depends on it at strides above 1; unknown, the stride is taken to divide the input).
    public init(stack: LayerStack, inputs: [[Int]]? = nil) throws {
        let chain = try stack.layers.indices.map { try stack.geometry(of: $0).resolvingPadding(input: inputs?[$0]) }
        var fields = [[FieldDimension]](repeating: [], count: stack.layers.count)
        var mergeFields: [[FieldDimension]] = []
        func describe(_ state: FieldBounds?, _ geometry: LayerGeometry?, _ dim: Int) throws -> FieldDimension {
            var field = FieldDimension()
            if let geometry {
                if geometry.rule == .window || geometry.rule == .transposed { field.effectiveKernel = try geometry.effectiveKernel(dim) }
                field.span = geometry.span(dim)
            }
            if let state {
                field.jump = state.jump
                field.size = state.widest?.size ?? 0
                if let b = state.bounds[0] { field.start = try Fraction(Checked.add(b.lo, b.hi), 2) }
            }
            return field
        }
        /// The fields after `nodes` per dimension, recording every layer's and merge's.
        func walk(_ nodes: [StackNode], _ states: [FieldBounds?]) throws -> [FieldBounds?] {
            var states = states
            for node in nodes {
                switch node {
                case let .layer(index):
                    do {
                        states = try (0..<stack.dims).map { dim in try states[dim].flatMap { try $0.after(chain[index], dim: dim) } }
                    } catch let error as UserFacingError {
                        throw LayerContextError(index: index + 1, token: stack.layers[index].token, underlying: error)
                    }
                    fields[index] = try (0..<stack.dims).map { try describe(states[$0], chain[index], $0) }
                case let .merge(_, branches):
                    let slot = mergeFields.count
                    mergeFields.append([])
                    let outcomes = try branches.map { try walk($0, states) }
                    states = try (0..<stack.dims).map { dim in try FieldBounds.union(outcomes.map { $0[dim] }) }
                    mergeFields[slot] = try (0..<stack.dims).map { try describe(states[$0], nil, $0) }
                }
            }
            return states
        }
        let start = [FieldBounds?](repeating: FieldBounds.input, count: stack.dims)
        let finalStates = try walk(stack.nodes, start)
        layers = stack.layers.indices.map { LayerField(index: $0 + 1, layer: stack.layers[$0], dims: fields[$0]) }
        merges = mergeFields
        // The last node's field: a layer's row as recorded, or the last merge's union.
        if case let .layer(last)? = stack.nodes.last {
            final = fields[last]
        } else {
            final = try (0..<stack.dims).map { try describe(finalStates[$0], nil, $0) }
        }

        // The smallest and largest single path: follow the set of distinct per-path states.
        pathFieldRange = Array(repeating: nil, count: stack.dims)
        if stack.hasBranches {
            for dim in 0..<stack.dims {
                pathFieldRange[dim] = ReceptiveField.pathRange(stack.nodes, chain: chain, dim: dim)
            }
        }

        // Paths from the widest-field output, for the whole stack and each top-level prefix
        // (to find where holes first appear).
        paths = []
        holesFirstAt = []
        pathsComputed = true
        do {
            for dim in 0..<stack.dims {
                var state: FieldBounds? = FieldBounds.input
                var firstHoles: Int?
                var last: PathCounts?
                for end in stack.nodes.indices {
                    state = try walkState(stack.nodes[end], state, chain: chain, dim: dim)
                    guard let state, let widest = state.widest else { last = nil; break }
                    last = try PathCounts.trace(Array(stack.nodes[...end]), chain: chain, dim: dim, output: widest.phase)
                    if firstHoles == nil, let last, last.coverage < 1 { firstHoles = stack.nodes[end].layerIndices.last.map { $0 + 1 } }
                }
                paths.append(last)
                holesFirstAt.append(firstHoles)
            }
        } catch let error as FieldError {
            pathsComputed = false
            pathsSkippedReason = error.message
            paths = Array(repeating: nil, count: stack.dims)
            holesFirstAt = Array(repeating: nil, count: stack.dims)
        }
    }

    /// One top-level node's effect on a dimension's field state.
    private func walkState(_ node: StackNode, _ state: FieldBounds?, chain: [LayerGeometry], dim: Int) throws -> FieldBounds? {
        switch node {
        case let .layer(index): return try state.flatMap { try $0.after(chain[index], dim: dim) }
        case let .merge(_, branches):
            let outcomes = try branches.map { branch in
                try branch.reduce(state) { current, node in try walkState(node, current, chain: chain, dim: dim) }
            }
            return try FieldBounds.union(outcomes)
        }
    }

    /// The smallest and largest field of a single path through the branches, following the set
    /// of distinct per-path states (at most 10,000); nil beyond that or when a path reads the
    /// whole input.
    static func pathRange(_ nodes: [StackNode], chain: [LayerGeometry], dim: Int) -> (smallest: Int, largest: Int)? {
        func step(_ nodes: [StackNode], _ states: [FieldBounds]) -> [FieldBounds]? {
            var states = states
            for node in nodes {
                switch node {
                case let .layer(index):
                    var next: [FieldBounds] = []
                    for state in states {
                        guard let after = try? state.after(chain[index], dim: dim) else { return nil }
                        next.append(after)
                    }
                    states = next
                case let .merge(_, branches):
                    var seen: Set<[Int]> = []
                    var next: [FieldBounds] = []
                    for branch in branches {
                        guard let outcome = step(branch, states) else { return nil }
                        for state in outcome where seen.insert(state.key).inserted { next.append(state) }
                    }
                    guard next.count <= 10_000 else { return nil }
                    states = next
                }
            }
            return states
        }
        guard let states = step(nodes, [FieldBounds.input]), !states.isEmpty else { return nil }
        let sizes = states.compactMap { $0.widest?.size }
        guard let smallest = sizes.min(), let largest = sizes.max() else { return nil }
        return (smallest, largest)
    }
}
