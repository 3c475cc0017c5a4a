import XCTest
@testable import ConvCalcCore
@testable import ConvCalcONNX

/// Weights and constants whose dims break their operator's rule (ONNX Operators.md): each is
/// a one-line error naming the node, never a count with exit 0 and never a trap (negative
/// dims, dims whose product overflows). Models are built in memory; the hand-made files of
/// Tests/fixtures/onnx_handmade cover the same through the command line (golden/onnx.txt).
final class OnnxDimsTests: XCTestCase {
    static let huge = 1 << 62

    /// A model with one data input `x` of `input` dims, `nodes` (each output named after the
    /// node), initializers of `weights` dims (no values), ending at the last node's output.
    static func model(input: [Int], _ nodes: [OnnxNode], weights: [String: [Int]]) -> OnnxModel {
        var graph = OnnxGraph()
        graph.nodes = nodes
        graph.inputs = [OnnxValueInfo(name: "x", elementType: 1, shape: input.map { .value($0) })]
        graph.outputs = [OnnxValueInfo(name: nodes.last!.outputs[0], elementType: 1, shape: nil)]
        for (name, dims) in weights { graph.initializers[name] = OnnxTensor(name: name, dataType: 1, dims: dims) }
        return OnnxModel(irVersion: 8, producer: "test", opset: 17, opsets: [(domain: "", version: 17)], graph: graph)
    }

    static func node(_ op: String, _ inputs: [String], _ name: String, _ attributes: [String: OnnxAttribute] = [:]) -> OnnxNode {
        OnnxNode(name: name, opType: op, inputs: inputs, outputs: [name], attributes: attributes)
    }

    /// The words after `input:` of a model that converts.
    static func words(_ model: OnnxModel) throws -> [String] {
        Array(try OnnxNetwork.convert(model, file: "m.onnx").words.map(\.text).dropFirst())
    }

    /// Asserts the model is refused with a data error whose message holds `message`.
    func assertRefused(_ model: OnnxModel, _ message: String, line: UInt = #line) {
        XCTAssertThrowsError(try OnnxNetwork.convert(model, file: "m.onnx"), line: line) { error in
            guard let error = error as? OnnxError else { return XCTFail("\(error)", line: line) }
            XCTAssertEqual(error.category, .data, line: line)
            XCTAssertTrue(error.message.contains(message), error.message, line: line)
            XCTAssertFalse(error.message.contains("\n"), line: line)
        }
    }

    func testBatchNormalizationValuesAreOnePerChannel() throws {
        let bn = OnnxDimsTests.node("BatchNormalization", ["x", "s", "b", "mean", "var"], "bn")
        let good = ["s": [4], "b": [4], "mean": [4], "var": [4]]
        XCTAssertEqual(try OnnxDimsTests.words(OnnxDimsTests.model(input: [1, 4, 8, 8], [bn], weights: good)), ["bn"])
        for role in ["s", "b", "mean", "var"] {
            for dims in [[7], [-4], [4, 4], [], [4, OnnxDimsTests.huge, OnnxDimsTests.huge], [Int.min]] {
                var weights = good
                weights[role] = dims
                assertRefused(OnnxDimsTests.model(input: [1, 4, 8, 8], [bn], weights: weights), "node 'bn': its ")
                assertRefused(OnnxDimsTests.model(input: [1, 4, 8, 8], [bn], weights: weights), "has dims \(dims), not [4], one value per input channel")
            }
        }
        // After a flatten (BatchNorm1d on N×F): F values each.
        let flat = [OnnxDimsTests.node("Flatten", ["x"], "f"), OnnxDimsTests.node("BatchNormalization", ["f", "s", "b", "mean", "var"], "bn")]
        let sixteen = ["s": [16], "b": [16], "mean": [16], "var": [16]]
        XCTAssertEqual(try OnnxDimsTests.words(OnnxDimsTests.model(input: [1, 4, 2, 2], flat, weights: sixteen)), ["flatten", "bn"])
        assertRefused(OnnxDimsTests.model(input: [1, 4, 2, 2], flat, weights: good), "its scale 's' has dims [4], not [16]")
        // spatial = 0 (opsets 7 and 8): a scale per channel and position, not bn's.
        var perPosition = bn
        perPosition.attributes["spatial"] = .int(0)
        assertRefused(OnnxDimsTests.model(input: [1, 4, 8, 8], [perPosition], weights: ["s": [4, 8, 8], "b": [4, 8, 8], "mean": [4, 8, 8], "var": [4, 8, 8]]),
                      "spatial = 0")
    }

    func testGemmBiasBroadcastsToTheOutput() throws {
        let nodes = [OnnxDimsTests.node("Flatten", ["x"], "f"), OnnxDimsTests.node("Gemm", ["f", "w", "c"], "fc", ["transB": .int(1)])]
        for dims in [[5], [1, 5]] {
            XCTAssertEqual(try OnnxDimsTests.words(OnnxDimsTests.model(input: [1, 2, 2, 2], nodes, weights: ["w": [5, 8], "c": dims])), ["flatten", "fc:c=5"], "\(dims)")
            XCTAssertEqual(try OnnxDimsTests.words(OnnxDimsTests.model(input: [3, 2, 2, 2], nodes, weights: ["w": [5, 8], "c": dims])), ["flatten", "fc:c=5"], "\(dims)")
        }
        // One value for every output: a Linear without bias, and one learned value added (as MatMul then Add of [1]).
        for dims in [[], [1], [1, 1]] {
            XCTAssertEqual(try OnnxDimsTests.words(OnnxDimsTests.model(input: [1, 2, 2, 2], nodes, weights: ["w": [5, 8], "c": dims])),
                           ["flatten", "fc:c=5,bias=0", "shift:n=1"], "\(dims)")
        }
        let matMulScalar = [OnnxDimsTests.node("Flatten", ["x"], "f"), OnnxDimsTests.node("MatMul", ["f", "w"], "mm"), OnnxDimsTests.node("Add", ["mm", "c"], "add")]
        XCTAssertEqual(try OnnxDimsTests.words(OnnxDimsTests.model(input: [1, 2, 2, 2], matMulScalar, weights: ["w": [8, 5], "c": [1]])), ["flatten", "fc:c=5,bias=0", "shift:n=1"])
        // A one-output Gemm: [1] is its bias.
        XCTAssertEqual(try OnnxDimsTests.words(OnnxDimsTests.model(input: [1, 2, 2, 2], nodes, weights: ["w": [1, 8], "c": [1]])), ["flatten", "fc:c=1"])
        // A value per sample ([M, N], [M, 1] at batch M > 1) is no layer's bias.
        for dims in [[3, 5], [3, 1]] {
            assertRefused(OnnxDimsTests.model(input: [3, 2, 2, 2], nodes, weights: ["w": [5, 8], "c": dims]),
                          "node 'fc': its C 'c' has dims \(dims), a value per sample of the batch of 3; convcalc's fc has one bias per output")
        }
        // A tied weight is marked on the fc, not on the shift after it.
        let tied = [OnnxDimsTests.node("Flatten", ["x"], "f"), OnnxDimsTests.node("Gemm", ["f", "w", "c"], "fc", ["transB": .int(1)]),
                    OnnxDimsTests.node("Gemm", ["fc", "w", "c"], "fc2", ["transB": .int(1)])]
        XCTAssertEqual(try OnnxDimsTests.words(OnnxDimsTests.model(input: [1, 5, 1, 1], tied, weights: ["w": [5, 5], "c": []])),
                       ["flatten", "fc:c=5,bias=0", "shift:n=1", "fc:c=5,bias=0,tied=1", "shift:n=1"])
        for dims in [[3], [-5], [5, 5], [2, 5], [1, 1, 5], [OnnxDimsTests.huge, OnnxDimsTests.huge], [Int.min, 5]] {
            assertRefused(OnnxDimsTests.model(input: [1, 2, 2, 2], nodes, weights: ["w": [5, 8], "c": dims]),
                          "node 'fc': its C 'c' has dims \(dims), which do not broadcast to its output [1, 5]")
        }
        assertRefused(OnnxDimsTests.model(input: [1, 2, 2, 2], nodes, weights: ["w": [-5, 8], "c": [5]]), "its B 'w' has dims [-5, 8], not two sizes ≥ 1")
        // MatMul then Add (PyTorch's Linear on N×in): the Add's constant is the bias only when it is one per output.
        let matMul = [OnnxDimsTests.node("Flatten", ["x"], "f"), OnnxDimsTests.node("MatMul", ["f", "w"], "mm"), OnnxDimsTests.node("Add", ["mm", "c"], "add")]
        XCTAssertEqual(try OnnxDimsTests.words(OnnxDimsTests.model(input: [1, 2, 2, 2], matMul, weights: ["w": [8, 6], "c": [1, 6]])), ["flatten", "fc:c=6"])
        assertRefused(OnnxDimsTests.model(input: [1, 2, 2, 2], matMul, weights: ["w": [8, 6], "c": [2, 3]]), "of dims [2, 3] does not broadcast onto [1, 6]")
    }

    func testElementwiseConstantsHaveSizes() throws {
        let add = [OnnxDimsTests.node("Add", ["x", "c"], "add")]
        XCTAssertEqual(try OnnxDimsTests.words(OnnxDimsTests.model(input: [1, 4, 8, 8], add, weights: ["c": [4, 1, 1]])), ["shift:n=4"])
        assertRefused(OnnxDimsTests.model(input: [1, 4, 8, 8], add, weights: ["c": [-4]]), "node 'add': its constant 'c' has dims [-4]; a size below 0 is no size")
        assertRefused(OnnxDimsTests.model(input: [1, 4, 8, 8], add, weights: ["c": [1, 4, OnnxDimsTests.huge, OnnxDimsTests.huge]]),
                      "node 'add': its constant 'c' has dims [1, 4, 4611686018427387904, 4611686018427387904], more elements than 64 bits count")
        assertRefused(OnnxDimsTests.model(input: [1, 4, 8, 8], add, weights: ["c": [0]]), "its constant 'c' of dims [0] does not broadcast onto [1, 4, 8, 8]")
        assertRefused(OnnxDimsTests.model(input: [1, 4, 8, 8], add, weights: ["c": [2, 4, 1, 1]]), "does not broadcast onto [1, 4, 8, 8]")
        // Operators counted as zero read their constants by the same rules.
        let pow = [OnnxDimsTests.node("Pow", ["x", "e"], "pow")]
        XCTAssertEqual(try OnnxNetwork.convert(OnnxDimsTests.model(input: [1, 4, 8, 8], pow, weights: ["e": [1]]), file: "m.onnx").uncounted, ["Pow": 1])
        assertRefused(OnnxDimsTests.model(input: [1, 4, 8, 8], pow, weights: ["e": [-1]]), "node 'pow': its constant 'e' has dims [-1]")
        assertRefused(OnnxDimsTests.model(input: [1, 4, 8, 8], pow, weights: ["e": [1, 1, 1, 1, 1]]), "node 'pow': its constant 'e' of dims [1, 1, 1, 1, 1] does not broadcast")
        let quantize = [OnnxDimsTests.node("QuantizeLinear", ["x", "scale"], "q")]
        XCTAssertEqual(try OnnxNetwork.convert(OnnxDimsTests.model(input: [1, 4, 8, 8], quantize, weights: ["scale": [4]]), file: "m.onnx").uncounted, ["QuantizeLinear": 1])
        assertRefused(OnnxDimsTests.model(input: [1, 4, 8, 8], quantize, weights: ["scale": [OnnxDimsTests.huge, 4]]), "its y_scale 'scale' has dims [4611686018427387904, 4], neither per tensor")
    }

    func testPReluSlopeBroadcastsOntoItsInput() throws {
        let prelu = [OnnxDimsTests.node("PRelu", ["x", "slope"], "prelu")]
        for (dims, count) in [([4, 1, 1], 4), ([1], 1), ([1, 4, 1, 1], 4)] {
            XCTAssertEqual(try OnnxDimsTests.words(OnnxDimsTests.model(input: [1, 4, 8, 8], prelu, weights: ["slope": dims])), ["prelu:n=\(count)"])
        }
        for dims in [[7], [-4], [4], [OnnxDimsTests.huge, OnnxDimsTests.huge, 1]] {
            assertRefused(OnnxDimsTests.model(input: [1, 4, 8, 8], prelu, weights: ["slope": dims]),
                          "node 'prelu': its slope 'slope' has dims \(dims), which do not broadcast onto its input [1, 4, 8, 8]")
        }
    }

    /// A weight added to channels-last values (N×H×W×C) broadcasts in that layout: [C] onto [1, 8, 8, 4].
    func testChannelsLastConstantsBroadcastInTheirLayout() throws {
        let nodes = [OnnxDimsTests.node("Transpose", ["x"], "last", ["perm": .ints([0, 2, 3, 1])]), OnnxDimsTests.node("Add", ["last", "c"], "add"),
                     OnnxDimsTests.node("Transpose", ["add"], "first", ["perm": .ints([0, 3, 1, 2])])]
        XCTAssertEqual(try OnnxDimsTests.words(OnnxDimsTests.model(input: [1, 4, 8, 8], nodes, weights: ["c": [4]])), ["shift:n=4"])
        assertRefused(OnnxDimsTests.model(input: [1, 4, 8, 8], nodes, weights: ["c": [4, 1, 1]]), "does not broadcast onto [1, 8, 8, 4]")
    }

    /// LayerNormalization on channels-last values (ConvNeXt): Scale and B are one value per
    /// channel, [C] or [1, …, 1, C], which is layernorm's 2·C.
    func testLayerNormalizationValuesAreOnePerChannel() throws {
        let nodes = [OnnxDimsTests.node("Transpose", ["x"], "last", ["perm": .ints([0, 2, 3, 1])]),
                     OnnxDimsTests.node("LayerNormalization", ["last", "s", "b"], "ln", ["axis": .int(-1)]),
                     OnnxDimsTests.node("Transpose", ["ln"], "first", ["perm": .ints([0, 3, 1, 2])])]
        for dims in [[4], [1, 4], [1, 1, 1, 4]] {
            XCTAssertEqual(try OnnxDimsTests.words(OnnxDimsTests.model(input: [1, 4, 8, 8], nodes, weights: ["s": dims, "b": [4]])), ["layernorm"], "\(dims)")
            XCTAssertEqual(try OnnxDimsTests.words(OnnxDimsTests.model(input: [1, 4, 8, 8], nodes, weights: ["s": [4], "b": dims])), ["layernorm"], "\(dims)")
        }
        for dims in [[7], [1], [], [-4], [8, 4], [1, 8, 8, 4], [1, 1, 1, 1, 4], [OnnxDimsTests.huge, OnnxDimsTests.huge, 4], [Int.min]] {
            assertRefused(OnnxDimsTests.model(input: [1, 4, 8, 8], nodes, weights: ["s": dims, "b": [4]]),
                          "node 'ln': its Scale 's' has dims \(dims), not [4], one value per normalised channel")
            assertRefused(OnnxDimsTests.model(input: [1, 4, 8, 8], nodes, weights: ["s": [4], "b": dims]),
                          "node 'ln': its B 'b' has dims \(dims), not [4], one value per normalised channel")
        }
        var noScale = nodes
        noScale[1].inputs = ["last", "", "b"]
        assertRefused(OnnxDimsTests.model(input: [1, 4, 8, 8], noScale, weights: ["b": [4]]), "LayerNormalization without a scale")
        noScale[1].inputs = ["last"]
        assertRefused(OnnxDimsTests.model(input: [1, 4, 8, 8], noScale, weights: [:]), "LayerNormalization without a scale")
    }

    /// InstanceNormalization (counted as zero) reads a scale and a B of [C] each.
    func testInstanceNormalizationValuesAreOnePerChannel() throws {
        let nodes = [OnnxDimsTests.node("Conv", ["x", "w"], "conv"), OnnxDimsTests.node("InstanceNormalization", ["conv", "s", "b"], "in")]
        let good = ["w": [4, 3, 1, 1], "s": [4], "b": [4]]
        let converted = try OnnxNetwork.convert(OnnxDimsTests.model(input: [1, 3, 8, 8], nodes, weights: good), file: "m.onnx")
        XCTAssertEqual(converted.uncounted, ["InstanceNormalization": 1])
        XCTAssertEqual(converted.words.map(\.text).dropFirst(), ["conv:k=1,c=4,bias=0"])
        for role in ["s", "b"] {
            for dims in [[7], [4, 1, 1], [1, 4], [], [1], [-4], [OnnxDimsTests.huge, OnnxDimsTests.huge], [Int.min]] {
                var weights = good
                weights[role] = dims
                assertRefused(OnnxDimsTests.model(input: [1, 3, 8, 8], nodes, weights: weights),
                              "node 'in': its \(role == "s" ? "scale" : "B") '\(role)' has dims \(dims), not [4], one value per input channel")
            }
        }
        var missing = nodes
        missing[1].inputs = ["conv", "s"]
        assertRefused(OnnxDimsTests.model(input: [1, 3, 8, 8], missing, weights: good), "node 'in': its B input is missing; InstanceNormalization needs all three")
        missing[1].inputs = ["conv", "", "b"]
        assertRefused(OnnxDimsTests.model(input: [1, 3, 8, 8], missing, weights: good), "node 'in': its scale input is missing")
    }

    /// QuantizeLinear and DequantizeLinear (counted as zero): a scale per tensor, per axis or
    /// in blocks, and a zero point of the scale's dims.
    func testQuantizationScalesAreForTheInput() throws {
        func nodes(_ attributes: [String: OnnxAttribute] = [:]) -> [OnnxNode] {
            [OnnxDimsTests.node("Conv", ["x", "w"], "conv"), OnnxDimsTests.node("QuantizeLinear", ["conv", "s", "z"], "q", attributes),
             OnnxDimsTests.node("DequantizeLinear", ["q", "s", "z"], "dq", attributes)]
        }
        func model(_ scale: [Int], _ zero: [Int], _ attributes: [String: OnnxAttribute] = [:]) -> OnnxModel {
            OnnxDimsTests.model(input: [1, 3, 8, 8], nodes(attributes), weights: ["w": [4, 3, 1, 1], "s": scale, "z": zero])
        }
        let none: [String: OnnxAttribute] = [:]
        let good: [([Int], [Int], [String: OnnxAttribute])] = [([], [], none), ([1], [1], none), ([], [1], none), ([4], [4], none),
                                                               ([8], [8], ["axis": .int(2)]), ([8], [8], ["axis": .int(-1)]),
                                                               ([1, 4, 3, 8], [1, 4, 3, 8], ["axis": .int(2), "block_size": .int(3)])]
        for (scale, zero, attributes) in good {
            let converted = try OnnxNetwork.convert(model(scale, zero, attributes), file: "m.onnx")
            XCTAssertEqual(converted.uncounted, ["QuantizeLinear": 1, "DequantizeLinear": 1], "\(scale) \(attributes)")
        }
        for dims in [[7], [8], [1, 4], [4, 1, 1], [-4], [OnnxDimsTests.huge, OnnxDimsTests.huge], [Int.min]] {
            assertRefused(model(dims, dims), "node 'q': its y_scale 's' has dims \(dims), neither per tensor ([] or [1]) nor per axis ([4], axis 1 of its input [1, 4, 8, 8])")
        }
        assertRefused(model([4], [7]), "node 'q': its y_zero_point 'z' has dims [7], not its y_scale's [4]")
        assertRefused(model([4], [4], ["axis": .int(4)]), "node 'q': axis 4 is outside a rank-4 tensor")
        assertRefused(model([1, 4, 2, 8], [1, 4, 2, 8], ["axis": .int(2), "block_size": .int(3)]),
                      "node 'q': its y_scale 's' has dims [1, 4, 2, 8], not [1, 4, 3, 8], blocks of 3 along axis 2 of its input [1, 4, 8, 8]")
        // DequantizeLinear names its own inputs (x_scale, x_zero_point).
        var dequantize = nodes()
        dequantize[1].inputs = ["conv", "s2", "z2"]
        assertRefused(OnnxDimsTests.model(input: [1, 3, 8, 8], dequantize, weights: ["w": [4, 3, 1, 1], "s": [7], "z": [7], "s2": [4], "z2": [4]]),
                      "node 'dq': its x_scale 's' has dims [7], neither per tensor")
    }
}
