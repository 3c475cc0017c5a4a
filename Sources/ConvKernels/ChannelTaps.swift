// The register-blocked inner loop of multi-channel `convcalc run` (ConvCalcEngine's
// `BlockedConvolution`), compiled three times like TapSum.swift: the copies in
// Sources/ConvKernelsAVX2 and Sources/ConvKernelsAVX512 are symbolic links to this file.

/// Positions one call of `accumulateChannelBlock` computes for each of its output channels,
/// and the output channels: 6 × 32 with AVX-512's 32 registers (24 eight-lane accumulators,
/// 4 input vectors, 1 weight), 4 × 16 elsewhere (8 accumulators: AVX2's 16 registers hold
/// them as 16 half-width ones).
#if WIDE_REGISTERS
public let channelBlockPositions = 32
public let channelBlockChannels = 6
#else
public let channelBlockPositions = 16
public let channelBlockChannels = 4
#endif

/// `acc[o·P + q] += Σ_t w(o, t) · sources[t][offset + q]` for the `C =
/// channelBlockChannels` output channels `o` and the `P = channelBlockPositions` positions
/// `q`, taps `t` in order (one fused multiply–add each where the target has FMA, so every
/// output is the sequential sum of its taps, as `sumTaps` computes it). The weights are
/// packed, `w(o, t) = weights[t·C + o]` (a tap's C weights together), when `rowStride` is
/// 0; else a row per output channel, `w(o, t) = weights[o·rowStride + t]` (a kernel read
/// where it lies in PyTorch's layout). Each layout has a loop of its own (`accumulate`).
///
/// This is the register blocking of direct convolution (as in oneDNN's and in Zhang,
/// Franchetti and Low, "High performance zero-memory overhead direct convolutions", ICML
/// 2018): each loaded input vector serves C output channels and each broadcast weight P/8
/// vectors, so a tap costs C·P/8 multiply–adds for P/8 + C loads. `acc` holds C·P doubles,
/// channel-major.
public func accumulateChannelBlock(_ acc: UnsafeMutablePointer<Double>, sources: UnsafePointer<UnsafePointer<Double>>,
                                   offset: Int, weights: UnsafePointer<Double>, rowStride: Int, taps: Int) {
    if rowStride == 0 {
        accumulate(UnsafeMutableRawPointer(acc), sources, offset, taps, PackedTapWeights(next: weights, step: channelBlockChannels))
    } else {
        accumulate(UnsafeMutableRawPointer(acc), sources, offset, taps, RowTapWeights(next: weights, stride: rowStride))
    }
}

/// One tap's C weights at a time, in the order of the taps.
protocol TapWeights {
    /// Output channel o's weight of the current tap.
    func weight(_ o: Int) -> Double
    /// Moves to the next tap.
    mutating func advance()
}

/// Packed: a tap's `step` weights together (the offsets are constants of the loop).
struct PackedTapWeights: TapWeights {
    var next: UnsafePointer<Double>
    let step: Int
    @inline(__always) func weight(_ o: Int) -> Double { next[o] }
    @inline(__always) mutating func advance() { next += step }
}

/// A row per output channel, `stride` values apart.
struct RowTapWeights: TapWeights {
    var next: UnsafePointer<Double>
    let stride: Int
    @inline(__always) func weight(_ o: Int) -> Double { next[o &* stride] }
    @inline(__always) mutating func advance() { next += 1 }
}

/// The loop of `accumulateChannelBlock`, made once for each layout of the weights.
@inline(__always)
func accumulate<Weights: TapWeights>(_ raw: UnsafeMutableRawPointer, _ sources: UnsafePointer<UnsafePointer<Double>>, _ offset: Int,
                                     _ taps: Int, _ weights: Weights) {
    var w = weights
    #if WIDE_REGISTERS
    var a00 = get(raw, 0), a01 = get(raw, 1), a02 = get(raw, 2), a03 = get(raw, 3)
    var a10 = get(raw, 4), a11 = get(raw, 5), a12 = get(raw, 6), a13 = get(raw, 7)
    var a20 = get(raw, 8), a21 = get(raw, 9), a22 = get(raw, 10), a23 = get(raw, 11)
    var a30 = get(raw, 12), a31 = get(raw, 13), a32 = get(raw, 14), a33 = get(raw, 15)
    var a40 = get(raw, 16), a41 = get(raw, 17), a42 = get(raw, 18), a43 = get(raw, 19)
    var a50 = get(raw, 20), a51 = get(raw, 21), a52 = get(raw, 22), a53 = get(raw, 23)
    for t in 0..<taps {
        let p = UnsafeRawPointer(sources[t] + offset)
        let x0 = p.loadUnaligned(as: SIMD8<Double>.self), x1 = p.loadUnaligned(fromByteOffset: 64, as: SIMD8<Double>.self)
        let x2 = p.loadUnaligned(fromByteOffset: 128, as: SIMD8<Double>.self), x3 = p.loadUnaligned(fromByteOffset: 192, as: SIMD8<Double>.self)
        var v = SIMD8<Double>(repeating: w.weight(0))
        multiplyAdd(&a00, v, x0); multiplyAdd(&a01, v, x1); multiplyAdd(&a02, v, x2); multiplyAdd(&a03, v, x3)
        v = SIMD8<Double>(repeating: w.weight(1))
        multiplyAdd(&a10, v, x0); multiplyAdd(&a11, v, x1); multiplyAdd(&a12, v, x2); multiplyAdd(&a13, v, x3)
        v = SIMD8<Double>(repeating: w.weight(2))
        multiplyAdd(&a20, v, x0); multiplyAdd(&a21, v, x1); multiplyAdd(&a22, v, x2); multiplyAdd(&a23, v, x3)
        v = SIMD8<Double>(repeating: w.weight(3))
        multiplyAdd(&a30, v, x0); multiplyAdd(&a31, v, x1); multiplyAdd(&a32, v, x2); multiplyAdd(&a33, v, x3)
        v = SIMD8<Double>(repeating: w.weight(4))
        multiplyAdd(&a40, v, x0); multiplyAdd(&a41, v, x1); multiplyAdd(&a42, v, x2); multiplyAdd(&a43, v, x3)
        v = SIMD8<Double>(repeating: w.weight(5))
        multiplyAdd(&a50, v, x0); multiplyAdd(&a51, v, x1); multiplyAdd(&a52, v, x2); multiplyAdd(&a53, v, x3)
        w.advance()
    }
    put(raw, 0, a00, a01, a02, a03); put(raw, 4, a10, a11, a12, a13); put(raw, 8, a20, a21, a22, a23)
    put(raw, 12, a30, a31, a32, a33); put(raw, 16, a40, a41, a42, a43); put(raw, 20, a50, a51, a52, a53)
    #else
    var a00 = get(raw, 0), a01 = get(raw, 1), a10 = get(raw, 2), a11 = get(raw, 3)
    var a20 = get(raw, 4), a21 = get(raw, 5), a30 = get(raw, 6), a31 = get(raw, 7)
    for t in 0..<taps {
        let p = UnsafeRawPointer(sources[t] + offset)
        let x0 = p.loadUnaligned(as: SIMD8<Double>.self), x1 = p.loadUnaligned(fromByteOffset: 64, as: SIMD8<Double>.self)
        let w0 = SIMD8<Double>(repeating: w.weight(0)), w1 = SIMD8<Double>(repeating: w.weight(1))
        let w2 = SIMD8<Double>(repeating: w.weight(2)), w3 = SIMD8<Double>(repeating: w.weight(3))
        multiplyAdd(&a00, w0, x0); multiplyAdd(&a01, w0, x1)
        multiplyAdd(&a10, w1, x0); multiplyAdd(&a11, w1, x1)
        multiplyAdd(&a20, w2, x0); multiplyAdd(&a21, w2, x1)
        multiplyAdd(&a30, w3, x0); multiplyAdd(&a31, w3, x1)
        w.advance()
    }
    put(raw, 0, a00, a01, a10, a11); put(raw, 4, a20, a21, a30, a31)
    #endif
}

/// The vector at vector slot `slot` of `raw`.
@inline(__always)
func get(_ raw: UnsafeMutableRawPointer, _ slot: Int) -> SIMD8<Double> {
    raw.load(fromByteOffset: 64 * slot, as: SIMD8<Double>.self)
}

/// Stores four vectors at vector slots `slot ..< slot + 4` of `raw`.
@inline(__always)
func put(_ raw: UnsafeMutableRawPointer, _ slot: Int, _ v0: SIMD8<Double>, _ v1: SIMD8<Double>, _ v2: SIMD8<Double>, _ v3: SIMD8<Double>) {
    raw.storeBytes(of: v0, toByteOffset: 64 * slot, as: SIMD8<Double>.self)
    raw.storeBytes(of: v1, toByteOffset: 64 * (slot + 1), as: SIMD8<Double>.self)
    raw.storeBytes(of: v2, toByteOffset: 64 * (slot + 2), as: SIMD8<Double>.self)
    raw.storeBytes(of: v3, toByteOffset: 64 * (slot + 3), as: SIMD8<Double>.self)
}
