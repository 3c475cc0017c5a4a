import XCTest
import ConvCalcTestSupport
@testable import ConvCalcCore
@testable import ConvCalcEngine

/// The FFT passes of `ConvKernels*/FourierKernels.swift` at every kernel level this CPU has,
/// against the definition of the discrete Fourier transform.
final class FourierKernelTests: XCTestCase {
    /// `fourierColumns` forward gives `X(k) = sum_t x(t) exp(-2 pi i k t / n)` in bit-reversed
    /// order, radix-4 steps with and without the radix-2 step (log2 n odd and even), and the
    /// inverse brings `n * x` back in natural order.
    func testColumnsAreTheDiscreteTransformInBitReversedOrder() {
        var generator = SeededGenerator(seed: 4)
        for level in supportedLevels {
            for n in [2, 4, 8, 16, 32, 64, 128, 256] {
                let (width, stride) = (16, 24)
                let re = UnsafeMutablePointer<Double>.allocate(capacity: n * stride), im = UnsafeMutablePointer<Double>.allocate(capacity: n * stride)
                defer { re.deallocate(); im.deallocate() }
                re.initialize(repeating: 0, count: n * stride)
                im.initialize(repeating: 0, count: n * stride)
                for index in 0..<(n * stride) {
                    (re[index], im[index]) = (Double.random(in: -1...1, using: &generator), Double.random(in: -1...1, using: &generator))
                }
                let original = (Array(UnsafeBufferPointer(start: re, count: n * stride)), Array(UnsafeBufferPointer(start: im, count: n * stride)))
                let twiddles = FourierConvolution.Twiddles(n)
                level.fourierColumns(re: re, im: im, n: n, width: width, rowStride: stride, twiddles: twiddles, inverse: false)
                let bits = n.trailingZeroBitCount
                for column in [0, 5, 15] {
                    for k in 0..<n {
                        var (sr, si) = (0.0, 0.0)
                        for t in 0..<n {
                            let angle: Double = -2 * Double.pi * Double((k * t) % n) / Double(n)
                            let (c, s) = (cos(angle), sin(angle))
                            let xr: Double = original.0[t * stride + column], xi: Double = original.1[t * stride + column]
                            sr += xr * c - xi * s
                            si += xr * s + xi * c
                        }
                        var row = 0
                        for bit in 0..<bits where k & (1 << bit) != 0 { row |= 1 << (bits - 1 - bit) }
                        XCTAssertEqual(re[row * stride + column], sr, accuracy: 1e-12 * Double(n), "\(level) n \(n) k \(k)")
                        XCTAssertEqual(im[row * stride + column], si, accuracy: 1e-12 * Double(n), "\(level) n \(n) k \(k)")
                    }
                }
                level.fourierColumns(re: re, im: im, n: n, width: width, rowStride: stride, twiddles: twiddles, inverse: true)
                for t in 0..<n {
                    for column in 0..<width {
                        XCTAssertEqual(re[t * stride + column], Double(n) * original.0[t * stride + column], accuracy: 1e-12 * Double(n))
                        XCTAssertEqual(im[t * stride + column], Double(n) * original.1[t * stride + column], accuracy: 1e-12 * Double(n))
                    }
                    // Columns past `width` are left alone.
                    XCTAssertEqual(re[t * stride + width], original.0[t * stride + width])
                }
            }
        }
    }

    /// `largestMagnitude` is the largest |x| of finite values and tells inf, -inf and nan
    /// apart anywhere in the row (vector part or tail), at every level.
    func testLargestMagnitude() {
        var generator = SeededGenerator(seed: 8)
        for level in supportedLevels {
            for count in [0, 1, 7, 8, 9, 31, 64, 100] {
                var values = (0..<count).map { _ in Double.random(in: -1e3...1e3, using: &generator) }
                let largest = values.map(abs).max() ?? 0
                XCTAssertEqual(values.withUnsafeBufferPointer { level.largestMagnitude($0.baseAddress!, count: count) }.largest, largest)
                for special in [Double.infinity, -.infinity, .nan] where count > 0 {
                    for position in Set([0, count / 2, count - 1]) {
                        let kept = values[position]
                        values[position] = special
                        XCTAssertFalse(values.withUnsafeBufferPointer { level.largestMagnitude($0.baseAddress!, count: count) }.finite,
                                       "\(level) \(count) \(special) at \(position)")
                        values[position] = kept
                    }
                }
            }
        }
    }

    /// One input channel taller than `choiceHeight` runs in tile rows (`FourierRows`, rows
    /// through `fourierRowStrips`): every tile shape from 8 x 8 to 256 x 256 the sizes choose,
    /// odd and even tile counts, dilation, stride and padding modes, against the reference loops.
    func testTileRowsAgreeWithReference() throws {
        var generator = SeededGenerator(seed: 21)
        let cases: [(Int, Int, Int, Int, Int, PaddingMode)] = [   // rows, columns, kernel, dilation, stride, mode
            (130, 9, 3, 1, 1, .zeros), (200, 77, 5, 2, 1, .reflect), (300, 300, 15, 1, 2, .zeros),
            (257, 130, 31, 1, 1, .replicate), (140, 200, 63, 1, 1, .zeros), (160, 41, 7, 3, 3, .circular),
        ]
        for (rows, columns, k, dilation, stride, mode) in cases {
            var spec = ConvolutionSpec()
            let pad = PadPair(k / 2 * dilation, k / 2 * dilation)
            spec.padding = .explicit([pad, pad])
            spec.paddingMode = mode
            spec.dilation = DimSize(dilation)
            spec.stride = DimSize(stride)
            let plan = try ConvolutionPlan(inputChannels: 1, rows: rows, columns: columns, kernelBlocks: 1, kernelRows: k,
                                           kernelColumns: k, stated: nil, biasCount: 1, spec: spec)
            XCTAssertTrue(FourierRows.applies(plan))
            let input = Matrix(rows: rows, columns: columns, values: (0..<(rows * columns)).map { _ in Double.random(in: -1...1, using: &generator) })
            let kernel = Matrix(rows: k, columns: k, values: (0..<(k * k)).map { _ in Double.random(in: -1...1, using: &generator) })
            let expected = Convolution.reference(plan, [input], [kernel], bias: [0.25])[0]
            let largest = expected.values.map(abs).max()!
            for execution in executions where execution.method == .fft {
                let got = Convolution.run(plan, [input], [kernel], bias: [0.25], execution: execution)[0]
                let error = zip(got.values, expected.values).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(error, 1e-13 * largest, "\(rows)x\(columns) K \(k) d \(dilation) s \(stride) \(mode) \(execution)")
            }
        }
    }
}
