import XCTest
@testable import ConvCalcCore

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
        var generator = SystemRandomNumberGenerator()
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
            XCTAssertEqual(result.size, rf, "\(tokens)")
            XCTAssertEqual(result.jump, try Fraction(jump), "\(tokens)")
            XCTAssertEqual(result.start, start, "\(tokens)")
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

    func testFractions() throws {
        XCTAssertEqual(try Fraction(6, -4).description, "−3/2")
        XCTAssertEqual(try Fraction(4, 2).description, "2")
        XCTAssertEqual(try Fraction(1, 2).adding(Fraction(1, 3)), try Fraction(5, 6))
        XCTAssertTrue(try Fraction(1, 3) < Fraction(1, 2))
        XCTAssertThrowsError(try Fraction(Int.max, 1).adding(Fraction(1)))
    }
}
