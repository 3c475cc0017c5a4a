import XCTest
@testable import ConvCalcCore
import ConvCalcTestSupport

/// `shape --solve` checked by brute force: PyTorch's output formulas written out again here,
/// tried over the same bounds, must give exactly the solver's solutions (none missed, none
/// wrong), for random layers and random sets of unknowns.
final class LayerSolverTests: XCTestCase {
    /// PyTorch's output size along one dimension, or nil when there is none (or the layer
    /// breaks one of PyTorch's rules).
    static func pytorchOutput(_ type: LayerType, n: Int, k: Int, s: Int, pb: Int, pa: Int, d: Int, op: Int, ceil: Bool) -> Int? {
        let ke = d * (k - 1) + 1
        switch type {
        case .tconv:
            guard op < max(s, d) else { return nil }
            let out = (n - 1) * s - pb - pa + ke + op
            return out >= 1 ? out : nil
        case .maxpool, .avgpool:
            guard max(pb, pa) <= k / 2 else { return nil }
            let span = n + pb + pa - ke
            guard ceil else { return span < 0 ? nil : span / s + 1 }
            var out = (span >= 0 ? (span + s - 1) / s : -(-span / s)) + 1
            if out > 1, (out - 1) * s >= n + pb { out -= 1 }
            return out >= 1 ? out : nil
        default:
            let span = n + pb + pa - ke
            return span < 0 ? nil : span / s + 1
        }
    }

    struct Key: Hashable { var k, s, pb, pa, d, op: Int }

    func testSolutionsAreExactlyThoseOfABruteForce() throws {
        var g = SeededGenerator(seed: testSeed)
        for _ in 0..<(longTests ? 400 : 60) {
            let type = [LayerType.conv, .maxpool, .avgpool, .tconv].randomElement(using: &g)!
            var keys: [SolveKey] = [.k, .s, .p] + (type == .avgpool ? [] : [.d]) + (type == .tconv ? [.op] : [])
            keys.shuffle(using: &g)
            let unknowns = Set(keys.prefix(Int.random(in: 1...min(3, keys.count), using: &g)))
            let k = Int.random(in: 1...5, using: &g), s = Int.random(in: 1...3, using: &g), d = type == .avgpool ? 1 : Int.random(in: 1...2, using: &g)
            let p = Int.random(in: 0...(type.isPool ? k / 2 : 2), using: &g)
            let ceil = type.isPool && Bool.random(using: &g)
            var token = "\(type.rawValue):k=\(k),s=\(s),p=\(p)" + (d > 1 ? ",d=\(d)" : "") + (ceil ? ",ceil=1" : "")
            if type == .tconv, s > 1 { token += ",op=1" }
            let layer = try Layer.parse(token)
            let n = Int.random(in: 1...40, using: &g), target = Int.random(in: 1...40, using: &g)
            let solved = LayerSolver.solve(layer, dims: 1, dim: 0, unknowns: unknowns, input: n, target: target)
            let got = Set(solved.map { Key(k: $0.kernel, s: $0.stride, pb: $0.pad.before, pa: $0.pad.after, d: $0.dilation, op: $0.outputPadding) })
            var expected = Set<Key>()
            for kk in unknowns.contains(.k) ? Array(SolveBounds.kernel) : [k] {
                for dd in unknowns.contains(.d) ? Array(SolveBounds.dilation) : [d] {
                    let ke = dd * (kk - 1) + 1
                    for ss in unknowns.contains(.s) ? Array(SolveBounds.stride) : [s] {
                        let pads = unknowns.contains(.p) ? (0...(ke - 1)).flatMap { $0 + 1 < ke ? [($0, $0), ($0, $0 + 1)] : [($0, $0)] } : [(p, p)]
                        for (pb, pa) in pads {
                            for oo in unknowns.contains(.op) ? Array(0..<max(ss, dd)) : [type == .tconv && s > 1 ? 1 : 0] {
                                if Self.pytorchOutput(type, n: n, k: kk, s: ss, pb: pb, pa: pa, d: dd, op: oo, ceil: ceil) == target {
                                    expected.insert(Key(k: kk, s: ss, pb: pb, pa: pa, d: dd, op: oo))
                                }
                            }
                        }
                    }
                }
            }
            XCTAssertEqual(got, expected, "\(token) unknowns \(unknowns.map(\.rawValue).sorted()) in \(n) out \(target) \(seedNote)")
            XCTAssertEqual(got.count, solved.count, "no solution twice")
        }
    }

    /// The classic questions: AlexNet's first layer wants 227 without padding (224 with p=2);
    /// a k=3, s=2, p=1 conv maps 111 and 112 to 56; the convs that map 224 to 112 start with
    /// the 1×1 and 2×2 strided ones.
    func testClassicQuestions() throws {
        let alex = try Layer.parse("conv:k=11,s=4")
        let geometry = LayerGeometry(layer: alex, dims: 1)
        XCTAssertEqual(try LayerSolver.inputs(target: 55, through: [{ try? geometry.step(0, input: $0).output }]), [227...230])
        let padded = LayerGeometry(layer: try Layer.parse("conv:k=11,s=4,p=2"), dims: 1)
        XCTAssertEqual(try LayerSolver.inputs(target: 55, through: [{ try? padded.step(0, input: $0).output }]), [223...226])
        let half = LayerGeometry(layer: try Layer.parse("conv:k=3,s=2,p=1"), dims: 1)
        XCTAssertEqual(try LayerSolver.inputs(target: 56, through: [{ try? half.step(0, input: $0).output }]), [111...112])
        let convs = LayerSolver.solve(try Layer.parse("conv:k=1"), dims: 1, dim: 0, unknowns: [.k, .s, .p], input: 224, target: 112)
        XCTAssertEqual(convs.prefix(3).map { "\($0.kernel) \($0.stride) \($0.pad)" }, ["1 2 0", "2 2 0", "2 2 0:1"])
        XCTAssertTrue(convs.contains { $0.kernel == 7 && $0.stride == 2 && $0.pad == PadPair(3, 3) })   // ResNet's stem
    }

    /// Solving for in through a chain, inputs followed as groups of equal size, gives exactly
    /// the inputs that composing the layers input by input gives: monotone maps (strides,
    /// padding), maps defined on multiples only (pixel unshuffle), constant ones (adaptive
    /// pools) and maps that reorder sizes; past the work limit, an error.
    func testSolvingForInputThroughGroupsEqualsEveryInput() throws {
        var generator = SeededGenerator(seed: testSeed &+ 17)
        let kinds: [(Int) -> (Int) -> Int?] = [
            { a in { n in n - a > 0 ? (n - a - 1) / 2 + 1 : nil } },     // conv k = a + 1, s = 2
            { a in { n in n % (a + 1) == 0 ? n / (a + 1) : nil } },       // pixel unshuffle
            { a in { n in n >= a ? a + 1 : nil } },                       // adaptive pool to a + 1
            { a in { n in (n * 7 + a) % 50 + 1 } },                       // sizes reordered
            { a in { n in n + a } },                                      // tconv, padding
        ]
        for trial in 0..<40 {
            let layers = (0..<Int.random(in: 1...4, using: &generator)).map { _ in
                kinds.randomElement(using: &generator)!(Int.random(in: 0...3, using: &generator))
            }
            let target = Int.random(in: 1...60, using: &generator)
            var expected: [ClosedRange<Int>] = []
            for n in SolveBounds.input {
                var size: Int? = n
                for layer in layers { size = size.flatMap(layer) }
                guard size == target else { continue }
                if let last = expected.last, last.upperBound == n - 1 { expected[expected.count - 1] = last.lowerBound...n } else { expected.append(n...n) }
            }
            XCTAssertEqual(try LayerSolver.inputs(target: target, through: layers), expected, "trial \(trial), \(seedNote)")
        }
        let identity: (Int) -> Int? = { $0 }
        XCTAssertThrowsError(try LayerSolver.inputs(target: 3, through: [identity, identity], workLimit: SolveBounds.input.count + 1))
        XCTAssertEqual(try LayerSolver.inputs(target: 3, through: [identity, identity], workLimit: 2 * SolveBounds.input.count), [3...3])
    }
}
