import ConvCalcCore
import ConvCalcEngine

/// `run --like LIB`: what the same call means in a library's usual 2-D convolution function.
/// Checked against the libraries themselves (`Tests/fixtures/generate_like_cases.py`).
enum Library: String, CaseIterable {
    case matlab, octave, scipy, numpy, torch, tensorflow, opencv

    /// The function whose meaning `--like` takes.
    var function: String {
        switch self {
        case .matlab: return "MATLAB conv2(A, K, shape)"
        case .octave: return "Octave conv2(A, K, shape)"
        case .scipy: return "scipy.signal.convolve2d(a, k, mode)"
        case .numpy: return "numpy.convolve(a, v, mode) (1-D)"
        case .torch: return "torch.nn.functional.conv2d(x, w, padding)"
        case .tensorflow: return "tf.nn.conv2d(x, w, strides, padding)"
        case .opencv: return "cv2.filter2D(src, -1, kernel)"
        }
    }

    /// True convolution (the kernel turned by 180°) rather than cross-correlation.
    var flips: Bool { [.matlab, .octave, .scipy, .numpy].contains(self) }

    /// The padding when `--p` is not given: the function's default mode.
    var defaultPadding: Padding {
        switch self {
        case .matlab, .octave, .scipy, .numpy: return .full
        case .torch, .tensorflow: return .valid
        case .opencv: return .same
        }
    }

    /// The named paddings the function has.
    var modes: [Padding] {
        switch self {
        case .matlab, .octave, .scipy, .numpy, .torch: return [.full, .same, .valid]
        case .tensorflow: return [.same, .valid]
        case .opencv: return [.same]
        }
    }

    /// 'same' with an even kernel puts the odd padding before (SciPy's convolve2d and NumPy's
    /// convolve centre on the full result at (k − 1)//2; OpenCV anchors the kernel at k/2);
    /// MATLAB, PyTorch and TensorFlow put it after.
    var sameOddBefore: Bool { [.scipy, .numpy, .opencv].contains(self) }

    /// The border when `--pad-mode` is not given: OpenCV's BORDER_DEFAULT is BORDER_REFLECT_101,
    /// which is PyTorch's reflect.
    var defaultPaddingMode: PaddingMode { self == .opencv ? .reflect : .zeros }

    /// Whether stride and dilation are arguments of the function.
    var stridesAndDilates: Bool { self == .torch || self == .tensorflow }

    /// The spec with this library's meaning, checked against what the function can do.
    func apply(to spec: inout ConvolutionSpec, args: ParsedArguments) throws {
        let name = "--like \(rawValue)"
        if args.has(.flip) { throw UsageError.invalid("\(name) decides the flip (\(flips ? "it convolves" : "it correlates")); drop --flip") }
        if args.has(.transposed) { throw UsageError.invalid("\(name) stands for \(function), not a transposed convolution; drop one") }
        if !stridesAndDilates, args.value(.stride) != nil || args.value(.dilation) != nil {
            throw UsageError.invalid("\(function) has no stride or dilation; drop --s/--d or use --like torch")
        }
        spec.flip = flips
        if args.value(.padding) == nil { spec.padding = defaultPadding }
        let named: [Padding] = [.full, .same, .valid]
        if named.contains(spec.padding) ? !modes.contains(spec.padding) : !stridesAndDilates {
            throw UsageError.invalid("\(function) takes \(modes.map(\.description).joinedAsChoice()) as its mode; --p \(args.value(.padding) ?? spec.padding.description) is not one")
        }
        if args.value(.padMode) == nil { spec.paddingMode = defaultPaddingMode }
        if self == .opencv && spec.paddingMode == .circular { throw UsageError.invalid("cv2.filter2D does not take BORDER_WRAP (circular); give another --pad-mode") }
        if self == .torch && spec.padding == .same && spec.stride.values.contains(where: { $0 > 1 }) {
            throw UsageError.invalid("PyTorch refuses padding='same' with a stride above 1; give the padding in numbers")
        }
    }

    /// 'same' as this library centres it, as explicit padding for a kernel of `kernel`
    /// (rows, columns); nil when convcalc's own 'same' is the library's.
    func samePadding(kernel: (rows: Int, columns: Int), dilation: [Int], oneD: Bool) -> Padding? {
        guard sameOddBefore else { return nil }
        let extents = [kernel.rows, kernel.columns].enumerated().map { dim, k in (k - 1) * dilation[min(dim, dilation.count - 1)] }
        let pairs = extents.enumerated().map { dim, total in dim == 0 && oneD ? PadPair(0, 0) : PadPair(total - total / 2, total / 2) }
        return .explicit(pairs)
    }
}
