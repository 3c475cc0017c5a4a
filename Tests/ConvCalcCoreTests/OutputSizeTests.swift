import XCTest
@testable import ConvCalcCore

/// The fixtures folder beside the test targets (read from the source tree).
let fixturesDirectory: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(2)   // ConvCalcCoreTests/OutputSizeTests.swift
    return parts.joined(separator: "/") + "/fixtures"
}()

func readFixture(_ name: String) throws -> String {
    try String(contentsOfFile: fixturesDirectory + "/" + name, encoding: .utf8)
}

/// Output size of a one-layer stack, as text (`28`, `28x26`) or "error".
func outputSize(token: String, input: String, dims: Int) -> String {
    do {
        let layer = try Layer.parse(token)
        let stack = try LayerStack(layers: [layer], inputSize: try DimSize.parse(input, key: "--in", minimum: 1),
                                   inputChannels: nil, dims: dims)
        let trace = try ShapeTrace(stack: stack, input: stack.inputSize!)
        return trace.output.map(String.init).joined(separator: "x")
    } catch {
        return "error"
    }
}

final class OutputSizeTests: XCTestCase {
    /// Random layers whose output sizes PyTorch computed (Tests/fixtures/generate_shape_cases.py).
    func testAgreesWithPyTorch() throws {
        let text = try readFixture("shape_pytorch.tsv")
        var checked = 0
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: "\t").map(String.init)
            XCTAssertEqual(fields.count, 4, "malformed fixture line: \(line)")
            guard fields.count == 4, let dims = Int(fields[2]) else { continue }
            let got = outputSize(token: fields[0], input: fields[1], dims: dims)
            XCTAssertEqual(got, fields[3], "\(fields[0]) --in \(fields[1]) --dims \(dims)")
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 500)
    }

    func testSpecExamples() {
        XCTAssertEqual(outputSize(token: "tconv:k=3,s=2,p=1,op=1", input: "3", dims: 2), "6x6")
        XCTAssertEqual(outputSize(token: "tconv:k=3", input: "2", dims: 2), "4x4")
        XCTAssertEqual(outputSize(token: "conv:k=7,s=2,p=3", input: "224", dims: 2), "112x112")
        // SPEC §8: PyTorch's ceil mode drops the last window: H=10, k=1, s=2 gives 5, not 6.
        XCTAssertEqual(outputSize(token: "maxpool:k=1,s=2,ceil=1", input: "10", dims: 1), "5")
        // SPEC §8: max_pool2d with k=3, d=2, p=2 is refused (padding above half the kernel).
        XCTAssertEqual(outputSize(token: "maxpool:k=3,d=2,p=2", input: "20", dims: 2), "error")
        // Floor division, not truncation: (4 − 5)/2 + 1 must be 0, an error, not 1.
        XCTAssertEqual(outputSize(token: "conv:k=5,s=2", input: "4", dims: 1), "error")
    }

    func testSamePaddingPutsTheExtraOneAfter() throws {
        let stack = try LayerStack(layers: [try Layer.parse("conv:k=4,s=2,p=same")], inputSize: DimSize(7), inputChannels: nil, dims: 1)
        let step = try stack.geometry(of: 0).step(0, input: 7)
        // out = ⌈7/2⌉ = 4; total = (4 − 1)·2 + 4 − 7 = 3 → 1 before, 2 after.
        XCTAssertEqual(step.output, 4)
        XCTAssertEqual(step.pad, PadPair(1, 2))
    }

    func testTransposedSameIsInTimesStride() throws {
        for (k, s) in [(3, 2), (1, 3), (4, 2), (2, 4)] {
            let stack = try LayerStack(layers: [try Layer.parse("tconv:k=\(k),s=\(s),p=same")], inputSize: DimSize(5), inputChannels: nil, dims: 1)
            XCTAssertEqual(try stack.geometry(of: 0).step(0, input: 5).output, 5 * s, "k=\(k) s=\(s)")
        }
    }

    func testUpsampleAndPixelShuffle() {
        XCTAssertEqual(outputSize(token: "upsample:s=2", input: "7x5", dims: 2), "14x10")
        XCTAssertEqual(outputSize(token: "pixelshuffle:r=3", input: "4", dims: 2), "12x12")
        XCTAssertEqual(outputSize(token: "gap", input: "7", dims: 2), "1x1")
        XCTAssertEqual(outputSize(token: "bn", input: "7", dims: 3), "7x7x7")
    }

    func testOverflowIsAnErrorNotATrap() {
        XCTAssertEqual(outputSize(token: "conv:k=9223372036854775807,d=2", input: "3", dims: 1), "error")
        XCTAssertEqual(outputSize(token: "upsample:s=4611686018427387904", input: "3", dims: 1), "error")
        XCTAssertEqual(outputSize(token: "tconv:k=3,s=9223372036854775807", input: "9223372036854775807", dims: 1), "error")
        XCTAssertEqual(outputSize(token: "conv:k=1,p=9223372036854775807", input: "9223372036854775807", dims: 1), "error")
        XCTAssertEqual(outputSize(token: "conv:k=99999999999999999999", input: "3", dims: 1), "error")
    }

    func testWarnings() throws {
        func warnings(_ token: String, _ input: Int) throws -> [ShapeWarning] {
            let stack = try LayerStack(layers: [try Layer.parse(token)], inputSize: DimSize(input), inputChannels: nil, dims: 1)
            return try ShapeTrace(stack: stack, input: [input]).layers[0].warnings
        }
        XCTAssertEqual(try warnings("conv:k=3,s=2", 32), [.unreadTail(dim: "", nouns: "positions", count: 1, input: 32, stride: 2)])
        XCTAssertEqual(try warnings("conv:k=3,s=2,p=1", 32), [])
        XCTAssertEqual(try warnings("conv:k=1,s=2", 8),
                       [.skippedBetweenWindows(dim: "", nouns: "positions", skipped: 1, stride: 2, effectiveKernel: 1)])
        XCTAssertEqual(try warnings("conv:k=3,p=4", 4), [.windowsInPadding(dim: "", count: 4, total: 10)])
        // Dilation straddling a 1-wide input: taps at −1 and 1 miss the only position 0.
        XCTAssertEqual(try warnings("conv:k=2,d=2,p=1", 1), [.windowsInPadding(dim: "", count: 1, total: 1)])
    }
}
