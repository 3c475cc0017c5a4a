import Foundation
import XCTest
import ConvCalcTestSupport
@testable import ConvCalcCLI
import ConvCalcCore

/// The ONNX fixture models (Tests/fixtures/onnx), found from this file's path, each with the map
/// of its protocol-buffer fields for `Mutator`.
let onnxFixtures: [(name: String, bytes: [UInt8], map: WireMap)] = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(2)   // ConvCalcCLITests/FuzzTests.swift
    let directory = parts.joined(separator: "/") + "/fixtures/onnx"
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".onnx") }.sorted()
    return names.compactMap { name in
        guard let data = FileManager.default.contents(atPath: directory + "/" + name) else { return nil }
        return (name, [UInt8](data), WireMap([UInt8](data)))
    }
}()

/// Random and mutated argument vectors and matrix files for the whole CLI.
///
/// Every case must end with exit status 0, 1 or 2; on a non-zero status exactly one
/// `convcalc: error:` line on stderr and nothing on stdout; and no output file (nor temporary
/// file) left behind by a failed `-o`. A trap or crash fails the whole run: replay it with
/// the printed seed, `CONVCALC_FUZZ_SEED=S CONVCALC_FUZZ_CASES=N CONVCALC_FUZZ_VERBOSE=1`.
struct Fuzzer {
    var random: SeededGenerator
    let directory: String

    static let values = ["0", "1", "2", "3", "7", "-1", "-0", "+3", "2147483648", "9223372036854775807",
                         "9223372036854775808", "99999999999999999999", "4611686018427387904", "", "3x", "x3", "1x7",
                         "2x2x2", "1x2x3x4", "3.5", "1e3", "abc", "٣", "é", "😀", "same", "valid", "full", "0:1",
                         "1:0x2:2", "1::2", ":", "x", "0x0", String(repeating: "9", count: 300), String(repeating: "x", count: 5000),
                         "fp16", "int8", "adam", "fvcore", "ptflops", "thop", "torch", "1000000",
                         "svg", "text", "window", "scatter", "both", "0,0", "1,2", "-1,0", "0,99", "0,0,0",
                         "k,s,p", "in", "d", "op", "k,k", "matlab", "scipy", "numpy", "opencv", "torch", "markdown", "latex"]
    /// Every key, type and option from the schema tables, and a few that do not exist.
    static let keys = LayerKey.allCases.map(\.rawValue) + ["zz", ""]
    static let types = LayerType.allNames + ["bogus", "", "add", "concat", "split"]
    static let layerOptions = CommonOptions.layer.filter { !$0.isFlag }.flatMap(\.names)
        + ["--in", "--cin", "--dims", "--out", "--vs", "-f", "--file", "--cell", "--view", "--solve", "--format"]
        + ["--batch", "--dtype", "--weight-dtype", "--optimizer", "--freeze-upto", "--top", "--count"]
    static let flags = ["-q", "--quiet", "--json", "--ceil", "--bias", "--no-bias", "--map", "--", "-", "-h", "--help",
                        "--version", "--bogus", "-x", "{", "}", "add", "concat", "split", "split:c=2x2",
                        "--memory", "--train", "--inplace", "--master-weights", "--no-warnings", "--ascii",
                        "--draw", "--composite", "--animate", "svg"]
    static let runOptions = ["--p", "--s", "--d", "--op", "--g", "--pad-mode", "--precision", "--format", "--bias", "--at", "--in",
                             "--method", "--threads", "--like"]
    static let runFlags = ["--flip", "--transposed", "--explain", "--as-matrix", "--json", "-q", "--timings", "--draw", "svg", "--equivalent"]
    static let numbers = ["0", "1", "-1", "2.5", "1e400", "-1e400", "nan", "inf", "-inf", "1e-320", "x", "-", "--", "1,2",
                          "0x1p3", "1_0", ".", "e5", "1e", "٣", String(repeating: "9", count: 400)]

    mutating func pick(_ list: [String]) -> String { list.randomElement(using: &random)! }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &random) < p }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }

    mutating func token() -> String {
        let type = pick(Self.types)
        let count = int(0...4)
        if count == 0 { return type }
        return type + ":" + (0..<count).map { _ in "\(pick(Self.keys))=\(pick(Self.values))" }.joined(separator: chance(0.9) ? "," : ",,")
    }

    /// A merge with its branches, mostly well-formed: `add`, `concat` or `split` (equal
    /// shares, or given ones that may not fit), two or three branches of up to two tokens
    /// each, an empty branch now and then, one level of nesting at most.
    mutating func merge(depth: Int = 0) -> [String] {
        let branches = int(chance(0.9) ? 2...3 : 1...4)
        var kind = pick(["add", "concat", "split", "split"])
        if kind == "split" && chance(0.5) {
            let shares = int(chance(0.9) ? branches...branches : 1...4)
            kind += ":c=" + (0..<shares).map { _ in chance(0.95) ? String(int(1...8)) : pick(Self.values) }.joined(separator: "x")
        }
        var words = [kind]
        for _ in 0..<branches {
            words.append("{")
            for _ in 0..<int(0...2) { words.append(chance(0.7) ? pick(["conv:k=1", "conv:k=3,p=1", "relu", "bn", "maxpool:k=2"]) : token()) }
            if depth == 0 && chance(0.2) { words += merge(depth: 1) }
            if chance(0.98) { words.append("}") }
        }
        return words
    }

    /// Words of the block language, mostly well-formed: `def`s with parameters used in values
    /// (arithmetic included), uses with right and wrong argument counts, `repeat` with good and
    /// bad counts, recursion, undefined names, includes of missing files and of the file itself.
    mutating func blockWords(file: String) -> [String] {
        var words: [String] = []
        let name = pick(["blk", "b2", "conv", "repeat", "x y", ""])
        let parameters = pick(["", "c", "c, s", "c, c", "1c", "k"])
        words += ["def", parameters.isEmpty && chance(0.5) ? name : "\(name)(\(parameters))", chance(0.95) ? "{" : "["]
        for _ in 0..<int(0...3) {
            words.append(chance(0.6) ? pick(["conv:k=3,p=1,c=c", "conv:k=1,s=s,c=c*2", "conv:k=(k)x1", "relu", "bn", "se:hidden=c/4",
                                             "conv:k=3,c=c/0", "conv:k=3,c=c-c", "blk(c)", "b2(c, s)", "repeat s { relu }"]) : token())
        }
        if chance(0.97) { words.append("}") }
        for _ in 0..<int(0...3) {
            switch int(0...4) {
            case 0: words.append(pick(["blk(8)", "blk(8, 2)", "blk", "blk()", "b2(4, 1)", "nope(1)", "blk(2*3+1)", "blk(-1)", "blk(99999999999999999999)"]))
            case 1: words += ["repeat", pick(["2", "0", "-1", "1000001", "x", "2*2", "99999999999999999999"]), "{", pick(["relu", "blk(4)", token()]), "}"]
            case 2: words += ["include", pick([file, directory + "/missing.net", directory, "-"])]
            case 3: words += merge()
            default: words.append(token())
            }
        }
        return words
    }

    /// Matrix text: mostly well-formed, with every kind of damage the format can take.
    mutating func matrixText() -> String {
        if chance(0.05) { return String(decoding: (0..<int(0...80)).map { _ in UInt8.random(in: 0...255, using: &random) }, as: UTF8.self) }
        if chance(0.03) { return "" }
        if chance(0.01) { return (0..<1_000_000).map { _ in "1" }.joined(separator: " ") }   // 10^6 columns on one line
        if chance(0.003) {
            // Over 1 MiB: parsed by several threads; damage near the end lands in the last part.
            let row = (0..<1000).map { _ in String(int(-9...9)) }.joined(separator: " ")
            var text = Array(repeating: row, count: 600).joined(separator: "\n") + "\n"
            if chance(0.5) { text += pick(["1 2\n", "x\n", "1e400\n", "\n" + row + "\n", "-\n"]) }
            return text
        }
        if chance(0.03) {
            // Large enough for the vector blocks, several FFT tiles and two threads.
            let rows = int(1...40), columns = int(1...120)
            return (0..<rows).map { _ in (0..<columns).map { _ in chance(0.5) ? String(int(-9...9)) : String(Double(int(-999...999)) / 7) }
                .joined(separator: " ") }.joined(separator: "\n") + "\n"
        }
        let rows = int(1...5), columns = int(1...5)
        var lines: [String] = []
        if chance(0.1) { lines.append("# shape \(int(1...3))x\(int(1...3))x\(int(1...3))x\(int(1...3))") }
        for _ in 0..<rows {
            let n = chance(0.9) ? columns : int(0...6)
            lines.append((0..<n).map { _ in chance(0.12) ? pick(Self.numbers) : String(int(-9...9)) }
                .joined(separator: pick([" ", "\t", ",", " , "])))
            if chance(0.08) { lines.append("") }
            if chance(0.05) { lines.append("# comment") }
        }
        let end = pick(["\n", "\r\n"])
        return lines.joined(separator: end) + (chance(0.7) ? end : "")
    }

    /// A fixture model, mutated (mostly), written into the directory under a name that is, or is
    /// not, `*.onnx` (a model is recognised by its first byte too); `params`, `shape` or `rf` on it,
    /// given by `-f` or (when named so) as an argument, with the options that go with models.
    /// What was done to it is kept in `modelNote` for the failure message.
    mutating func modelArguments() -> [String] {
        let fixture = onnxFixtures.randomElement(using: &random)!
        var mutator = Mutator(bytes: fixture.bytes, map: fixture.map, random: SeededGenerator(seed: random.next()))
        if chance(0.9) {
            for _ in 0..<(chance(0.8) ? 1 : int(2...3)) { mutator.mutate() }
        }
        let path = directory + "/" + pick(["model.onnx", "model.onnx", "model.onnx", "MODEL.ONNX", "model.bin", "model"])
        _ = FileManager.default.createFile(atPath: path, contents: Data(mutator.bytes))
        modelNote = "\(fixture.name) [\(mutator.log.joined(separator: "; "))] -> \(path)"
        let command = pick(["params", "params", "shape", "rf"])
        var args = [command]
        var options: [[String]] = []
        if chance(0.3) || fixture.name.contains("dynamic") && chance(0.8) {
            options.append(["--in", chance(0.8) ? pick(["224", "224x224", "64", "1", "7", "32x48", "572", "65537", "16x16x16"])
                                                : pick(["2147483648", "9223372036854775807", "0", "3x224x224", "x", "-1"])])
        }
        if chance(0.15) { options.append(["--cin", chance(0.8) ? pick(["3", "1", "4", "16"]) : pick(["0", "9223372036854775807", "x"])]) }
        if chance(0.15) { options.append(["--emit", chance(0.9) ? "net" : pick(["json", ""])]) }
        let flags = ["-q", "--json", "--no-warnings"] + (command == "params" ? ["--memory", "--train", "--memory"] : command == "rf" ? ["--map"] : [])
            + (chance(0.1) ? ["--memory", "--train", "--map"] : [])
        for flag in flags where chance(0.15) { options.append([flag]) }
        if chance(0.05) { options.append(["--dims", pick(["1", "2", "3"])]) }
        if chance(0.05) { options.append([pick(["conv:k=3", "relu", "fc:c=10"])]) }
        if chance(0.03) { options.append(["--vs", "-f", path]) }
        options.shuffle(using: &random)
        let model = path.lowercased().hasSuffix(".onnx") && chance(0.5) || chance(0.05) ? [path] : ["-f", path]
        let at = int(0...options.count)
        for (index, option) in options.enumerated() {
            if index == at { args += model }
            args += option
        }
        if at == options.count { args += model }
        return args
    }

    /// The model behind the last `modelArguments()` case, for failure messages.
    var modelNote: String?

    /// One argument vector (and standard input), for any command.
    mutating func arguments() -> (args: [String], stdin: String, output: String?) {
        var stdin = ""
        var output: String?
        modelNote = nil
        // A share of cases (5%) reads a mutated ONNX model.
        if !onnxFixtures.isEmpty && chance(0.05) { return (modelArguments(), "", nil) }
        let command = pick(["shape", "rf", "params", "run", "run", "help", "bogus", "--version", ""])
        var args = command.isEmpty ? [] : [command]
        if command == "run" {
            for _ in 0..<int(0...4) {
                if chance(0.6) { args += [pick(Self.runOptions), chance(0.7) ? pick(["0", "1", "2", "same", "full", "1:2", "1x2", "reflect",
                                                                                "circular", "replicate", "csv", "json", "3", "17", "0,0", "[1 2]", "2x2",
                                                                                "fft", "direct", "auto", "64", "65"])
                                                                       : pick(Self.values)] } else { args.append(pick(Self.runFlags)) }
            }
            var operands: [String] = []
            for role in 0..<(chance(0.9) ? 2 : int(0...3)) {
                switch int(0...3) {
                case 0:
                    operands.append("-")
                    stdin = matrixText()
                case 1: operands.append(pick(["[1 2; 3 4]", "[[1, 2], [3, 4]]", "[1 2 3]", "[x]", "[1 2; 3]", "[]", "[", "1 2"]))
                default:
                    let path = directory + "/m\(role).txt"
                    try? matrixText().write(toFile: path, atomically: false, encoding: .utf8)
                    operands.append(path)
                }
            }
            args += operands
            if chance(0.3) {
                output = directory + "/out.txt"
                args += ["-o", chance(0.9) ? output! : directory + "/missing/out.txt"]
            }
        } else {
            for _ in 0..<int(0...6) {
                let r = Double.random(in: 0..<1, using: &random)
                if r < 0.4 {
                    let option = pick(Self.layerOptions)
                    args.append(option)
                    if option == "-f" || option == "--file" {
                        let path = directory + "/net.txt"
                        try? (0..<int(0...6)).map { _ in token() }.joined(separator: "\n").write(toFile: path, atomically: false, encoding: .utf8)
                        args.append(chance(0.8) ? path : pick(["-", directory + "/missing.net", directory]))
                        stdin = token() + "\n" + token()
                    } else if chance(0.95) {
                        args.append(pick(Self.values))
                    }
                } else if r < 0.55 {
                    args.append(pick(Self.flags))
                } else if r < 0.6 {
                    args.append("--" + pick(Self.keys) + (chance(0.5) ? "=" + pick(Self.values) : ""))
                } else if r < 0.7 {
                    args += merge()
                } else if r < 0.75 {
                    // A stack file in the block language, read by -f (and including itself now and then).
                    let path = directory + "/blocks.net"
                    try? blockWords(file: path).joined(separator: chance(0.5) ? "\n" : " ").write(toFile: path, atomically: false, encoding: .utf8)
                    args += ["-f", path]
                } else {
                    args.append(token())
                }
            }
        }
        return (args, stdin, output)
    }
}

final class FuzzTests: XCTestCase {
    /// A bounded slice runs in `swift test` (600 cases; 3,000 with `CONVCALC_LONG=1`);
    /// `fuzz/run-long.sh` runs 100,000 cases and more. The seed: `CONVCALC_FUZZ_SEED`, else
    /// `CONVCALC_SEED`, else the fixed default.
    func testNothingBreaks() throws {
        let environment = ProcessInfo.processInfo.environment
        let cases = Int(environment["CONVCALC_FUZZ_CASES"] ?? "") ?? (longTests ? 3000 : 600)
        let seed = UInt64(environment["CONVCALC_FUZZ_SEED"] ?? "") ?? testSeed
        let verbose = environment["CONVCALC_FUZZ_VERBOSE"] == "1"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("convcalc-fuzz-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var fuzzer = Fuzzer(random: SeededGenerator(seed: seed), directory: directory)
        XCTAssertGreaterThanOrEqual(onnxFixtures.count, 20, "the ONNX fixtures in Tests/fixtures/onnx, found from #filePath")
        var models: [Int32: Int] = [:]
        var failures = 0
        var slowest: [(Double, Int)] = []
        for index in 0..<cases {
            let (args, stdin, output) = fuzzer.arguments()
            if let output { try? FileManager.default.removeItem(atPath: output) }
            if verbose {
                fputs("case \(index): \(args.map { $0.count > 80 ? String($0.prefix(80)) + "…" : $0 }) stdin \(stdin.utf8.count) bytes"
                      + (fuzzer.modelNote.map { "; model " + $0 } ?? "") + "\n", stderr)
            }
            let out = StringSink(), err = StringSink()
            let started = Date()
            let status = ConvCalcCLI.run(args, stdin: StringInput(stdin), stdout: out, stderr: err)
            let seconds = Date().timeIntervalSince(started)
            if fuzzer.modelNote != nil { models[status, default: 0] += 1 }
            slowest = (slowest + [(seconds, index)]).sorted { $0.0 > $1.0 }.prefix(3).map { $0 }
            let lines = err.text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            let errors = lines.filter { $0.hasPrefix("convcalc: error: ") }
            var problems: [String] = []
            if ![0, 1, 2].contains(status) { problems.append("exit status \(status)") }
            if !err.text.isEmpty && !err.text.hasSuffix("\n") { problems.append("stderr does not end a line") }
            if err.text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" }) { problems.append("a control character on stderr") }
            if status != 0 {
                if !out.text.isEmpty { problems.append("stdout not empty on error") }
                if errors.count != 1 || lines.count != 1 { problems.append("\(lines.count) stderr lines, \(errors.count) error lines") }
                if let output, FileManager.default.fileExists(atPath: output) { problems.append("output file left behind") }
            } else if !errors.isEmpty {
                problems.append("an error line on success")
            }
            let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.filter { $0.hasSuffix(".tmp") } ?? []
            if !leftovers.isEmpty { problems.append("temporary files left: \(leftovers)") }
            if seconds > 20 { problems.append("took \(Int(seconds)) s (a hang?)") }
            if !problems.isEmpty {
                failures += 1
                XCTFail("seed \(seed) case \(index): \(problems.joined(separator: "; ")) for \(args.map { $0.count > 80 ? String($0.prefix(80)) + "…" : $0 })"
                        + (fuzzer.modelNote.map { "\nmodel: " + $0.prefix(600) } ?? "") + "\n\(err.text.prefix(500))")
                if failures > 10 { break }
            }
        }
        print("fuzz: \(cases) cases from seed \(seed), \(failures) failing; slowest: "
              + slowest.map { "case \($0.1) \(Int($0.0 * 1000)) ms" }.joined(separator: ", ")
              + "; \(models.values.reduce(0, +)) mutated ONNX models (exit " + models.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")")
    }
}
