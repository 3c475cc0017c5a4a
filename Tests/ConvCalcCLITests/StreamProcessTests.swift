import Foundation
import XCTest

/// `run` as a filter (`--stream`), through the real binary and real pipes: the same bytes as
/// the run that reads the whole input, errors in late rows, closed pipes, CRLF, slow writers.
final class StreamProcessTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("convcalc-stream-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // 600 rows of 50 values (integers and fractions), and a 3x3 kernel.
        var text = ""
        for i in 0..<600 {
            text += (0..<50).map { j in (i * 7 + j * 3) % 11 == 0 ? "\(Double(i * j % 97) / 7)" : "\((i * 31 + j * 17) % 23 - 11)" }.joined(separator: " ") + "\n"
        }
        try text.write(toFile: directory + "/a.txt", atomically: true, encoding: .utf8)
        try "1 -2 0.5\n0 3 1\n-1 2 0.25\n".write(toFile: directory + "/k.txt", atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    @discardableResult
    func script(_ text: String) throws -> (out: String, err: String, status: Int32) {
        let result = try ChildProcess.run("/bin/bash", ["-c", text], in: directory, environment: ["C": try builtBinary(), "SWIFT_BACKTRACE": "enable=no"])
        return (result.out, result.err, result.status ?? -1)
    }

    /// Through a pipe (streamed) and from the file (read whole): the same bytes, for each padding
    /// mode, stride, dilation, flip, bias, precision and csv.
    func testPipeEqualsFile() throws {
        let cases = ["", "--p 1", "--p 2 --pad-mode reflect", "--p 1x2 --pad-mode replicate --s 2", "--p 0:3x1 --pad-mode circular",
                     "--flip --d 2 --p full", "--format csv --precision 5 --bias 0.25", "--p same --like opencv", "--method direct --threads 1"]
        for options in cases {
            let result = try script("""
                $C run \(options) --stream never a.txt k.txt > whole.txt || exit 3
                cat a.txt | $C run \(options) - k.txt > piped.txt || exit 4
                $C run \(options) --stream always a.txt k.txt > always.txt || exit 5
                cat a.txt | $C run \(options) - k.txt -o file.txt || exit 6
                cmp whole.txt piped.txt && cmp whole.txt always.txt && cmp whole.txt file.txt && wc -l < piped.txt
                """)
            XCTAssertEqual(result.status, 0, "\(options): \(result.err)")
            XCTAssertNotEqual(result.out, "0\n", options)
        }
    }

    /// The FFT streamed in tile rows: the same bytes as the whole FFT run, with a fractional
    /// and an integer 15x15 kernel (integers come out rounded), an inf in a late row, padding modes.
    func testFourierPipeEqualsFile() throws {
        let fractional = (0..<15).map { i in (0..<15).map { j in "\(Double((i * 7 + j * 5) % 13 - 6) / 8)" }.joined(separator: " ") }
        let integer = (0..<15).map { i in (0..<15).map { j in "\((i * 3 + j) % 5 - 2)" }.joined(separator: " ") }
        try (fractional.joined(separator: "\n") + "\n").write(toFile: directory + "/k15.txt", atomically: true, encoding: .utf8)
        try (integer.joined(separator: "\n") + "\n").write(toFile: directory + "/k15i.txt", atomically: true, encoding: .utf8)
        let cases = ["--method fft --K k15.txt", "--method fft --p 7 --pad-mode reflect --bias 0.5 --K k15.txt", "--method fft --p 7 --K k15i.txt",
                     "--method fft --p 3x7 --pad-mode replicate --s 2 --flip --K k15.txt"]
        for options in cases {
            let whole = options.replacingOccurrences(of: "--K", with: "--stream never $f")
            let piped = options.replacingOccurrences(of: "--K", with: "-")
            let result = try script("""
                sed '500s/^[^ ]*/inf/' a.txt > b.txt
                for f in a.txt b.txt; do
                  $C run \(whole) > whole.txt || exit 3
                  cat $f | $C run --timings \(piped) 2> timings.txt > piped.txt || exit 4
                  grep -q 'streamed, fft' timings.txt || exit 5
                  cmp whole.txt piped.txt || exit 6
                done
                wc -l < piped.txt
                """)
            XCTAssertEqual(result.status, 0, "\(options): \(result.err) \(result.out)")
            XCTAssertNotEqual(result.out, "0\n", options)
        }
    }

    /// A bad token at line 500: one error line naming it, exit 1, no -o file; the rows before
    /// it may already be on stdout.
    func testLateErrorLeavesNoOutputFile() throws {
        let result = try script("""
            sed '500s/^[^ ]*/0.5x/' a.txt > bad.txt
            cat bad.txt | $C run - k.txt -o out.txt; echo "status $?"
            ls
            """)
        XCTAssertEqual(result.out, "status 1\na.txt\nbad.txt\nk.txt\n")
        XCTAssertEqual(result.err, "convcalc: error: <stdin>:500:1: '0.5x' is not a number; expected a decimal or scientific number, nan, inf or -inf\n")
        let file = try script("$C run --stream always bad.txt k.txt > partial.txt; echo \"status $?\"")
        XCTAssertEqual(file.out, "status 1\n")
        XCTAssertEqual(file.err, "convcalc: error: bad.txt:500:1: '0.5x' is not a number; expected a decimal or scientific number, nan, inf or -inf\n")
        // A ragged row late: the same message as the whole run's.
        let ragged = try script("sed '450s/$/ 1/' a.txt > ragged.txt; cat ragged.txt | $C run - k.txt > /dev/null; $C run ragged.txt k.txt 2>&1 >/dev/null")
        XCTAssertEqual(ragged.err.replacingOccurrences(of: "<stdin>", with: "ragged.txt"), ragged.out)
        XCTAssertTrue(ragged.out.hasPrefix("convcalc: error: ragged.txt:450:1: this row has 51 values"), ragged.out)
    }

    /// `| head -1`: killed by SIGPIPE at its default (as other filters), a quiet exit 1 when ignored.
    func testClosedPipe() throws {
        let killed = try script("cat a.txt a.txt a.txt a.txt 2>/dev/null | $C run - k.txt | head -1 > /dev/null; echo ${PIPESTATUS[1]}")
        XCTAssertEqual(killed.out, "141\n")
        XCTAssertEqual(killed.err, "")
        let ignored = try script("trap '' PIPE; cat a.txt a.txt a.txt a.txt 2>/dev/null | $C run - k.txt | head -1 > /dev/null; echo ${PIPESTATUS[1]}")
        XCTAssertEqual(ignored.out, "1\n")
        XCTAssertEqual(ignored.err, "")
    }

    /// CRLF line ends, and data arriving in small pieces with pauses (a slow writer).
    func testCRLFAndSlowWriter() throws {
        let crlf = try script("$C run --stream never a.txt k.txt > whole.txt; sed 's/$/\\r/' a.txt | $C run - k.txt | cmp - whole.txt && echo same")
        XCTAssertEqual(crlf.out, "same\n", crlf.err)
        let slow = try script("""
            $C run --stream never a.txt k.txt > whole.txt
            (for part in $(seq 0 7); do dd if=a.txt bs=4001 skip=$((part * 10)) count=10 status=none; sleep 0.05; done) | $C run - k.txt | cmp - whole.txt && echo same
            """)
        XCTAssertEqual(slow.out, "same\n", slow.err)
    }

    /// A streamed run keeps memory flat: twice the height costs the whole run about twice the
    /// memory and the streamed run nothing more (its peak does not grow with the height).
    func testMemoryIsFlat() throws {
        // 1,500 and 3,000 rows of 2,000 values: 24 and 48 MB of doubles in and as many out.
        let result = try script("""
            $C run --p 749x999 --pad-mode zeros '[1.5 2;3 4]' '[1]' > tall.txt     # 1500x2000, mostly zeros
            $C run --p 1499x999 --pad-mode zeros '[1.5 2;3 4]' '[1]' > taller.txt  # 3000x2000
            for f in tall.txt taller.txt; do
              $C run --timings --stream never $f k.txt 2>&1 > whole.txt | grep -o 'peak memory [0-9]*' | grep -o '[0-9]*$'
              cat $f | $C run --timings - k.txt 2>&1 > piped.txt | grep -o 'peak memory [0-9]*' | grep -o '[0-9]*$'
              cmp whole.txt piped.txt
            done
            """)
        let peaks = result.out.split(separator: "\n").compactMap { Int($0) }
        XCTAssertEqual(peaks.count, 4, result.out + result.err)
        guard peaks.count == 4 else { return }
        XCTAssertGreaterThan(peaks[2], peaks[0] + 30, "the whole run grows with the height: \(result.out)")
        XCTAssertLessThanOrEqual(peaks[3], peaks[1] + 4, "the streamed run does not: \(result.out)")
        XCTAssertLessThan(peaks[3], peaks[2] / 2, result.out)
    }
}
