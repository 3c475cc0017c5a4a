import Foundation

/// A program run from a test as a user runs it: in a directory, with an environment, stdin
/// from /dev/null, stdout and stderr to files beside the directory (real file descriptors,
/// not pipes a test must drain). The process tests, the ONNX process tests and the
/// completion tests share it.
enum ChildProcess {
    struct Result {
        var out: String
        var err: String
        /// The status; 128 + N when killed by signal N; nil when it ran past its time limit.
        var status: Int32?
    }

    /// Runs `executable` with `arguments` in `directory`, the test process's environment with
    /// `environment` added; killed after `seconds` when given.
    static func run(_ executable: String, _ arguments: [String], in directory: String,
                    environment: [String: String], seconds: Double? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let outPath = directory + ".out", errPath = directory + ".err"   // beside the directory, not in it
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        try process.run()
        var timedOut = false
        if let seconds {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning {
                if Date() > deadline {
                    timedOut = true
                    process.terminate()
                    break
                }
                usleep(10_000)
            }
        }
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return Result(out: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                      err: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "", status: timedOut ? nil : status)
    }
}
