import XCTest
@testable import ConvCalcCLI
import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

final class RunSpeedTests: XCTestCase {
    /// --timings: one stderr line naming every phase, the method and the peak memory; stdout unchanged.
    func testTimingsReport() {
        let (out, err, status) = runCommandLine("convcalc run --timings --method direct --threads 1 - '[1 1]'", stdin: "1 2 3\n")
        XCTAssertEqual(status, 0)
        XCTAssertEqual(out, "3 5\n")
        let lines = err.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, err)
        for part in ["convcalc: timings: read input", "parse input", "allocate", "compute", "(direct, ", "1 thread)", "format", "write", "total", "peak memory"] {
            XCTAssertTrue(err.contains(part), "\(part) missing from \(err)")
        }
    }

    /// Output printed in parts that split rows (one long row; channels) reads the same as in one piece.
    func testPartsSplitRowsAndChannels() {
        let row = (0..<70_000).map { String($0 % 97 - 48) }.joined(separator: " ")
        let (one, _, _) = runCommandLine("convcalc run --threads 1 - '[0.5 1]'", stdin: row)
        let (two, err, status) = runCommandLine("convcalc run --threads 3 - '[0.5 1]'", stdin: row)
        XCTAssertEqual(status, 0, err)
        XCTAssertEqual(one, two)
        XCTAssertEqual(one.split(separator: "\n").count, 1)
        let block = (0..<300).map { i in (0..<150).map { j in String((i * j) % 11) }.joined(separator: " ") }.joined(separator: "\n")
        let channels = block + "\n\n" + block + "\n"
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("convcalc-channels-\(getpid()).txt").path
        XCTAssertNoThrow(try channels.write(toFile: path, atomically: true, encoding: .utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (a, errA, _) = runCommandLine("convcalc run --threads 1 --format csv --g 2 \(path) -", stdin: "1 -1\n\n2 1\n")
        let (b, _, _) = runCommandLine("convcalc run --threads 4 --format csv --g 2 \(path) -", stdin: "1 -1\n\n2 1\n")
        XCTAssertEqual(a, b, errA)
        XCTAssertEqual(a.components(separatedBy: "\n\n").count, 2)
        // JSON in parts: valid, and the same numbers.
        let (json, errJ, statusJ) = runCommandLine("convcalc run --threads 4 --json --g 2 \(path) -", stdin: "1 -1\n\n2 1\n")
        XCTAssertEqual(statusJ, 0, errJ)
        let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        XCTAssertEqual(object?["channels"] as? Int, 2)
        let data = object?["data"] as? [[[Double]]]
        XCTAssertEqual(data?.count, 2)
        XCTAssertEqual(data?[1].count, 300)
        XCTAssertEqual(data?[1][299].count, 149)
        let csvLast = a.split(separator: "\n").last.map { $0.split(separator: ",").compactMap { Double($0) } }
        XCTAssertEqual(data?[1][299], csvLast)
    }

    /// A large input through the whole command: every method and thread count print the same
    /// text (integers in: the FFT's result is rounded back to them), and parsing in parallel
    /// gives the same matrix as parsing in one piece.
    func testLargeInputSameTextEveryWay() throws {
        var text = ""
        for i in 0..<300 {
            text += (0..<400).map { j in String((i * 7 + j * 13) % 19 - 9) }.joined(separator: " ") + "\n"
        }
        let kernel = "'[1 2 3 4 5 6 7;0 1 0 1 0 1 0;-1 -2 -3 -4 -5 -6 -7]'"
        var outputs: [String] = []
        for options in ["--method direct --threads 1", "--method direct --threads 2", "--method fft --threads 2", "--method auto"] {
            let (out, err, status) = runCommandLine("convcalc run \(options) --p same - \(kernel)", stdin: text)
            XCTAssertEqual(status, 0, err)
            outputs.append(out)
        }
        XCTAssertEqual(Set(outputs).count, 1)
        let bytes = Array(repeating: Array(text.utf8), count: 4).flatMap { $0 }   // > 1 MiB: split among threads
        XCTAssertGreaterThan(bytes.count, 1 << 20)
        let whole = try bytes.withUnsafeBufferPointer { try MatrixText.parseBlocks(bytes: $0, threads: 1) }
        let split = try bytes.withUnsafeBufferPointer { try MatrixText.parseBlocks(bytes: $0, threads: 2) }
        XCTAssertEqual(whole.matrices, split.matrices)
        XCTAssertEqual(whole.matrices.first?.rows, 1200)
        // Errors in the second part name the line of the whole file; the first error wins.
        for (damage, expected) in [("1 2 x\n", "1201:5: 'x' is not a number"), ("1 2\n", "1201:1: this row has 2 values but the row on line 1 has 400")] {
            let damaged = bytes + Array(damage.utf8)
            for threads in [1, 2] {
                XCTAssertThrowsError(try damaged.withUnsafeBufferPointer { try MatrixText.parseBlocks(bytes: $0, threads: threads) }) { error in
                    XCTAssertTrue((error as? UserFacingError)?.message.hasPrefix(expected) == true, "\(threads) threads: \(error)")
                }
            }
        }
        // A blank line in the second part separates channels.
        let two = Array(repeating: Array(text.utf8), count: 2).flatMap { $0 }
        let channels = try (two + [0x0A] + two).withUnsafeBufferPointer { try MatrixText.parseBlocks(bytes: $0, threads: 2) }
        XCTAssertEqual(channels.matrices.count, 2)
        XCTAssertEqual(channels.separatorLines, [601])
        XCTAssertEqual(channels.matrices[0], channels.matrices[1])
    }
}
