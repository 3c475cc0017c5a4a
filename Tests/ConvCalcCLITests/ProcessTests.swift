import Foundation
import XCTest
@testable import ConvCalcCLI
@testable import ConvCalcCore
@testable import ConvCalcEngine
@testable import ConvCalcText

/// A few runs of the real binary: exit status, stdout/stderr separation, stdin.
final class ProcessTests: XCTestCase {
    /// Runs the binary on `args`; `environment`, when given, is its whole environment.
    func execute(_ args: [String], stdin: String? = nil, environment: [String: String]? = nil) throws -> (out: String, err: String, status: Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try builtBinary())
        process.arguments = args
        if let environment { process.environment = environment }
        process.currentDirectoryURL = URL(fileURLWithPath: packageRoot)
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin.data(using: .utf8)!) }
        try input.fileHandleForWriting.close()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self), process.terminationStatus)
    }

    func testExitStatusesAndStreams() throws {
        let ok = try execute(["shape", "-q", "--in", "224", "--k", "7", "--s", "2", "--p", "3"])
        XCTAssertEqual(ok.out, "112\n")
        XCTAssertEqual(ok.err, "")
        XCTAssertEqual(ok.status, 0)

        let warned = try execute(["shape", "-q", "--in", "32", "conv:k=3,s=2"])
        XCTAssertEqual(warned.out, "15\n")
        XCTAssertTrue(warned.err.hasPrefix("convcalc: warning: "))
        XCTAssertEqual(warned.status, 0)

        let impossible = try execute(["shape", "--in", "2", "conv:k=5"])
        XCTAssertEqual(impossible.out, "")
        XCTAssertTrue(impossible.err.hasPrefix("convcalc: error: "))
        XCTAssertEqual(impossible.status, 1)

        let usage = try execute(["shape", "--kernal", "3"])
        XCTAssertEqual(usage.out, "")
        XCTAssertEqual(usage.status, 2)
    }

    func testStackFromStdin() throws {
        let result = try execute(["shape", "-q", "--in", "64", "-f", "-"], stdin: "conv:k=3,s=2,p=1\n# comment\nmaxpool:k=2\n")
        XCTAssertEqual(result.out, "16\n")
        XCTAssertEqual(result.status, 0)
    }

    /// `-o FILE`: written whole on success; on failure no file and no temporary file remain.
    func testRunOutputFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("convcalc-test-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let good = try execute(["run", "--p", "1", "examples/matrices/a.txt", "examples/matrices/k.txt", "-o", directory + "/out.txt"])
        XCTAssertEqual(good.status, 0)
        XCTAssertEqual(good.out, "")
        XCTAssertEqual(try String(contentsOfFile: directory + "/out.txt", encoding: .utf8), "4 11 18 9\n18 37 47 21\n36 67 77 33\n14 23 26 9\n")
        let bad = try execute(["run", "examples/matrices/a.txt", "[1 2; 3]", "-o", directory + "/bad.txt"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["out.txt"])
        let unwritable = try execute(["run", "examples/matrices/a.txt", "[1]", "-o", directory + "/missing/dir/out.txt"])
        XCTAssertEqual(unwritable.status, 1)
        XCTAssertTrue(unwritable.err.hasPrefix("convcalc: error: cannot write"), unwritable.err)
    }

    /// Short options clustered as getopt reads them: `-qo FILE`, `-oFILE`, `-o=FILE` (issue #15).
    func testClusteredShortOptions() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("convcalc-short-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (index, form) in [["-qo", directory + "/0.txt"], ["-o" + directory + "/1.txt"], ["-o=" + directory + "/2.txt"]].enumerated() {
            let result = try execute(["run"] + form + ["[1 2;3 4]", "[2]"])
            XCTAssertEqual(result.status, 0, result.err)
            XCTAssertEqual(result.out, "")
            XCTAssertEqual(try String(contentsOfFile: directory + "/\(index).txt", encoding: .utf8), "2 4\n6 8\n")
        }
        let stack = try execute(["shape", "-qf", "-", "--in", "9"], stdin: "conv:k=3 relu\n")
        XCTAssertEqual(stack.out, "7\n", stack.err)
    }

    /// The README's pipeline: stdin in, output piped back in as input.
    func testRunPipeline() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let binary = try builtBinary()
        process.arguments = ["-c", "cat examples/matrices/a.txt | '\(binary)' run --p 1 - examples/matrices/k.txt | '\(binary)' run --flip - '[1 -1]'"]
        process.currentDirectoryURL = URL(fileURLWithPath: packageRoot)
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertEqual(String(decoding: data, as: UTF8.self), "7 7 -9\n19 10 -26\n31 10 -44\n9 3 -17\n")
    }

    /// The real process reads the locale and COLUMNS from its environment (`Terminal`): under
    /// LC_ALL=C every byte it writes is ASCII, stderr too; COLUMNS sets the width.
    func testLocaleAndColumnsFromTheEnvironment() throws {
        let args = ["shape", "--in", "10", "maxpool:k=1,s=2,ceil=1", "conv:k=3,s=2,p=same"]
        let ascii = try execute(args, environment: ["LC_ALL": "C", "LANG": "en_US.UTF-8"])
        XCTAssertEqual(ascii.status, 0)
        XCTAssertTrue(ascii.out.contains("ceil((in + pb + pa - ke)/s) + 1"), ascii.out)
        XCTAssertFalse(ascii.err.isEmpty)
        for byte in (ascii.out + ascii.err).utf8 { XCTAssertLessThan(byte, 0x80, ascii.out + ascii.err) }
        let unicode = try execute(args, environment: ["LANG": "C.UTF-8"])
        XCTAssertTrue(unicode.out.contains("⌈(in + pb + pa − ke)/s⌉ + 1"), unicode.out)
        let unset = try execute(args, environment: [:])
        XCTAssertEqual(unset.out, unicode.out, "no locale set: Unicode")

        let resnet = ["params", "-f", "examples/nets/resnet50.net"]
        let pipe = try execute(resnet, environment: [:])
        XCTAssertTrue(pipe.out.split(separator: "\n").allSatisfy { $0.count <= 80 }, "a pipe is 80 columns:\n\(pipe.out)")
        let wide = try execute(resnet, environment: ["COLUMNS": "120"])
        XCTAssertTrue(wide.out.hasPrefix("#    layer"), wide.out)
        XCTAssertTrue(wide.out.split(separator: "\n")[0].contains("weights"), "COLUMNS=120 shows the whole table")
    }
}
