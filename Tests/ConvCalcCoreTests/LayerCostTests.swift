import XCTest
import ConvCalcTestSupport
@testable import ConvCalcCore
@testable import ConvCalcEngine
@testable import ConvCalcText

func networkCost(_ tokens: [String], cin: Int?, input: [Int]? = nil, dims: Int? = nil, bias: Bool = true) throws -> NetworkCost {
    let stack = try LayerStack(layers: tokens.map { try Layer.parse($0) }, inputSize: input.map(DimSize.init),
                               inputChannels: cin, dims: dims, defaultBias: bias)
    return try NetworkCost(stack: stack)
}

final class LayerCostTests: XCTestCase {
    /// Random layers as PyTorch modules: parameters from PyTorch, MACs from fvcore and from
    /// ptflops (which adds one MAC per bias addition) — Tests/fixtures/generate_params_cases.py.
    func testAgreesWithPyTorchFvcoreAndPtflops() throws {
        let text = try readFixture("params_pytorch.tsv")
        var checked = 0
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: "\t").map(String.init)
            guard f.count == 7, let dims = Int(f[1]), let cin = Int(f[2]), let params = Int(f[4]),
                  let fvcore = Int(f[5]), let ptflops = Int(f[6]) else {
                XCTFail("malformed fixture line: \(line)")
                continue
            }
            let input = f[3].split(separator: "x").compactMap { Int($0) }
            let network = try networkCost([f[0]], cin: cin, input: input, dims: dims)
            let entry = network.entries[0]
            XCTAssertEqual(network.params, params, "parameters of \(f[0]) cin=\(cin) in=\(f[3])")
            XCTAssertEqual(network.macs, fvcore, "MACs (fvcore) of \(f[0]) cin=\(cin) in=\(f[3])")
            let biasAdditions = entry.cost.biases * (entry.spatial ?? []).reduce(1, *)
            XCTAssertEqual((network.macs ?? 0) + biasAdditions, ptflops, "MACs (ptflops) of \(f[0]) cin=\(cin) in=\(f[3])")
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 300)
    }

    /// Whole networks in examples/nets against torchvision and a PyTorch MobileNet v1, counted
    /// by Tests/fixtures/count_networks.py (parameters by PyTorch, MACs by fvcore).
    func testWholeNetworks() throws {
        let root = String(fixturesDirectory.dropLast("/Tests/fixtures".count))
        var checked = 0
        for line in try readFixture("networks_pytorch.tsv").split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: "\t").map(String.init)
            let network = try NetworkCost(stack: stackFile(root + "/" + f[0]))
            XCTAssertEqual(network.params, Int(f[1]), "parameters of \(f[0])")
            XCTAssertEqual(network.macs, Int(f[2]), "MACs of \(f[0])")
            checked += 1
        }
        XCTAssertEqual(checked, 7)
    }

    /// The networks of issue #16 in examples/nets against torchvision (parameters) and fvcore
    /// (conv + linear MACs), counted by Tests/fixtures/count_modern_networks.py: parameters
    /// exactly, and MACs exactly once convcalc's documented extras (SE's rescaling, layer
    /// scale's multiplies) are taken off. Each file stays short enough to read.
    func testModernNetworks() throws {
        let root = String(fixturesDirectory.dropLast("/Tests/fixtures".count))
        let files = ["densenet121": "densenet121", "squeezenet1_0": "squeezenet1-0", "squeezenet1_1": "squeezenet1-1",
                     "shufflenet_v2_x1_0": "shufflenet-v2", "efficientnet_b0": "efficientnet-b0",
                     "mobilenet_v3_small": "mobilenet-v3-small", "mobilenet_v3_large": "mobilenet-v3-large",
                     "googlenet": "googlenet", "inception_v3": "inception-v3", "resnext50_32x4d": "resnext50-32x4d",
                     "regnet_x_400mf": "regnetx-400mf", "vgg11_bn": "vgg11-bn", "mnasnet1_0": "mnasnet1-0",
                     "convnext_tiny": "convnext-tiny", "resnet18": "resnet18", "resnet50": "resnet50",
                     "mobilenet_v2": "mobilenet-v2", "vgg16": "vgg16", "alexnet": "alexnet", "unet": "unet"]
        var checked = 0
        for line in try readFixture("modern_networks_pytorch.tsv").split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: "\t").map(String.init)
            let path = root + "/examples/nets/" + files[f[0]]! + ".net"
            let network = try NetworkCost(stack: stackFile(path))
            XCTAssertEqual(network.params, Int(f[1]), "parameters of \(f[0])")
            // The documented extras are the MACs that are not products with weights.
            let extras = network.entries.map { ($0.cost.macs ?? 0) - ($0.cost.productMACs($0.layer) ?? 0) }.reduce(0, +)
            XCTAssertEqual((network.macs ?? 0) - extras, Int(f[2])! + Int(f[3])!, "conv + linear MACs of \(f[0])")
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
                .filter { !$0.trimmingWhitespace().isEmpty && !$0.trimmingWhitespace().hasPrefix("#") }
            XCTAssertLessThan(lines.count, f[0] == "resnet50" ? 41 : 120, "non-comment lines of \(f[0])")
            checked += 1
        }
        XCTAssertEqual(checked, files.count)
    }

    /// The source documents' seed tables (SPEC §7).
    func testSeedTables() throws {
        XCTAssertEqual(try networkCost(["conv:k=5,c=10"], cin: 10, bias: false).params, 2500)
        XCTAssertEqual(try networkCost(["conv:k=3,c=10", "conv:k=3,c=10"], cin: 10, bias: false).params, 1800)
        XCTAssertEqual(try networkCost(["conv:k=7"], cin: 10, bias: false).params, 4900)
        XCTAssertEqual(try networkCost(["conv:k=3", "conv:k=3", "conv:k=3"], cin: 10, bias: false).params, 2700)
        XCTAssertEqual(try networkCost(["conv:k=3"], cin: 1, input: [5], bias: false).macs, 81)
        let factorised = try networkCost(["conv:k=1x3", "conv:k=3x1"], cin: 1, input: [5], bias: false)
        XCTAssertEqual(factorised.entries.map(\.cost.macs), [45, 27])
        XCTAssertEqual(try networkCost(["conv:k=5,c=6,g=3"], cin: 12, bias: false).params, 600)
        XCTAssertEqual(try networkCost(["conv:k=5,c=6"], cin: 12, bias: false).params, 1800)
    }

    func testCompositeLayers() throws {
        // asym on 2-D: 3×1 (cin→c) then 1×3 (c→c), each with bias.
        let asym = try networkCost(["asym:k=3,c=8"], cin: 4, input: [10])
        XCTAssertEqual(asym.weights, 8 * 4 * 3 + 8 * 8 * 3)
        XCTAssertEqual(asym.biases, 16)
        XCTAssertEqual(asym.macs, (8 * 10) * 8 * 4 * 3 + (8 * 8) * 8 * 8 * 3)
        // Deformable v1 and v2, 3×3, 1 offset group: offset conv 18 (27 with the mask) channels, with bias.
        let v1 = try networkCost(["deform:k=3,c=16"], cin: 8, input: [12])
        XCTAssertEqual(v1.weights, 16 * 8 * 9 + 18 * 8 * 9)
        XCTAssertEqual(v1.biases, 16 + 18)
        XCTAssertEqual(v1.samplingMACs, 10 * 10 * 8 * 9 * 4)
        let v2 = try networkCost(["deform:k=3,c=16,v=2,g=2"], cin: 8, input: [12])
        XCTAssertEqual(v2.weights, 16 * 8 * 9 + 54 * 8 * 9)
        XCTAssertEqual(v2.samplingMACs, 10 * 10 * 8 * 9 * 5)
        // SE on 64 channels, r=16: 64·4 + 4 + 4·64 + 64.
        let se = try networkCost(["se"], cin: 64, input: [7])
        XCTAssertEqual(se.params, 64 * 4 + 4 + 4 * 64 + 64)
        XCTAssertEqual(se.macs, 2 * 64 * 4 + 49 * 64)
        // bn: 2·C parameters, 0 MACs. dwconv with multiplier.
        XCTAssertEqual(try networkCost(["bn"], cin: 32, input: [7]).params, 64)
        XCTAssertEqual(try networkCost(["bn"], cin: 32, input: [7]).macs, 0)
        XCTAssertEqual(try networkCost(["dwconv:k=3,m=2"], cin: 8).params, 16 * 9 + 16)
        // Depthwise transposed convolution: not zero MACs (SPEC §8).
        XCTAssertEqual(try networkCost(["tconv:k=4,s=2,g=8"], cin: 8, input: [5], bias: false).macs, 25 * 8 * 1 * 16)
    }

    func testChannelsFlow() throws {
        let net = try networkCost(["conv:k=3,c=16", "pixelshuffle:r=2", "shuffle:g=2", "gap", "fc:c=10"], cin: 3, input: [8])
        XCTAssertEqual(net.entries.map(\.channels), [16, 4, 4, 4, 10])
        XCTAssertEqual(net.entries.last?.cost.weights, 40)
        XCTAssertThrowsError(try networkCost(["conv:k=3,c=6", "pixelshuffle:r=2"], cin: 3))
        XCTAssertThrowsError(try networkCost(["conv:k=3,c=6,g=4"], cin: 8))
        XCTAssertThrowsError(try networkCost(["conv:k=3"], cin: nil)) { error in
            XCTAssertEqual((error as? UserFacingError)?.category, .usage)
        }
        XCTAssertThrowsError(try networkCost(["fc:c=10"], cin: 3))
        XCTAssertThrowsError(try networkCost(["se:r=64"], cin: 32))
        // Pools alone need no channels.
        XCTAssertEqual(try networkCost(["maxpool:k=2", "relu"], cin: nil).params, 0)
    }

    func testOverflowIsAnError() {
        XCTAssertThrowsError(try networkCost(["conv:k=4294967296,c=4294967296"], cin: 4294967296))
        XCTAssertThrowsError(try networkCost(["fc:c=9223372036854775807"], cin: 2, input: [2]))
        XCTAssertThrowsError(try networkCost(["conv:k=1,c=3037000500"], cin: 3037000500, input: [1]))
    }
}

/// A stack file as `convcalc -f` reads it: words, blocks and repeats expanded, includes
/// read relative to the file.
func stackFile(_ path: String) throws -> LayerStack {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let directory = String(path[..<path.lastIndex(of: "/")!])
    let words = try StackExpansion.expand(StackSyntax.words(ofFile: text, name: path), file: path) { included, _ in
        let resolved = included.hasPrefix("/") ? included : directory + "/" + included
        return (resolved, StackSyntax.words(ofFile: try String(contentsOfFile: resolved, encoding: .utf8), name: resolved))
    }
    let (layers, nodes) = try StackSyntax.parse(words)
    return try LayerStack(layers: layers, nodes: nodes, inputSize: nil, inputChannels: nil, dims: nil)
}
