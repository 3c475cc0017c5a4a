import XCTest
@testable import ConvCalcCore

/// `split { … } { … }`: each branch on its share of the channels, the outputs concatenated.
///
/// Expected counts come from PyTorch: Tests/fixtures/count_split.py builds each network by
/// hand with nn.Conv2d and nn.BatchNorm2d (its forward pass `x.chunk` or `torch.split`, then
/// `torch.cat`), counts parameters with numel and MACs with torch.utils.flop_counter (FLOPs / 2),
/// and checks the ShuffleNet v2 unit against torchvision's InvertedResidual and the whole
/// network against torchvision's shufflenet_v2_x1_0 (torch 2.15, torchvision 0.29.2).
final class SplitTests: XCTestCase {
    /// ShuffleNet v2's stride-1 unit (Ma et al. 2018, Figure 3 (c)).
    let shuffleUnit = "split { } { conv:k=1,bias=0 bn relu dwconv:k=3,p=1,bias=0 bn conv:k=1,bias=0 bn relu } shuffle:g=2"

    func words(_ text: String) -> [StackWord] {
        text.split(separator: " ").map { StackWord(String($0)) }
    }

    func stack(_ text: String, cin: Int?, input: [Int]? = nil) throws -> LayerStack {
        let parsed = try StackSyntax.parse(words(text))
        return try LayerStack(layers: parsed.layers, nodes: parsed.nodes, inputSize: input.map(DimSize.init),
                              inputChannels: cin, dims: nil)
    }

    // MARK: Parsing

    func testParsesEqualAndGivenShares() throws {
        let equal = try StackSyntax.parse(words("split { } { conv:k=1 relu }"))
        XCTAssertEqual(equal.nodes, [.merge(.split(shares: nil), [[], [.layer(0), .layer(1)]])])
        let given = try StackSyntax.parse(words("conv:k=1 split:c=24x40x16 { conv:k=3 } { } { relu }"))
        XCTAssertEqual(given.nodes, [.layer(0), .merge(.split(shares: [24, 40, 16]), [[.layer(1)], [], [.layer(2)]])])
        // In a file, spaces next to ':' and '=' stay inside the word, as in layer tokens.
        let file = try StackSyntax.parse(StackSyntax.words(ofFile: "split: c = 3x5 {\n  relu\n} {\n}\n", name: "net"))
        XCTAssertEqual(file.nodes, [.merge(.split(shares: [3, 5]), [[.layer(0)], []])])
    }

    func testMergeWordsAndOtherWords() throws {
        XCTAssertEqual(try MergeKind.parse("add"), .add)
        XCTAssertEqual(try MergeKind.parse("concat"), .concat)
        XCTAssertEqual(try MergeKind.parse("split"), .split(shares: nil))
        XCTAssertEqual(try MergeKind.parse("split:c=58x58"), .split(shares: [58, 58]))
        for word in ["splits", "conv:k=3", "shuffle:g=2", "split2", "{"] {
            XCTAssertNil(try MergeKind.parse(word), word)
        }
        XCTAssertEqual(MergeKind.split(shares: [1, 2]).name, "split")
        XCTAssertEqual(MergeKind.split(shares: [1, 2]).givenShares, [1, 2])
        XCTAssertNil(MergeKind.concat.givenShares)
    }

    func testSyntaxErrors() {
        func error(_ text: String) -> BranchSyntaxError? {
            do {
                _ = try StackSyntax.parse(words(text))
                return nil
            } catch {
                return error as? BranchSyntaxError
            }
        }
        XCTAssertEqual(error("split { relu }"), .tooFewBranches("split"))
        XCTAssertEqual(error("split relu"), .expectedBrace(after: "split"))
        XCTAssertEqual(error("split:c=1x2x3 { relu } { }"), .shareCount(word: "split:c=1x2x3", shares: 3, branches: 2))
        XCTAssertEqual(error("split:c=1xa { relu } { }"), .badShares(word: "split:c=1xa"))
        XCTAssertEqual(error("split:c=1,2 { relu } { }"), .badShares(word: "split:c=1,2"))
        XCTAssertEqual(error("split:c= { relu } { }"), .badShares(word: "split:c="))
        XCTAssertEqual(error("split:c=0x4 { relu } { }"), .shareOutOfRange(word: "split:c=0x4", share: "0"))
        XCTAssertEqual(error("split:c=99999999999999999999x1 { relu } { }"),
                       .shareOutOfRange(word: "split:c=99999999999999999999x1", share: "99999999999999999999"))
        XCTAssertEqual(error("split:k=3 { relu } { }"), .mergeKeys(word: "split:k=3", merge: "split"))
        XCTAssertEqual(error("split:c=2x2,k=3 { relu } { }"), .mergeKeys(word: "split:c=2x2,k=3", merge: "split"))
        XCTAssertEqual(error("add:c=3 { relu } { }"), .mergeKeys(word: "add:c=3", merge: "add"))
        XCTAssertEqual(BranchSyntaxError.shareOutOfRange(word: "split:c=0x4", share: "0").category, .data)
        XCTAssertEqual(BranchSyntaxError.shareCount(word: "split:c=1x2x3", shares: 3, branches: 2).category, .usage)
    }

    func testFileErrorsAreLocated() {
        let text = "conv:k=3,p=1\n  split:c=3x4x5 {\n  relu\n} {\n}\n"
        XCTAssertThrowsError(try StackSyntax.parse(StackSyntax.words(ofFile: text, name: "net.txt"))) { error in
            XCTAssertEqual((error as? UserFacingError)?.message,
                           "net.txt:2:3: 'split:c=3x4x5' gives 3 shares but has 2 branches; give one share per branch")
        }
    }

    // MARK: The fold

    func testFoldStartsEachBranchFromItsInput() {
        // The state is a channel count: a split's branches start from their shares, other
        // merges' from the merge's input; every layer adds 1; merges sum their branches.
        let nodes: [StackNode] = [.merge(.split(shares: [3, 5]), [[.layer(0)], [.merge(.add, [[.layer(1)], []])]])]
        var starts: [Int] = []
        let folded = StackTree.fold(nodes, from: 8, layer: { index, channels -> (Int, Int) in
            starts.append(channels)
            return (index, channels + 1)
        }, branchInputs: { kind, input, count in
            kind.givenShares ?? Array(repeating: input, count: count)
        }, merge: { kind, _, outputs -> (String, Int) in
            (kind.name, outputs.reduce(0, +))
        })
        XCTAssertEqual(starts, [3, 5])
        // Branch 1: 3 + 1; branch 2: add(5 + 1, 5) = 11; split: 4 + 11.
        XCTAssertEqual(folded.output, 15)
        XCTAssertEqual(StackTree.mergeValues(folded.results), ["split", "add"])
        XCTAssertEqual(StackTree.merges(folded.results).map(\.kind), [.split(shares: [3, 5]), .add])
        // Without branchInputs every branch starts from the merge's input.
        starts = []
        _ = StackTree.output(nodes, from: 8, layer: { _, channels in
            starts.append(channels)
            return channels
        }, merge: { _, _, outputs in outputs[0] })
        XCTAssertEqual(starts, [8, 8])
    }

    // MARK: Parameters and MACs

    func testShuffleNetUnitAgreesWithPyTorch() throws {
        // PyTorch (count_split.py): 7,598 parameters, 5,684,000 MACs, out 116×28×28, for
        // the hand-built unit and torchvision's InvertedResidual(116, 116, 1) alike.
        let cost = try NetworkCost(stack: try stack(shuffleUnit, cin: 116, input: [28]))
        XCTAssertEqual(cost.params, 7_598)
        XCTAssertEqual(cost.weights, 58 * 58 + 58 * 9 + 58 * 58 + 3 * 58)   // three convolutions on 58 channels, and batch norm's γ
        XCTAssertEqual(cost.biases, 3 * 58)   // batch norm's β
        XCTAssertEqual(cost.macs, 5_684_000)
        let merge = try XCTUnwrap(cost.merges.first)
        XCTAssertEqual(merge.shares, [58, 58])
        XCTAssertEqual(merge.branches.map(\.channels), [58, 58])
        XCTAssertEqual(merge.channels, 116)
        XCTAssertEqual(merge.spatial, [28, 28])
        XCTAssertEqual(cost.entries.first?.channels, 58)   // the first 1x1 conv sees its share
        XCTAssertEqual(cost.entries.last?.channels, 116)   // the shuffle sees the concatenation
    }

    func testGivenSharesAgreeWithPyTorch() throws {
        // PyTorch (count_split.py): torch.split(x, [24, 40, 16], dim=1) on 80×14×14:
        // 8,624 parameters, 1,668,352 MACs, out 88×14×14.
        let text = "split:c=24x40x16 { conv:k=3,p=1,c=32 } { conv:k=1,bias=0 bn } { }"
        let cost = try NetworkCost(stack: try stack(text, cin: 80, input: [14]))
        XCTAssertEqual(cost.params, 8_624)
        XCTAssertEqual(cost.macs, 1_668_352)
        XCTAssertEqual(cost.merges.first?.channels, 88)
        XCTAssertEqual(cost.merges.first?.branches.map(\.channels), [32, 40, 16])
        // Given shares are the channels: no --cin needed.
        let unknown = try NetworkCost(stack: try stack(text, cin: nil, input: [14]))
        XCTAssertEqual(unknown.params, 8_624)
    }

    func testWholeShuffleNetAgreesWithTorchvision() throws {
        // torchvision.models.shufflenet_v2_x1_0: 2,278,604 parameters; flop_counter: 144,907,992 MACs.
        let root = String(fixturesDirectory.dropLast("/Tests/fixtures".count))
        let path = "examples/nets/shufflenet-v2.net"
        let text = try String(contentsOfFile: root + "/" + path, encoding: .utf8)
        let words = try StackExpansion.expand(StackSyntax.words(ofFile: text, name: path), file: path) { name, _ in
            XCTFail("unexpected include \(name)")
            return (name, [])
        }
        let (layers, nodes) = try StackSyntax.parse(words)
        let network = try NetworkCost(stack: try LayerStack(layers: layers, nodes: nodes, inputSize: nil, inputChannels: nil, dims: nil))
        XCTAssertEqual(network.params, 2_278_604)
        XCTAssertEqual(network.macs, 144_907_992)
        XCTAssertEqual(network.merges.filter { $0.kind == .split(shares: nil) }.count, 13)
    }

    func testChannelErrors() throws {
        // Equal shares that the branch count does not divide: named with the channels and branches.
        XCTAssertThrowsError(try NetworkCost(stack: try stack("conv:k=1,c=30 split { relu } { } { } { }", cin: 3))) { error in
            XCTAssertEqual(error as? CostError, .unequalSplit(after: 1, channels: 30, branches: 4))
            XCTAssertEqual((error as? UserFacingError)?.message,
                           "split (after layer 1): 30 channels do not divide into 4 equal shares; give one share per branch, e.g. split:c=8x8x7x7")
            XCTAssertEqual((error as? UserFacingError)?.category, .data)
        }
        XCTAssertThrowsError(try NetworkCost(stack: try stack("split:c=10x10 { relu } { }", cin: 30))) { error in
            XCTAssertEqual(error as? CostError, .shareSum(word: "split:c=10x10", after: 0, sum: 20, channels: 30))
        }
        // Equal shares of unknown channels: a layer with parameters asks for them.
        XCTAssertThrowsError(try NetworkCost(stack: try stack(shuffleUnit, cin: nil))) { error in
            XCTAssertEqual((error as? LayerContextError)?.underlying as? CostError, .needsInputChannels(type: "conv"))
        }
        // Branches must give the same spatial size, as for concat.
        XCTAssertThrowsError(try NetworkCost(stack: try stack("split { conv:k=3 } { }", cin: 8, input: [8]))) { error in
            XCTAssertEqual(error as? CostError, .branchMismatch(kind: "split", after: 1, branch: 2, first: "4×6×6", other: "4×8×8"))
        }
    }

    // MARK: Shape and receptive field: as concat, without channels

    func testShapeAndFieldAreThoseOfConcat() throws {
        let branches = "{ conv:k=3,p=1 } { conv:k=1 maxpool:k=3,s=1,p=1 } { }"
        let split = try stack("conv:k=3 split " + branches + " conv:k=3,d=2", cin: nil, input: [16])
        let concat = try stack("conv:k=3 concat " + branches + " conv:k=3,d=2", cin: nil, input: [16])
        let splitTrace = try ShapeTrace(stack: split, input: [16, 16])
        XCTAssertEqual(splitTrace.output, try ShapeTrace(stack: concat, input: [16, 16]).output)
        XCTAssertEqual(splitTrace.merges.first?.kind, .split(shares: nil))
        XCTAssertThrowsError(try ShapeTrace(stack: try stack("split { conv:k=3 } { }", cin: nil), input: [8, 8])) { error in
            XCTAssertEqual(error as? ShapeError, .branchMismatch(kind: "split", first: [6, 6], other: [8, 8], branch: 2, after: 1))
        }
        let splitField = try ReceptiveField(stack: split), concatField = try ReceptiveField(stack: concat)
        XCTAssertEqual(splitField.final, concatField.final)
        XCTAssertEqual(splitField.merges, concatField.merges)
        XCTAssertEqual(splitField.coverage, concatField.coverage)
        XCTAssertEqual(splitField.final.map(\.size), [9, 9])   // 3, then the union of 5, 5 and 3, then + 4
    }
}
