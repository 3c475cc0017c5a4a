/// An output size as a formula of the input size: `out = ⌊(p·in + a)/b⌋ + c`.
///
/// Every size rule is of this form: a convolution or pool is `⌊(in + P − ke)/s⌋ + 1`,
/// `same` padding is `⌊(in + s − 1)/s⌋ = ⌈in/s⌉`, a transposed convolution
/// `s·in − s − P + ke + op`, upsampling `s·in`. Two such formulas compose into one when
/// the outer has `p = 1` or the inner has `b = 1`, using ⌊(⌊x/m⌋ + n)/q⌋ = ⌊(x + m·n)/(m·q)⌋
/// for integers n and positive m, q (Graham, Knuth, Patashnik, *Concrete Mathematics* §3.2).
public struct SizeFormula: Equatable, Sendable, CustomStringConvertible {
    public var p: Int
    public var a: Int
    public var b: Int
    public var c: Int
    /// Print as `⌈(p·in + a − b + 1)/b⌉ + c` (how pools in ceil mode are taught).
    public var ceilStyle = false

    public init(p: Int, a: Int, b: Int, c: Int, ceilStyle: Bool = false) {
        self.p = p
        self.a = a
        self.b = b
        self.c = c
        self.ceilStyle = ceilStyle
    }

    /// The identity, `out = in`.
    public static let identity = SizeFormula(p: 1, a: 0, b: 1, c: 0)

    /// `self` applied after `inner`, or `nil` when it does not reduce to one formula
    /// (an upsampling after a strided layer) or a coefficient overflows. A constant formula
    /// (`p = 0`: gap, fc) composes with anything.
    public func after(_ inner: SizeFormula) -> SizeFormula? {
        do {
            // A constant (after gap or fc) ignores what came before; a layer after a constant is one.
            if p == 0 { return SizeFormula(p: 0, a: a, b: b, c: c) }
            if inner.p == 0 {
                guard let size = inner.evaluate(0), let value = evaluate(size) else { return nil }
                return SizeFormula(p: 0, a: 0, b: 1, c: value)
            }
            if p == 1 {
                // ⌊(⌊(p₁·in + a₁)/b₁⌋ + c₁ + a)/b⌋ + c = ⌊(p₁·in + a₁ + b₁·(c₁ + a))/(b₁·b)⌋ + c
                let shift = try Checked.mul(inner.b, Checked.add(inner.c, a))
                return SizeFormula(p: inner.p, a: try Checked.add(inner.a, shift), b: try Checked.mul(inner.b, b), c: c)
            }
            if inner.b == 1 {
                // ⌊(p·(p₁·in + a₁ + c₁) + a)/b⌋ + c
                let constant = try Checked.add(Checked.mul(p, Checked.add(inner.a, inner.c)), a)
                return SizeFormula(p: try Checked.mul(p, inner.p), a: constant, b: b, c: c)
            }
        } catch {}
        return nil
    }

    /// The value for a given input (nil on overflow).
    public func evaluate(_ input: Int) -> Int? {
        guard let x = try? Checked.add(Checked.mul(p, input), a) else { return nil }
        return try? Checked.add(Checked.floorDiv(x, b), c)
    }

    public var description: String { render(variable: "in") }

    /// The formula as text, e.g. `in − 4`, `⌊(in − 3)/2⌋ + 1`, `⌈in/2⌉`, `2·in`.
    public func render(variable: String) -> String {
        if b == 1 || (p % b == 0 && a % b == 0) {
            return SizeFormula.linear(p / b, variable, a / b + c)
        }
        if ceilStyle || (p == 1 && a == b - 1) {
            let inner = SizeFormula.linear(p, variable, a - b + 1)
            let body = inner == variable ? "⌈\(variable)/\(b)⌉" : "⌈(\(inner))/\(b)⌉"
            return SizeFormula.withConstant(body, c)
        }
        let inner = SizeFormula.linear(p, variable, a)
        let body = inner == variable ? "⌊\(variable)/\(b)⌋" : "⌊(\(inner))/\(b)⌋"
        return SizeFormula.withConstant(body, c)
    }

    static func linear(_ p: Int, _ variable: String, _ constant: Int) -> String {
        if p == 0 { return "\(constant)" }
        return withConstant(p == 1 ? variable : "\(p)·\(variable)", constant)
    }

    static func withConstant(_ text: String, _ constant: Int) -> String {
        if constant == 0 { return text }
        return constant > 0 ? "\(text) + \(constant)" : "\(text) − \(constant.magnitude)"
    }
}

/// A layer's size formula along one dimension, and whether it holds for every input.
public struct LayerFormula: Sendable {
    public var formula: SizeFormula
    /// Ceil-mode pools drop the last window when it would start in the right padding;
    /// when that can happen the formula gives one too many for some inputs.
    public var mayDropLastWindow: Bool
}

extension LayerGeometry {
    /// The output size along `dim` as a formula of the input size.
    ///
    /// Returns `nil` for `same` padding on a window layer when ceil mode is on (no closed form).
    public func formula(_ dim: Int) throws -> LayerFormula? {
        let s = stride[dim]
        switch rule {
        case .unchanged: return LayerFormula(formula: .identity, mayDropLastWindow: false)
        case .global: return LayerFormula(formula: SizeFormula(p: 0, a: 0, b: 1, c: 1), mayDropLastWindow: false)
        case .fixed: return LayerFormula(formula: SizeFormula(p: 0, a: 0, b: 1, c: fixedOutput[dim]), mayDropLastWindow: false)
        case .scale: return LayerFormula(formula: SizeFormula(p: s, a: 0, b: 1, c: 0), mayDropLastWindow: false)
        case .transposed:
            if padding == .same { return LayerFormula(formula: SizeFormula(p: s, a: 0, b: 1, c: 0), mayDropLastWindow: false) }
            let pad = try padPair(dim, input: 1)
            let ke = try effectiveKernel(dim)
            // (in − 1)·s − P + ke + op = s·in + (ke + op − s − P)
            let constant = try Checked.sub(Checked.add(ke, outputPadding[dim]), Checked.add(s, Checked.add(pad.before, pad.after)))
            return LayerFormula(formula: SizeFormula(p: s, a: constant, b: 1, c: 0), mayDropLastWindow: false)
        case .window:
            if padding == .same {
                if ceilMode { return nil }
                return LayerFormula(formula: SizeFormula(p: 1, a: s - 1, b: s, c: 0), mayDropLastWindow: false)
            }
            let pad = try padPair(dim, input: 1)
            let ke = try effectiveKernel(dim)
            let span = try Checked.sub(Checked.add(pad.before, pad.after), ke)
            if ceilMode {
                // ⌈(in + P − ke)/s⌉ + 1; a drop is possible only when pa + s − 1 ≥ ke.
                let a = try Checked.add(span, s - 1)
                let drop = try Checked.add(pad.after, s - 1) >= ke
                return LayerFormula(formula: SizeFormula(p: 1, a: a, b: s, c: 1, ceilStyle: true), mayDropLastWindow: drop)
            }
            return LayerFormula(formula: SizeFormula(p: 1, a: span, b: s, c: 1), mayDropLastWindow: false)
        }
    }
}

extension LayerStack {
    /// The whole stack's output along `dim` as one formula of the input, when it reduces to one
    /// (through a merge only when all its branches have the same formula).
    public func composedFormula(_ dim: Int) -> SizeFormula? {
        let composed = StackTree.output(nodes, from: SizeFormula?.some(.identity), layer: { index, total in
            guard let total, let layerFormula = try? geometry(of: index).formula(dim),
                  !layerFormula.mayDropLastWindow else { return nil }
            return layerFormula.formula.after(total)
        }, merge: { _, _, results in LayerStack.agreed(results) })
        guard var result = composed else { return nil }
        result.ceilStyle = false
        return result
    }

    /// The output size along `dim` for an input of `n`, through every branch; nil when some
    /// layer's output would be below 1 or the branches of a merge disagree.
    public func output(_ dim: Int, input n: Int) -> Int? {
        StackTree.output(nodes, from: Int?.some(n), layer: { index, current in
            current.flatMap { try? geometry(of: index).step(dim, input: $0).output }
        }, merge: { _, _, outputs in LayerStack.agreed(outputs) })
    }

    /// The branches' common result, or nil when one is nil or they differ.
    static func agreed<T: Equatable>(_ results: [T?]) -> T? {
        guard let first = results.first ?? nil, results.allSatisfy({ $0 == first }) else { return nil }
        return first
    }

    /// The smallest input size along `dim` for which every layer's output is at least 1
    /// (sizes never shrink as the input grows, so a binary search finds it).
    public func minimumInput(_ dim: Int) -> Int? {
        LayerGeometry.smallest { self.output(dim, input: $0) != nil }
    }
}

extension LayerGeometry {
    /// The smallest input size along `dim` for which every layer of `chain` gives an output of
    /// at least 1, or `nil` if even 2⁴⁰ does not suffice.
    ///
    /// Sizes never shrink as the input grows, so a binary search finds it.
    public static func minimumInput(_ chain: [LayerGeometry], dim: Int) -> Int? {
        smallest { n in
            var current = n
            for geometry in chain {
                guard let step = try? geometry.step(dim, input: current) else { return false }
                current = step.output
            }
            return true
        }
    }

    /// The smallest n in 1...2⁴⁰ for which the monotone predicate holds, or nil.
    static func smallest(_ works: (Int) -> Bool) -> Int? {
        var high = 1 << 40
        guard works(high) else { return nil }
        var low = 1
        if works(low) { return low }
        while high - low > 1 {
            let mid = low + (high - low) / 2
            if works(mid) { high = mid } else { low = mid }
        }
        return high
    }
}
