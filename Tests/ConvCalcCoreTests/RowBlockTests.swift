import XCTest
import ConvCalcTestSupport
@testable import ConvCalcCore
@testable import ConvCalcEngine

/// Register blocking (`sumTapRows`, `DirectConvolution.forwardRows`) against the one-row path
/// (`forwardRow` for every row): bit for bit, at every kernel level this CPU has.
final class RowBlockTests: XCTestCase {
    func testBlockedRowsEqualSingleRows() throws {
        var generator = SeededGenerator(seed: testSeed &+ 7)
        var blocked = 0
        for trial in 0..<60 {
            var spec = ConvolutionSpec()
            let kh = Int.random(in: 1...8, using: &generator), kw = Int.random(in: 1...8, using: &generator)
            spec.dilation = DimSize([1, Int.random(in: 1...2, using: &generator)])
            spec.padding = [.same, .valid, .full].randomElement(using: &generator)!
            spec.groups = Int.random(in: 1...2, using: &generator)
            let channels = spec.groups * Int.random(in: 1...2, using: &generator)
            let (rows, columns) = (Int.random(in: 1...40, using: &generator), Int.random(in: 1...120, using: &generator))
            let input = (0..<channels).map { _ in
                Matrix(rows: rows, columns: columns, values: (0..<(rows * columns)).map { _ in Double.random(in: -1...1, using: &generator) })
            }
            // Output channels per group: 1 (so the channel-blocked method does not take the run).
            let kernel = (0..<(channels / spec.groups * spec.groups)).map { _ in
                Matrix(rows: kh, columns: kw, values: (0..<(kh * kw)).map { _ in Double.random(in: -1...1, using: &generator) })
            }
            let bias = Bool.random(using: &generator) ? (0..<spec.groups).map { _ in Double.random(in: -1...1, using: &generator) } : nil
            guard let plan = try? ConvolutionPlan(inputChannels: channels, rows: rows, columns: columns, kernelBlocks: kernel.count,
                                                  kernelRows: kh, kernelColumns: kw, stated: nil, biasCount: bias?.count, spec: spec) else { continue }
            for level in supportedLevels {
                for threads in [1, 2] {
                    let execution = Execution(level: level, threads: threads, method: .direct)
                    var whole = Convolution.allocateOutput(plan, threads: 1, method: .direct, bias: bias)
                    whole.withUnsafeMutableBufferPointer { DirectConvolution.run(plan, input, kernel, bias: bias, execution: execution, into: $0.baseAddress!) }
                    let single = singleRows(plan, input, kernel, bias: bias, level: level)
                    XCTAssertEqual(whole.map(\.bitPattern), single.map(\.bitPattern), "trial \(trial) \(level) \(threads) threads, \(kh)x\(kw) on \(rows)x\(columns)")
                }
                if DirectConvolution.RowBlocks(plan, phasePlanes: nil, level: level) != nil { blocked += 1 }
            }
        }
        XCTAssertGreaterThan(blocked, 20, "enough trials use row blocks")
    }

    /// Every output row by `forwardRow` alone.
    func singleRows(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernel: [Matrix], bias: [Double]?, level: KernelLevel) -> [Double] {
        var out = [Double](repeating: .nan, count: plan.outputChannels * plan.outputRows * plan.outputColumns)
        let taps = plan.inner * plan.kernelRows * plan.kernelColumns
        Pinned.baseAddresses(input.map(\.values) + kernel.map(\.values)) { pointers in
            let operands = DirectConvolution.RowOperands(input: Array(pointers[0..<input.count]), planes: [],
                                                         kernels: Array(pointers[input.count...]), phasePlanes: nil)
            let scratch = DirectConvolution.TapScratch(taps: taps, rowSources: 1, columns: 1)
            defer { scratch.deallocate() }
            out.withUnsafeMutableBufferPointer { buffer in
                for item in 0..<(plan.outputChannels * plan.outputRows) {
                    let (o, i) = (item / plan.outputRows, item % plan.outputRows)
                    DirectConvolution.forwardRow(plan, o: o, i: i, start: bias?[o] ?? 0, outRow: buffer.baseAddress! + item * plan.outputColumns,
                                                 operands, scratch, level: level)
                }
            }
        }
        return out
    }
}
