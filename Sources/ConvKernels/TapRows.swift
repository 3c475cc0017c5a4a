// Register blocking for `sumTaps`: several output rows per call, compiled three times as
// TapSum.swift is (ConvKernelsAVX2 and ConvKernelsAVX512 hold symbolic links to this file).

#if WIDE_REGISTERS
/// Output rows one `sumTapRows` call computes (32 vector registers: 4 rows of 32 columns).
public let tapRowsPerCall = 4
/// Output columns per step of `sumTapRows`; its `count` is a multiple of this.
public let tapRowColumns = 32
#else
/// Output rows one `sumTapRows` call computes (16 vector registers: 2 rows of 16 columns).
public let tapRowsPerCall = 2
/// Output columns per step of `sumTapRows`; its `count` is a multiple of this.
public let tapRowColumns = 16
#endif

/// `tapRowsPerCall` output rows r of a row-stride-1 correlation, each the sum `sumTaps` makes:
/// `out[r*outRowStride + m] = start + sum_g sum_a sum_b w[g][a][b] * sources[g*S + r + a][columns[b] + m]`
/// for `m` in `0..<count` (a multiple of `tapRowColumns`), `S = kernelRows + tapRowsPerCall - 1`
/// input rows per group g (input channel), `w[g]` the `kernelRows x kernelColumns` weights
/// at `weights + g*kernelRows*kernelColumns`.
///
/// Each loaded input vector serves every output row that reads it (up to `tapRowsPerCall`
/// fused multiply-adds per load instead of one), and every output still takes its taps in
/// the order (g, a, b) with the same operations as `sumTaps`: the results are bit-identical.
public func sumTapRows(_ out: UnsafeMutablePointer<Double>, outRowStride: Int, count: Int, start: Double,
                       sources: UnsafePointer<UnsafePointer<Double>>, kernelRows: Int, columns: UnsafePointer<Int>,
                       kernelColumns: Int, weights: UnsafePointer<Double>, groups: Int) {
    let span = kernelRows + tapRowsPerCall - 1
    let perGroup = kernelRows * kernelColumns
    let initial = SIMD8<Double>(repeating: start)
    var m = 0
    while m + tapRowColumns <= count {
        #if WIDE_REGISTERS
        var r0 = Accumulators(initial), r1 = Accumulators(initial), r2 = Accumulators(initial), r3 = Accumulators(initial)
        #else
        var r0 = Accumulators(initial), r1 = Accumulators(initial)
        #endif
        for g in 0..<groups {
            let w = weights + g * perGroup
            for s in 0..<span {
                let row = sources[g * span + s] + m
                // Output row r reads this input row as its kernel row s - r.
                let use0 = s < kernelRows, use1 = s >= 1 && s - 1 < kernelRows
                #if WIDE_REGISTERS
                let use2 = s >= 2 && s - 2 < kernelRows, use3 = s >= 3
                #endif
                for b in 0..<kernelColumns {
                    let x = Accumulators(load: UnsafeRawPointer(row + columns[b]))
                    if use0 { r0.add(w[s * kernelColumns + b], x) }
                    if use1 { r1.add(w[(s - 1) * kernelColumns + b], x) }
                    #if WIDE_REGISTERS
                    if use2 { r2.add(w[(s - 2) * kernelColumns + b], x) }
                    if use3 { r3.add(w[(s - 3) * kernelColumns + b], x) }
                    #endif
                }
            }
        }
        r0.store(out + m)
        r1.store(out + outRowStride + m)
        #if WIDE_REGISTERS
        r2.store(out + 2 * outRowStride + m)
        r3.store(out + 3 * outRowStride + m)
        #endif
        m += tapRowColumns
    }
}

/// `tapRowColumns` consecutive doubles as 8-lane vectors (four with 32 registers, else two).
struct Accumulators {
    var v0: SIMD8<Double>, v1: SIMD8<Double>
    #if WIDE_REGISTERS
    var v2: SIMD8<Double>, v3: SIMD8<Double>
    #endif

    @inline(__always)
    init(_ value: SIMD8<Double>) {
        v0 = value
        v1 = value
        #if WIDE_REGISTERS
        v2 = value
        v3 = value
        #endif
    }

    @inline(__always)
    init(load p: UnsafeRawPointer) {
        v0 = p.loadUnaligned(as: SIMD8<Double>.self)
        v1 = p.loadUnaligned(fromByteOffset: 64, as: SIMD8<Double>.self)
        #if WIDE_REGISTERS
        v2 = p.loadUnaligned(fromByteOffset: 128, as: SIMD8<Double>.self)
        v3 = p.loadUnaligned(fromByteOffset: 192, as: SIMD8<Double>.self)
        #endif
    }

    /// `self += weight * x`, lane by lane, as `multiplyAdd` (fused where the target has FMA).
    @inline(__always)
    mutating func add(_ weight: Double, _ x: Accumulators) {
        let w = SIMD8<Double>(repeating: weight)
        multiplyAdd(&v0, w, x.v0)
        multiplyAdd(&v1, w, x.v1)
        #if WIDE_REGISTERS
        multiplyAdd(&v2, w, x.v2)
        multiplyAdd(&v3, w, x.v3)
        #endif
    }

    @inline(__always)
    func store(_ out: UnsafeMutablePointer<Double>) {
        UnsafeMutableRawPointer(out).storeBytes(of: v0, as: SIMD8<Double>.self)
        UnsafeMutableRawPointer(out + 8).storeBytes(of: v1, as: SIMD8<Double>.self)
        #if WIDE_REGISTERS
        UnsafeMutableRawPointer(out + 16).storeBytes(of: v2, as: SIMD8<Double>.self)
        UnsafeMutableRawPointer(out + 24).storeBytes(of: v3, as: SIMD8<Double>.self)
        #endif
    }
}
