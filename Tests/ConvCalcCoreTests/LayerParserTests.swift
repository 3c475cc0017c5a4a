import XCTest
@testable import ConvCalcCore

final class LayerParserTests: XCTestCase {
    func testTokensParse() throws {
        let layer = try Layer.parse("conv:k=1x7,s=2,p=0:1x3:3,d=2,c=64,bias=0")
        XCTAssertEqual(layer.type, .conv)
        XCTAssertEqual(layer.kernel, DimSize([1, 7]))
        XCTAssertEqual(layer.stride, DimSize(2))
        XCTAssertEqual(layer.padding, .explicit([PadPair(0, 1), PadPair(3, 3)]))
        XCTAssertEqual(layer.dilation, DimSize(2))
        XCTAssertEqual(layer.outChannels, 64)
        XCTAssertEqual(layer.bias, false)
        XCTAssertEqual(try Layer.parse("deconv:k=4").type, .tconv)
        XCTAssertEqual(try Layer.parse("maxpool:k=3").effectiveStride, DimSize(3))
        XCTAssertEqual(try Layer.parse("conv: k = 3 , s = 2").stride, DimSize(2))
        XCTAssertEqual(try Layer.parse("relu").type, .relu)
        XCTAssertEqual(try Layer.parse("conv:k=3,p=same").padding, .same)
    }

    /// Each bad token gives the error a user needs, with the right category (exit 2 or 1).
    func testBadTokens() {
        let cases: [(String, ErrorCategory, String)] = [
            ("conv:k=0", .data, "k must be at least 1"),
            ("conv:k=-1", .data, "k must be at least 1"),
            ("conv:k=3,s=0", .data, "s must be at least 1"),
            ("conv:k=3x", .usage, "k=3x is not valid"),
            ("conv:k=x3", .usage, "k=x3 is not valid"),
            ("conv:k=3x3x3x3", .usage, "is not valid"),
            ("conv:k=abc", .usage, "k=abc is not valid"),
            ("conv:k=3.5", .usage, "k=3.5 is not valid"),
            ("conv:k=", .usage, "k=(empty) is not valid"),
            ("conv", .usage, "needs k"),
            ("conv:", .usage, "nothing after ':'"),
            ("conv:k=3,,s=2", .usage, "an empty key=value item"),
            ("conv:k3", .usage, "'k3' is not key=value"),
            ("cnov:k=3", .usage, "did you mean 'conv'?"),
            ("conv:q=3", .usage, "has no key 'q'"),
            ("conv:k=3,k=5", .usage, "given twice"),
            ("bn:k=3", .usage, "it takes no keys"),
            ("conv:k=3,op=1", .usage, "has no key 'op'"),
            ("conv:k=3,p=-1", .data, "p must be at least 0"),
            ("conv:k=3,p=1:2:3", .usage, "is not valid"),
            ("conv:k=3,bias=2", .usage, "expected 0 or 1"),
            ("deform:k=3,v=3", .data, "versions are 1 and 2"),
            ("tconv:k=3,p=full", .data, "cannot take p=full"),
            (":k=3", .usage, "type is missing"),
        ]
        for (token, category, fragment) in cases {
            XCTAssertThrowsError(try Layer.parse(token), token) { error in
                guard let error = error as? UserFacingError else { return XCTFail("\(token): \(error)") }
                XCTAssertEqual(error.category, category, "\(token): \(error.message)")
                XCTAssertTrue(error.message.contains(fragment), "\(token): '\(error.message)' lacks '\(fragment)'")
            }
        }
    }

    func testDimensionRule() throws {
        func dims(_ tokens: [String], input: String? = nil, option: Int? = nil) throws -> (Int, Bool) {
            let stack = try LayerStack(layers: tokens.map { try Layer.parse($0) },
                                       inputSize: try input.map { try DimSize.parse($0, key: "--in", minimum: 1) },
                                       inputChannels: nil, dims: option)
            return (stack.dims, stack.isUniform)
        }
        XCTAssertEqual(try dims(["conv:k=3"]).0, 2)
        XCTAssertEqual(try dims(["conv:k=3"]).1, true)
        XCTAssertEqual(try dims(["conv:k=1x7"]).0, 2)
        XCTAssertEqual(try dims(["conv:k=3"], input: "16x112x112").0, 3)
        XCTAssertEqual(try dims(["conv:k=3"], option: 1).0, 1)
        XCTAssertThrowsError(try dims(["conv:k=1x7"], input: "16x112x112"))
        XCTAssertThrowsError(try dims(["conv:k=1x7"], option: 3))
        XCTAssertThrowsError(try dims(["conv:k=3"], option: 4))
    }

    func testInputPseudoLayer() throws {
        let stack = try LayerStack(layers: [try Layer.parse("input:in=224x224,c=3"), try Layer.parse("conv:k=3")],
                                   inputSize: nil, inputChannels: nil, dims: nil)
        XCTAssertEqual(stack.inputSize, [224, 224])
        XCTAssertEqual(stack.inputChannels, 3)
        XCTAssertEqual(stack.layers.count, 1)
        XCTAssertThrowsError(try LayerStack(layers: [try Layer.parse("conv:k=3"), try Layer.parse("input:in=4")],
                                            inputSize: nil, inputChannels: nil, dims: nil))
    }

    func testStackFile() throws {
        let text = "# a comment\n\nconv:k=3,s=2   # trailing comment\n  maxpool:k=2\n"
        let layers = try LayerStack.parseFile(text, name: "net.txt")
        XCTAssertEqual(layers.map(\.token), ["conv:k=3,s=2", "maxpool:k=2"])
        XCTAssertThrowsError(try LayerStack.parseFile("conv:k=3\n   conv:k=0\n", name: "net.txt")) { error in
            XCTAssertEqual((error as? UserFacingError)?.message, "net.txt:2:4: k=0 is out of range; k must be at least 1")
        }
    }

    func testTransposedOutputPaddingLimit() {
        XCTAssertThrowsError(try LayerStack(layers: [try Layer.parse("tconv:k=3,s=2,op=2")], inputSize: nil, inputChannels: nil, dims: nil))
        XCTAssertNoThrow(try LayerStack(layers: [try Layer.parse("tconv:k=3,s=1,d=2,op=1")], inputSize: nil, inputChannels: nil, dims: nil))
    }
}
