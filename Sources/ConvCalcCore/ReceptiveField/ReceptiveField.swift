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
        switch fieldRule {
        case .unchanged: return Reads(first: o, step: 1, count: 1)
        case .global, .fixed: return nil   // .fixed never reaches here: resolvingForField resolves it
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
        switch fieldRule {
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
        switch geometry.fieldRule {
        case .unchanged: return self
        case .global, .fixed: return nil
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

    /// Every layer's and merge's field, in the stack's tree shape.
    public var tree: [StackResult<LayerField, [FieldDimension]>]
    /// Every layer, in the order written.
    public var layers: [LayerField]
    /// Every merge in the order written: the field of its output per dimension (the union
    /// of its branches' fields).
    public var merges: [[FieldDimension]]
    /// The last node's field per dimension (a layer's or a merge's).
    public var final: [FieldDimension]
    /// The field of the convolutional path, taking the layers that read global context as
    /// reading one position (`localField(stack:inputs:)`); nil when the stack has none.
    public var localField: [FieldDimension]?
    /// With branches: the smallest and the largest field of a single path (a path takes one
    /// branch of every merge, for all dimensions at once), ordered by area then per dimension;
    /// nil when there are too many distinct paths to follow, or a path reads everything.
    public var pathFieldRange: (smallest: [Int], largest: [Int])?
    /// The paths from the widest-field output of the last node back to the input; nil when
    /// they could not be counted (`pathsSkippedReason` says why).
    public var fieldPaths: FieldPaths?
    /// Per dimension: the layer (1-based) after which holes first appear, if any. Once
    /// branches of differing shapes make the count joint, holes belong to the joint field and
    /// are reported for every dimension.
    public var holesFirstAt: [Int?]
    /// The top-level node (index into `stack.nodes`) after which the field first has holes.
    public var holesFirstNode: Int?
    /// The holes in the field, one entry per dimension with holes (one for all when the
    /// dimensions are alike, one for the joint field); empty when every position is reached.
    public var holes: [FieldHoles] = []
    /// Whether the paths could be counted (false: too large to count; `reason` says why).
    public var pathsComputed: Bool { fieldPaths != nil }
    public var pathsSkippedReason: String?

    /// Per dimension: the profile of the paths (separable counts), or the paths summed over
    /// the other dimensions (joint counts); nil entries for the whole input.
    public var paths: [PathCounts?] {
        guard let fieldPaths, let dims = fieldPaths.perDimension else { return Array(repeating: nil, count: final.count) }
        return dims
    }

    /// Coverage of the whole field: reached positions over the field's positions, counted
    /// over the joint positions (the product of the per-dimension coverages when separable).
    public var coverage: Double? { fieldPaths?.coverage }

    /// - Parameter inputs: each layer's input size per dimension, when known (`same` padding
    ///   depends on it at strides above 1; unknown, the stride is taken to divide the input).
    public init(stack: LayerStack, inputs: [[Int]]? = nil) throws {
        let chain = try ReceptiveField.chain(stack, inputs: inputs, local: false)
        localField = try ReceptiveField.localField(stack: stack, inputs: inputs)
        let folded = try ReceptiveField.fields(stack, chain: chain)
        tree = folded.tree
        layers = StackTree.layerValues(tree)
        merges = StackTree.mergeValues(tree)
        final = folded.final

        // The smallest and largest single path: follow the set of distinct per-path states.
        pathFieldRange = stack.hasBranches ? ReceptiveField.pathRange(stack.nodes, chain: chain, dims: stack.dims) : nil

        holesFirstAt = Array(repeating: nil, count: stack.dims)
        do {
            let scan = try ReceptiveField.scanPaths(stack, chain: chain)
            (fieldPaths, holesFirstAt, holesFirstNode) = (scan.paths, scan.firstAt, scan.firstNode)
        } catch let error as FieldError {
            pathsSkippedReason = error.message
            fieldPaths = nil
        }
        holes = ReceptiveField.holes(fieldPaths, firstAt: holesFirstAt, firstNode: holesFirstNode, stack: stack)
    }

    /// Each layer's geometry as the field follows it (`LayerGeometry.resolvingForField`).
    static func chain(_ stack: LayerStack, inputs: [[Int]]?, local: Bool) throws -> [LayerGeometry] {
        try stack.layers.indices.map { index in
            do {
                return try stack.geometry(of: index).resolvingForField(input: inputs?[index], local: local)
            } catch let error as UserFacingError {
                throw LayerContextError(index: index + 1, token: stack.layers[index].token, origin: stack.layers[index].context, underlying: error)
            }
        }
    }

    /// The field of the convolutional path when layers read global context (`se`,
    /// `groupnorm`, `gap`, `fc`, `flatten`, adaptive pooling to 1), taking them as reading one
    /// position; nil when the stack has none. Field sizes and jumps only: no path counts.
    public static func localField(stack: LayerStack, inputs: [[Int]]? = nil) throws -> [FieldDimension]? {
        guard stack.layers.contains(where: { $0.type.readsGlobalContext || ($0.type.isAdaptivePool && $0.adaptiveOutput?.values.allSatisfy { $0 == 1 } == true) }) else { return nil }
        return try fields(stack, chain: try chain(stack, inputs: inputs, local: true)).final
    }

    /// Every layer's and merge's field (one fold over the tree), and the last node's field.
    static func fields(_ stack: LayerStack, chain: [LayerGeometry])
        throws -> (tree: [StackResult<LayerField, [FieldDimension]>], final: [FieldDimension]) {
        func describe(_ state: FieldBounds?, _ geometry: LayerGeometry?, _ dim: Int) throws -> FieldDimension {
            var field = FieldDimension()
            if let geometry {
                if geometry.fieldRule == .window || geometry.fieldRule == .transposed { field.effectiveKernel = try geometry.effectiveKernel(dim) }
                field.span = geometry.span(dim)
            }
            if let state {
                field.jump = state.jump
                field.size = state.widest?.size ?? 0
                if let b = state.bounds[0] { field.start = try Fraction(Checked.add(b.lo, b.hi), 2) }
            }
            return field
        }
        let start = [FieldBounds?](repeating: FieldBounds.input, count: stack.dims)
        var lastLayer: Int?   // the layer a merge ends after, for messages
        let folded = try StackTree.fold(stack.nodes, from: start, layer: { index, states in
            lastLayer = index
            let after: [FieldBounds?]
            do {
                after = try (0..<stack.dims).map { dim in try states[dim].flatMap { try $0.after(chain[index], dim: dim) } }
            } catch let error as UserFacingError {
                throw LayerContextError(index: index + 1, token: stack.layers[index].token, origin: stack.layers[index].context, underlying: error)
            }
            let field = LayerField(index: index + 1, layer: stack.layers[index],
                                   dims: try (0..<stack.dims).map { try describe(after[$0], chain[index], $0) })
            return (field, after)
        }, merge: { kind, _, outcomes in
            do {
                let states = try (0..<stack.dims).map { dim in try FieldBounds.union(outcomes.map { $0[dim] }) }
                return (try (0..<stack.dims).map { try describe(states[$0], nil, $0) }, states)
            } catch let error as UserFacingError {
                // Which merge: the one ending after the last layer of its branches.
                let place = lastLayer.map { "\(kind.name) ending after layer \($0 + 1) '\(stack.layers[$0].token)'\(LayerContextError.place(stack.layers[$0].context))" }
                throw LocatedError(location: place ?? kind.name, underlying: error)
            }
        })
        // The last node's field: a layer's row as recorded, or the last merge's union.
        if case let .layer(_, last)? = folded.results.last { return (folded.results, last.dims) }
        return (folded.results, try (0..<stack.dims).map { try describe(folded.output[$0], nil, $0) })
    }

    /// Paths from the widest-field output, forward through the stack, read after each
    /// top-level node (to find where holes first appear).
    ///
    /// - Throws: `FieldError` when the paths are too many to count.
    static func scanPaths(_ stack: LayerStack, chain: [LayerGeometry]) throws -> (paths: FieldPaths, firstAt: [Int?], firstNode: Int?) {
        var firstAt = [Int?](repeating: nil, count: stack.dims)
        var firstNode: Int?
        var budget = PathBudget()
        var bounds = [FieldBounds?](repeating: FieldBounds.input, count: stack.dims)
        var counts = CountState.input(dims: stack.dims)
        var last: FieldPaths = .whole
        for (end, node) in stack.nodes.enumerated() {
            bounds = try (0..<stack.dims).map { try walkState(node, bounds[$0], chain: chain, dim: $0) }
            counts = try CountState.step(node, from: counts, chain: chain, budget: &budget)
            let widest = bounds.map { $0?.widest?.phase }
            if widest.contains(where: { $0 == nil }) { last = .whole; break }
            // Read the counts out where they are still needed: the last node, or holes to find.
            guard end == stack.nodes.count - 1 || firstAt.contains(where: { $0 == nil }) else { continue }
            last = try counts.paths(of: widest.map { $0! })
            guard firstAt.contains(where: { $0 == nil }) else { continue }
            let layer = node.lastLayerIndex.map { $0 + 1 }
            switch last {
            case .whole: break
            case let .separable(dims):
                for dim in dims.indices where firstAt[dim] == nil && dims[dim].coverage < 1 { firstAt[dim] = layer }
            case let .joint(grid):
                if grid.coverage < 1 { firstAt = firstAt.map { $0 ?? layer } }
            }
            if firstNode == nil && last.coverage < 1 { firstNode = end }
        }
        return (last, firstAt, firstNode)
    }

    /// One top-level node's effect on a dimension's field state.
    private static func walkState(_ node: StackNode, _ state: FieldBounds?, chain: [LayerGeometry], dim: Int) throws -> FieldBounds? {
        try StackTree.output([node], from: state, layer: { index, current in
            try current.flatMap { try $0.after(chain[index], dim: dim) }
        }, merge: { _, _, outcomes in try FieldBounds.union(outcomes) })
    }

    /// Too many distinct single-path states to follow.
    private struct TooManyPaths: Error {}

    /// The smallest and largest field of a single path through the branches (all dimensions
    /// at once: a path takes one branch of every merge), following the set of distinct
    /// per-path states (at most 10,000, and 10^7 state updates in all); nil beyond that or
    /// when a path reads the whole input.
    static func pathRange(_ nodes: [StackNode], chain: [LayerGeometry], dims: Int) -> (smallest: [Int], largest: [Int])? {
        var updates = 0
        let start = [[FieldBounds]](repeating: Array(repeating: FieldBounds.input, count: dims), count: 1)
        let folded = try? StackTree.output(nodes, from: start, layer: { index, states in
            updates += states.count
            guard updates <= 10_000_000 else { throw TooManyPaths() }
            return try states.map { state in
                try (0..<dims).map { dim in
                    guard let bound = try? state[dim].after(chain[index], dim: dim) else { throw TooManyPaths() }
                    return bound
                }
            }
        }, merge: { _, _, outcomes in
            var seen: Set<[Int]> = []
            var next: [[FieldBounds]] = []
            for outcome in outcomes {
                for state in outcome where seen.insert(state.flatMap(\.key)).inserted { next.append(state) }
                guard next.count <= 10_000 else { throw TooManyPaths() }
            }
            return next
        })
        guard let states = folded else { return nil }
        // Paths that read nothing have no field.
        let fields = states.compactMap { state -> [Int]? in
            let sizes = state.compactMap { $0.widest?.size }
            return sizes.count == dims ? sizes : nil
        }
        func area(_ sizes: [Int]) -> Double { sizes.reduce(1.0) { $0 * Double($1) } }
        func before(_ a: [Int], _ b: [Int]) -> Bool { area(a) != area(b) ? area(a) < area(b) : a.lexicographicallyPrecedes(b) }
        guard let smallest = fields.min(by: before), let largest = fields.max(by: before) else { return nil }
        return (smallest, largest)
    }
}

/// Holes in a receptive field: how many positions are reached, where the holes first appear,
/// and whether dilations sharing a factor explain them (the gridding problem).
public struct FieldHoles: Equatable, Sendable {
    /// Which positions are counted.
    public enum Along: Equatable, Sendable {
        /// Every dimension alike (one profile stands for all).
        case every
        /// One dimension (0-based).
        case dimension(Int)
        /// The joint positions of this box (branches of differing shapes).
        case joint(shape: [Int])
    }

    /// Where the holes first appear.
    public enum Place: Equatable, Sendable {
        /// After layer `index` (0-based).
        case layer(Int)
        /// After a top-level merge, ending after layer `endingAfter` (0-based; nil: no layer before it).
        case merge(MergeKind, endingAfter: Int?)
    }

    /// Dilated layers whose dilations share a factor above 1.
    public struct Gridding: Equatable, Sendable {
        /// The layers (1-based) with a dilation above 1, and their dilations.
        public var layers: [Int]
        public var dilations: [Int]
        public var factor: Int
    }

    public var along: Along
    public var reached: Int
    public var positions: Int
    public var firstAt: Place
    public var gridding: Gridding?
}

extension ReceptiveField {
    /// The holes of `paths`, per dimension or jointly, where they first appear and why.
    static func holes(_ paths: FieldPaths?, firstAt: [Int?], firstNode: Int?, stack: LayerStack) -> [FieldHoles] {
        switch paths {
        case nil, .whole?:
            return []
        case let .joint(grid)?:
            guard grid.reached < grid.counts.count, let node = firstNode else { return [] }
            return [FieldHoles(along: .joint(shape: grid.shape), reached: grid.reached, positions: grid.counts.count,
                               firstAt: place(node, stack: stack), gridding: gridding(stack, dims: Array(0..<stack.dims)))]
        case let .separable(dims)?:
            var holes: [FieldHoles] = []
            let alike = stack.isUniform && dims.allSatisfy { $0 == dims[0] }
            for (dim, counts) in dims.enumerated() {
                guard counts.reached < counts.counts.count, let first = firstAt[dim] else { continue }
                holes.append(FieldHoles(along: alike ? .every : .dimension(dim), reached: counts.reached, positions: counts.counts.count,
                                        firstAt: .layer(first - 1), gridding: gridding(stack, dims: [dim])))
                if alike { break }
            }
            return holes
        }
    }

    /// The first of `dims` along which more than one layer is dilated and the dilations share a factor.
    static func gridding(_ stack: LayerStack, dims: [Int]) -> FieldHoles.Gridding? {
        for dim in dims {
            let dilated = stack.layers.indices.compactMap { i -> (Int, Int)? in
                let d = stack.geometry(of: i).dilation[dim]
                return d > 1 ? (i + 1, d) : nil
            }
            let factor = dilated.map(\.1).reduce(0) { Checked.gcd($0, $1) }
            if dilated.count > 1 && factor > 1 {
                return FieldHoles.Gridding(layers: dilated.map(\.0), dilations: dilated.map(\.1), factor: factor)
            }
        }
        return nil
    }

    /// Top-level node `node` as a place: a layer, or the merge ending after its last layer.
    static func place(_ node: Int, stack: LayerStack) -> FieldHoles.Place {
        switch stack.nodes[node] {
        case let .layer(index): return .layer(index)
        case let .merge(kind, _):
            return .merge(kind, endingAfter: stack.nodes[...node].reversed().lazy.compactMap { $0.lastLayerIndex }.first)
        }
    }
}

/// Path counts over a box of input positions in all spatial dimensions at once, row-major
/// (the last dimension fastest). Branches of differing shapes make the count of a position a
/// sum of per-path products, which does not factor into one profile per dimension.
public struct JointCounts: Equatable, Sendable {
    /// Input position of `counts[0]`, per dimension.
    public var origin: [Int]
    public var shape: [Int]
    public var counts: [Double]

    static func empty(_ dims: Int) -> JointCounts {
        JointCounts(origin: Array(repeating: 0, count: dims), shape: Array(repeating: 0, count: dims), counts: [])
    }

    public var reached: Int { counts.reduce(0) { $0 + ($1 > 0 ? 1 : 0) } }
    public var coverage: Double { counts.isEmpty ? 1 : Double(reached) / Double(counts.count) }

    /// The paths summed over every other dimension, along `axis`.
    public func marginal(_ axis: Int) -> PathCounts {
        guard !counts.isEmpty else { return PathCounts(origin: 0, counts: []) }
        let inner = shape[(axis + 1)...].reduce(1, *)
        var sums = [Double](repeating: 0, count: shape[axis])
        for (flat, c) in counts.enumerated() where c > 0 { sums[(flat / inner) % shape[axis]] += c }
        return PathCounts(origin: origin[axis], counts: sums)
    }

    /// The count at an input position (0 outside the box).
    public func value(at position: [Int]) -> Double {
        var flat = 0
        for axis in shape.indices {
            let i = position[axis] - origin[axis]
            guard i >= 0, i < shape[axis] else { return 0 }
            flat = flat * shape[axis] + i
        }
        return counts[flat]
    }

    /// Adds `source` moved by `offset` into this box, which must contain it.
    mutating func add(_ source: JointCounts, movedBy offset: [Int]) {
        let n = shape.count
        var strides = [Int](repeating: 1, count: n)
        for axis in stride(from: n - 2, through: 0, by: -1) { strides[axis] = strides[axis + 1] * shape[axis + 1] }
        let run = source.shape[n - 1]
        var index = [Int](repeating: 0, count: n)   // over the source's axes 0..<n−1
        let rows = source.counts.count / run
        for row in 0..<rows {
            var base = 0
            for axis in 0..<n { base += (source.origin[axis] + offset[axis] + index[axis] - origin[axis]) * strides[axis] }
            let sourceBase = row * run
            for j in 0..<run { counts[base + j] += source.counts[sourceBase + j] }
            var axis = n - 2
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < source.shape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
    }

    /// The sum of `sources`, each moved by its offset (empty sources are skipped).
    static func sum(_ sources: [(JointCounts, [Int])], dims: Int, budget: inout PathBudget) throws -> JointCounts {
        let parts = sources.filter { !$0.0.counts.isEmpty }
        guard !parts.isEmpty else { return .empty(dims) }
        if parts.count == 1 && parts[0].1.allSatisfy({ $0 == 0 }) { return parts[0].0 }
        var lo = [Int](repeating: Int.max, count: dims), hi = [Int](repeating: Int.min, count: dims)
        for (grid, offset) in parts {
            for axis in 0..<dims {
                let first = try Checked.add(grid.origin[axis], offset[axis])
                lo[axis] = min(lo[axis], first)
                hi[axis] = max(hi[axis], try Checked.add(first, grid.shape[axis] - 1))
            }
        }
        let shape = try (0..<dims).map { try Checked.add(Checked.sub(hi[$0], lo[$0]), 1) }
        let size = try Checked.product(shape)
        try budget.hold(size)
        var result = JointCounts(origin: lo, shape: shape, counts: [Double](repeating: 0, count: size))
        for (grid, offset) in parts {
            try budget.charge(grid.counts.count)
            result.add(grid, movedBy: offset)
        }
        return result
    }

    /// The outer product of per-dimension profiles.
    static func product(_ factors: [JointCounts], budget: inout PathBudget) throws -> JointCounts {
        let dims = factors.count
        guard !factors.contains(where: { $0.counts.isEmpty }) else { return .empty(dims) }
        let shape = factors.map { $0.shape[0] }
        let size = try Checked.product(shape)
        try budget.hold(size)
        try budget.charge(size)
        var counts = [1.0]
        for factor in factors {
            var next: [Double] = []
            next.reserveCapacity(counts.count * factor.counts.count)
            for c in counts { for f in factor.counts { next.append(c * f) } }
            counts = next
        }
        return JointCounts(origin: factors.map { $0.origin[0] }, shape: shape, counts: counts)
    }
}

/// The work and memory the path counts may take: they are refused (and the coverage reported
/// as not computed) rather than run for minutes.
struct PathBudget {
    /// Element additions over the whole analysis.
    static let workLimit = 200_000_000
    /// Positions of one count array (per dimension, or of the joint box).
    static let sizeLimit = 10_000_000

    var work = 0

    mutating func charge(_ steps: Int) throws {
        work += steps
        guard work <= PathBudget.workLimit else {
            throw FieldError.tooLarge("counting the paths needs more than \(PathBudget.workLimit / 1_000_000)·10^6 steps")
        }
    }

    func hold(_ positions: Int) throws {
        guard positions <= PathBudget.sizeLimit else {
            throw FieldError.tooLarge("the field is too large to count paths through (more than 10^7 positions)")
        }
    }
}

/// Path counts for every output phase: output m (per axis) has the counts of phase
/// `m mod period` moved by `⌊m/period⌋·shift` input positions (as in `FieldBounds`).
/// One axis for a dimension counted on its own, or every dimension jointly.
struct PhasedCounts: Equatable {
    var periods: [Int]
    var shifts: [Int]
    /// Per phase, mixed radix with axis 0 most significant.
    var grids: [JointCounts]

    static func input(dims: Int) -> PhasedCounts {
        PhasedCounts(periods: Array(repeating: 1, count: dims), shifts: Array(repeating: 1, count: dims),
                     grids: [JointCounts(origin: Array(repeating: 0, count: dims), shape: Array(repeating: 1, count: dims), counts: [1])])
    }

    func index(_ phase: [Int]) -> Int {
        var flat = 0
        for axis in periods.indices { flat = flat * periods[axis] + phase[axis] }
        return flat
    }

    static func phase(of flat: Int, periods: [Int]) -> [Int] {
        var rest = flat
        var phase = [Int](repeating: 0, count: periods.count)
        for axis in periods.indices.reversed() {
            phase[axis] = rest % periods[axis]
            rest /= periods[axis]
        }
        return phase
    }

    /// The counts of output `m` and the move that places them.
    func grid(of m: [Int]) throws -> (JointCounts, [Int]) {
        var phase = m, offset = m
        for axis in periods.indices {
            phase[axis] = Modular.residue(m[axis], periods[axis])
            offset[axis] = try Checked.mul(Checked.floorDiv(m[axis], periods[axis]), shifts[axis])
        }
        return (grids[index(phase)], offset)
    }

    static func checkPhases(_ periods: [Int]) throws -> Int {
        let count = try Checked.product(periods)
        guard count <= 1_000_000 else {
            throw FieldError.tooLarge("the field repeats only every \(periods.map(String.init).joined(separator: "x")) outputs; more than 10^6 phases is too many to count paths through")
        }
        return count
    }

    /// The counts after `geometry` along its dimension `dim`, applied to `axis`; nil for a
    /// global layer (every input position).
    func after(_ geometry: LayerGeometry, dim: Int, axis: Int, budget: inout PathBudget) throws -> PhasedCounts? {
        let s = geometry.stride[dim], period = periods[axis], shift = shifts[axis]
        var next = self
        switch geometry.fieldRule {
        case .unchanged: return self
        case .global, .fixed: return nil
        case .window:
            next.periods[axis] = period / Checked.gcd(period, s)
            next.shifts[axis] = try Checked.mul(shift, Checked.mul(s, next.periods[axis]) / period)
        case .transposed, .scale:
            next.periods[axis] = try Checked.mul(period, s)
        }
        let count = try PhasedCounts.checkPhases(next.periods)
        let reads = try (0..<next.periods[axis]).map { try geometry.reads($0, dim: dim) }
        let dims = periods.count
        var held = 0
        next.grids = try (0..<count).map { flat in
            let phase = PhasedCounts.phase(of: flat, periods: next.periods)
            guard let r = reads[phase[axis]] else { return .empty(dims) }
            // The taps' sum spans at least one position per tap: bounded before anything is made
            // (a kernel of 2^62 taps once tried to allocate them all).
            try budget.hold(r.count)
            try budget.charge(r.count)
            var sources: [(JointCounts, [Int])] = []
            sources.reserveCapacity(r.count)
            var from = phase
            var offset = [Int](repeating: 0, count: dims)
            for t in 0..<r.count {
                let i = try Checked.add(r.first, Checked.mul(t, r.step))
                from[axis] = Modular.residue(i, period)
                offset[axis] = try Checked.mul(Checked.floorDiv(i, period), shift)
                sources.append((grids[index(from)], offset))
            }
            let grid = try JointCounts.sum(sources, dims: dims, budget: &budget)
            held += grid.counts.count
            try budget.hold(held)
            return grid
        }
        return next
    }

    /// The counts of a merge: for each output, the sum of the branches' counts.
    static func sum(_ branches: [PhasedCounts], budget: inout PathBudget) throws -> PhasedCounts {
        let dims = branches[0].periods.count
        var periods = branches[0].periods, shifts = branches[0].shifts
        for axis in 0..<dims {
            var period = 1
            for b in branches { period = try Checked.mul(period / Checked.gcd(period, b.periods[axis]), b.periods[axis]) }
            let moves = try branches.map { try Checked.mul($0.shifts[axis], period / $0.periods[axis]) }
            guard Set(moves).count == 1 else {
                throw FieldError.tooLarge("the branches of a merge move through the input at different jumps, so their paths cannot be counted together")
            }
            periods[axis] = period
            shifts[axis] = moves[0]
        }
        let count = try checkPhases(periods)
        var held = 0
        let grids = try (0..<count).map { flat -> JointCounts in
            let phase = PhasedCounts.phase(of: flat, periods: periods)
            let grid = try JointCounts.sum(branches.map { try $0.grid(of: phase) }, dims: dims, budget: &budget)
            held += grid.counts.count
            try budget.hold(held)
            return grid
        }
        return PhasedCounts(periods: periods, shifts: shifts, grids: grids)
    }

    /// Per-dimension counts (one axis each) joined into one joint count.
    static func joint(_ factors: [PhasedCounts], budget: inout PathBudget) throws -> PhasedCounts {
        let periods = factors.map { $0.periods[0] }
        let count = try checkPhases(periods)
        var held = 0
        let grids = try (0..<count).map { flat -> JointCounts in
            let phase = PhasedCounts.phase(of: flat, periods: periods)
            let grid = try JointCounts.product(factors.indices.map { factors[$0].grids[phase[$0]] }, budget: &budget)
            held += grid.counts.count
            try budget.hold(held)
            return grid
        }
        return PhasedCounts(periods: periods, shifts: factors.map { $0.shifts[0] }, grids: grids)
    }
}

/// The paths from one output back to the input (all-ones weights).
public enum FieldPaths: Equatable, Sendable {
    /// A global layer (gap, fc): every input position is reached.
    case whole
    /// One profile per dimension; the count of a position is the product of its profiles'
    /// (every path through the stack spreads the same way along each dimension).
    case separable([PathCounts])
    /// Counted over the joint positions: branches of differing shapes.
    case joint(JointCounts)

    /// Reached positions over the field's positions (1 for the whole input or no field).
    public var coverage: Double {
        switch self {
        case .whole: return 1
        case let .separable(dims): return dims.reduce(1.0) { $0 * $1.coverage }
        case let .joint(grid): return grid.coverage
        }
    }

    /// Per dimension: the profile (separable), or the counts summed over the other
    /// dimensions (joint); nil for the whole input.
    public var perDimension: [PathCounts?]? {
        switch self {
        case .whole: return nil
        case let .separable(dims): return dims
        case let .joint(grid): return grid.shape.indices.map { grid.marginal($0) }
        }
    }
}

/// The path counts of every output of a node, forward through the stack.
enum CountState {
    case whole
    case separable([PhasedCounts])
    case joint(PhasedCounts)

    static func input(dims: Int) -> CountState { .separable(Array(repeating: .input(dims: 1), count: dims)) }

    func after(_ geometry: LayerGeometry, budget: inout PathBudget) throws -> CountState {
        switch self {
        case .whole: return .whole
        case let .separable(dims):
            var next: [PhasedCounts] = []
            for (dim, state) in dims.enumerated() {
                guard let after = try state.after(geometry, dim: dim, axis: 0, budget: &budget) else { return .whole }
                next.append(after)
            }
            return .separable(next)
        case let .joint(state):
            var current = state
            for dim in state.periods.indices {
                guard let after = try current.after(geometry, dim: dim, axis: dim, budget: &budget) else { return .whole }
                current = after
            }
            return .joint(current)
        }
    }

    /// A merge: the counts add up. Still separable when the branches differ along one
    /// dimension at most (then only that profile adds up); joint otherwise.
    static func merge(_ branches: [CountState], budget: inout PathBudget) throws -> CountState {
        var separable: [[PhasedCounts]] = []
        var anyJoint = false
        for branch in branches {
            switch branch {
            case .whole: return .whole
            case let .separable(dims): separable.append(dims)
            case .joint: anyJoint = true
            }
        }
        if !anyJoint {
            let dims = separable[0].count
            let differing = (0..<dims).filter { dim in separable.contains { $0[dim] != separable[0][dim] } }
            if differing.count <= 1 {
                var result = separable[0]
                if let dim = differing.first { result[dim] = try PhasedCounts.sum(separable.map { $0[dim] }, budget: &budget) }
                else if separable.count > 1 {
                    // Identical branches: the counts of one dimension multiply by their number.
                    result[0] = try PhasedCounts.sum(separable.map { $0[0] }, budget: &budget)
                }
                return .separable(result)
            }
        }
        let joints = try branches.map { branch -> PhasedCounts in
            switch branch {
            case let .joint(state): return state
            case let .separable(dims): return try PhasedCounts.joint(dims, budget: &budget)
            case .whole: fatalError("handled above")
            }
        }
        return .joint(try PhasedCounts.sum(joints, budget: &budget))
    }

    /// The counts of output `m` (per dimension), placed.
    ///
    /// - Throws: `FieldError.tooLarge` when a count passed the range of a double (10^308).
    func paths(of m: [Int]) throws -> FieldPaths {
        let paths = try placedPaths(of: m)
        let finite: Bool
        switch paths {
        case .whole: finite = true
        case let .separable(dims): finite = dims.allSatisfy { $0.counts.allSatisfy(\.isFinite) }
        case let .joint(grid): finite = grid.counts.allSatisfy(\.isFinite)
        }
        guard finite else { throw FieldError.tooLarge("more than 10^308 paths lead to one input position, too many to count") }
        return paths
    }

    private func placedPaths(of m: [Int]) throws -> FieldPaths {
        switch self {
        case .whole: return .whole
        case let .separable(dims):
            return .separable(try dims.indices.map { dim in
                let (grid, offset) = try dims[dim].grid(of: [m[dim]])
                guard !grid.counts.isEmpty else { return PathCounts(origin: 0, counts: []) }
                return PathCounts(origin: try Checked.add(grid.origin[0], offset[0]), counts: grid.counts)
            })
        case let .joint(state):
            var (grid, offset) = try state.grid(of: m)
            if !grid.counts.isEmpty { grid.origin = try grid.origin.indices.map { try Checked.add(grid.origin[$0], offset[$0]) } }
            return .joint(grid)
        }
    }

    /// One top-level node's effect on the counts.
    static func step(_ node: StackNode, from state: CountState, chain: [LayerGeometry], budget: inout PathBudget) throws -> CountState {
        try walk([node], from: state, chain: chain, budget: &budget)
    }

    /// The counts after `nodes`, walked forward from `state` (a merge of the whole input stays whole).
    static func walk(_ nodes: [StackNode], from state: CountState, chain: [LayerGeometry], budget: inout PathBudget) throws -> CountState {
        try StackTree.output(nodes, from: state, layer: { index, current in
            try current.after(chain[index], budget: &budget)
        }, merge: { _, input, outcomes in
            if case .whole = input { return .whole }
            return try CountState.merge(outcomes, budget: &budget)
        })
    }
}

extension StackNode {
    /// The last layer index below this node (the layer a merge ends after); nil for a merge
    /// of empty branches.
    public var lastLayerIndex: Int? {
        // Indices grow in the order written: the last branch that holds a layer ends with it.
        StackTree.output([self], from: Int?.none, layer: { index, _ in index },
                         merge: { _, input, outputs in outputs.last { $0 != input } ?? input })
    }
}
