import XCTest
@testable import ConvCalcCore

/// The one fold over the stack tree, and the reports built on it.
final class StackTreeTests: XCTestCase {
    /// `conv add { conv add { conv } { } } { conv } conv`, layers 0…4 in the order written.
    let nested: [StackNode] = [
        .layer(0),
        .merge(.add, [[.layer(1), .merge(.concat, [[.layer(2)], []])], [.layer(3)]]),
        .layer(4),
    ]

    func testFoldVisitsEveryNodeOnceInOrder() {
        var visits: [String] = []
        let folded = StackTree.fold(nested, from: 0, layer: { index, depth -> (String, Int) in
            visits.append("L\(index)")
            return ("layer \(index)", depth)
        }, merge: { kind, input, outputs -> (String, Int) in
            visits.append("\(kind.name) from \(input) of \(outputs.count)")
            return (kind.name, input)
        })
        XCTAssertEqual(visits, ["L0", "L1", "L2", "concat from 0 of 2", "L3", "add from 0 of 2", "L4"])
        XCTAssertEqual(StackTree.layerValues(folded.results), (0...4).map { "layer \($0)" })
        XCTAssertEqual(StackTree.mergeValues(folded.results), ["add", "concat"])   // as written: add before concat
        // The result tree keeps the nesting: the add holds two branches, the first ending in the concat.
        guard case let .merge(.add, _, branches) = folded.results[1] else { return XCTFail("expected the add") }
        XCTAssertEqual(branches.map(\.count), [2, 1])
        guard case let .merge(.concat, _, inner) = branches[0][1] else { return XCTFail("expected the concat") }
        XCTAssertEqual(inner.map(\.count), [1, 0])
    }

    func testFoldThreadsStateThroughBranches() {
        // Each layer adds its index + 1; a merge sums its branches.
        let total = StackTree.output(nested, from: 0, layer: { index, sum in sum + index + 1 },
                                     merge: { _, _, outputs in outputs.reduce(0, +) })
        // 1 → branch A: 1 + 2 = 3, concat(3 + 3, 3) = 9; branch B: 1 + 4 = 5; add: 14; + 5 = 19.
        XCTAssertEqual(total, 19)
    }

    func testReduceGivesDepth() {
        let results = StackTree.fold(nested, from: (), layer: { index, _ in (index, ()) }, merge: { _, _, _ in ((), ()) }).results
        let lines = StackTree.reduce(results, layer: { index, _, depth in ["\(depth):L\(index)"] }, merge: { kind, _, branches, depth in
            ["\(depth):\(kind.name)"] + branches.flatMap { $0.flatMap { $0 } }
        }).flatMap { $0 }
        XCTAssertEqual(lines, ["0:L0", "0:add", "1:L1", "1:concat", "2:L2", "1:L3", "0:L4"])
    }

    func testLastLayerIndexAndLayerIndices() {
        XCTAssertEqual(nested[1].lastLayerIndex, 3)
        XCTAssertEqual(nested[1].layerIndices, [1, 2, 3])
        XCTAssertNil(StackNode.merge(.add, [[], []]).lastLayerIndex)
        XCTAssertEqual(StackNode.merge(.add, [[.layer(7)], []]).lastLayerIndex, 7)
    }

    func testTracesKeepPerNodeResultsOnTheTree() throws {
        let parsed = try StackSyntax.parse("conv:k=3,p=1,c=8 add { conv:k=3,p=1 concat { conv:k=1,c=4 } { conv:k=1,c=4 } } { } conv:k=3"
            .split(separator: " ").map { StackWord(String($0)) })
        let stack = try LayerStack(layers: parsed.layers, nodes: parsed.nodes, inputSize: DimSize([8]), inputChannels: 3, dims: nil)
        let trace = try ShapeTrace(stack: stack, input: [8, 8])
        XCTAssertEqual(trace.layers.map(\.index), [1, 2, 3, 4, 5])
        XCTAssertEqual(trace.merges.map(\.kind), [.add, .concat])
        XCTAssertEqual(trace.output, [6, 6])
        let cost = try NetworkCost(stack: stack)
        XCTAssertEqual(cost.merges.map(\.channels), [8, 8])
        guard case let .merge(.add, merge, _) = cost.tree[1] else { return XCTFail("expected the add") }
        XCTAssertEqual(merge.spatial, [8, 8])
        let field = try ReceptiveField(stack: stack)
        XCTAssertEqual(field.layers.count, 5)
        XCTAssertEqual(field.merges.count, 2)
    }

    func testKeepingPadding() throws {
        func keeping(_ token: String) throws -> KeepingPadding? {
            try PaddingSolver.keeping(LayerGeometry(layer: try Layer.parse(token), dims: 1), dim: 0)
        }
        XCTAssertEqual(try keeping("conv:k=3,d=2"), .window(PadPair(2, 2), poolLimit: nil))
        XCTAssertEqual(try keeping("conv:k=4"), .window(PadPair(1, 2), poolLimit: nil))
        XCTAssertEqual(try keeping("maxpool:k=2,s=1"), .window(PadPair(0, 1), poolLimit: nil))
        XCTAssertEqual(try keeping("maxpool:k=2,s=1,d=3"), .window(PadPair(1, 2), poolLimit: 1))
        XCTAssertEqual(try keeping("conv:k=3,s=2"), .strided(stride: 2, sameTotal: 1))
        XCTAssertEqual(try keeping("tconv:k=4,s=2"), .transposed(PadPair(1, 1), stride: 2, alternativeOutputPadding: nil))
        XCTAssertEqual(try keeping("tconv:k=3,s=2"), .transposed(PadPair(0, 1), stride: 2, alternativeOutputPadding: 1))
        XCTAssertEqual(try keeping("tconv:k=1,s=3"), .transposedOutputPadding(2, stride: 3))
        XCTAssertNil(try keeping("relu"))
    }

    func testHolesCarryTheGriddingAnalysis() throws {
        let stack = try LayerStack(layers: ["conv:k=3,d=2", "conv:k=3,d=2", "conv:k=3,d=2"].map { try Layer.parse($0) },
                                   inputSize: nil, inputChannels: nil, dims: nil)
        let field = try ReceptiveField(stack: stack)
        XCTAssertEqual(field.holes.count, 1)
        let holes = try XCTUnwrap(field.holes.first)
        XCTAssertEqual(holes.along, .every)
        XCTAssertEqual(holes.firstAt, .layer(0))
        XCTAssertEqual(holes.gridding, FieldHoles.Gridding(layers: [1, 2, 3], dilations: [2, 2, 2], factor: 2))
        XCTAssertLessThan(holes.reached, holes.positions)
        let full = try ReceptiveField(stack: try LayerStack(layers: ["conv:k=3", "conv:k=3,d=2"].map { try Layer.parse($0) },
                                                            inputSize: nil, inputChannels: nil, dims: nil))
        XCTAssertEqual(full.holes, [])
    }
}
