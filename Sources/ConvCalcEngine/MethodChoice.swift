import ConvCalcCore

/// Not enough memory for what a run needs, found before allocating it.
public enum MemoryError: UserFacingError, Equatable {
    /// `12 MiB`, or `316 KiB` below one MiB.
    static func size(_ bytes: Int) -> String {
        bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : "\((bytes + 1023) >> 10) KiB"
    }

    case insufficient(what: String, bytes: Int, available: Int)
    /// The FFT's buffers past 2^28 values, or its tiles past 2^24 positions along a dimension.
    case fourier(values: Int)
    public var message: String {
        switch self {
        case let .insufficient(what, bytes, available):
            return "\(what) would need \(MemoryError.size(bytes)) of memory but only \(MemoryError.size(max(available, 0))) are available; use a smaller input, padding or kernel"
        case let .fourier(values):
            let size = values >= Int.max / 8 ? "an input longer than 2^24 positions (with its stride)" : "\(values) values in its buffers (more than 2^28)"
            let method = Subject.convolution(.method).name(.options)
            return "\(method) fft cannot run this convolution: it would need \(size); use \(method) direct or auto"
        }
    }
    public var category: ErrorCategory { .data }
}

/// The one place a run's method is chosen, with the memory budget.
extension Convolution {
    /// What `choose` decided: `sized` is the method the sizes and the memory choose (what
    /// `Execution` asks for), `method` the one that runs on these values, with their survey.
    public struct MethodChoice {
        public var sized: ConvolutionMethod
        public var method: ConvolutionMethod
        public var survey: OperandSurvey?
    }

    /// Chooses the method of a run and refuses, before anything is allocated, what would not
    /// fit in `memory` bytes (nil: unknown, only the fixed limits apply):
    /// - the output (8 bytes a value) must fit;
    /// - `fft` as asked needs its buffers to fit beside the output (else an error); `auto` turns
    ///   to `direct` when they do not, and to `fft` when direct would exceed `workLimit`;
    /// - the values may then turn the FFT to direct (inf or nan in the kernel, magnitudes that
    ///   could overflow its sums; `method(_:_:survey:)`);
    /// - the direct method beyond `workLimit` multiply–adds is refused (`tooMuchWork`).
    public static func choose(_ plan: ConvolutionPlan, asked: ConvolutionMethod, memory available: Int?,
                              _ input: [Matrix], _ kernel: [Matrix], bias: [Double]?, threads: Int) throws -> MethodChoice {
        let outputValues = plan.outputChannels * plan.outputRows * plan.outputColumns
        if let available, outputValues > available / 8 {
            throw MemoryError.insufficient(what: "the output (\(outputValues) values)", bytes: outputValues * 8, available: available)
        }
        let fourierBytes = (FourierConvolution.bufferValues(plan) ?? Int.max / 8) * 8
        let fourierFits = FourierConvolution.fits(plan)
        let fourierMemory = available.map { fourierBytes <= $0 - outputValues * 8 } ?? true
        var sized = asked
        if asked == .fft {
            guard fourierFits else { throw MemoryError.fourier(values: fourierBytes / 8) }
            if let available, !fourierMemory {
                throw MemoryError.insufficient(what: "the FFT buffers", bytes: fourierBytes, available: available - outputValues * 8)
            }
        } else if asked == .auto {
            if !fourierMemory {
                sized = .direct   // the FFT would not fit in memory
            } else if fourierFits && plan.directMultiplyAdds > workLimit {
                sized = .fft      // beyond what direct is given
            }
        }
        // The values decide too (inf or nan, huge magnitudes): one scan, shared with the run.
        let survey = Convolution.survey(plan, sized, input, kernel, bias: bias, threads: threads)
        let method = try survey.map { try Convolution.method(plan, sized, survey: $0) } ?? .direct
        if method == .direct && plan.directMultiplyAdds > workLimit {
            throw ConvolutionError.tooMuchWork(multiplyAdds: plan.directMultiplyAdds, fourier: asked == .direct && fourierFits && fourierMemory)
        }
        return MethodChoice(sized: sized, method: method, survey: survey)
    }
}
