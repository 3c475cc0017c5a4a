import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// The working of a size computation written out for students: the textbook formula,
/// then the same formula with the numbers substituted, then the result.
enum ShapeWorking {
    /// Integers with a true minus sign.
    static func num(_ n: Int) -> String { n < 0 ? "−\(n.magnitude)" : "\(n)" }

    /// `ke = d·(k − 1) + 1 = 2·(3 − 1) + 1 = 5`, or nil when there is no dilation to explain.
    static func effectiveKernel(_ step: DimensionStep) -> String? {
        guard step.rule == .window || step.rule == .transposed, step.dilation != 1 else { return nil }
        return "ke = d·(k − 1) + 1 = \(step.dilation)·(\(step.kernel) − 1) + 1 = \(step.effectiveKernel)"
    }

    /// How a named padding was resolved, e.g. for `same` and `full`.
    static func paddingRule(_ padding: Padding, _ step: DimensionStep, type: LayerType) -> String? {
        let pad = step.pad
        switch padding {
        case .same where step.rule == .transposed:
            return "same (Keras): total padding max(ke − s, 0) = \(pad.before + pad.after), op = max(s − ke, 0) = \(step.outputPadding) → pb = \(pad.before), pa = \(pad.after)"
        case .same where step.rule == .window:
            let out = Checked.ceilDiv(step.input, step.stride)
            return "same: total padding max((⌈in/s⌉ − 1)·s + ke − in, 0) = max((\(out) − 1)·\(step.stride) + \(step.effectiveKernel) − \(step.input), 0) = \(pad.before + pad.after) → pb = \(pad.before), pa = \(pad.after)"
        case .full where step.rule == .window:
            return "full: pb = pa = ke − 1 = \(pad.before)"
        default:
            return nil
        }
    }

    /// The output size's working for a numeric input.
    static func output(_ step: DimensionStep, type: LayerType) -> String {
        let s = step.stride, pb = step.pad.before, pa = step.pad.after, ke = step.effectiveKernel
        switch step.rule {
        case .unchanged:
            return "out = in = \(step.output)"
        case .global:
            return "out = 1 (\(type == .fc ? "fully connected" : type == .flatten ? "flattened into channels" : "global pooling"))"
        case .fixed:
            return "out = \(step.output) (\(type == .crop ? "centre crop" : "adaptive pooling") to out=\(step.output))"
        case .scale:
            let factor = type == .pixelshuffle ? "r" : "s"
            return "out = in·\(factor) = \(step.input)·\(s) = \(step.output)"
        case .transposed:
            return "out = (in − 1)·s − pb − pa + ke + op = (\(step.input) − 1)·\(s) − \(pb) − \(pa) + \(ke) + \(step.outputPadding) = \(step.output)"
        case .window:
            let span = step.input + pb + pa - ke
            let substituted = "(\(step.input) + \(pb) + \(pa) − \(ke))/\(s)"
            if step.ceilMode {
                let raw = Checked.ceilDiv(span, s) + 1
                var text = "out = ⌈(in + pb + pa − ke)/s⌉ + 1 = ⌈\(substituted)⌉ + 1 = ⌈\(num(span))/\(s)⌉ + 1 = \(raw)"
                if step.ceilDropped {
                    text += "; the last window would start in the right padding ((\(raw) − 1)·\(s) = \((raw - 1) * s) ≥ in + pb = \(step.input + pb)), so PyTorch drops it: \(step.output)"
                }
                return text
            }
            if s == 1 {
                return "out = (in + pb + pa − ke)/s + 1 = \(substituted) + 1 = \(num(span)) + 1 = \(step.output)"
            }
            return "out = ⌊(in + pb + pa − ke)/s⌋ + 1 = ⌊\(substituted)⌋ + 1 = ⌊\(num(span))/\(s)⌋ + 1 = \(step.output)"
        }
    }

    /// The output size as a formula of `in` with this layer's numbers substituted,
    /// ending in the simplified formula.
    static func symbolic(_ geometry: LayerGeometry, dim: Int) throws -> String {
        let s = geometry.stride[dim]
        guard let layerFormula = try geometry.formula(dim) else {
            return "out = ⌈in/s⌉ = ⌈in/\(s)⌉ with p=same, then the ceil-mode rule (no closed form)"
        }
        let simplified = layerFormula.formula.render(variable: "in")
        let ke = try geometry.effectiveKernel(dim)
        switch geometry.rule {
        case .unchanged, .global, .fixed:
            return "out = \(simplified)"
        case .scale:
            return "out = in·\(geometry.type == .pixelshuffle ? "r" : "s") = \(simplified)"
        case .transposed:
            if geometry.padding == .same { return "out = in·s = \(simplified)  (p=same, Keras)" }
            let pad = try geometry.padPair(dim, input: 1)
            return "out = (in − 1)·s − pb − pa + ke + op = (in − 1)·\(s) − \(pad.before) − \(pad.after) + \(ke) + \(geometry.outputPadding[dim]) = \(simplified)"
        case .window:
            if geometry.padding == .same { return "out = ⌈in/s⌉ = \(simplified)  (p=same)" }
            let pad = try geometry.padPair(dim, input: 1)
            let substituted = "(in + \(pad.before) + \(pad.after) − \(ke))/\(s)"
            if geometry.ceilMode {
                var text = "out = ⌈(in + pb + pa − ke)/s⌉ + 1 = ⌈\(substituted)⌉ + 1 = \(simplified)"
                if layerFormula.mayDropLastWindow {
                    text += ", minus 1 when the last window would start in the right padding ((out − 1)·s ≥ in + pb)"
                }
                return text
            }
            if s == 1 { return "out = (in + pb + pa − ke)/s + 1 = \(substituted) + 1 = \(simplified)" }
            return "out = ⌊(in + pb + pa − ke)/s⌋ + 1 = ⌊\(substituted)⌋ + 1 = \(simplified)"
        }
    }

    /// The padding that keeps the size (stride 1), gives ⌈in/s⌉ (stride > 1) or s·in (tconv),
    /// as `PaddingSolver.keeping` finds it.
    static func keepingPadding(_ geometry: LayerGeometry, dim: Int) throws -> String? {
        guard let keeping = try PaddingSolver.keeping(geometry, dim: dim) else { return nil }
        switch keeping {
        case let .strided(s, sameTotal):
            return "no padding keeps the size at stride \(s); p=same gives out = ⌈in/\(s)⌉ (total padding ke − s = \(sameTotal) when s divides in\(sameTotal < 0 ? ", else less" : ""))"
        case let .window(pad, poolLimit):
            var text = pad.isSymmetric
                ? "p=\(pad.before) keeps out = in"
                : "only asymmetric padding keeps out = in: p=\(pad.before):\(pad.after) (total \(pad.before + pad.after); p=same puts the extra one after, as TensorFlow and PyTorch do)"
            if let poolLimit { text += ", beyond PyTorch's pool limit ⌊k/2⌋ = \(poolLimit)" }
            return text
        case let .transposedOutputPadding(op, s):
            return "p=0 with op=\(op) \(transposedTarget(s))"
        case let .transposed(pad, s, alternative):
            guard let alternative else { return "p=\(pad.before) \(transposedTarget(s))" }
            return "only asymmetric padding \(transposedTarget(s)): p=\(pad.before):\(pad.after) (or op=\(alternative) with p=\(pad.after) when op < max(s, d) allows)"
        }
    }

    /// What size-keeping padding achieves for a tconv of stride `s`.
    static func transposedTarget(_ s: Int) -> String { s == 1 ? "keeps out = in" : "gives out = \(s)·in" }
}
