import XCTest
@testable import ConvCalcCore

/// Memory and training cost (issue #17) against PyTorch: Tests/fixtures/generate_train_cases.py
/// measured every layer and network with `torch.utils.flop_counter.FlopCounterMode` (FLOPs / 2)
/// in train mode.
final class RunCostTests: XCTestCase {
    func stack(_ tokens: String, cin: Int, input: String, dims: Int?) throws -> LayerStack {
        let (layers, nodes) = try StackSyntax.parse(tokens.split(separator: " ").map { StackWord(String($0)) })
        return try LayerStack(layers: layers, nodes: nodes, inputSize: DimSize.parse(input, subject: .stack(.inputSize), minimum: 1),
                              inputChannels: cin, dims: dims)
    }

    /// Every random layer: forward MACs, the input gradient's and the weight gradient's MACs.
    /// FlopCounterMode 2.15 multiplies a grouped convolution's weight-gradient MACs by the
    /// groups (its formula loses the group division); the fixture's column of the same layer
    /// run as g ungrouped convolutions (`backward_weight_macs_ungrouped`) is the exact count.
    func testLayersAgainstPyTorch() throws {
        var checked = 0
        for line in try readFixture("train_layers_pytorch.tsv").split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            let column = { (name: String) in f[RunCostTests.layerColumns.firstIndex(of: name)!] }
            var settings = RunSettings()
            settings.batch = Int(column("batch"))!
            settings.inputGradient = true
            let network = try NetworkCost(stack: stack(column("tokens"), cin: Int(column("cin"))!, input: column("in"), dims: Int(column("dims"))))
            let run = try RunCost(network: network, stack: network.stack, settings: settings)
            let what = "\(column("tokens")) cin=\(column("cin")) in=\(column("in")) batch=\(column("batch"))"
            XCTAssertEqual(network.params, Int(column("params")), "params of \(what)")
            XCTAssertEqual(run.layers.last?.outputElements, Int(column("output_elements")), "output of \(what)")
            // torchvision's deform_conv2d is a C++ operator FlopCounterMode does not count.
            guard !column("tokens").hasPrefix("deform") else { continue }
            XCTAssertEqual(run.forwardMACs, Int(column("forward_macs")), "forward MACs of \(what)")
            XCTAssertEqual(run.backwardInputMACs, Int(column("backward_input_macs")), "input-gradient MACs of \(what)")
            XCTAssertEqual(run.backwardWeightMACs, Int(column("backward_weight_macs_ungrouped")), "weight-gradient MACs of \(what)")
            // `--count torch --train`: FlopCounterMode's own total, its grouped weight gradients included.
            XCTAssertEqual(try network.torchTrainingMACs(run), Int(column("forward_macs"))! + Int(column("backward_total_macs"))!, "torch training MACs of \(what)")
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 280)
    }

    /// Whole networks, the image not requiring grad: forward MACs, input gradients (none for
    /// the first convolution) and weight gradients (FlopCounterMode's, groups corrected).
    func testNetworksAgainstPyTorch() throws {
        let root = String(fixturesDirectory.dropLast("/Tests/fixtures".count))
        let files = ["resnet18": "resnet18", "resnet50": "resnet50", "mobilenet_v2": "mobilenet-v2", "vgg16": "vgg16", "unet": "unet"]
        var checked = 0
        for line in try readFixture("train_networks_pytorch.tsv").split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            let network = try NetworkCost(stack: stackFile(root + "/examples/nets/" + files[f[0]]! + ".net"))
            let run = try RunCost(network: network, stack: network.stack, settings: RunSettings())
            XCTAssertEqual(network.params, Int(f[1]), "params of \(f[0])")
            XCTAssertEqual(run.forwardMACs, Int(f[2]), "forward MACs of \(f[0])")
            XCTAssertEqual(run.backwardInputMACs, Int(f[3]), "input-gradient MACs of \(f[0])")
            XCTAssertEqual(run.backwardWeightMACs, Int(f[13]), "weight-gradient MACs of \(f[0])")
            XCTAssertEqual(try network.torchTrainingMACs(run), Int(f[2])! + Int(f[3])! + Int(f[4])!, "torch training MACs of \(f[0])")
            // Activations: every leaf module's output as PyTorch measured it (ReLU once per call,
            // in place or not), plus what is not a module there: the image and the merges' outputs.
            if ["resnet18", "resnet50", "unet"].contains(f[0]) {
                let merged = network.merges.compactMap { m in m.channels.flatMap { c in m.spatial.map { c * $0.reduce(1, *) } } }.reduce(0, +)
                XCTAssertEqual(run.outputElements! - run.inputElements! - merged, Int(f[7]), "activations of \(f[0])")
            }
            // Saved for backward, without the parameters and buffers autograd also saves.
            let saved = try XCTUnwrap(SavedTensors.of(network, settings: RunSettings()))
            if f[0] == "mobilenet_v2" {
                var byType: [String: Int] = [:]
                for e in network.entries { byType[e.layer.type.rawValue, default: 0] += saved.perLayer[e.index] ?? 0 }
                print("DEBUG", byType, saved.indices, saved.statistics)
            }
            // VGG-16's file leaves out torchvision's AdaptiveAvgPool2d(7) (the identity at 224) and
            // its two dropouts (the identity at inference); in train mode PyTorch saves the pool's
            // input, 25,088, and for each dropout its 4,096-value mask and its output (the next
            // fc's input, which is otherwise the ReLU output already kept).
            let known = f[0] == "vgg16" ? -(25_088 + 4 * 4_096) : 0
            XCTAssertEqual(saved.values + saved.indices + saved.statistics - known, Int(f[5])! - Int(f[14])! - Int(f[15])!, "saved elements of \(f[0])")
            checked += 1
        }
        XCTAssertEqual(checked, files.count)
    }

    /// `--count`: fvcore's, ptflops', thop's and FlopCounterMode's own totals of the networks.
    func testToolCountsAgainstTheTools() throws {
        let root = String(fixturesDirectory.dropLast("/Tests/fixtures".count))
        let files = ["resnet18": "resnet18", "resnet50": "resnet50", "mobilenet_v2": "mobilenet-v2", "vgg16": "vgg16", "unet": "unet"]
        for line in try readFixture("train_networks_pytorch.tsv").split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            let network = try NetworkCost(stack: stackFile(root + "/examples/nets/" + files[f[0]]! + ".net"))
            // What the example files write differently from torchvision, per tool (fvcore,
            // ptflops, thop): VGG-16 leaves out AdaptiveAvgPool2d(7) on 512x7x7; MobileNet v2
            // pools with the functional F.adaptive_avg_pool2d, which thop's module hooks miss
            // and ptflops counts once (patched), not twice (hook and patch) as the module.
            let adjust: [CountingTool: Int] = f[0] == "vgg16" ? [.fvcore: 25_088, .ptflops: 2 * 25_088, .thop: 2 * 25_088]
                : f[0] == "mobilenet_v2" ? [.thop: -(49 + 1) * 1280, .ptflops: -49 * 1280] : [:]
            for (tool, column) in [(CountingTool.fvcore, 8), (.ptflops, 9), (.thop, 10), (.torch, 11)] {
                let counted = try XCTUnwrap(network.countedMACs(by: tool, batch: 1))
                XCTAssertEqual(counted + (adjust[tool] ?? 0), Int(f[column]), "\(tool) of \(f[0])")
            }
        }
    }

    /// Peak inference memory by hand: a chain peaks at the widest neighbouring pair; a residual
    /// block holds its input through the branch, and the sum is made while both addends live.
    func testPeakMemory() throws {
        let chain = try NetworkCost(stack: stack("conv:k=3,p=1,c=8 conv:k=3,p=1,c=2 conv:k=3,p=1,c=16", cin: 1, input: "4x4", dims: nil))
        var peak = try XCTUnwrap(PeakMemory.of(chain, settings: RunSettings()))
        XCTAssertEqual(peak.values, (2 + 16) * 16)          // layers 2 and 3 (8+2 = 10 < 18)
        XCTAssertEqual(peak.atLayer, 3)
        let block = try NetworkCost(stack: stack("add { conv:k=3,p=1 relu } { } relu", cin: 4, input: "4x4", dims: nil))
        var settings = RunSettings()
        settings.inPlace = true
        peak = try XCTUnwrap(PeakMemory.of(block, settings: settings))
        XCTAssertEqual(peak.values, 3 * 64)                // input (held), conv output, the sum
        XCTAssertTrue(peak.afterMerge)
        settings.batch = 4
        XCTAssertEqual(try PeakMemory.of(block, settings: settings)?.values, 4 * 3 * 64)
    }

    static let layerColumns = ["tokens", "cin", "in", "batch", "forward_macs", "backward_input_macs", "backward_weight_macs", "saved_elements",
                               "saved_detail", "output_elements", "dims", "params", "backward_total_macs", "backward_weight_macs_ungrouped",
                               "saved_bytes", "backward_weight_run_macs"]
}
