// The inner loop of a 1×1 convolution read in place (ConvCalcEngine's
// `BlockedConvolution.runPointwise`), compiled three times like TapSum.swift: the copies in
// Sources/ConvKernelsAVX2 and Sources/ConvKernelsAVX512 are symbolic links to this file.

/// Output channels and positions of one `pointwiseTile` call: 8 × 24 with AVX-512 (24
/// eight-lane accumulators, 3 input vectors and 1 weight of its 32 registers), 4 × 16
/// elsewhere (8 accumulators).
#if WIDE_REGISTERS
public let pointwiseTileChannels = 8
public let pointwiseTilePositions = 24
#else
public let pointwiseTileChannels = 4
public let pointwiseTilePositions = 16
#endif

/// `outputs[o][position + q] = s(o, q) + Σ_t w(o, t) · panel[t·P + q]` for the C =
/// `pointwiseTileChannels` output channels o and the P = `pointwiseTilePositions` positions
/// q, taps t in order, one fused multiply–add each where the target has FMA (every output is
/// the sequential sum of its taps from its start, as `sumTaps` computes it), where the start
/// s(o, q) is `starts[o]`, or when `starts` is nil the sum so far that `outputs` holds (the
/// sum then goes on over further taps in the same order). The weights are
/// packed (`w(o, t) = weights[t·C + o]`) when `rowStride` is 0, else a row an output channel
/// (`w(o, t) = weights[o·rowStride + t]`, PyTorch's layout read where it lies).
///
/// A matrix product's micro-kernel (Goto and van de Geijn, "Anatomy of high-performance
/// matrix multiplication", 2008): the sums stay in registers over every tap of the call and
/// are stored once. `panel` is the packed block of positions, a tap's P values together, 64-byte
/// aligned: every load lies within one cache line (a load across two lines costs two, which
/// took a fifth of the speed here), and the taps follow one another in memory.
public func pointwiseTile(_ outputs: UnsafePointer<UnsafeMutablePointer<Double>>, position: Int, panel: UnsafePointer<Double>,
                          weights: UnsafePointer<Double>, rowStride: Int, taps: Int, starts: UnsafePointer<Double>?) {
    if rowStride == 0 {
        pointwiseSums(outputs, position, panel, PackedTapWeights(next: weights, step: pointwiseTileChannels), taps, starts)
    } else {
        pointwiseSums(outputs, position, panel, RowTapWeights(next: weights, stride: rowStride), taps, starts)
    }
}

/// The loop of `pointwiseTile`, made once for each layout of the weights.
@inline(__always)
func pointwiseSums<Weights: TapWeights>(_ outputs: UnsafePointer<UnsafeMutablePointer<Double>>, _ position: Int, _ panel: UnsafePointer<Double>,
                                        _ weights: Weights, _ taps: Int, _ starts: UnsafePointer<Double>?) {
    /// Vector v of output channel o's sums so far: its start, or what `outputs` holds.
    @inline(__always) func start(_ o: Int, _ v: Int) -> SIMD8<Double> {
        guard let starts else { return UnsafeRawPointer(outputs[o] + position).loadUnaligned(fromByteOffset: 64 * v, as: SIMD8<Double>.self) }
        return SIMD8<Double>(repeating: starts[o])
    }
    #if WIDE_REGISTERS
    var a00 = start(0, 0), a01 = start(0, 1), a02 = start(0, 2)
    var a10 = start(1, 0), a11 = start(1, 1), a12 = start(1, 2)
    var a20 = start(2, 0), a21 = start(2, 1), a22 = start(2, 2)
    var a30 = start(3, 0), a31 = start(3, 1), a32 = start(3, 2)
    var a40 = start(4, 0), a41 = start(4, 1), a42 = start(4, 2)
    var a50 = start(5, 0), a51 = start(5, 1), a52 = start(5, 2)
    var a60 = start(6, 0), a61 = start(6, 1), a62 = start(6, 2)
    var a70 = start(7, 0), a71 = start(7, 1), a72 = start(7, 2)
    var w = weights
    var x = UnsafeRawPointer(panel)
    for _ in 0..<taps {
        let x0 = x.load(fromByteOffset: 0, as: SIMD8<Double>.self), x1 = x.load(fromByteOffset: 64, as: SIMD8<Double>.self), x2 = x.load(fromByteOffset: 128, as: SIMD8<Double>.self)
        do { let b = SIMD8<Double>(repeating: w.weight(0)); multiplyAdd(&a00, b, x0); multiplyAdd(&a01, b, x1); multiplyAdd(&a02, b, x2); }
        do { let b = SIMD8<Double>(repeating: w.weight(1)); multiplyAdd(&a10, b, x0); multiplyAdd(&a11, b, x1); multiplyAdd(&a12, b, x2); }
        do { let b = SIMD8<Double>(repeating: w.weight(2)); multiplyAdd(&a20, b, x0); multiplyAdd(&a21, b, x1); multiplyAdd(&a22, b, x2); }
        do { let b = SIMD8<Double>(repeating: w.weight(3)); multiplyAdd(&a30, b, x0); multiplyAdd(&a31, b, x1); multiplyAdd(&a32, b, x2); }
        do { let b = SIMD8<Double>(repeating: w.weight(4)); multiplyAdd(&a40, b, x0); multiplyAdd(&a41, b, x1); multiplyAdd(&a42, b, x2); }
        do { let b = SIMD8<Double>(repeating: w.weight(5)); multiplyAdd(&a50, b, x0); multiplyAdd(&a51, b, x1); multiplyAdd(&a52, b, x2); }
        do { let b = SIMD8<Double>(repeating: w.weight(6)); multiplyAdd(&a60, b, x0); multiplyAdd(&a61, b, x1); multiplyAdd(&a62, b, x2); }
        do { let b = SIMD8<Double>(repeating: w.weight(7)); multiplyAdd(&a70, b, x0); multiplyAdd(&a71, b, x1); multiplyAdd(&a72, b, x2); }
        w.advance()
        x += 192
    }
    store(outputs[0] + position, a00, a01, a02)
    store(outputs[1] + position, a10, a11, a12)
    store(outputs[2] + position, a20, a21, a22)
    store(outputs[3] + position, a30, a31, a32)
    store(outputs[4] + position, a40, a41, a42)
    store(outputs[5] + position, a50, a51, a52)
    store(outputs[6] + position, a60, a61, a62)
    store(outputs[7] + position, a70, a71, a72)
    #else
    var a00 = start(0, 0), a01 = start(0, 1)
    var a10 = start(1, 0), a11 = start(1, 1)
    var a20 = start(2, 0), a21 = start(2, 1)
    var a30 = start(3, 0), a31 = start(3, 1)
    var w = weights
    var x = UnsafeRawPointer(panel)
    for _ in 0..<taps {
        let x0 = x.load(fromByteOffset: 0, as: SIMD8<Double>.self), x1 = x.load(fromByteOffset: 64, as: SIMD8<Double>.self)
        do { let b = SIMD8<Double>(repeating: w.weight(0)); multiplyAdd(&a00, b, x0); multiplyAdd(&a01, b, x1); }
        do { let b = SIMD8<Double>(repeating: w.weight(1)); multiplyAdd(&a10, b, x0); multiplyAdd(&a11, b, x1); }
        do { let b = SIMD8<Double>(repeating: w.weight(2)); multiplyAdd(&a20, b, x0); multiplyAdd(&a21, b, x1); }
        do { let b = SIMD8<Double>(repeating: w.weight(3)); multiplyAdd(&a30, b, x0); multiplyAdd(&a31, b, x1); }
        w.advance()
        x += 128
    }
    store(outputs[0] + position, a00, a01)
    store(outputs[1] + position, a10, a11)
    store(outputs[2] + position, a20, a21)
    store(outputs[3] + position, a30, a31)
    #endif
}

/// Stores two vectors at `out`, one after the other (any alignment).
@inline(__always)
func store(_ out: UnsafeMutablePointer<Double>, _ v0: SIMD8<Double>, _ v1: SIMD8<Double>) {
    let raw = UnsafeMutableRawPointer(out)
    raw.storeBytes(of: v0, as: SIMD8<Double>.self)
    raw.storeBytes(of: v1, toByteOffset: 64, as: SIMD8<Double>.self)
}

/// Stores three vectors at `out`, one after another (any alignment).
@inline(__always)
func store(_ out: UnsafeMutablePointer<Double>, _ v0: SIMD8<Double>, _ v1: SIMD8<Double>, _ v2: SIMD8<Double>) {
    store(out, v0, v1)
    UnsafeMutableRawPointer(out).storeBytes(of: v2, toByteOffset: 128, as: SIMD8<Double>.self)
}
