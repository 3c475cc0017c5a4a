import Foundation
import XCTest
import ConvCalcTestSupport
@testable import ConvCalcCore
@testable import ConvCalcONNX

/// Reads an ONNX fixture and converts it (`--in` as `inputSize`).
func onnxNetwork(_ name: String, inputSize: DimSize? = nil, inputChannels: Int? = nil) throws -> OnnxNetwork {
    let data = try Data(contentsOf: URL(fileURLWithPath: fixturesDirectory + "/onnx/" + name))
    let model = try data.withUnsafeBytes { try OnnxModel.decode($0) }
    return try OnnxNetwork.convert(model, file: name, inputSize: inputSize, inputChannels: inputChannels)
}

/// The cost of a converted network, its words read as the CLI reads them.
func onnxCost(_ network: OnnxNetwork) throws -> NetworkCost {
    let (layers, nodes) = try StackSyntax.parse(network.words)
    return try NetworkCost(stack: LayerStack(layers: layers, nodes: nodes, inputSize: nil, inputChannels: nil, dims: network.dims))
}

/// Products with weights only (conv + linear, as fvcore's by-operator counts): no mul merges.
func productMACs(_ cost: NetworkCost) -> Int? {
    var total = 0
    for entry in cost.entries {
        guard let macs = entry.cost.productMACs(entry.layer) else { return nil }
        total += macs
    }
    return total
}

final class OnnxTests: XCTestCase {
    /// The files whose graph holds other parameters than PyTorch counts: the exporters fold
    /// batch norm into the convolution before it (its 2·C parameters become C biases) and the
    /// new exporter drops all-zero biases (Tests/fixtures/onnx_notes.md). Every other file
    /// matches PyTorch's count exactly.
    static let folded: Set<String> = ["resnet18", "resnet50", "mobilenet_v2", "resnet18_dynamic", "resnet18_dynamo",
                                      "mobilenet_v3_small", "efficientnet_b0", "shufflenet_v2_x0_5", "conv1d_net"]

    /// Every fixture of Tests/fixtures/generate_onnx_cases.py: parameters, conv + linear MACs
    /// (fvcore), the output shape, and every value's shape against onnx.shape_inference.
    func testFixturesAgreeWithPyTorchFvcoreAndShapeInference() throws {
        var checked = 0
        for line in try readFixture("onnx_cases.tsv").split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            let file = String(f[0].dropFirst("onnx/".count))
            let name = String(file.dropLast(".onnx".count))
            let dynamic = f[1].hasPrefix("batch")
            let network = try onnxNetwork(file, inputSize: dynamic ? DimSize([224, 224]) : nil)
            let cost = try onnxCost(network)
            // The graph's parameters: "initializer elements as used" (less resnet18_dynamo's 4
            // int64 elements, an axes list and a shape, not parameters), PyTorch's where nothing was folded.
            // int64 elements, an axes list and a shape, not parameters); PyTorch's where nothing was
            // folded (batch norm's running statistics are buffers, not parameters).
            XCTAssertEqual(cost.params, OnnxTests.folded.contains(name) ? Int(f[9])! - (name == "resnet18_dynamo" ? 4 : 0) : Int(f[2]),
                           "parameters of \(name)")
            XCTAssertEqual(productMACs(cost), Int(f[3]), "conv + linear MACs of \(name)")
            // Beyond conv + linear: one multiply per element of each mul merge (SE gates, attention).
            let gates = cost.merges.compactMap(\.macs).reduce(0, +)
            XCTAssertEqual(cost.macs, Int(f[3])! + gates, "MACs of \(name)")
            let outputDims = f[4].split(separator: "x").compactMap { Int($0) }
            if outputDims.count == f[4].split(separator: "x").count {
                XCTAssertEqual(network.outputShape, outputDims, "output of \(name)")
            }
            // Shapes of every value convcalc follows, against shape inference (symbolic ones skipped).
            let inferred = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(f[10].utf8)) as? [String: [Any]])
            var compared = 0
            for (value, shape) in network.shapes {
                guard let known = inferred[value] as? [Int] else { continue }
                XCTAssertEqual(shape, known, "shape of \(value) in \(name)")
                compared += 1
            }
            if inferred.values.contains(where: { $0 is [Int] && ($0 as! [Int]).count > 2 }) {
                XCTAssertGreaterThan(compared, 0, "\(name): values compared")
            }
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 20)
    }

    /// The files convcalc must refuse or warn about (onnx_error_cases.tsv), each with its message.
    func testErrorCases() throws {
        let expected: [String: String] = [
            "opset_99": "opset 99 of the default ONNX domain is not supported; convcalc reads opsets 7 to 24",
            "truncated": "not a readable ONNX model: at byte 19, a field needs 10039 more bytes but its message has 278",
            "custom_domain_op": "node 'custom': com.example.ScaledTanh is not an operator convcalc follows",
        ]
        for (name, message) in expected {
            XCTAssertThrowsError(try onnxNetwork(name + ".onnx"), name) { error in
                let text = (error as? UserFacingError)?.message ?? "\(error)"
                XCTAssertTrue(text.contains(message), "\(name): \(text)")
            }
        }
        // Graphs that are no tree of branches: counted layer by layer, the reason kept for rf.
        let graphs: [String: (params: Int, macs: Int, reason: String)] = [
            "not_series_parallel": (444, 27_648, "node 'A': its output feeds branches that join at different places"),
            "two_outputs": (278, 67_584, "the model has 2 outputs ('boxes', 'scores')"),
            "two_inputs": (136, 8_192, "the model has 2 inputs ('a', 'b')"),
        ]
        for (name, want) in graphs {
            let count = try XCTUnwrap(try onnxNetwork(name + ".onnx").graphCount, name)
            XCTAssertEqual(count.params, want.params, name)
            XCTAssertEqual(count.macs, want.macs, name)
            XCTAssertTrue(count.reason.message.contains(want.reason), "\(name): \(count.reason.message)")
        }
        XCTAssertEqual(try onnxNetwork("two_outputs.onnx").graphCount?.outputs.map(\.shape), [[1, 4, 16, 16], [1, 2, 16, 16]])
        // One weight read by two Convs: its parameters once, its MACs twice.
        // Weights added and multiplied are parameters; GELU written out is gelu; Squeeze of 1s.
        let learned = try onnxNetwork("learned_tensors.onnx")
        XCTAssertEqual(learned.words.map(\.text).dropFirst(), ["conv:k=3,p=1,c=8", "gelu", "shift:n=8", "shift:n=2048", "scale:n=1", "gap", "fc:c=5"])
        XCTAssertEqual(try onnxCost(learned).params, 2_326)
        XCTAssertEqual(try onnxCost(learned).macs, 57_384)
        // Channels last around LayerNorm and Linear (ConvNeXt): per-position layers.
        let block = try onnxNetwork("convnext_block.onnx")
        XCTAssertEqual(block.words.map(\.text).dropFirst(), ["add", "{", "conv:k=7,p=3,g=8,c=8", "layernorm", "conv:k=1,c=32", "relu",
                                                             "conv:k=1,c=8", "layerscale", "}", "{", "}"])
        XCTAssertEqual(try onnxCost(block).params, 976)
        XCTAssertEqual(try onnxCost(block).macs, 178_752)
        // One Concat of two values from one branch and a third: regrouped (Inception v3, legacy exporter).
        let flattened = try onnxNetwork("flattened_concat.onnx")
        XCTAssertEqual(flattened.words.map(\.text).dropFirst(), ["concat", "{", "conv:k=1,c=4", "concat", "{", "conv:k=3,p=1,c=6", "}",
                                                                 "{", "conv:k=1,c=6", "}", "}", "{", "conv:k=3,p=1,c=2", "}"])
        XCTAssertNil(flattened.graphCount)
        XCTAssertEqual(try onnxCost(flattened).params, 346)
        XCTAssertEqual(try onnxCost(flattened).macs, 20_992)
        let tied = try onnxCost(onnxNetwork("tied_weights.onnx"))
        XCTAssertEqual(tied.params, 148)
        XCTAssertEqual(tied.macs, 18_432)
        let unknown = try onnxNetwork("unknown_op.onnx")
        XCTAssertEqual(unknown.uncounted, ["Softplus": 1])
        XCTAssertEqual(try onnxCost(unknown).params, 516)
        XCTAssertEqual(try onnxCost(unknown).macs, 129_024)
    }

    /// The shapes an exporter wrote in the file (`value_info`, the new exporter's), read by
    /// convcalc's own decoder, against the shapes convcalc works out.
    func testShapesMatchTheFilesValueInfo() throws {
        var compared = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: fixturesDirectory + "/onnx") where file.hasSuffix(".onnx") {
            let data = try Data(contentsOf: URL(fileURLWithPath: fixturesDirectory + "/onnx/" + file))
            guard let model = try? data.withUnsafeBytes({ try OnnxModel.decode($0) }), !model.graph.valueInfo.isEmpty,
                  let network = try? OnnxNetwork.convert(model, file: file) else { continue }
            for info in model.graph.valueInfo {
                guard let dims = info.shape?.map({ dimension -> Int? in
                    if case let .value(v) = dimension { return v }
                    return nil
                }), dims.allSatisfy({ $0 != nil }), let shape = network.shapes[info.name] else { continue }
                XCTAssertEqual(shape, dims.map { $0! }, "\(file): value_info of \(info.name)")
                compared += 1
            }
        }
        XCTAssertGreaterThanOrEqual(compared, 45, "values compared with value_info (resnet18_dynamo: every intermediate)")
    }

    /// `--emit net`'s text, read back as a network file, counts the same as the model.
    func testEmittedNetworkCountsTheSame() throws {
        for file in try FileManager.default.contentsOfDirectory(atPath: fixturesDirectory + "/onnx") where file.hasSuffix(".onnx") {
            guard let network = try? onnxNetwork(file, inputSize: file.contains("dynamic") ? DimSize([224, 224]) : nil),
                  network.graphCount == nil else { continue }
            let direct = try onnxCost(network)
            let (layers, nodes) = try StackSyntax.parse(StackSyntax.words(ofFile: network.text, name: file + ".net"))
            // Read as a user reads the file: no --dims (a 1-D or 3-D file says dims= itself).
            let reread = try NetworkCost(stack: LayerStack(layers: layers, nodes: nodes, inputSize: nil, inputChannels: nil, dims: nil))
            XCTAssertEqual(reread.params, direct.params, "parameters of \(file) through --emit net")
            XCTAssertEqual(reread.macs, direct.macs, "MACs of \(file) through --emit net")
            XCTAssertEqual(reread.entries.map(\.spatial), direct.entries.map(\.spatial), "shapes of \(file) through --emit net")
        }
    }

    /// ONNX attribute semantics on the hand-made model: auto_pad SAME_UPPER (odd total
    /// padding at the end), pads as [H_begin, W_begin, H_end, W_end], SAME_LOWER (odd total
    /// at the beginning), pool strides written out (ONNX's default is 1), ceil mode.
    func testHandMadePadding() throws {
        let network = try onnxNetwork("handmade_pads.onnx")
        let tokens = network.words.map(\.text)
        XCTAssertEqual(tokens, ["input:in=17,c=3", "conv:k=3,s=2,p=1,c=8", "relu", "conv:k=3,p=0:2x1:0,c=8",
                                "conv:k=3,s=2,p=1:1x0:1,g=2,c=16", "conv:k=2,p=1:0,g=16,c=16,bias=0",
                                "maxpool:k=3,s=2,ceil=1", "avgpool:k=3,s=1,p=1", "flatten", "fc:c=10"])
    }

    /// `--in` replaces the model's size (and is needed when it is symbolic); the batch is
    /// whatever the model says and never counted.
    func testInputSizeOverride() throws {
        XCTAssertThrowsError(try onnxNetwork("resnet18_dynamic.onnx")) { error in
            XCTAssertEqual(error as? OnnxError, .needsInputSize(input: "input", shape: "batchx3xheightxwidth"))
        }
        let small = try onnxCost(onnxNetwork("resnet18.onnx", inputSize: DimSize([160, 128])))
        XCTAssertEqual(small.entries.first?.spatial, [80, 64])
        XCTAssertEqual(small.params, 11_684_712)
        XCTAssertThrowsError(try onnxNetwork("resnet18.onnx", inputChannels: 4)) { error in
            XCTAssertTrue((error as? UserFacingError)?.message.contains("--cin 4 cannot change it") == true, "\(error)")
        }
    }

    /// Truncated and non-protobuf bytes are errors with the byte offset, never a trap.
    func testMalformedFiles() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturesDirectory + "/onnx/resnet18.onnx"))
        for length in [1, 2, 7, 100, 300, 5000, data.count - 1] {
            XCTAssertThrowsError(try Data(data.prefix(length)).withUnsafeBytes { try OnnxModel.decode($0) }, "first \(length) bytes") { error in
                // Cut between fields, the file is a model without its graph.
                if case .notModel? = error as? OnnxError { return }
                guard case let .malformed(offset, problem)? = error as? OnnxError else { return XCTFail("\(error)") }
                XCTAssertLessThanOrEqual(offset, length)
                XCTAssertTrue(problem.contains("truncated") || problem.contains("not protocol-buffer"), problem)
            }
        }
        XCTAssertThrowsError(try Data("conv:k=3\n".utf8).withUnsafeBytes { try OnnxModel.decode($0) })
        XCTAssertThrowsError(try Data().withUnsafeBytes { try OnnxModel.decode($0) }) { error in
            XCTAssertEqual(error as? OnnxError, .notModel(missing: "a graph (ModelProto field 7)"))
        }
    }

    /// The protobuf rules: packed and unpacked repeated numbers read alike, unknown fields of
    /// every wire type are skipped, a 10-byte negative varint reads back.
    func testWireFormat() throws {
        // dims 3 and 5: unpacked (08 03 08 05) and packed (0A 02 03 05); an unknown field 99 of
        // each wire type; data_type 1; name "w"; int64_data -1 (10 bytes).
        var bytes: [UInt8] = [0x08, 0x03, 0x08, 0x05, 0x0A, 0x02, 0x03, 0x05]
        bytes += [0x98, 0x06, 0x7F, 0x99, 0x06] + Array(repeating: 0, count: 8) + [0x9A, 0x06, 0x01, 0xAA, 0x9D, 0x06, 1, 2, 3, 4]
        bytes += [0x10, 0x01, 0x42, 0x01, 0x77]
        let tensor = try bytes.withUnsafeBytes { try OnnxTensor.decode(ProtobufReader($0)) }
        XCTAssertEqual(tensor.dims, [3, 5, 3, 5])
        XCTAssertEqual(tensor.name, "w")
        let negative: [UInt8] = [0x38, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x08, 0x01]
        let scalar = try negative.withUnsafeBytes { try OnnxTensor.decode(ProtobufReader($0)) }
        XCTAssertEqual(scalar.dims, [1])
        XCTAssertEqual(scalar.integers, [-1])
        let tooLong: [UInt8] = [0x08] + Array(repeating: 0xFF, count: 10) + [0x01]
        XCTAssertThrowsError(try tooLong.withUnsafeBytes { try OnnxTensor.decode(ProtobufReader($0)) })
    }
}
