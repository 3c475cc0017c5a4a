/// A dilation sequence for a chain of windows, with its field and how much of it is reached.
public struct DilationDesign: Equatable, Sendable {
    /// One dilation per layer of the chain.
    public var dilations: [Int]
    /// Reached positions over the field's (convcalc's path count, all-ones weights).
    public var coverage: Double
    /// The hybrid dilated convolution rule's M₂ (Wang et al. 2018), when every layer has the
    /// same kernel K and stride 1: the sequence passes the rule when M₂ ≤ K.
    public var hdcM2: Int?
    /// The common factor above 1 of the dilations, when they share one.
    public var commonFactor: Int?
}

/// Dilations for a chain of windows that reach a wanted receptive field, found by trying every
/// sequence within `largest` whose field is the target and counting its paths.
///
/// Field: `rf = 1 + Σ (kᵢ − 1)·dᵢ·Jᵢ`, `Jᵢ` the product of the strides before layer i. A
/// position of the field is reached when some path leads to it: the path counts are the
/// product of the polynomials `Σ_{t<kᵢ} x^{t·dᵢ·Jᵢ}` (`Tests/fixtures/draw_notes.md` R12).
/// HDC (Wang et al., "Understanding Convolution for Semantic Segmentation", WACV 2018):
/// `Mₙ = rₙ`, `Mᵢ = max(Mᵢ₊₁ − 2rᵢ, Mᵢ₊₁ − 2(Mᵢ₊₁ − rᵢ), rᵢ)`, and no gaps when `M₂ ≤ K`.
public enum DilationSolver {
    /// The largest dilation tried.
    public static let largest = 32
    /// The most sequences counted; a search that would count more is refused.
    public static let searchLimit = 50_000

    public enum Failure: Error, Equatable {
        case tooMany(Int)
    }

    /// Every sequence (fixed layers keep `fixed[i]`, others take 1 … `largest`) whose field
    /// is `target`, with its coverage.
    /// - Throws: `Failure.tooMany` past `searchLimit` sequences.
    public static func designs(kernels: [Int], strides: [Int], fixed: [Int?], target: Int) throws -> [DilationDesign] {
        var jumps: [Int] = []
        var jump = 1
        for s in strides {
            jumps.append(jump)
            jump = jump.multipliedReportingOverflow(by: s).overflow ? Int.max / 2 : jump * s
        }
        var found: [DilationDesign] = []
        var sequence: [Int] = []
        var counted = 0
        var memo: [[Int]: Int] = [:]
        /// Layer `layer`'s dilations that fit in `remaining`, with the field each adds: the
        /// given one, or 1 … `largest` (a 1-wide window is the same for every dilation: 1
        /// stands for them all).
        func moves(_ layer: Int, _ remaining: Int) -> [(d: Int, used: Int)] {
            let (step, overflow) = (kernels[layer] - 1).multipliedReportingOverflow(by: jumps[layer])
            guard !overflow else { return [] }
            var result: [(d: Int, used: Int)] = []
            for d in fixed[layer].map({ [$0] }) ?? (kernels[layer] == 1 ? [1] : Array(1...largest)) {
                let (used, past) = step.multipliedReportingOverflow(by: d)
                guard !past, used <= remaining else { break }
                result.append((d, used))
            }
            return result
        }
        // Counted first (a sum over layers, memoised), so a search too large is refused at once.
        func count(_ layer: Int, _ remaining: Int) -> Int {
            if layer == kernels.count { return remaining == 0 ? 1 : 0 }
            if let known = memo[[layer, remaining]] { return known }
            let total = moves(layer, remaining).reduce(0) { min($0 + count(layer + 1, remaining - $1.used), searchLimit + 1) }
            memo[[layer, remaining]] = total
            return total
        }
        func extend(_ layer: Int, remaining: Int) throws {
            if layer == kernels.count {
                guard remaining == 0 else { return }
                counted += 1
                if counted > searchLimit { throw Failure.tooMany(searchLimit) }
                found.append(design(sequence, kernels: kernels, jumps: jumps))
                return
            }
            // Only prefixes that some completion reaches: the search follows the answers.
            for (d, used) in moves(layer, remaining) where count(layer + 1, remaining - used) > 0 {
                sequence.append(d)
                try extend(layer + 1, remaining: remaining - used)
                sequence.removeLast()
            }
        }
        guard target >= 1 else { return [] }
        if count(0, target - 1) > searchLimit { throw Failure.tooMany(searchLimit) }
        try extend(0, remaining: target - 1)
        return found
    }

    static func design(_ dilations: [Int], kernels: [Int], jumps: [Int]) -> DilationDesign {
        // Path counts, only whether they are zero: a product of sparse polynomials.
        var reached: [Bool] = [true]
        for (i, d) in dilations.enumerated() {
            let gap = d * jumps[i]
            var next = [Bool](repeating: false, count: reached.count + (kernels[i] - 1) * gap)
            for (position, hit) in reached.enumerated() where hit {
                for t in 0..<kernels[i] { next[position + t * gap] = true }
            }
            reached = next
        }
        let coverage = Double(reached.filter { $0 }.count) / Double(reached.count)
        let factor = dilations.filter { $0 > 1 }.reduce(0) { Checked.gcd($0, $1) }
        let sameKernel = Set(kernels).count == 1 && jumps.allSatisfy { $0 == 1 }
        return DilationDesign(dilations: dilations, coverage: coverage, hdcM2: sameKernel && dilations.count > 1 ? hdcM2(dilations) : nil,
                              commonFactor: dilations.filter({ $0 > 1 }).count > 1 && factor > 1 ? factor : nil)
    }

    /// M₂ of the HDC rule (M₁ for one layer).
    static func hdcM2(_ r: [Int]) -> Int {
        var m = r[r.count - 1]
        var i = r.count - 2
        while i >= 1 {
            m = max(m - 2 * r[i], m - 2 * (m - r[i]), r[i])
            i -= 1
        }
        return m
    }
}
