import ConvCalcCore
import ConvCalcEngine

/// `run --equivalent`: the call computing the same output in each library, from the plan's
/// resolved padding, stride, dilation, flip, border and channels (`Tests/fixtures/
/// check_equivalents.py` runs the Python ones against convcalc).
struct EquivalentCalls {
    let plan: ConvolutionPlan

    var spec: ConvolutionSpec { plan.spec }
    var rows: DimensionStep { plan.rowStep }
    var columns: DimensionStep { plan.columnStep }
    var pads: (top: Int, bottom: Int, left: Int, right: Int) { (rows.pad.before, rows.pad.after, columns.pad.before, columns.pad.after) }
    var single: Bool { plan.inputChannels == 1 && plan.outputChannels == 1 }
    var unitSteps: Bool { rows.stride == 1 && columns.stride == 1 && rows.dilation == 1 && columns.dilation == 1 }
    var noPadding: Bool { pads == (0, 0, 0, 0) }

    /// Full: `ke − 1` on each side.
    var isFull: Bool {
        pads == (rows.effectiveKernel - 1, rows.effectiveKernel - 1, columns.effectiveKernel - 1, columns.effectiveKernel - 1)
    }

    /// The output keeps the input's size with `ke − 1` split, the odd one before or after.
    func isSame(oddBefore: Bool) -> Bool {
        func split(_ step: DimensionStep) -> PadPair {
            let total = step.effectiveKernel - 1
            return oddBefore ? PadPair(total - total / 2, total / 2) : PadPair(total / 2, total - total / 2)
        }
        return unitSteps && rows.pad == split(rows) && columns.pad == split(columns)
    }

    static func pair(_ a: Int, _ b: Int) -> String { a == b ? "\(a)" : "(\(a), \(b))" }

    /// How `--like` swapped the operands (numpy.convolve takes the longer first, SciPy's
    /// 'valid' the larger): said above the calls. Nil: not swapped.
    var swapNote: String?
    /// Whether the run adds a bias (`--bias`): b in every call.
    var bias = false

    var text: String {
        let entries: [(String, String)] = [
            ("PyTorch", torch), ("TensorFlow", tensorflow), ("SciPy", withBias(scipy)), ("NumPy", withBias(numpy)),
            ("MATLAB, Octave", withBias(matlab)), ("OpenCV", withBias(opencv)),
        ]
        let b = bias ? "; b: the bias, a vector of one value per output channel (a number with one)" : ""
        var lines = ["the same output in each library (a, k: the input and kernel as 2-D arrays; x, w: as 4-D tensors; A, K in MATLAB\(b)):"]
        if let swapNote { lines.append("(\(swapNote): a is KERNEL as given, k is INPUT)") }
        for (name, call) in entries { lines.append("  \(name): " + String(repeating: " ", count: 15 - name.count) + call) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `call` with the bias added (` + b`) after the call itself, before a note or comment
    /// (three spaces lead them); unchanged without a bias or a call.
    func withBias(_ call: String) -> String {
        guard bias, !call.hasPrefix("no direct call") else { return call }
        guard let note = call.range(of: "   ") else { return call + " + b" }
        return call[..<note.lowerBound] + " + b" + call[note.lowerBound...]
    }

    var torch: String {
        let groups = spec.groups > 1 ? ", groups=\(spec.groups)" : ""
        let stride = rows.stride == 1 && columns.stride == 1 ? "" : ", stride=\(Self.pair(rows.stride, columns.stride))"
        let dilation = rows.dilation == 1 && columns.dilation == 1 ? "" : ", dilation=\(Self.pair(rows.dilation, columns.dilation))"
        // --flip turns the kernel by 180° before the correlation or the scatter alike.
        let w = (spec.flip ? "w.flip(-2, -1)" : "w") + (bias ? ", bias=b" : "")
        if spec.transposed {
            guard rows.pad.isSymmetric && columns.pad.isSymmetric else { return "no direct call: conv_transpose2d pads both sides alike" }
            let op = rows.outputPadding == 0 && columns.outputPadding == 0 ? "" : ", output_padding=\(Self.pair(rows.outputPadding, columns.outputPadding))"
            let padding = noPadding ? "" : ", padding=\(Self.pair(pads.top, pads.left))"
            return "F.conv_transpose2d(x, \(w)\(stride)\(padding)\(op)\(groups)\(dilation))   # x: N×Cin×H×W, w: Cin×Cout/g×kh×kw"
        }
        let layout = "   # x: N×C×H×W, w: Cout×Cin/g×kh×kw"
        if spec.paddingMode == .zeros && rows.pad.isSymmetric && columns.pad.isSymmetric {
            let padding = noPadding ? "" : ", padding=\(Self.pair(pads.top, pads.left))"
            return "F.conv2d(x, \(w)\(stride)\(padding)\(dilation)\(groups))" + layout
        }
        let mode = spec.paddingMode == .zeros ? "" : ", mode='\(spec.paddingMode.rawValue)'"
        return "F.conv2d(F.pad(x, (\(pads.left), \(pads.right), \(pads.top), \(pads.bottom))\(mode)), \(w)\(stride)\(dilation)\(groups))" + layout
    }

    var tensorflow: String {
        withBias(tensorflowCall)
    }

    var tensorflowCall: String {
        let w = spec.flip ? "w[::-1, ::-1]" : "w"
        let strides = rows.stride == 1 && columns.stride == 1 ? "1" : "[1, \(rows.stride), \(columns.stride), 1]"
        let dilations = rows.dilation == 1 && columns.dilation == 1 ? "" : ", dilations=[1, \(rows.dilation), \(columns.dilation), 1]"
        let explicit = "[[0, 0], [\(pads.top), \(pads.bottom)], [\(pads.left), \(pads.right)], [0, 0]]"
        let layout = "   # x: N×H×W×C, w: kh×kw×Cin×Cout"
        if spec.groups > 1 { return "no direct call for groups (tf.nn.conv2d takes w: kh×kw×Cin/g×Cout, only on GPUs); see PyTorch" }
        if spec.transposed {
            guard rows.dilation == 1 && columns.dilation == 1 else { return "no direct call: conv2d_transpose takes no dilation on CPUs" }
            let full = (rows.fullTransposedLength, columns.fullTransposedLength)
            guard rows.outputPadding <= rows.pad.after, columns.outputPadding <= columns.pad.after else {
                return "no direct call: the output padding reaches past the full result"
            }
            return "tf.nn.conv2d_transpose(x, \(w), output_shape=[1, \(full.0), \(full.1), \(plan.outputChannels)], strides=\(strides), padding='VALID'\(dilations))[:, \(pads.top):\(pads.top + plan.outputRows), \(pads.left):\(pads.left + plan.outputColumns), :]   # w: kh×kw×Cout×Cin"
        }
        switch spec.paddingMode {
        case .zeros:
            let padding = noPadding ? "'VALID'" : isSameOfTensorFlow ? "'SAME'" : explicit
            return "tf.nn.conv2d(x, \(w), strides=\(strides), padding=\(padding)\(dilations))" + layout
        case .reflect:
            return "tf.nn.conv2d(tf.pad(x, \(explicit), mode='REFLECT'), \(w), strides=\(strides), padding='VALID'\(dilations))" + layout
        case .replicate, .circular:
            return "no direct call: tf.pad has no \(spec.paddingMode == .replicate ? "edge" : "wrap") mode"
        }
    }

    /// TensorFlow's 'SAME': `⌈in/s⌉` outputs, the odd padding after (as convcalc's `same`).
    var isSameOfTensorFlow: Bool {
        func same(_ step: DimensionStep, _ n: Int) -> PadPair {
            let out = (n + step.stride - 1) / step.stride
            let total = max((out - 1) * step.stride + step.effectiveKernel - n, 0)
            return PadPair(total / 2, total - total / 2)
        }
        return rows.pad == same(rows, plan.inputRows) && columns.pad == same(columns, plan.inputColumns)
    }

    /// np.pad's mode argument for the padding mode (none for zeros).
    var numpyMode: String {
        switch spec.paddingMode {
        case .zeros: return ""
        case .reflect: return ", mode='reflect'"
        case .replicate: return ", mode='edge'"
        case .circular: return ", mode='wrap'"
        }
    }

    /// The padding of a NumPy-style call: np.pad(a, ((t, b), (l, r)), mode).
    var numpyPad: String {
        "np.pad(a, ((\(pads.top), \(pads.bottom)), (\(pads.left), \(pads.right)))\(numpyMode))"
    }

    var strideSlice: String {
        rows.stride == 1 && columns.stride == 1 ? "" : "[::\(rows.stride), ::\(columns.stride)]"
    }

    var scipy: String {
        guard single, !spec.transposed else { return "no direct call: correlate2d and convolve2d take one channel, not transposed" }
        guard rows.dilation == 1 && columns.dilation == 1 else { return "no direct call for a dilation (insert the zeros in k first)" }
        let function = spec.flip ? "scipy.signal.convolve2d" : "scipy.signal.correlate2d"
        if spec.paddingMode == .zeros {
            // correlate2d's 'same' puts the odd padding after, convolve2d's before.
            if noPadding { return "\(function)(a, k, mode='valid')\(strideSlice)" }
            if isFull { return "\(function)(a, k, mode='full')\(strideSlice)" }
            if isSame(oddBefore: spec.flip) { return "\(function)(a, k, mode='same')" }
        }
        return "\(function)(\(numpyPad), k, mode='valid')\(strideSlice)"
    }

    var numpy: String {
        guard single, !spec.transposed, plan.inputRows == 1, plan.kernelRows == 1, columns.dilation == 1, rows.pad == PadPair(0, 0), rows.stride == 1 else {
            return "no direct call: np.convolve and np.correlate are 1-D (one row each, no row padding, no dilation, not transposed)"
        }
        let function = spec.flip ? "np.convolve" : "np.correlate"
        let stride = columns.stride == 1 ? "" : "[::\(columns.stride)]"
        return "\(function)(np.pad(a[0], (\(pads.left), \(pads.right))\(numpyMode)), k[0], mode='valid')\(stride)"
    }

    var matlab: String {
        guard single, !spec.transposed else { return "no direct call: conv2 takes one channel, not transposed" }
        guard rows.dilation == 1 && columns.dilation == 1 else { return "no direct call for a dilation (insert the zeros in K first)" }
        let kernel = spec.flip ? "K" : "rot90(K, 2)"
        // Indexing a call's result is Octave only; MATLAB needs the result in a variable first.
        let stride = rows.stride == 1 && columns.stride == 1 ? "" : "   then Y(1:\(rows.stride):end, 1:\(columns.stride):end) of the result Y"
        if spec.paddingMode == .zeros {
            if noPadding { return "conv2(A, \(kernel), 'valid')\(stride)" }
            if isFull { return "conv2(A, \(kernel), 'full')\(stride)" }
            if isSame(oddBefore: false) { return "conv2(A, \(kernel), 'same')" }
        }
        let mode: String
        switch spec.paddingMode {
        case .zeros: mode = "0"
        case .replicate: mode = "'replicate'"
        case .circular:
            guard rows.pad.isSymmetric && columns.pad.isSymmetric else { return "no direct call: padarray pads 'circular' on both sides alike" }
            return "conv2(padarray(A, [\(pads.top) \(pads.left)], 'circular'), \(kernel), 'valid')\(stride)   % padarray: Image Processing Toolbox, Octave's image package"
        case .reflect: return "no direct call: padarray's 'symmetric' repeats the edge, PyTorch's reflect does not"
        }
        return "conv2(padarray(padarray(A, [\(pads.top) \(pads.left)], \(mode), 'pre'), [\(pads.bottom) \(pads.right)], \(mode), 'post'), \(kernel), 'valid')\(stride)   % padarray: Image Processing Toolbox, Octave's image package"
    }

    var opencv: String {
        guard single, !spec.transposed, unitSteps else { return "no direct call: filter2D takes one channel, stride 1, no dilation" }
        guard pads.top + pads.bottom == plan.kernelRows - 1, pads.left + pads.right == plan.kernelColumns - 1 else {
            return "no direct call: filter2D keeps the input's size (use a padding of k − 1 in all)"
        }
        let border: String
        switch spec.paddingMode {
        case .zeros: border = "cv2.BORDER_CONSTANT"
        case .reflect: border = "cv2.BORDER_REFLECT_101"
        case .replicate: border = "cv2.BORDER_REPLICATE"
        case .circular: return "no direct call: filter2D does not take BORDER_WRAP"
        }
        let kernel = spec.flip ? "cv2.flip(k, -1)" : "k"
        return "cv2.filter2D(a, -1, \(kernel), anchor=(\(pads.left), \(pads.top)), borderType=\(border))"
    }
}
