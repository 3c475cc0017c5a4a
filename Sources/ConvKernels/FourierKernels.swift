// Fast Fourier transform passes of `convcalc run --method fft`, compiled three times like
// TapSum.swift (Sources/ConvKernelsAVX*/FourierKernels.swift are symbolic links to this file).

/// In-place radix-2 FFTs of length `n` (a power of two) down every column of an `n × width`
/// row-major block of split complex numbers (`re`, `im`; rows `rowStride` apart, which should
/// not be a power of two: such strides map every row to the same cache set), 8 columns at a
/// time as SIMD lanes.
///
/// Forward: decimation in frequency, natural order in, bit-reversed order out, twiddles
/// `w^k = exp(−2πik/n)` (`twiddleRe[k]`, `twiddleIm[k]`, k < n/2). Inverse: decimation in
/// time with the conjugate twiddles, bit-reversed order in, natural order out, unscaled
/// (the product of the two is n times the identity). Pointwise products in between need no
/// reordering, so no bit reversal is ever done (Cooley–Tukey; e.g. Van Loan, "Computational
/// Frameworks for the Fast Fourier Transform", 1992, §1.4 and §1.9).
/// `width` must be a multiple of 8.
public func fourierColumns(re: UnsafeMutablePointer<Double>, im: UnsafeMutablePointer<Double>, n: Int, width: Int, rowStride: Int,
                           twiddleRe: UnsafePointer<Double>, twiddleIm: UnsafePointer<Double>, inverse: Bool) {
    guard n > 1 else { return }
    var column = 0
    while column < width {
        let r = UnsafeMutableRawPointer(re + column), i = UnsafeMutableRawPointer(im + column)
        let rowBytes = rowStride * 8
        if inverse {
            var half = 1
            while half < n {
                let step = n / (2 * half)
                var group = 0
                while group < n {
                    for j in 0..<half {
                        let wr = SIMD8<Double>(repeating: twiddleRe[j * step]), wi = SIMD8<Double>(repeating: -twiddleIm[j * step])
                        let p = (group + j) * rowBytes, q = (group + j + half) * rowBytes
                        let ar = r.loadUnaligned(fromByteOffset: p, as: SIMD8<Double>.self), ai = i.loadUnaligned(fromByteOffset: p, as: SIMD8<Double>.self)
                        let br = r.loadUnaligned(fromByteOffset: q, as: SIMD8<Double>.self), bi = i.loadUnaligned(fromByteOffset: q, as: SIMD8<Double>.self)
                        let tr = br * wr - bi * wi, ti = br * wi + bi * wr
                        r.storeBytes(of: ar + tr, toByteOffset: p, as: SIMD8<Double>.self)
                        i.storeBytes(of: ai + ti, toByteOffset: p, as: SIMD8<Double>.self)
                        r.storeBytes(of: ar - tr, toByteOffset: q, as: SIMD8<Double>.self)
                        i.storeBytes(of: ai - ti, toByteOffset: q, as: SIMD8<Double>.self)
                    }
                    group += 2 * half
                }
                half *= 2
            }
        } else {
            var half = n / 2
            while half >= 1 {
                let step = n / (2 * half)
                var group = 0
                while group < n {
                    for j in 0..<half {
                        let wr = SIMD8<Double>(repeating: twiddleRe[j * step]), wi = SIMD8<Double>(repeating: twiddleIm[j * step])
                        let p = (group + j) * rowBytes, q = (group + j + half) * rowBytes
                        let ar = r.loadUnaligned(fromByteOffset: p, as: SIMD8<Double>.self), ai = i.loadUnaligned(fromByteOffset: p, as: SIMD8<Double>.self)
                        let br = r.loadUnaligned(fromByteOffset: q, as: SIMD8<Double>.self), bi = i.loadUnaligned(fromByteOffset: q, as: SIMD8<Double>.self)
                        let dr = ar - br, di = ai - bi
                        r.storeBytes(of: ar + br, toByteOffset: p, as: SIMD8<Double>.self)
                        i.storeBytes(of: ai + bi, toByteOffset: p, as: SIMD8<Double>.self)
                        r.storeBytes(of: dr * wr - di * wi, toByteOffset: q, as: SIMD8<Double>.self)
                        i.storeBytes(of: dr * wi + di * wr, toByteOffset: q, as: SIMD8<Double>.self)
                    }
                    group += 2 * half
                }
                half /= 2
            }
        }
        column += 8
    }
}

/// `accRe + i·accIm += (aRe + i·aIm) · (bRe + i·bIm)` elementwise over `count` values
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
