import Foundation
import XCTest
import ConvCalcTestSupport
@testable import ConvCalcCore
@testable import ConvCalcEngine
@testable import ConvCalcText

final class ReceptiveFieldTests: XCTestCase {
    func field(_ tokens: [String], dims: Int = 1, input: [Int]? = nil) throws -> ReceptiveField {
        let stack = try LayerStack(layers: tokens.map { try Layer.parse($0) }, inputSize: nil, inputChannels: nil, dims: dims)
        return try ReceptiveField(stack: stack)
    }

    /// SPEC §7: fields 3, 7, 15 with full coverage.
    func testSpecExample() throws {
        let rf = try field(["conv:k=3", "conv:k=3,d=2", "conv:k=3,d=4"])
        XCTAssertEqual(rf.layers.map { $0.dims[0].size }, [3, 7, 15])
        XCTAssertEqual(rf.layers.map { $0.dims[0].jump }, [.one, .one, .one])
        XCTAssertEqual(rf.layers.map { $0.dims[0].start }, [try Fraction(1), try Fraction(3), try Fraction(7)])
        XCTAssertEqual(rf.coverage, 1)
        XCTAssertEqual(rf.holesFirstAt, [nil])
    }

    /// The gridding problem: three 3×3 convolutions with dilation 2 reach 7 of 13 positions.
    func testGridding() throws {
        let rf = try field(["conv:k=3,d=2", "conv:k=3,d=2", "conv:k=3,d=2"])
        XCTAssertEqual(rf.final[0].size, 13)
        XCTAssertEqual(rf.paths[0]?.reached, 7)
        XCTAssertEqual(rf.paths[0]?.counts, [1, 0, 3, 0, 6, 0, 7, 0, 6, 0, 3, 0, 1])
        XCTAssertEqual(rf.holesFirstAt, [1])
    }

    /// The classic recurrence for window layers: rf' = rf + (ke − 1)·jump, jump' = jump·s,
    /// start' = start + ((ke − 1)/2 − pb)·jump, checked on random stacks.
    func testRecurrenceForWindows() throws {
        var generator = SeededGenerator(seed: testSeed)
        for _ in 0..<300 {
            var tokens: [String] = []
            var (rf, jump) = (1, 1)
            var start = Fraction.zero
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                let k = Int.random(in: 1...6, using: &generator), s = Int.random(in: 1...3, using: &generator)
                let d = Int.random(in: 1...3, using: &generator), p = Int.random(in: 0...3, using: &generator)
                tokens.append("conv:k=\(k),s=\(s),d=\(d),p=\(p)")
                let ke = d * (k - 1) + 1
                rf += (ke - 1) * jump
                start = try start.adding(try Fraction((ke - 1) - 2 * p, 2).multiplied(by: Fraction(jump)))
                jump *= s
            }
            let result = try field(tokens).final[0]
            XCTAssertEqual(result.size, rf, "\(tokens), \(seedNote)")
            XCTAssertEqual(result.jump, try Fraction(jump), "\(tokens), \(seedNote)")
            XCTAssertEqual(result.start, start, "\(tokens), \(seedNote)")
        }
    }

    func testUpsamplingDividesTheJump() throws {
        let rf = try field(["conv:k=3,s=2", "tconv:k=3,s=2,p=1"])
        XCTAssertEqual(rf.final[0].jump, .one)
        let up = try field(["upsample:s=2"])
        XCTAssertEqual(up.final[0].jump, try Fraction(1, 2))
        XCTAssertEqual(up.final[0].size, 1)
        let t = try field(["tconv:k=4,s=2,p=1"])
        XCTAssertEqual(t.final[0].jump, try Fraction(1, 2))
        XCTAssertEqual(t.final[0].size, 2)
        XCTAssertEqual(t.layers[0].dims[0].span, 2)
        // Output 0 reads inputs −1 and 0: centre −1/2.
        XCTAssertEqual(t.final[0].start, try Fraction(-1, 2))
    }

    func testGlobalLayersTakeTheWholeInput() throws {
        let rf = try field(["conv:k=3", "gap"])
        XCTAssertNil(rf.final[0].size)
        XCTAssertNil(rf.final[0].jump)
        XCTAssertEqual(rf.coverage, 1)
    }

    func testTransposedReadsMatchBruteForce() throws {
        for k in 1...5 {
            for s in 1...4 {
                for d in 1...3 {
                    for p in 0...2 {
                        let stack = try LayerStack(layers: [try Layer.parse("tconv:k=\(k),s=\(s),d=\(d),p=\(p)")], inputSize: nil, inputChannels: nil, dims: 1)
                        let geometry = stack.geometry(of: 0)
                        for o in -7...13 {
                            var expected: [Int] = []
                            for i in -20...20 {
                                for t in 0..<k where o + p == i * s + t * d { expected.append(i) }
                            }
                            let reads = try XCTUnwrap(try geometry.reads(o, dim: 0))
                            let got = (0..<reads.count).map { reads.first + $0 * reads.step }
                            XCTAssertEqual(got, expected.sorted(), "k=\(k) s=\(s) d=\(d) p=\(p) o=\(o)")
                        }
                    }
                }
            }
        }
    }

    /// Random stacks whose per-output fields and non-zero counts PyTorch autograd measured
    /// (Tests/fixtures/generate_rf_cases.py).
    func testAgreesWithPyTorchGradients() throws {
        let text = try readFixture("rf_pytorch.tsv")
        var checked = 0
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: "\t").map(String.init)
            guard fields.count == 5, let dims = Int(fields[1]), let first = Int(fields[3]) else {
                XCTFail("malformed fixture line: \(line)")
                continue
            }
            let tokens = fields[0].split(separator: " ").map(String.init)
            let stack = try LayerStack(layers: tokens.map { try Layer.parse($0) }, inputSize: nil, inputChannels: nil, dims: dims)
            let chain = stack.layers.indices.map { stack.geometry(of: $0) }
            let rf = try ReceptiveField(stack: stack)
            var widest = Array(repeating: 0, count: dims)
            for (j, expected) in fields[4].split(separator: " ").enumerated() {
                let traces = try (0..<dims).map { try PathCounts.trace(chain, dim: $0, output: first + j) }
                var got: String
                if traces.contains(where: { $0?.counts.isEmpty ?? true }) {
                    got = "none"
                } else {
                    got = traces.map { "\($0!.origin):\($0!.origin + $0!.counts.count - 1)" }.joined(separator: ",")
                    got += "/\(traces.reduce(1) { $0 * $1!.reached })"
                    for dim in 0..<dims { widest[dim] = max(widest[dim], traces[dim]!.counts.count) }
                }
                XCTAssertEqual(got, String(expected), "\(fields[0]) output \(first + j)")
            }
            // 24 consecutive outputs meet every phase: the widest of them is the field.
            XCTAssertEqual(rf.final.map { $0.size ?? -1 }, widest, "\(fields[0])")
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 200)
    }

    func branched(_ words: String, dims: Int = 2) throws -> (stack: LayerStack, field: ReceptiveField) {
        let parsed = try StackSyntax.parse(words.split(separator: " ").map { StackWord(String($0)) })
        let stack = try LayerStack(layers: parsed.layers, nodes: parsed.nodes, inputSize: nil, inputChannels: nil, dims: dims)
        return (stack, try ReceptiveField(stack: stack))
    }

    /// Issue #13: a branch choice applies to every dimension at once, so coverage and counts
    /// are joint. A dilated 3×3 and a dense 3×3 reach 17 of 25 positions, not all 25.
    func testJointCoverageOfDifferingBranches() throws {
        let (_, rf) = try branched("concat { conv:k=3,d=2,p=2 } { conv:k=3,p=1 }")
        XCTAssertEqual(rf.final.map(\.size), [5, 5])
        guard case let .joint(grid)? = rf.fieldPaths else { return XCTFail("expected joint counts, got \(String(describing: rf.fieldPaths))") }
        XCTAssertEqual(grid.shape, [5, 5])
        XCTAssertEqual(grid.origin, [-2, -2])
        XCTAssertEqual(grid.reached, 17)
        XCTAssertEqual(try XCTUnwrap(rf.coverage), 17.0 / 25.0, accuracy: 1e-12)
        XCTAssertEqual(grid.value(at: [0, 0]), 2)
        XCTAssertEqual(grid.value(at: [-2, -1]), 0)
        XCTAssertEqual(rf.holesFirstAt, [2, 2])
        XCTAssertEqual(rf.holesFirstNode, 0)
    }

    /// A 1×3 and a 3×1 branch make a plus: 5 of 9 positions, at most 2 paths; the single
    /// paths are 1×3 and 3×1 (never 1×1 or 3×3).
    func testPlusShapeFromCrossedBranches() throws {
        let (_, rf) = try branched("add { conv:k=1x3,p=0x1 } { conv:k=3x1,p=1x0 }")
        guard case let .joint(grid)? = rf.fieldPaths else { return XCTFail("expected joint counts") }
        XCTAssertEqual(grid.counts, [0, 1, 0, 1, 2, 1, 0, 1, 0])
        XCTAssertEqual(grid.reached, 5)
        XCTAssertEqual(rf.pathFieldRange?.smallest, [1, 3])
        XCTAssertEqual(rf.pathFieldRange?.largest, [3, 1])
    }

    /// add { k=3,p=1 } { k=1 }: 2 paths at the centre, not 4.
    func testCentreCountOfSkipLikeBranches() throws {
        let (_, rf) = try branched("add { conv:k=3,p=1 } { conv:k=1 }")
        guard case let .joint(grid)? = rf.fieldPaths else { return XCTFail("expected joint counts") }
        XCTAssertEqual(grid.counts, [1, 1, 1, 1, 2, 1, 1, 1, 1])
        XCTAssertEqual(rf.coverage, 1)
    }

    /// 70 merges of two k=1 branches: 2^70 paths (a separable count that adds up along
    /// one dimension only), not 2^140.
    func testIdenticalBranchesCountOnce() throws {
        let (_, rf) = try branched(Array(repeating: "add { conv:k=1 } { conv:k=1 }", count: 70).joined(separator: " "))
        guard case let .separable(dims)? = rf.fieldPaths else { return XCTFail("expected separable counts") }
        XCTAssertEqual(dims[0].counts[0] * dims[1].counts[0], 0x1p70)
        XCTAssertEqual(rf.pathFieldRange?.smallest, [1, 1])
    }

    /// Branches that differ along one dimension only stay separable (and 1-D always is).
    func testBranchesDifferingAlongOneDimensionStaySeparable() throws {
        let (_, rf) = try branched("add { conv:k=1x3,p=0x1 } { conv:k=1,p=0 }")
        guard case let .separable(dims)? = rf.fieldPaths else { return XCTFail("expected separable counts") }
        XCTAssertEqual(dims[0].counts, [1])
        XCTAssertEqual(dims[1].counts, [1, 2, 1])
        let (_, one) = try branched("add { conv:k=3,d=2 } { conv:k=2 } conv:k=3", dims: 1)
        guard case .separable? = one.fieldPaths else { return XCTFail("expected separable counts") }
    }

    /// Linear in the stack: 20,000 layers and 2,000 nested merges take a few seconds even in
    /// a debug build (the old per-prefix re-trace took 43 s for 10,000 layers, released).
    func testLongAndDeepStacksAreLinear() throws {
        let started = Date()
        let long = try LayerStack(layers: Array(repeating: try Layer.parse("conv:k=1"), count: 20_000), inputSize: nil, inputChannels: nil, dims: 2)
        let rf = try ReceptiveField(stack: long)
        XCTAssertEqual(rf.coverage, 1)
        var nodes: [StackNode] = [.layer(0)]
        for _ in 0..<2_000 { nodes = [.merge(.add, [nodes, []])] }
        let deep = try LayerStack(layers: [try Layer.parse("conv:k=3,p=1")], nodes: nodes, inputSize: nil, inputChannels: nil, dims: 2)
        let field = try ReceptiveField(stack: deep)
        guard case let .joint(grid)? = field.fieldPaths else { return XCTFail("expected joint counts") }
        XCTAssertEqual(grid.value(at: [0, 0]), 2_001)
        XCTAssertEqual(grid.value(at: [1, 1]), 1)
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)   // debug builds, shared machines
    }

    /// Random 2-D stacks with add/concat branches of differing shapes: joint path counts of
    /// every output PyTorch autograd measured, and the smallest and largest single paths
    /// (Tests/fixtures/generate_rf_branch_cases.py).
    func testBranchesAgreeWithPyTorchGradients() throws {
        let text = try readFixture("rf_branches_pytorch.tsv")
        let modulus = 1_000_000_007
        var checked = 0, joint = 0
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: "\t").map(String.init)
            let first = fields.count == 6 ? fields[2].split(separator: ",").compactMap { Int($0) } : []
            guard first.count == 2 else {
                XCTFail("malformed fixture line: \(line)")
                continue
            }
            let (stack, rf) = try branched(fields[0])
            let chain = try stack.layers.indices.map { try stack.geometry(of: $0).resolvingPadding(input: nil) }
            var budget = PathBudget()
            let state = try CountState.walk(stack.nodes, from: .input(dims: 2), chain: chain, budget: &budget)
            var widest = [0, 0]
            for (j, expected) in fields[3].split(separator: " ").enumerated() {
                let paths = try state.paths(of: [first[0] + j, first[1] + j])
                // Every counted position as (row, column, count).
                var cells: [(Int, Int, Double)] = []
                switch paths {
                case .whole: XCTFail("\(fields[0]): whole input")
                case let .separable(dims):
                    for (i, a) in dims[0].counts.enumerated() where a > 0 {
                        for (k, b) in dims[1].counts.enumerated() where b > 0 { cells.append((dims[0].origin + i, dims[1].origin + k, a * b)) }
                    }
                case let .joint(grid):
                    for i in 0..<grid.counts.count where grid.counts[i] > 0 {
                        cells.append((grid.origin[0] + i / grid.shape[1], grid.origin[1] + i % grid.shape[1], grid.counts[i]))
                    }
                }
                var got = "none"
                if !cells.isEmpty {
                    let lo0 = cells.map(\.0).min()!, hi0 = cells.map(\.0).max()!
                    let lo1 = cells.map(\.1).min()!, hi1 = cells.map(\.1).max()!
                    var sum = 0.0, most = 0.0, check = 0
                    for (r, c, count) in cells {
                        sum += count
                        most = max(most, count)
                        check = (check + (Int(count) % modulus) * ((r - lo0) * 1009 + (c - lo1) + 1)) % modulus
                    }
                    got = "\(lo0):\(hi0),\(lo1):\(hi1)/\(cells.count)/\(Int(sum))/\(Int(most))/\(check)"
                    widest = [max(widest[0], hi0 - lo0 + 1), max(widest[1], hi1 - lo1 + 1)]
                }
                XCTAssertEqual(got, String(expected), "\(fields[0]) output \(first[0] + j),\(first[1] + j)")
            }
            // The block meets every output phase: its widest field is the stack's.
            XCTAssertEqual(rf.final.map { $0.size ?? -1 }, widest, fields[0])
            let range = rf.pathFieldRange.map { "\($0.smallest[0])x\($0.smallest[1]) \($0.largest[0])x\($0.largest[1])" }
            XCTAssertEqual(range, fields[4] + " " + fields[5], fields[0])
            if case .joint? = rf.fieldPaths { joint += 1 }
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 100)
        XCTAssertGreaterThanOrEqual(joint, 30)
    }

    func testFractions() throws {
        XCTAssertEqual(try Fraction(6, -4).description, "−3/2")
        XCTAssertEqual(try Fraction(4, 2).description, "2")
        XCTAssertEqual(try Fraction(1, 2).adding(Fraction(1, 3)), try Fraction(5, 6))
        XCTAssertTrue(try Fraction(1, 3) < Fraction(1, 2))
        XCTAssertThrowsError(try Fraction(Int.max, 1).adding(Fraction(1)))
    }
}
