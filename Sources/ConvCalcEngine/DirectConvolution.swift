#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ConvKernels
#if arch(x86_64)
import ConvKernelsAVX2
import ConvKernelsAVX512
#endif
import ConvCalcCore

/// Which compiled copy of the inner loop runs (`Sources/ConvKernels*`).
public enum KernelLevel: String, CaseIterable, Sendable {
    /// Baseline x86-64 (SSE2) or the target's default: runs on every CPU.
    case portable
    /// AVX2 with fused multiply–add (Intel Haswell, AMD Zen and later).
    case avx2
    /// AVX-512 F/CD/BW/DQ/VL (Intel Skylake-SP, AMD Zen 4 and later).
    case avx512

    /// The levels this build has (AVX copies exist on x86-64 only).
    public static var compiled: [KernelLevel] {
        #if arch(x86_64)
        return allCases
        #else
        return [.portable]
        #endif
    }

    /// The best level for a CPU with these feature flags (as `/proc/cpuinfo` spells them).
    /// Every feature the compiler may use for the target CPU must be present.
    public static func best(flags: Set<String>) -> KernelLevel {
        #if arch(x86_64)
        let haswell: Set<String> = ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "popcnt"]
        let skylakeServer = haswell.union(["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"])
        if flags.isSuperset(of: skylakeServer) { return .avx512 }
        if flags.isSuperset(of: haswell) { return .avx2 }
        #endif
        return .portable
    }

    @inline(__always)
    func sumTaps(_ out: UnsafeMutablePointer<Double>, outStride: Int, count: Int, start: Double,
                 sources: UnsafePointer<UnsafePointer<Double>>, weights: UnsafePointer<Double>, taps: Int) {
        switch self {
        #if arch(x86_64)
        case .avx512: ConvKernelsAVX512.sumTaps(out, outStride: outStride, count: count, start: start, sources: sources, weights: weights, taps: taps)
        case .avx2: ConvKernelsAVX2.sumTaps(out, outStride: outStride, count: count, start: start, sources: sources, weights: weights, taps: taps)
        #endif
        default: ConvKernels.sumTaps(out, outStride: outStride, count: count, start: start, sources: sources, weights: weights, taps: taps)
        }
    }
}

/// How `convcalc run` computes: the kernel copy, the number of threads, the method.
public struct Execution: Sendable {
    public var level: KernelLevel
    public var threads: Int
    public var method: ConvolutionMethod

    public init(level: KernelLevel = .portable, threads: Int = 1, method: ConvolutionMethod = .auto) {
        self.level = level
        self.threads = max(1, threads)
        self.method = method
    }
}

#if canImport(Glibc) || canImport(Musl)
/// A POSIX thread running a closure.
enum WorkerThread {
    final class Job {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Starts `body` on a new thread, to be joined; when no thread can be had, runs it here
    /// and returns nil.
    static func start(_ body: @escaping () -> Void) -> pthread_t? {
        let job = Unmanaged.passRetained(Job(body)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { raw in
            Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, job)
        guard status == 0 else {
            Unmanaged<Job>.fromOpaque(job).takeRetainedValue().body()
            return nil
        }
        return thread
    }
}
#endif

/// Runs `body` on `count` items split into contiguous ranges, one thread per range.
public enum ParallelRanges {
    public static func run(count: Int, threads: Int, _ body: @escaping (Range<Int>) -> Void) {
        let parts = max(1, min(threads, count))
        guard parts > 1 else {
            body(0..<count)
            return
        }
        let ranges = (0..<parts).map { p in (p * count / parts)..<((p + 1) * count / parts) }
        #if canImport(Glibc) || canImport(Musl)
        let started = ranges.dropFirst().compactMap { range in WorkerThread.start { body(range) } }
        body(ranges[0])
        for thread in started { pthread_join(thread, nil) }
        #else
        for range in ranges { body(range) }
        #endif
    }
}

/// Parts made on worker threads and taken in order by the calling thread as each is ready:
/// printing overlaps writing (part k is written while later parts are still being made).
public enum OrderedParts {
    /// Parts made ahead of the one being taken, per thread: what is held in memory at once is
    /// at most `threads · aheadPerThread` parts, whatever the count (a slow reader, such as a
    /// full pipe, does not make the whole output pile up).
    public static let aheadPerThread = 2

    /// Makes parts `0..<count` with `make` on `threads` threads (part p on thread p mod threads)
    /// and hands them to `take` in order; part p is made only once part p − threads·aheadPerThread
    /// has been taken. `take` returning false stops the taking, and the parts not yet made are
    /// then skipped. Returns whether every part was taken.
    public static func run<Part>(count: Int, threads: Int, make: @escaping (Int) -> Part, take: (Part) -> Bool) -> Bool {
        #if canImport(Glibc) || canImport(Musl)
        let workers = max(1, min(threads, count))
        let window = workers * aheadPerThread
        let parts = UnsafeMutablePointer<Part?>.allocate(capacity: max(count, 1))
        parts.initialize(repeating: nil, count: count)
        // ready[p]: part p is made (or skipped); taken[p]: part p is taken (or the taking stopped).
        let ready = UnsafeMutablePointer<sem_t>.allocate(capacity: max(count, 1))
        let taken = UnsafeMutablePointer<sem_t>.allocate(capacity: max(count, 1))
        let stopped = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        for p in 0..<count {
            sem_init(ready + p, 0, 0)
            sem_init(taken + p, 0, 0)
        }
        sem_init(stopped, 0, 0)
        defer {
            for p in 0..<count {
                sem_destroy(ready + p)
                sem_destroy(taken + p)
            }
            sem_destroy(stopped)
            ready.deallocate()
            taken.deallocate()
            stopped.deallocate()
            parts.deinitialize(count: count)
            parts.deallocate()
        }
        let started = (0..<workers).compactMap { w in
            WorkerThread.start {
                for p in stride(from: w, to: count, by: workers) {
                    if p >= window { while sem_wait(taken + (p - window)) != 0 {} }   // EINTR: wait again
                    var stop: Int32 = 0
                    sem_getvalue(stopped, &stop)
                    if stop == 0 { parts[p] = make(p) }
                    sem_post(ready + p)
                }
            }
        }
        var taking = true
        for p in 0..<count where taking {
            while sem_wait(ready + p) != 0 {}
            taking = take(parts[p]!)
            parts[p] = nil
            sem_post(taken + p)
            if !taking {
                // Free every worker still waiting for a part to be taken; they skip the rest.
                sem_post(stopped)
                for q in (p + 1)..<max(count, p + 1) { sem_post(taken + q) }
            }
        }
        for thread in started { pthread_join(thread, nil) }
        return taking
        #else
        for p in 0..<count where !take(make(p)) { return false }
        return true
        #endif
    }
}

/// The direct method: every output element as a sum of products, vectorised across output
/// columns (`sumTaps`), rows shared among threads, no padded copy of the input for zero
/// padding with unit column stride (border columns are gathered with bounds checks, or
/// scattered from the input when there are more of them than input columns).
///
/// Forward: output row i of channel o is `bias[o] + Σ_{c, a, b} k[c, a, b] · E_c[rowSource(i·sh + a·dh)][j·sw + b·dw]`,
/// E the input extended by the padding (zeros, or the padding mode's copies). With a column
/// stride or a padding mode, E is copied as phase planes (column `m·sw + φ` of E is column m
/// of plane φ; only the phases the kernel reads), so every tap reads a contiguous run.
/// Transposed: output column `q = m·sw + φ` reads input column `(q + pb − b·dw)/sw` for the
/// kernel columns b where that division is exact: contiguous in m for each phase φ.
enum DirectConvolution {
    static func run(_ plan: ConvolutionPlan, _ input: [Matrix], _ kernels: [Matrix], bias: [Double]?, execution: Execution,
                    into outBase: UnsafeMutablePointer<Double>) {
        let spec = plan.spec
        let (r, c) = (plan.rowStep, plan.columnStep)
        let cin = plan.inputChannels
        let perGroup = spec.transposed ? plan.inputsPerGroup : plan.inner
        let taps = perGroup * plan.kernelRows * plan.kernelColumns
        // Forward with a padding mode or a column stride: the planes of E, per channel.
        let materialise = !spec.transposed && (spec.paddingMode != .zeros || c.stride > 1)
        let extendedWidth = c.input + c.pad.before + c.pad.after
        var planes: [[Double]] = []
        var planeWidths: [Int] = []
        var planeBases: [Int] = []   // where each phase plane starts in a channel's planes
        var slotOfColumn: [Int] = []  // kernel column b → its phase plane
        if materialise {
            // Only the phases the kernel reads, and only as far as the outputs reach.
            let phases = Array(Set((0..<plan.kernelColumns).map { ($0 * c.dilation) % c.stride })).sorted()
            let reach = plan.outputColumns + ((plan.kernelColumns - 1) * c.dilation) / c.stride
            var base = 0
            for phase in phases {
                planeWidths.append(min(Convolution.countUpTo(extendedWidth - phase, step: c.stride), reach))
                planeBases.append(base)
                base += planeWidths.last! * plan.inputRows
            }
            slotOfColumn = (0..<plan.kernelColumns).map { phases.firstIndex(of: ($0 * c.dilation) % c.stride)! }
            for ch in 0..<cin {
                let channelPlanes = LargeArray.doubles(count: base) { p in
                    input[ch].values.withUnsafeBufferPointer { x in
                        for (slot, phase) in phases.enumerated() {
                            let width = planeWidths[slot]
                            for row in 0..<plan.inputRows {
                                let rowStart = row * plan.inputColumns
                                let out = p + planeBases[slot] + row * width
                                for m in 0..<width {
                                    let s = spec.paddingMode.source(m * c.stride + phase - c.pad.before, plan.inputColumns)
                                    out[m] = s.map { x[rowStart + $0] } ?? 0
                                }
                            }
                        }
                    }
                }
                planes.append(channelPlanes)
            }
        }
        let transposedTaps = spec.transposed ? TransposedTaps(plan) : TransposedTaps()
        let rowCount = plan.outputChannels * plan.outputRows
        let work = Double(rowCount) * Double(plan.outputColumns) * Double(taps)
        let threads = work < 4e6 ? 1 : execution.threads
        // Raw pointers stay valid: the arrays live until the end of this function.
        let inputPointers = input.map { $0.values.withUnsafeBufferPointer { $0.baseAddress! } }
        let planePointers = planes.map { $0.withUnsafeBufferPointer { $0.baseAddress! } }
        let kernelPointers = kernels.map { $0.values.withUnsafeBufferPointer { $0.baseAddress! } }
        do {
            withExtendedLifetime((input, planes, kernels)) {
                ParallelRanges.run(count: rowCount, threads: threads) { range in
                    let sources = UnsafeMutablePointer<UnsafePointer<Double>>.allocate(capacity: max(taps, 1))
                    let weights = UnsafeMutablePointer<Double>.allocate(capacity: max(taps, 1))
                    let rows = UnsafeMutablePointer<UnsafePointer<Double>>.allocate(capacity: max(taps, 1))
                    let offsets = UnsafeMutablePointer<Int>.allocate(capacity: max(taps, 1))
                    defer {
                        sources.deallocate()
                        weights.deallocate()
                        rows.deallocate()
                        offsets.deallocate()
                    }
                    for item in range {
                        let o = item / plan.outputRows, i = item % plan.outputRows
                        let start = bias?[o] ?? 0
                        let outRow = outBase + item * plan.outputColumns
                        let inputs = plan.inputs(of: o)
                        if spec.transposed {
                            transposedRow(plan, o: o, i: i, inputs: inputs, start: start, outRow: outRow, input: inputPointers,
                                          kernels: kernelPointers, groups: transposedTaps, sources: sources, weights: weights, rows: rows,
                                          offsets: offsets, level: execution.level)
                            continue
                        }
                        // Taps: (channel, kernel row, kernel column) whose row is read.
                        var t = 0
                        for ch in inputs {
                            let k = kernelPointers[plan.block(input: ch, output: o)!]
                            for a in 0..<plan.kernelRows {
                                guard let sr = spec.paddingMode.source(i * r.stride + a * r.dilation - r.pad.before, plan.inputRows) else { continue }
                                for b in 0..<plan.kernelColumns {
                                    weights[t] = k[a * plan.kernelColumns + b]
                                    let column = b * c.dilation
                                    if materialise {
                                        let slot = slotOfColumn[b]
                                        sources[t] = planePointers[ch] + planeBases[slot] + sr * planeWidths[slot] + column / c.stride
                                    } else {
                                        rows[t] = inputPointers[ch] + sr * plan.inputColumns
                                        offsets[t] = column - c.pad.before
                                    }
                                    t += 1
                                }
                            }
                        }
                        if materialise {
                            execution.level.sumTaps(outRow, outStride: 1, count: plan.outputColumns, start: start,
                                                    sources: sources, weights: weights, taps: t)
                            continue
                        }
                        // Zero padding, unit stride: j + offset must lie in 0..<W for every tap.
                        let width = plan.inputColumns
                        let lowest = c.pad.before
                        let highest = min(plan.outputColumns, width - (plan.kernelColumns - 1) * c.dilation + c.pad.before)
                        let interior = lowest < highest ? lowest..<highest : plan.outputColumns..<plan.outputColumns
                        if !interior.isEmpty {
                            for u in 0..<t { sources[u] = rows[u] + interior.lowerBound + offsets[u] }
                            execution.level.sumTaps(outRow + interior.lowerBound, outStride: 1, count: interior.count, start: start,
                                                    sources: sources, weights: weights, taps: t)
                        }
                        // Border columns: some taps fall in the padding.
                        border(outRow, stride: 1, left: 0..<interior.lowerBound, right: interior.upperBound..<plan.outputColumns,
                               start: start, taps: t, weights: weights, rows: rows, offsets: offsets, width: width)
                    }
                }
            }
        }
    }

    /// The border outputs `left` and `right` (at `out[j·stride]`; some taps fall outside the
    /// input): gathered with bounds checks, or, when there are more of them than input
    /// columns (a kernel far wider than the input), scattered from the input: every tap times
    /// every input column once.
    @inline(__always)
    static func border(_ out: UnsafeMutablePointer<Double>, stride: Int, left: Range<Int>, right: Range<Int>, start: Double, taps: Int,
                       weights: UnsafeMutablePointer<Double>, rows: UnsafeMutablePointer<UnsafePointer<Double>>,
                       offsets: UnsafeMutablePointer<Int>, width: Int) {
        if left.count + right.count <= width {
            for j in left { out[j * stride] = borderSum(j, start: start, taps: taps, weights: weights, rows: rows, offsets: offsets, width: width) }
            for j in right { out[j * stride] = borderSum(j, start: start, taps: taps, weights: weights, rows: rows, offsets: offsets, width: width) }
            return
        }
        for j in left { out[j * stride] = start }
        for j in right { out[j * stride] = start }
        for u in 0..<taps {
            for column in 0..<width {
                let j = column - offsets[u]
                if left.contains(j) || right.contains(j) { out[j * stride] += weights[u] * rows[u][column] }
            }
        }
    }

    /// One border output: the taps whose column `j + offset` lies in the input, in tap order.
    @inline(__always)
    static func borderSum(_ j: Int, start: Double, taps: Int, weights: UnsafeMutablePointer<Double>,
                          rows: UnsafeMutablePointer<UnsafePointer<Double>>, offsets: UnsafeMutablePointer<Int>, width: Int) -> Double {
        var sum = start
        for u in 0..<taps {
            let column = j + offsets[u]
            if column >= 0 && column < width { sum += weights[u] * rows[u][column] }
        }
        return sum
    }

    /// Kernel rows and columns grouped for the transposed gather: output row i reads kernel rows
    /// with `(a·dh − pb) mod sh = i mod sh`; output column `m·sw + φ` reads kernel columns with
    /// `(b·dw − pb) mod sw = φ`. Only these are visited, so huge strides cost nothing extra.
    struct TransposedTaps {
        var rowsByPhase: [Int: [Int]] = [:]
        var columnsByPhase: [(phase: Int, columns: [Int])] = []

        init() {}

        init(_ plan: ConvolutionPlan) {
            let (r, c) = (plan.rowStep, plan.columnStep)
            func phase(_ x: Int, _ s: Int) -> Int { x % s < 0 ? x % s + s : x % s }   // no overflow for any stride
            for a in 0..<plan.kernelRows { rowsByPhase[phase(a * r.dilation - r.pad.before, r.stride), default: []].append(a) }
            var columns: [Int: [Int]] = [:]
            for b in 0..<plan.kernelColumns { columns[phase(b * c.dilation - c.pad.before, c.stride), default: []].append(b) }
            columnsByPhase = columns.keys.sorted().filter { $0 < plan.outputColumns }.map { ($0, columns[$0]!) }
        }
    }

    /// Output row i of channel o of a transposed convolution, one column phase at a time.
    @inline(__always)
    static func transposedRow(_ plan: ConvolutionPlan, o: Int, i: Int, inputs: Range<Int>, start: Double, outRow: UnsafeMutablePointer<Double>,
                              input: [UnsafePointer<Double>], kernels: [UnsafePointer<Double>], groups: TransposedTaps,
                              sources: UnsafeMutablePointer<UnsafePointer<Double>>, weights: UnsafeMutablePointer<Double>,
                              rows: UnsafeMutablePointer<UnsafePointer<Double>>, offsets: UnsafeMutablePointer<Int>, level: KernelLevel) {
        let (r, c) = (plan.rowStep, plan.columnStep)
        let width = plan.inputColumns
        outRow.update(repeating: start, count: plan.outputColumns)   // phases no kernel column reaches
        guard let kernelRows = groups.rowsByPhase[i % r.stride] else { return }
        for (phase, kernelColumns) in groups.columnsByPhase {
            let count = Convolution.countUpTo(plan.outputColumns - phase, step: c.stride)
            var t = 0
            var lowest = 0, highest = count
            for ch in inputs {
                let k = kernels[plan.block(input: ch, output: o)!]
                for a in kernelRows {
                    let pr = i + r.pad.before - a * r.dilation   // a multiple of the stride
                    guard pr >= 0, pr / r.stride < plan.inputRows else { continue }
                    let rowStart = input[ch] + (pr / r.stride) * width
                    for b in kernelColumns {
                        // Input column m + offset (the division is exact for this phase).
                        let pc = phase + c.pad.before - b * c.dilation
                        let offset = pc >= 0 ? pc / c.stride : -((-pc) / c.stride)
                        weights[t] = k[a * plan.kernelColumns + b]
                        rows[t] = rowStart
                        offsets[t] = offset
                        lowest = max(lowest, -offset)
                        highest = min(highest, width - offset)
                        t += 1
                    }
                }
            }
            guard t > 0 else { continue }
            let out = outRow + phase
            if lowest < highest {
                for u in 0..<t { sources[u] = rows[u] + lowest + offsets[u] }
                level.sumTaps(out + lowest * c.stride, outStride: c.stride, count: highest - lowest, start: start,
                              sources: sources, weights: weights, taps: t)
            } else {
                (lowest, highest) = (count, count)
            }
            // Border outputs: some taps fall outside the input.
            border(out, stride: c.stride, left: 0..<lowest, right: highest..<count,
                   start: start, taps: t, weights: weights, rows: rows, offsets: offsets, width: width)
        }
    }
}

/// Large arrays of doubles created without a first pass of zeros: the code that fills them
/// writes every element once. (Huge pages, `madvise(MADV_HUGEPAGE)`, were measured too: the
/// first write got faster on average but stalled for 30 ms at times while the kernel
/// compacted memory, so they are not used.)
public enum LargeArray {
    /// `count` doubles, every one written by `body` (which must write them all).
    public static func doubles(count: Int, _ body: (UnsafeMutablePointer<Double>) -> Void) -> [Double] {
        [Double](unsafeUninitializedCapacity: max(count, 1)) { buffer, initialized in
            body(buffer.baseAddress!)
            initialized = count
        }
    }

    /// Up to `capacity` doubles, as many as `body` writes and returns.
    public static func doubles(capacity: Int, _ body: (UnsafeMutablePointer<Double>) -> Int) -> [Double] {
        [Double](unsafeUninitializedCapacity: max(capacity, 1)) { buffer, initialized in
            initialized = body(buffer.baseAddress!)
        }
    }
}
