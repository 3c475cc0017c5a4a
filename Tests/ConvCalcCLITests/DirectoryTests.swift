import Foundation
import XCTest
@testable import ConvCalcCLI

/// `run(…, directory:)`: relative file names are read and written there, the process's
/// working directory is left alone, and messages name the paths as given.
final class DirectoryTests: XCTestCase {
    func testRelativePathsResolveInTheGivenDirectory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("convcalc-directory-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory + "/sub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "1 2\n3 4\n".write(toFile: directory + "/sub/a.txt", atomically: true, encoding: .utf8)
        try "1 0\n0 1\n".write(toFile: directory + "/k.txt", atomically: true, encoding: .utf8)
        try "10\n".write(toFile: directory + "/bias.txt", atomically: true, encoding: .utf8)
        try "conv:k=3\nconv:k=3\n".write(toFile: directory + "/net.txt", atomically: true, encoding: .utf8)
        let before = FileManager.default.currentDirectoryPath

        func run(_ args: [String]) -> (String, String, Int32) {
            let out = StringSink(), err = StringSink()
            let status = ConvCalcCLI.run(args, stdin: StringInput(""), stdout: out, stderr: err, directory: directory)
            return (out.text, err.text, status)
        }
        var (out, err, status) = run(["shape", "--in", "8", "-q", "-f", "net.txt"])
        XCTAssertEqual([out, err], ["4\n", ""])
        XCTAssertEqual(status, 0)
        (out, err, status) = run(["run", "--bias", "bias.txt", "sub/a.txt", "k.txt"])
        XCTAssertEqual([out, err], ["15\n", ""])
        XCTAssertEqual(status, 0)
        (out, err, status) = run(["run", "sub/a.txt", "k.txt", "-o", "sub/out.txt"])
        XCTAssertEqual([out, err], ["", ""])
        XCTAssertEqual(status, 0)
        XCTAssertEqual(try String(contentsOfFile: directory + "/sub/out.txt", encoding: .utf8), "5\n")
        // Messages name the path as given, not as resolved.
        (out, err, status) = run(["run", "missing.txt", "k.txt"])
        XCTAssertEqual(status, 1)
        XCTAssertTrue(err.hasPrefix("convcalc: error: cannot read 'missing.txt': "), err)
        (out, err, status) = run(["run", "sub/a.txt", "k.txt", "-o", "nowhere/out.txt"])
        XCTAssertEqual(status, 1)
        XCTAssertTrue(err.contains("'nowhere/out.txt'"), err)
        XCTAssertFalse(err.contains(directory), err)
        XCTAssertEqual(FileManager.default.currentDirectoryPath, before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: before + "/sub/out.txt"))
    }
}
