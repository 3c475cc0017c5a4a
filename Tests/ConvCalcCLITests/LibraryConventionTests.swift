import Foundation
import XCTest
@testable import ConvCalcCLI

/// `run --like LIB` against the libraries themselves: `Tests/fixtures/like_cases.tsv`, made
/// by `generate_like_cases.py` with Octave 7.3 (matlab, octave), SciPy, NumPy, PyTorch,
/// TensorFlow and OpenCV, odd, even and non-square kernels in every mode and the default.
final class LibraryConventionTests: XCTestCase {
    func testEveryLibraryCaseMatches() throws {
        let text = try String(contentsOfFile: packageRoot + "/Tests/fixtures/like_cases.tsv", encoding: .utf8)
        var count: [String: Int] = [:]
        for line in text.split(separator: "\n").dropFirst() where !line.hasPrefix("#") {
            let f = line.split(separator: "\t").map(String.init)
            let (library, mode, input, kernel, expected) = (f[0], f[1], f[2], f[3], f[4])
            var args = ["run", "--like", library]
            if mode != "default" { args += ["--p", mode] }
            args += [input, kernel]
            let out = StringSink(), err = StringSink()
            let status = ConvCalcCLI.run(args, stdin: StringInput(""), stdout: out, stderr: err)
            XCTAssertEqual(status, 0, "\(args): \(err.text)")
            let got = "[" + out.text.split(separator: "\n").joined(separator: ";") + "]"
            XCTAssertEqual(got, expected, "convcalc \(args.joined(separator: " "))")
            count[library, default: 0] += 1
        }
        XCTAssertEqual(Set(count.keys), Set(Library.allCases.map(\.rawValue)))
        XCTAssertGreaterThan(count.values.reduce(0, +), 300)
    }
}
