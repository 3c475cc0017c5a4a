#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// What this machine offers `convcalc run`: CPU count and instruction-set level.
enum Machine {
    /// Online CPUs, at most 16.
    static var processors: Int {
        min(16, max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
    }

    /// The kernel copy to run: the best one the CPU supports (its flags in /proc/cpuinfo), or
    /// the one the environment variable CONVCALC_KERNEL names (portable, avx2, avx512), which
    /// must be supported too.
    static func kernelLevel() throws -> KernelLevel {
        let best = KernelLevel.best(flags: cpuFlags())
        guard let name = getenv("CONVCALC_KERNEL").map({ String(cString: $0) }), !name.isEmpty else { return best }
        guard let asked = KernelLevel(rawValue: name), KernelLevel.compiled.contains(asked) else {
            throw UsageError.invalid("CONVCALC_KERNEL=\(name) is not one of \(KernelLevel.compiled.map(\.rawValue).joined(separator: ", "))")
        }
        let order = KernelLevel.compiled
        guard order.firstIndex(of: asked)! <= order.firstIndex(of: best)! else {
            throw UsageError.invalid("CONVCALC_KERNEL=\(name) needs CPU features this machine lacks (best here: \(best.rawValue))")
        }
        return asked
    }

    /// Memory convcalc may still allocate, nil when unknown (then only convcalc's fixed limits
    /// apply): the least of what the system can give without swapping (MemAvailable of
    /// /proc/meminfo), what is left of the address-space limit (`ulimit -v`, RLIMIT_AS, less
    /// the process's VmSize) and what is left of its control group's memory limit (cgroup v2
    /// memory.max, v1 memory.limit_in_bytes, less the group's usage not counting reclaimable
    /// inactive file cache). Refusing against it comes before allocating, so a run that would
    /// not fit says so instead of being aborted or killed.
    static func availableMemory() -> Int? {
        [systemAvailable(), addressSpaceLeft(), controlGroupLeft()].compactMap { $0 }.min()
    }

    /// What a run may fill with data (inputs, values, output): the available memory less
    /// 32 MiB for each thread (its 8 MiB stack and the printer's parts it may hold, at most
    /// `OrderedParts.aheadPerThread` of about 1.4 MiB) and 16 MiB for the rest.
    static func memoryForData(threads: Int) -> Int? {
        availableMemory().map { max($0 - (1 << 24) - threads << 25, 0) }
    }

    static func systemAvailable() -> Int? {
        kilobytes("MemAvailable", in: "/proc/meminfo").map { $0 * 1024 }
    }

    static func addressSpaceLeft() -> Int? {
        #if os(Linux)
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        let used = kilobytes("VmSize", in: "/proc/self/status").map { $0 * 1024 } ?? 0
        return max(Int(clamping: limit.rlim_cur) - used, 0)
        #else
        return nil
        #endif
    }

    static func controlGroupLeft() -> Int? {
        #if os(Linux)
        guard let bytes = try? FileReader.readBytes(path: "/proc/self/cgroup") else { return nil }
        func number(_ path: String) -> Int? {
            guard let text = try? FileReader.readBytes(path: path) else { return nil }
            return Int(String(decoding: text, as: UTF8.self).split(separator: "\n").first ?? "")
        }
        func statField(_ name: String, _ path: String) -> Int {
            guard let text = try? FileReader.readBytes(path: path) else { return 0 }
            for line in String(decoding: text, as: UTF8.self).split(separator: "\n") where line.hasPrefix(name + " ") {
                return Int(line.dropFirst(name.count + 1)) ?? 0
            }
            return 0
        }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let group = fields[2] == "/" ? "" : String(fields[2])
            if fields[0] == "0" && fields[1].isEmpty {   // cgroup v2
                for directory in ["/sys/fs/cgroup" + group, "/sys/fs/cgroup"] {
                    guard let limit = number(directory + "/memory.max"), let usage = number(directory + "/memory.current") else { continue }
                    return max(limit - usage + statField("inactive_file", directory + "/memory.stat"), 0)
                }
            } else if fields[1].split(separator: ",").contains("memory") {   // cgroup v1
                for directory in ["/sys/fs/cgroup/memory" + group, "/sys/fs/cgroup/memory"] {
                    guard let limit = number(directory + "/memory.limit_in_bytes"), limit < 1 << 60,
                          let usage = number(directory + "/memory.usage_in_bytes") else { continue }
                    return max(limit - usage + statField("total_inactive_file", directory + "/memory.stat"), 0)
                }
            }
        }
        #endif
        return nil
    }

    /// The number of a `Name:  1234 kB` line of a /proc file, nil when absent (or not Linux).
    static func kilobytes(_ name: String, in path: String) -> Int? {
        #if os(Linux)
        guard let bytes = try? FileReader.readBytes(path: path) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix(name + ":") {
            let words = line.dropFirst(name.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let kilobytes = words.first.flatMap({ Int($0) }), kilobytes < Int.max / 1024 else { return nil }
            return kilobytes
        }
        #endif
        return nil
    }

    /// The words of the first `flags` line of /proc/cpuinfo (x86 Linux); empty elsewhere.
    static func cpuFlags() -> Set<String> {
        #if arch(x86_64) && os(Linux)
        guard let bytes = try? FileReader.readBytes(path: "/proc/cpuinfo") else { return [] }
        var lineStart = 0
        for index in bytes.indices where bytes[index] == 0x0A {
            let line = bytes[lineStart..<index]
            lineStart = index + 1
            guard line.starts(with: Array("flags".utf8)), let colon = line.firstIndex(of: 0x3A) else { continue }
            return Set(String(decoding: bytes[(colon + 1)..<index], as: UTF8.self).split(separator: " ").map(String.init))
        }
        #endif
        return []
    }
}

/// Wall-clock times of the phases of a command (`run --timings`).
struct PhaseTimer {
    private var last = PhaseTimer.now()
    private let start = PhaseTimer.now()
    private(set) var phases: [(name: String, seconds: Double, note: String?)] = []

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    /// Ends the current phase, named `name`.
    mutating func lap(_ name: String, note: String? = nil) {
        let now = PhaseTimer.now()
        phases.append((name, now - last, note))
        last = now
    }

    /// `read 0.012 s, parse 0.040 s, compute 0.031 s (direct, avx512, 2 threads), …, total 0.150 s`.
    var report: String {
        func seconds(_ value: Double) -> String {
            let milliseconds = Int((value * 1e6).rounded())
            let whole = milliseconds / 1_000_000, fraction = String(milliseconds % 1_000_000)
            return "\(whole).\(String(repeating: "0", count: 6 - fraction.count))\(fraction) s"
        }
        let parts = phases.map { "\($0.name) \(seconds($0.seconds))" + ($0.note.map { " (\($0))" } ?? "") }
        let peak = PhaseTimer.peakMemory().map { ["peak memory \(($0 + (1 << 19)) >> 20) MiB"] } ?? []
        return (parts + ["total \(seconds(PhaseTimer.now() - start))"] + peak).joined(separator: ", ")
    }

    /// The process's peak resident memory in bytes (VmHWM of /proc/self/status), nil elsewhere.
    static func peakMemory() -> Int? {
        Machine.kilobytes("VmHWM", in: "/proc/self/status").map { $0 * 1024 }
    }
}
