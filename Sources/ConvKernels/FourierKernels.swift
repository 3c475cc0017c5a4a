// Fast Fourier transform passes of `convcalc run --method fft`, compiled three times like
// TapSum.swift (Sources/ConvKernelsAVX*/FourierKernels.swift are symbolic links to this file).

/// In-place FFTs of length `n` (a power of two) down every column of an `n x width`
/// row-major block of split complex numbers (`re`, `im`; rows `rowStride` apart, which should
/// not be a power of two: such strides map every row to the same cache set), 8 columns at a
/// time as SIMD lanes, in radix-4 steps (one radix-2 step when log2 n is odd).
///
/// Forward: decimation in frequency, natural order in, bit-reversed order out, twiddles
/// `w^k = exp(-2piik/n)` (`twiddleRe[k]`, `twiddleIm[k]`, k < n). Inverse: decimation in
/// time with the conjugate twiddles, bit-reversed order in, natural order out, unscaled
/// (the product of the two is n times the identity). Pointwise products in between need no
/// reordering, so no bit reversal is ever done (Cooley-Tukey; e.g. Van Loan, "Computational
/// Frameworks for the Fast Fourier Transform", 1992, section 1.4 and section 1.9). A radix-4 step is two
/// radix-2 steps fused (halves 2q then q of a group of 4q rows, `W = exp(-2pii/4q)`,
/// `W^q = -i`): with `t0 = x0 + x2`, `t1 = x0 - x2`, `t2 = x1 + x3`, `t3 = -i(x1 - x3)`
/// the group's rows j, j+q, j+2q, j+3q become `t0 + t2`, `(t0 - t2)W^2j`, `(t1 + t3)W^j`,
/// `(t1 - t3)W^3j`: the same bit-reversed result as the radix-2 steps, in half the passes
/// over the data (Van Loan section 2.1). `width` must be a multiple of 8.
public func fourierColumns(re: UnsafeMutablePointer<Double>, im: UnsafeMutablePointer<Double>, n: Int, width: Int, rowStride: Int,
                           twiddleRe: UnsafePointer<Double>, twiddleIm: UnsafePointer<Double>, inverse: Bool) {
    guard n > 1 else { return }
    var column = 0
    while column < width {
        let strip = FourierStrip(re: UnsafeMutableRawPointer(re + column), im: UnsafeMutableRawPointer(im + column), rowBytes: rowStride * 8)
        if inverse {
            strip.inverse(n: n, twiddleRe: twiddleRe, twiddleIm: twiddleIm)
        } else {
            strip.forward(n: n, twiddleRe: twiddleRe, twiddleIm: twiddleIm)
        }
        column += 8
    }
}

/// Eight columns of split complex values, rows `rowBytes` apart: the radix-2 and radix-4
/// steps of `fourierColumns`.
struct FourierStrip {
    let re: UnsafeMutableRawPointer
    let im: UnsafeMutableRawPointer
    let rowBytes: Int

    typealias Lanes = SIMD8<Double>

    @inline(__always) func load(_ row: Int) -> (Lanes, Lanes) {
        (re.loadUnaligned(fromByteOffset: row * rowBytes, as: Lanes.self), im.loadUnaligned(fromByteOffset: row * rowBytes, as: Lanes.self))
    }

    @inline(__always) func store(_ row: Int, _ value: (Lanes, Lanes)) {
        re.storeBytes(of: value.0, toByteOffset: row * rowBytes, as: Lanes.self)
        im.storeBytes(of: value.1, toByteOffset: row * rowBytes, as: Lanes.self)
    }

    /// Decimation in frequency: one radix-2 step (group n) when log2 n is odd, then radix-4
    /// steps on groups of n, n/4, ... (or n/2, n/8, ...) rows.
    @inline(__always) func forward(n: Int, twiddleRe: UnsafePointer<Double>, twiddleIm: UnsafePointer<Double>) {
        var length = n
        if n.trailingZeroBitCount & 1 == 1 {
            let half = n / 2
            for j in 0..<half {
                let w = (Lanes(repeating: twiddleRe[j]), Lanes(repeating: twiddleIm[j]))
                let a = load(j), b = load(j + half)
                store(j, (a.0 + b.0, a.1 + b.1))
                store(j + half, multiply((a.0 - b.0, a.1 - b.1), w))
            }
            length = half
        }
        while length >= 4 {
            let q = length / 4, step = n / length
            for j in 0..<q {
                let k = j * step
                let w1 = (Lanes(repeating: twiddleRe[k]), Lanes(repeating: twiddleIm[k]))
                let w2 = (Lanes(repeating: twiddleRe[2 * k]), Lanes(repeating: twiddleIm[2 * k]))
                let w3 = (Lanes(repeating: twiddleRe[3 * k]), Lanes(repeating: twiddleIm[3 * k]))
                var group = 0
                while group < n {
                    let r = group + j
                    let x0 = load(r), x1 = load(r + q), x2 = load(r + 2 * q), x3 = load(r + 3 * q)
                    let t0 = (x0.0 + x2.0, x0.1 + x2.1), t1 = (x0.0 - x2.0, x0.1 - x2.1)
                    let t2 = (x1.0 + x3.0, x1.1 + x3.1), t3 = (x1.1 - x3.1, x3.0 - x1.0)   // -i(x1 - x3)
                    store(r, (t0.0 + t2.0, t0.1 + t2.1))
                    store(r + q, multiply((t0.0 - t2.0, t0.1 - t2.1), w2))
                    store(r + 2 * q, multiply((t1.0 + t3.0, t1.1 + t3.1), w1))
                    store(r + 3 * q, multiply((t1.0 - t3.0, t1.1 - t3.1), w3))
                    group += length
                }
            }
            length /= 4
        }
    }

    /// Decimation in time, the forward steps undone in reverse order with conjugate twiddles:
    /// with `b1 = x1*conj(W)^2j`, `b2 = x2*conj(W)^j`, `b3 = x3*conj(W)^3j`, `s0 = x0 + b1`, `s1 = x0 - b1`,
    /// `s2 = b2 + b3`, `s3 = i(b2 - b3)`, rows j, j+q, j+2q, j+3q become `s0 + s2`, `s1 + s3`,
    /// `s0 - s2`, `s1 - s3`; a last radix-2 step (group n) when log2 n is odd.
    @inline(__always) func inverse(n: Int, twiddleRe: UnsafePointer<Double>, twiddleIm: UnsafePointer<Double>) {
        var length = 4
        while length <= n {
            let q = length / 4, step = n / length
            for j in 0..<q {
                let k = j * step
                let w1 = (Lanes(repeating: twiddleRe[k]), Lanes(repeating: -twiddleIm[k]))
                let w2 = (Lanes(repeating: twiddleRe[2 * k]), Lanes(repeating: -twiddleIm[2 * k]))
                let w3 = (Lanes(repeating: twiddleRe[3 * k]), Lanes(repeating: -twiddleIm[3 * k]))
                var group = 0
                while group < n {
                    let r = group + j
                    let x0 = load(r), b1 = multiply(load(r + q), w2), b2 = multiply(load(r + 2 * q), w1), b3 = multiply(load(r + 3 * q), w3)
                    let s0 = (x0.0 + b1.0, x0.1 + b1.1), s1 = (x0.0 - b1.0, x0.1 - b1.1)
                    let s2 = (b2.0 + b3.0, b2.1 + b3.1), s3 = (b3.1 - b2.1, b2.0 - b3.0)   // i(b2 - b3)
                    store(r, (s0.0 + s2.0, s0.1 + s2.1))
                    store(r + q, (s1.0 + s3.0, s1.1 + s3.1))
                    store(r + 2 * q, (s0.0 - s2.0, s0.1 - s2.1))
                    store(r + 3 * q, (s1.0 - s3.0, s1.1 - s3.1))
                    group += length
                }
            }
            length *= 4
        }
        if n.trailingZeroBitCount & 1 == 1 {
            let half = n / 2
            for j in 0..<half {
                let w = (Lanes(repeating: twiddleRe[j]), Lanes(repeating: -twiddleIm[j]))
                let a = load(j), b = multiply(load(j + half), w)
                store(j, (a.0 + b.0, a.1 + b.1))
                store(j + half, (a.0 - b.0, a.1 - b.1))
            }
        }
    }

    /// `(a.0 + i*a.1)*(w.0 + i*w.1)`.
    @inline(__always) func multiply(_ a: (Lanes, Lanes), _ w: (Lanes, Lanes)) -> (Lanes, Lanes) {
        (a.0 * w.0 - a.1 * w.1, a.0 * w.1 + a.1 * w.0)
    }
}

/// The row transforms of an `n x m` tile whose columns are already transformed
/// (`fourierColumns`), 8 rows at a time through an `m x 8` buffer (`bufferRe`, `bufferIm`,
/// the 8 rows turned into 8 lanes): forward along the rows (`fourierColumns` on the buffer,
/// twiddles of length m), then either
/// - `multiply`: times the kernel's spectrum strip (`spectrumRe/Im + s*8m` for rows
///   `8s ..< 8s + 8`, laid out as the buffer), back along the rows (inverse), and written
///   back into the tile: the product's column spectra, for the inverse `fourierColumns`;
/// - not `multiply`: the strip copied into the spectrum (a kernel's spectrum, made once).
/// The rows never leave the buffer between the two row transforms and the product, and
/// the spectrum is read in the order it was written. `n` and `m` multiples of 8.
public func fourierRowStrips(re: UnsafeMutablePointer<Double>, im: UnsafeMutablePointer<Double>, n: Int, m: Int, rowStride: Int,
                             twiddleRe: UnsafePointer<Double>, twiddleIm: UnsafePointer<Double>,
                             spectrumRe: UnsafeMutablePointer<Double>, spectrumIm: UnsafeMutablePointer<Double>,
                             bufferRe: UnsafeMutablePointer<Double>, bufferIm: UnsafeMutablePointer<Double>, multiply: Bool) {
    let buffer = FourierStrip(re: UnsafeMutableRawPointer(bufferRe), im: UnsafeMutableRawPointer(bufferIm), rowBytes: 64)
    var s = 0
    while s * 8 < n {
        let rowsRe = re + s * 8 * rowStride, rowsIm = im + s * 8 * rowStride
        turnRows(rowsRe, rowStride: rowStride, m: m, into: bufferRe)
        turnRows(rowsIm, rowStride: rowStride, m: m, into: bufferIm)
        buffer.forward(n: m, twiddleRe: twiddleRe, twiddleIm: twiddleIm)
        let kr = UnsafeMutableRawPointer(spectrumRe + s * 8 * m), ki = UnsafeMutableRawPointer(spectrumIm + s * 8 * m)
        if multiply {
            for c in 0..<m {
                let o = c * 64
                let a = buffer.load(c)
                let k = (kr.loadUnaligned(fromByteOffset: o, as: SIMD8<Double>.self), ki.loadUnaligned(fromByteOffset: o, as: SIMD8<Double>.self))
                buffer.store(c, buffer.multiply(a, k))
            }
            buffer.inverse(n: m, twiddleRe: twiddleRe, twiddleIm: twiddleIm)
            turnBack(bufferRe, m: m, into: rowsRe, rowStride: rowStride)
            turnBack(bufferIm, m: m, into: rowsIm, rowStride: rowStride)
        } else {
            kr.copyMemory(from: bufferRe, byteCount: m * 64)
            ki.copyMemory(from: bufferIm, byteCount: m * 64)
        }
        s += 1
    }
}

/// `buffer[c*8 + r] = rows[r*rowStride + c]`: 8 rows of m values turned into m lanes of 8,
/// an 8 x 8 block at a time in registers (`transposed`).
@inline(__always)
func turnRows(_ rows: UnsafeMutablePointer<Double>, rowStride: Int, m: Int, into buffer: UnsafeMutablePointer<Double>) {
    let source = UnsafeMutableRawPointer(rows), target = UnsafeMutableRawPointer(buffer)
    let rowBytes = rowStride * 8
    var c = 0
    while c < m {
        let o = c * 8
        var block = Block8(source.loadUnaligned(fromByteOffset: o, as: SIMD8<Double>.self),
                           source.loadUnaligned(fromByteOffset: o + rowBytes, as: SIMD8<Double>.self),
                           source.loadUnaligned(fromByteOffset: o + 2 * rowBytes, as: SIMD8<Double>.self),
                           source.loadUnaligned(fromByteOffset: o + 3 * rowBytes, as: SIMD8<Double>.self),
                           source.loadUnaligned(fromByteOffset: o + 4 * rowBytes, as: SIMD8<Double>.self),
                           source.loadUnaligned(fromByteOffset: o + 5 * rowBytes, as: SIMD8<Double>.self),
                           source.loadUnaligned(fromByteOffset: o + 6 * rowBytes, as: SIMD8<Double>.self),
                           source.loadUnaligned(fromByteOffset: o + 7 * rowBytes, as: SIMD8<Double>.self))
        block = block.transposed()
        let t = target + c * 64
        t.storeBytes(of: block.a0, toByteOffset: 0, as: SIMD8<Double>.self)
        t.storeBytes(of: block.a1, toByteOffset: 64, as: SIMD8<Double>.self)
        t.storeBytes(of: block.a2, toByteOffset: 128, as: SIMD8<Double>.self)
        t.storeBytes(of: block.a3, toByteOffset: 192, as: SIMD8<Double>.self)
        t.storeBytes(of: block.a4, toByteOffset: 256, as: SIMD8<Double>.self)
        t.storeBytes(of: block.a5, toByteOffset: 320, as: SIMD8<Double>.self)
        t.storeBytes(of: block.a6, toByteOffset: 384, as: SIMD8<Double>.self)
        t.storeBytes(of: block.a7, toByteOffset: 448, as: SIMD8<Double>.self)
        c += 8
    }
}

/// `rows[r*rowStride + c] = buffer[c*8 + r]`: `turnRows` undone.
@inline(__always)
func turnBack(_ buffer: UnsafeMutablePointer<Double>, m: Int, into rows: UnsafeMutablePointer<Double>, rowStride: Int) {
    let source = UnsafeMutableRawPointer(buffer), target = UnsafeMutableRawPointer(rows)
    let rowBytes = rowStride * 8
    var c = 0
    while c < m {
        let s = source + c * 64
        var block = Block8(s.loadUnaligned(fromByteOffset: 0, as: SIMD8<Double>.self), s.loadUnaligned(fromByteOffset: 64, as: SIMD8<Double>.self),
                           s.loadUnaligned(fromByteOffset: 128, as: SIMD8<Double>.self), s.loadUnaligned(fromByteOffset: 192, as: SIMD8<Double>.self),
                           s.loadUnaligned(fromByteOffset: 256, as: SIMD8<Double>.self), s.loadUnaligned(fromByteOffset: 320, as: SIMD8<Double>.self),
                           s.loadUnaligned(fromByteOffset: 384, as: SIMD8<Double>.self), s.loadUnaligned(fromByteOffset: 448, as: SIMD8<Double>.self))
        block = block.transposed()
        let o = c * 8
        target.storeBytes(of: block.a0, toByteOffset: o, as: SIMD8<Double>.self)
        target.storeBytes(of: block.a1, toByteOffset: o + rowBytes, as: SIMD8<Double>.self)
        target.storeBytes(of: block.a2, toByteOffset: o + 2 * rowBytes, as: SIMD8<Double>.self)
        target.storeBytes(of: block.a3, toByteOffset: o + 3 * rowBytes, as: SIMD8<Double>.self)
        target.storeBytes(of: block.a4, toByteOffset: o + 4 * rowBytes, as: SIMD8<Double>.self)
        target.storeBytes(of: block.a5, toByteOffset: o + 5 * rowBytes, as: SIMD8<Double>.self)
        target.storeBytes(of: block.a6, toByteOffset: o + 6 * rowBytes, as: SIMD8<Double>.self)
        target.storeBytes(of: block.a7, toByteOffset: o + 7 * rowBytes, as: SIMD8<Double>.self)
        c += 8
    }
}

/// Eight rows of 8 values.
struct Block8 {
    var a0, a1, a2, a3, a4, a5, a6, a7: SIMD8<Double>

    @inline(__always) init(_ a0: SIMD8<Double>, _ a1: SIMD8<Double>, _ a2: SIMD8<Double>, _ a3: SIMD8<Double>,
                           _ a4: SIMD8<Double>, _ a5: SIMD8<Double>, _ a6: SIMD8<Double>, _ a7: SIMD8<Double>) {
        (self.a0, self.a1, self.a2, self.a3, self.a4, self.a5, self.a6, self.a7) = (a0, a1, a2, a3, a4, a5, a6, a7)
    }

    /// One perfect shuffle: row k takes the even lanes of rows 2k and 2k + 1, row 4 + k their
    /// odd lanes. Element (row r, lane l), bits `r2 r1 r0 | l2 l1 l0`, moves to bits
    /// `l0 r2 r1 | r0 l2 l1` (a rotation by one), so three of them transpose the block.
    @inline(__always) func shuffled() -> Block8 {
        @inline(__always) func even(_ x: SIMD8<Double>, _ y: SIMD8<Double>) -> SIMD8<Double> { SIMD8(lowHalf: x.evenHalf, highHalf: y.evenHalf) }
        @inline(__always) func odd(_ x: SIMD8<Double>, _ y: SIMD8<Double>) -> SIMD8<Double> { SIMD8(lowHalf: x.oddHalf, highHalf: y.oddHalf) }
        return Block8(even(a0, a1), even(a2, a3), even(a4, a5), even(a6, a7), odd(a0, a1), odd(a2, a3), odd(a4, a5), odd(a6, a7))
    }

    @inline(__always) func transposed() -> Block8 { shuffled().shuffled().shuffled() }
}

/// `accRe + i*accIm += (aRe + i*aIm) * (bRe + i*bIm)` elementwise over `count` values
/// (a multiple of 8): the pointwise product of two spectra, summed over input channels.
public func multiplyAccumulateSpectra(accRe: UnsafeMutablePointer<Double>, accIm: UnsafeMutablePointer<Double>,
                                      aRe: UnsafePointer<Double>, aIm: UnsafePointer<Double>,
                                      bRe: UnsafePointer<Double>, bIm: UnsafePointer<Double>, count: Int) {
    var k = 0
    while k < count {
        let o = k * 8
        let ar = UnsafeRawPointer(aRe).loadUnaligned(fromByteOffset: o, as: SIMD8<Double>.self)
        let ai = UnsafeRawPointer(aIm).loadUnaligned(fromByteOffset: o, as: SIMD8<Double>.self)
        let br = UnsafeRawPointer(bRe).loadUnaligned(fromByteOffset: o, as: SIMD8<Double>.self)
        let bi = UnsafeRawPointer(bIm).loadUnaligned(fromByteOffset: o, as: SIMD8<Double>.self)
        let cr = UnsafeMutableRawPointer(accRe).loadUnaligned(fromByteOffset: o, as: SIMD8<Double>.self)
        let ci = UnsafeMutableRawPointer(accIm).loadUnaligned(fromByteOffset: o, as: SIMD8<Double>.self)
        UnsafeMutableRawPointer(accRe).storeBytes(of: cr + (ar * br - ai * bi), toByteOffset: o, as: SIMD8<Double>.self)
        UnsafeMutableRawPointer(accIm).storeBytes(of: ci + (ar * bi + ai * br), toByteOffset: o, as: SIMD8<Double>.self)
        k += 8
    }
}

/// The largest |x| of `count` values and whether all are finite (when not, the largest is
/// not measured: 0). Eight lanes at a time: `x - x` is 0 for a finite x and nan for inf, -inf
/// and nan, so one sum of them tells; the magnitudes by compare and replace (`pointwiseMax`
/// is not inlined). The FFT's tile-row survey (`FourierRows.survey`).
public func largestMagnitude(_ values: UnsafePointer<Double>, count: Int) -> (largest: Double, finite: Bool) {
    let raw = UnsafeRawPointer(values)
    var most = SIMD8<Double>(repeating: 0), check = SIMD8<Double>(repeating: 0)
    var v = 0
    while v + 8 <= count {
        let x = raw.loadUnaligned(fromByteOffset: v * 8, as: SIMD8<Double>.self)
        let magnitude = x.replacing(with: -x, where: x .< 0)
        most = most.replacing(with: magnitude, where: magnitude .> most)
        check += x - x
        v += 8
    }
    guard check.sum() == 0 else { return (0, false) }
    var largest = 0.0
    for lane in 0..<8 { largest = max(largest, most[lane]) }
    while v < count {
        guard values[v].isFinite else { return (0, false) }
        largest = max(largest, abs(values[v]))
        v += 1
    }
    return (largest, true)
}
