// The register-blocked inner loop of multi-channel `convcalc run` (ConvCalcEngine's
// `BlockedConvolution`), compiled three times like TapSum.swift: the copies in
// Sources/ConvKernelsAVX2 and Sources/ConvKernelsAVX512 are symbolic links to this file.

/// Positions one call of `accumulateChannelBlock` computes for each of its output channels:
/// 32 with AVX-512's 32 registers (4 channels × 4 eight-lane accumulators), 16 elsewhere
/// (4 × 2, which fits AVX2's 16 registers as 4 × 4 half-width ones).
#if WIDE_REGISTERS
public let channelBlockPositions = 32
#else
public let channelBlockPositions = 16
#endif

/// Output channels one call computes.
public let channelBlockChannels = 4

/// `acc[o·P + q] += Σ_t weights[t·4 + o] · sources[t][offset + q]` for the 4 output channels
/// `o` and the `P = channelBlockPositions` positions `q`, taps `t` in order (one fused
/// multiply–add each where the target has FMA, so every output is the sequential sum of its
/// taps, as `sumTaps` computes it).
///
/// This is the register blocking of direct convolution (as in oneDNN's and the "direct
/// convolution" papers of Zhang, Franchetti and Low, ICML 2018): each loaded input vector
/// is used by 4 output channels and each broadcast weight by P/8 vectors, so a tap costs
/// 4·P/8 multiply–adds for P/8 + 4 loads. `acc` holds 4·P doubles, channel-major.
public func accumulateChannelBlock(_ acc: UnsafeMutablePointer<Double>, sources: UnsafePointer<UnsafePointer<Double>>,
                                   offset: Int, weights: UnsafePointer<Double>, taps: Int) {
    let raw = UnsafeMutableRawPointer(acc)
    #if WIDE_REGISTERS
    var a00 = raw.load(fromByteOffset: 0, as: SIMD8<Double>.self), a01 = raw.load(fromByteOffset: 64, as: SIMD8<Double>.self)
    var a02 = raw.load(fromByteOffset: 128, as: SIMD8<Double>.self), a03 = raw.load(fromByteOffset: 192, as: SIMD8<Double>.self)
    var a10 = raw.load(fromByteOffset: 256, as: SIMD8<Double>.self), a11 = raw.load(fromByteOffset: 320, as: SIMD8<Double>.self)
    var a12 = raw.load(fromByteOffset: 384, as: SIMD8<Double>.self), a13 = raw.load(fromByteOffset: 448, as: SIMD8<Double>.self)
    var a20 = raw.load(fromByteOffset: 512, as: SIMD8<Double>.self), a21 = raw.load(fromByteOffset: 576, as: SIMD8<Double>.self)
    var a22 = raw.load(fromByteOffset: 640, as: SIMD8<Double>.self), a23 = raw.load(fromByteOffset: 704, as: SIMD8<Double>.self)
    var a30 = raw.load(fromByteOffset: 768, as: SIMD8<Double>.self), a31 = raw.load(fromByteOffset: 832, as: SIMD8<Double>.self)
    var a32 = raw.load(fromByteOffset: 896, as: SIMD8<Double>.self), a33 = raw.load(fromByteOffset: 960, as: SIMD8<Double>.self)
    for t in 0..<taps {
        let p = UnsafeRawPointer(sources[t] + offset)
        let x0 = p.loadUnaligned(as: SIMD8<Double>.self), x1 = p.loadUnaligned(fromByteOffset: 64, as: SIMD8<Double>.self)
        let x2 = p.loadUnaligned(fromByteOffset: 128, as: SIMD8<Double>.self), x3 = p.loadUnaligned(fromByteOffset: 192, as: SIMD8<Double>.self)
        let w = weights + 4 * t
        let w0 = SIMD8<Double>(repeating: w[0]), w1 = SIMD8<Double>(repeating: w[1])
        let w2 = SIMD8<Double>(repeating: w[2]), w3 = SIMD8<Double>(repeating: w[3])
        multiplyAdd(&a00, w0, x0); multiplyAdd(&a01, w0, x1); multiplyAdd(&a02, w0, x2); multiplyAdd(&a03, w0, x3)
        multiplyAdd(&a10, w1, x0); multiplyAdd(&a11, w1, x1); multiplyAdd(&a12, w1, x2); multiplyAdd(&a13, w1, x3)
        multiplyAdd(&a20, w2, x0); multiplyAdd(&a21, w2, x1); multiplyAdd(&a22, w2, x2); multiplyAdd(&a23, w2, x3)
        multiplyAdd(&a30, w3, x0); multiplyAdd(&a31, w3, x1); multiplyAdd(&a32, w3, x2); multiplyAdd(&a33, w3, x3)
    }
    put(raw, 0, a00, a01, a02, a03); put(raw, 4, a10, a11, a12, a13)
    put(raw, 8, a20, a21, a22, a23); put(raw, 12, a30, a31, a32, a33)
    #else
    var a00 = raw.load(fromByteOffset: 0, as: SIMD8<Double>.self), a01 = raw.load(fromByteOffset: 64, as: SIMD8<Double>.self)
    var a10 = raw.load(fromByteOffset: 128, as: SIMD8<Double>.self), a11 = raw.load(fromByteOffset: 192, as: SIMD8<Double>.self)
    var a20 = raw.load(fromByteOffset: 256, as: SIMD8<Double>.self), a21 = raw.load(fromByteOffset: 320, as: SIMD8<Double>.self)
    var a30 = raw.load(fromByteOffset: 384, as: SIMD8<Double>.self), a31 = raw.load(fromByteOffset: 448, as: SIMD8<Double>.self)
    for t in 0..<taps {
        let p = UnsafeRawPointer(sources[t] + offset)
        let x0 = p.loadUnaligned(as: SIMD8<Double>.self), x1 = p.loadUnaligned(fromByteOffset: 64, as: SIMD8<Double>.self)
        let w = weights + 4 * t
        let w0 = SIMD8<Double>(repeating: w[0]), w1 = SIMD8<Double>(repeating: w[1])
        let w2 = SIMD8<Double>(repeating: w[2]), w3 = SIMD8<Double>(repeating: w[3])
        multiplyAdd(&a00, w0, x0); multiplyAdd(&a01, w0, x1)
        multiplyAdd(&a10, w1, x0); multiplyAdd(&a11, w1, x1)
        multiplyAdd(&a20, w2, x0); multiplyAdd(&a21, w2, x1)
        multiplyAdd(&a30, w3, x0); multiplyAdd(&a31, w3, x1)
    }
    put(raw, 0, a00, a01, a10, a11); put(raw, 4, a20, a21, a30, a31)
    #endif
}

/// Stores four vectors at vector slots `slot ..< slot + 4` of `raw`.
@inline(__always)
func put(_ raw: UnsafeMutableRawPointer, _ slot: Int, _ v0: SIMD8<Double>, _ v1: SIMD8<Double>, _ v2: SIMD8<Double>, _ v3: SIMD8<Double>) {
    raw.storeBytes(of: v0, toByteOffset: 64 * slot, as: SIMD8<Double>.self)
    raw.storeBytes(of: v1, toByteOffset: 64 * (slot + 1), as: SIMD8<Double>.self)
    raw.storeBytes(of: v2, toByteOffset: 64 * (slot + 2), as: SIMD8<Double>.self)
    raw.storeBytes(of: v3, toByteOffset: 64 * (slot + 3), as: SIMD8<Double>.self)
}
