// The inner loop of `convcalc run`, compiled three times: for baseline x86-64 / any CPU
// (module ConvKernels), for AVX2 + FMA (ConvKernelsAVX2) and for AVX-512 (ConvKernelsAVX512);
// the two copies are symbolic links to this file. ConvCalcCore picks one at run time from
// the CPU's features (`KernelLevel`).

/// `out[m·outStride] = start + Σ_t weights[t] · sources[t][m]` for `m` in `0..<count`.
///
/// Every convolution of `convcalc run` (forward, strided, dilated, transposed, any padding
/// mode) reduces, row by row, to this sum of shifted rows: one tap per (input channel, kernel
/// row, kernel column) whose row is read. The taps' order is the order of the sum.
/// 32 outputs at a time in four 8-lane accumulators held in registers (64 in eight with
/// AVX-512's 32 registers), vectorised across output columns, then 8 at a time, then one.
public func sumTaps(_ out: UnsafeMutablePointer<Double>, outStride: Int, count: Int, start: Double,
                    sources: UnsafePointer<UnsafePointer<Double>>, weights: UnsafePointer<Double>, taps: Int) {
    var m = 0
    let initial = SIMD8<Double>(repeating: start)
    #if WIDE_REGISTERS
    // 32 vector registers: eight independent chains hide the FMA latency (4 cycles × 2 units).
    while m + 64 <= count {
        var a0 = initial, a1 = initial, a2 = initial, a3 = initial, a4 = initial, a5 = initial, a6 = initial, a7 = initial
        for t in 0..<taps {
            let w = SIMD8<Double>(repeating: weights[t])
            let p = UnsafeRawPointer(sources[t] + m)
            multiplyAdd(&a0, w, p.loadUnaligned(as: SIMD8<Double>.self))
            multiplyAdd(&a1, w, p.loadUnaligned(fromByteOffset: 64, as: SIMD8<Double>.self))
            multiplyAdd(&a2, w, p.loadUnaligned(fromByteOffset: 128, as: SIMD8<Double>.self))
            multiplyAdd(&a3, w, p.loadUnaligned(fromByteOffset: 192, as: SIMD8<Double>.self))
            multiplyAdd(&a4, w, p.loadUnaligned(fromByteOffset: 256, as: SIMD8<Double>.self))
            multiplyAdd(&a5, w, p.loadUnaligned(fromByteOffset: 320, as: SIMD8<Double>.self))
            multiplyAdd(&a6, w, p.loadUnaligned(fromByteOffset: 384, as: SIMD8<Double>.self))
            multiplyAdd(&a7, w, p.loadUnaligned(fromByteOffset: 448, as: SIMD8<Double>.self))
        }
        store(a0, out, m, outStride)
        store(a1, out, m + 8, outStride)
        store(a2, out, m + 16, outStride)
        store(a3, out, m + 24, outStride)
        store(a4, out, m + 32, outStride)
        store(a5, out, m + 40, outStride)
        store(a6, out, m + 48, outStride)
        store(a7, out, m + 56, outStride)
        m += 64
    }
    #endif
    while m + 32 <= count {
        var a0 = initial, a1 = initial, a2 = initial, a3 = initial
        for t in 0..<taps {
            let w = SIMD8<Double>(repeating: weights[t])
            let p = UnsafeRawPointer(sources[t] + m)
            multiplyAdd(&a0, w, p.loadUnaligned(as: SIMD8<Double>.self))
            multiplyAdd(&a1, w, p.loadUnaligned(fromByteOffset: 64, as: SIMD8<Double>.self))
            multiplyAdd(&a2, w, p.loadUnaligned(fromByteOffset: 128, as: SIMD8<Double>.self))
            multiplyAdd(&a3, w, p.loadUnaligned(fromByteOffset: 192, as: SIMD8<Double>.self))
        }
        store(a0, out, m, outStride)
        store(a1, out, m + 8, outStride)
        store(a2, out, m + 16, outStride)
        store(a3, out, m + 24, outStride)
        m += 32
    }
    while m + 8 <= count {
        var a0 = initial
        for t in 0..<taps {
            multiplyAdd(&a0, SIMD8<Double>(repeating: weights[t]), UnsafeRawPointer(sources[t] + m).loadUnaligned(as: SIMD8<Double>.self))
        }
        store(a0, out, m, outStride)
        m += 8
    }
    while m < count {
        var sum = start
        for t in 0..<taps {
            #if FUSED_MULTIPLY_ADD
            sum.addProduct(weights[t], sources[t][m])
            #else
            sum += weights[t] * sources[t][m]
            #endif
        }
        out[m * outStride] = sum
        m += 1
    }
}

@inline(__always)
func multiplyAdd(_ acc: inout SIMD8<Double>, _ w: SIMD8<Double>, _ x: SIMD8<Double>) {
    #if FUSED_MULTIPLY_ADD
    acc.addProduct(w, x)   // one FMA instruction on this target
    #else
    acc += w * x           // without FMA, addProduct would be a library call per lane
    #endif
}

@inline(__always)
func store(_ v: SIMD8<Double>, _ out: UnsafeMutablePointer<Double>, _ m: Int, _ stride: Int) {
    if stride == 1 {
        UnsafeMutableRawPointer(out + m).storeBytes(of: v, as: SIMD8<Double>.self)
    } else {
        for lane in 0..<8 { out[(m + lane) * stride] = v[lane] }
    }
}
