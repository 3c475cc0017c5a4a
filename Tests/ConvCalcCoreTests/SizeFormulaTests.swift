import XCTest
@testable import ConvCalcCore

final class SizeFormulaTests: XCTestCase {
    func formula(_ tokens: [String]) throws -> String? {
        let stack = try LayerStack(layers: tokens.map { try Layer.parse($0) }, inputSize: nil, inputChannels: nil, dims: 1)
        return stack.composedFormula(0)?.render(variable: "in")
    }

    func testRendering() throws {
        XCTAssertEqual(try formula(["conv:k=3,d=2"]), "in − 4")
        XCTAssertEqual(try formula(["conv:k=3,s=2"]), "⌊(in − 3)/2⌋ + 1")
        XCTAssertEqual(try formula(["conv:k=3,s=2,p=same"]), "⌈in/2⌉")
        XCTAssertEqual(try formula(["tconv:k=3,s=2,p=1,op=1"]), "2·in")
        XCTAssertEqual(try formula(["upsample:s=2"]), "2·in")
        XCTAssertEqual(try formula(["conv:k=3,p=1"]), "in")
        XCTAssertEqual(try formula(["gap"]), "1")
    }

    /// Composed formulas agree with applying the layers one by one, for every input.
    func testCompositionAgreesWithStepping() throws {
        let stacks = [
            ["conv:k=7,s=2,p=3", "maxpool:k=3,s=2,p=1", "conv:k=3,p=1"],
            ["conv:k=3,s=2", "conv:k=5,s=3,p=2", "conv:k=2,s=2"],
            ["tconv:k=4,s=2,p=1", "conv:k=3,s=2"],
            ["conv:k=3,p=same,s=2", "tconv:k=3,s=3,p=1,op=2", "conv:k=5,s=4,d=2"],
            ["upsample:s=3", "conv:k=3,s=2"],
        ]
        for tokens in stacks {
            let stack = try LayerStack(layers: tokens.map { try Layer.parse($0) }, inputSize: nil, inputChannels: nil, dims: 1)
            let composed = stack.composedFormula(0)
            for n in 1...200 {
                let stepped = try? ShapeTrace(stack: stack, input: [n]).output[0]
                guard let stepped else { continue }
                if let composed { XCTAssertEqual(composed.evaluate(n), stepped, "\(tokens) in=\(n)") }
            }
            if let minimum = stack.minimumInput(0) {
                XCTAssertNotNil(try? ShapeTrace(stack: stack, input: [minimum]), "\(tokens)")
                if minimum > 1 { XCTAssertNil(try? ShapeTrace(stack: stack, input: [minimum - 1]), "\(tokens)") }
            }
        }
    }
}
