import Foundation
import XCTest
import ConvCalcTestSupport
import ConvCalcCore
import ConvCalcONNX

/// Seeded mutation fuzzing of the ONNX reader: every fixture model (Tests/fixtures/onnx) damaged
/// in the ways a file can be damaged (`Mutator`, Tests/Support/OnnxMutator.swift) — bits flipped,
/// bytes overwritten with 00/FF/80, cut short, bytes inserted, deleted or duplicated, varints whose
/// continuation bits run on, length fields made huge, keys renumbered; and well-formed damage: a
/// number, a packed number, raw data or a name replaced, a field removed, repeated or moved, the
/// enclosing lengths fixed — then decoded, converted, and (when that works) built into a stack as
/// `StackInput` does (StackExpansion, StackSyntax, LayerStack) and costed (`NetworkCost`), shaped
/// and traced (`ShapeTrace`, `ReceptiveField`); and the emitted text (`--emit net`) read back must
/// give the same parameters and MACs.
///
/// Every step must either succeed or throw a `UserFacingError` with a non-empty message (one that
/// quotes control characters from the model is counted, not failed: the command line escapes them).
/// The cases run in a worker process, so a trap or a hang is one failing case, named with its
/// mutation, and the run goes on; replay one case in process with
/// `CONVCALC_ONNXFUZZ_CASE=FILE:INDEX` (it writes the mutated bytes to
/// `$TMPDIR/onnxfuzz-FILE-INDEX.onnx` first, for the command line).
///
/// Each case's generator is derived from (seed, file, index) alone, so a case replays on its own.
/// 120 cases a fixture in `swift test` (about 3,000 for the 26 files); 1,200 a fixture with
/// `CONVCALC_LONG=1`; `CONVCALC_ONNXFUZZ_CASES=N` per fixture. The seed: `CONVCALC_ONNXFUZZ_SEED`,
/// else `CONVCALC_SEED`, else the fixed default. `CONVCALC_ONNXFUZZ_VERBOSE=1` names each case
/// as it starts.
final class OnnxFuzzTests: XCTestCase {
    /// One fixture: its name and bytes, where its protocol-buffer fields are, and what the
    /// fixture tables say of it.
    struct Fixture {
        var name: String
        var bytes: [UInt8]
        var map: WireMap
        /// Its input size is symbolic (onnx_cases.tsv: `batchx3xheightxwidth`): it needs `--in`.
        var dynamic = false
        /// Listed in onnx_error_cases.tsv: a file convcalc refuses (or warns about).
        var errorCase = false
    }

    /// Every `*.onnx` of Tests/fixtures/onnx, with the fixture tables' notes.
    static func fixtures() throws -> [Fixture] {
        let directory = fixturesDirectory + "/onnx"
        func listed(_ table: String) throws -> [String: String] {
            var files: [String: String] = [:]
            for line in try readFixture(table).split(separator: "\n") where !line.hasPrefix("#") {
                let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
                guard fields.count >= 2 else { continue }
                files[String(fields[0].dropFirst("onnx/".count))] = String(fields[1])
            }
            return files
        }
        let models = try listed("onnx_cases.tsv"), errors = try listed("onnx_error_cases.tsv")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".onnx") }.sorted()
        return try names.map { name in
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)))
            return Fixture(name: name, bytes: bytes, map: WireMap(bytes), dynamic: models[name]?.hasPrefix("batch") == true,
                           errorCase: errors[name] != nil)
        }
    }

    // MARK: The checks

    /// What one run of a (mutated) model came to.
    enum Outcome: Equatable {
        case converted(params: Int, macs: Int?)
        case rejected(stage: String)
    }

    /// Decodes and converts `bytes`, builds the words into a stack as `StackInput` does, and costs,
    /// shapes and traces it; returns the problems found (empty: the rules held).
    static func check(_ bytes: [UInt8], name: String, inputSize: DimSize?, inputChannels: Int?,
                      receptiveField: Bool = true) -> (problems: [String], outcome: Outcome) {
        var problems: [String] = []
        var stage = "decode"
        func examine(_ error: Error) {
            guard let error = error as? UserFacingError else {
                problems.append("\(stage) threw \(type(of: error)), not a UserFacingError: \(error)")
                return
            }
            problems += messageProblems(error.message).map { "\(stage): \($0)" }
        }
        let network: OnnxNetwork
        do {
            let model = try bytes.withUnsafeBytes { try OnnxModel.decode($0) }
            stage = "convert"
            network = try OnnxNetwork.convert(model, file: name, inputSize: inputSize, inputChannels: inputChannels)
        } catch {
            examine(error)
            return (problems, .rejected(stage: stage))
        }
        for warning in network.warnings {
            problems += messageProblems(warning).map { "convert warning: \($0)" }
        }
        stage = "stack"
        var costs: (Int, Int?)?
        do {
            let stack = try stackOf(network.words, name: name, dims: network.dims)
            stage = "NetworkCost"
            let cost = try NetworkCost(stack: stack)
            costs = (cost.params, cost.macs)
            if let input = stack.inputSize {
                stage = "ShapeTrace"
                let trace = try ShapeTrace(stack: stack, input: input)
                if receptiveField {
                    stage = "ReceptiveField"
                    _ = try ReceptiveField(stack: stack, inputs: trace.layers.map(\.input))
                }
            } else if receptiveField {
                stage = "ReceptiveField"
                _ = try ReceptiveField(stack: stack)
            }
        } catch {
            examine(error)
            return (problems, .rejected(stage: stage))
        }
        // `--emit net` prints `text`; read back as a network file it must give the same numbers.
        stage = "emitted text"
        do {
            let words = StackSyntax.words(ofFile: network.text, name: name + ".net")
            let cost = try NetworkCost(stack: try stackOf(words, name: name + ".net", dims: network.dims))
            if let costs, cost.params != costs.0 || cost.macs != costs.1 {
                problems.append("the emitted text gives \(cost.params) params, \(cost.macs.map(String.init) ?? "nil") MACs; the words \(costs.0), \(costs.1.map(String.init) ?? "nil")")
            }
        } catch {
            problems.append("the words build and cost, but the emitted text (--emit net) does not: \((error as? UserFacingError)?.message ?? "\(error)")")
        }
        return (problems, .converted(params: costs?.0 ?? -1, macs: costs?.1))
    }

    /// The stack of a model's words, built as `StackInput.build` builds it (no `--in`/`--cin`:
    /// the conversion applied them to the `input:` line).
    static func stackOf(_ words: [StackWord], name: String, dims: Int) throws -> LayerStack {
        let expanded = try StackExpansion.expand(words, file: name) { path, _ in
            throw LocatedError(location: name, underlying: FuzzIncludeError(path: path))
        }
        let (layers, nodes) = try StackSyntax.parse(expanded)
        return try LayerStack(layers: layers, nodes: nodes, inputSize: nil, inputChannels: nil, dims: dims, defaultBias: true)
    }

    struct FuzzIncludeError: UserFacingError {
        var path: String
        var message: String { "include \(path): no includes from a model" }
        var category: ErrorCategory { .data }
    }

    /// An error message must be one non-empty line. A message may quote the model's own names,
    /// and those may hold anything (a newline, an escape sequence, NUL): the command line writes
    /// every message through `TerminalText.line`, which spells control characters and line
    /// separators as `\u{1B}`, so they are counted (`echoesControlCharacters`), not failures; the
    /// command-line fuzz and OnnxProcessTests check the printed line itself.
    static func messageProblems(_ message: String) -> [String] {
        if message.unicodeScalars.allSatisfy({ $0.properties.isWhitespace }) { return ["empty message \(message.debugDescription)"] }
        if echoesControlCharacters(message) { echoed += 1 }
        return []
    }

    static func echoesControlCharacters(_ message: String) -> Bool {
        message.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x2028 || $0.value == 0x2029 }
    }

    /// Messages (and warnings) of this process that quoted control characters from the model.
    nonisolated(unsafe) static var echoed = 0

    // MARK: The cases

    static let environment = ProcessInfo.processInfo.environment
    static let seed = UInt64(environment["CONVCALC_ONNXFUZZ_SEED"] ?? "") ?? testSeed
    static let verbose = environment["CONVCALC_ONNXFUZZ_VERBOSE"] == "1"

    /// `ReceptiveField` is the slow step in a debug build (0.05–1 s for these networks, about
    /// 4 s for the U-Net, where decoding, converting and costing take 10–30 ms): one case in 50
    /// (never the U-Net) in `swift test`, one in 10 (the U-Net one in 100) with `CONVCALC_LONG=1`.
    static func receptiveField(_ name: String, index: Int) -> Bool {
        let unet = name == "unet.onnx"
        return longTests ? index % (unet ? 100 : 10) == 0 : !unet && index % 50 == 0
    }

    /// The generator of case `index` of `file`: from the seed, the file's name and the index only.
    static func generator(file: String, index: Int) -> SeededGenerator {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325   // FNV-1a of the name
        for byte in file.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        var generator = SeededGenerator(seed: seed ^ hash ^ (UInt64(index) &* 0xD6E8_FEB8_6659_FD93))
        _ = generator.next()
        return generator
    }

    /// One case: the mutated bytes, what was done, and the `--in`/`--cin` given.
    struct Case {
        var bytes: [UInt8]
        var mutations: [String]
        var inputSize: DimSize?
        var inputChannels: Int?

        var options: String {
            (inputSize.map { " --in \($0)" } ?? "") + (inputChannels.map { " --cin \($0)" } ?? "")
        }
    }

    static func makeCase(_ fixture: Fixture, index: Int) -> Case {
        var random = generator(file: fixture.name, index: index)
        var mutator = Mutator(bytes: fixture.bytes, map: fixture.map, random: random)
        let count = Double.random(in: 0..<1, using: &random) < 0.8 ? 1 : Int.random(in: 2...4, using: &random)
        for _ in 0..<count { mutator.mutate() }
        var inputSize: DimSize?, inputChannels: Int?
        // A dynamic fixture needs --in; the others get it now and then.
        if fixture.dynamic || Double.random(in: 0..<1, using: &random) < 0.15 {
            inputSize = [DimSize(224), DimSize(64), DimSize(1), DimSize(7), DimSize([32, 48]), DimSize([224, 224]), DimSize(65_537),
                         DimSize(Int(Int32.max)), DimSize(1 << 40), DimSize(Int.max), DimSize([5, 5, 5]), DimSize([3])]
                .randomElement(using: &random)!
        }
        if Double.random(in: 0..<1, using: &random) < 0.1 {
            inputChannels = [1, 3, 4, 17, 1 << 31, Int.max].randomElement(using: &random)!
        }
        return Case(bytes: mutator.bytes, mutations: mutator.log, inputSize: inputSize, inputChannels: inputChannels)
    }

    // MARK: Tests

    /// The fixtures as they are: the models convert and cost, their emitted text agrees with
    /// their words; the error files end in one-line user-facing errors (or, for a warning case,
    /// convert).
    func testFixturesThemselves() throws {
        let fixtures = try Self.fixtures()
        XCTAssertGreaterThanOrEqual(fixtures.count, 20, "the fixture models in Tests/fixtures/onnx")
        for fixture in fixtures {
            let size: DimSize? = fixture.dynamic ? DimSize([224, 224]) : nil
            let (problems, outcome) = Self.check(fixture.bytes, name: fixture.name, inputSize: size, inputChannels: nil,
                                                 receptiveField: Self.receptiveField(fixture.name, index: 0))
            XCTAssertEqual(problems, [], fixture.name)
            if case .rejected(let stage) = outcome, !fixture.errorCase { XCTFail("\(fixture.name) rejected at \(stage)") }
            if !fixture.errorCase { XCTAssertGreaterThan(fixture.map.fields.count, 10, "\(fixture.name): the wire map found the fields") }
        }
    }

    /// The mutations: only successes and one-line user-facing errors, no trap, no hang.
    ///
    /// The cases run in a child process (this test bundle again, as a worker) so that a trap is
    /// one failing case, named with its mutation, and the run goes on from the next case.
    /// `CONVCALC_ONNXFUZZ_CASE=FILE:INDEX` runs one case in this process instead (a trap then
    /// shows its backtrace).
    func testMutatedModels() throws {
        let fixtures = try Self.fixtures()
        XCTAssertGreaterThanOrEqual(fixtures.count, 20, "the fixture models in Tests/fixtures/onnx")
        let perFile = Int(Self.environment["CONVCALC_ONNXFUZZ_CASES"] ?? "") ?? (longTests ? 1200 : 120)
        let cases = fixtures.flatMap { fixture in (0..<perFile).map { (fixture, $0) } }
        if let report = Self.environment["CONVCALC_ONNXFUZZ_REPORT"] {
            let from = Int(Self.environment["CONVCALC_ONNXFUZZ_FROM"] ?? "") ?? 0
            return Self.work(cases.dropFirst(from).map { ($0.0, $0.1) }, first: from, report: report)
        }
        if let spec = Self.environment["CONVCALC_ONNXFUZZ_CASE"] {
            guard let colon = spec.lastIndex(of: ":"), let index = Int(spec[spec.index(after: colon)...]),
                  let fixture = fixtures.first(where: { $0.name == spec[..<colon] }) else {
                return XCTFail("CONVCALC_ONNXFUZZ_CASE=\(spec): give FILE:INDEX, e.g. resnet18.onnx:12")
            }
            let test = Self.makeCase(fixture, index: index)
            let path = NSTemporaryDirectory() + "/onnxfuzz-\(fixture.name.dropLast(5))-\(index).onnx"
            _ = FileManager.default.createFile(atPath: path, contents: Data(test.bytes))
            fputs("onnxfuzz case \(spec)\(test.options): \(test.mutations.joined(separator: "; ")) -> \(path)\n", stderr)
            let (problems, outcome) = Self.check(test.bytes, name: fixture.name, inputSize: test.inputSize, inputChannels: test.inputChannels)
            print("onnxfuzz case \(spec): \(outcome)")
            XCTAssertEqual(problems, [], spec)
            return
        }

        let started = Date()
        let directory = NSTemporaryDirectory() + "/convcalc-onnxfuzz-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var next = 0, workers = 0, failures = 0, converted = 0, done = 0
        var stages: [String: Int] = [:]
        var slowest: (Int, String) = (0, "")
        var echoing = 0
        func fail(_ label: String, _ started: String, _ problem: String) {
            failures += 1
            if failures <= Self.maximumReported {
                XCTFail("seed \(Self.seed) case \(label)\(started): \(problem) — replay: CONVCALC_ONNXFUZZ_SEED=\(Self.seed) CONVCALC_ONNXFUZZ_CASE=\(label) swift test --filter OnnxFuzzTests/testMutatedModels")
            }
        }
        while next < cases.count && workers < max(60, 2 * Self.maximumReported) {
            workers += 1
            let report = directory + "/report-\(workers).txt", errors = directory + "/stderr-\(workers).txt"
            let (status, timedOut) = try Self.runWorker(from: next, report: report, errors: errors)
            let lines = ((try? String(contentsOfFile: report, encoding: .utf8)) ?? "").split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
            var open: (index: Int, label: String, description: String)?
            for fields in lines where fields.count >= 3 {
                guard let index = Int(fields[1]) else { continue }
                switch fields[0] {
                case "S":
                    open = (index, fields[2], fields.dropFirst(3).joined(separator: " ").isEmpty ? "" : " " + fields.dropFirst(3).joined(separator: " "))
                case "P":
                    fail(open?.label ?? "?", open?.description ?? "", fields.dropFirst(2).joined(separator: " "))
                case "E":
                    done += 1
                    if fields[2] == "converted" { converted += 1 } else { stages[fields[2], default: 0] += 1 }
                    if fields.count > 3, let ms = Int(fields[3]), ms > slowest.0 { slowest = (ms, open?.label ?? "?") }
                    if fields.count > 4, let count = Int(fields[4]), count > 0 { echoing += 1 }
                    open = nil
                    next = index + 1
                default: break
                }
            }
            if let open {
                // The worker died (or hung) in this case: a trap is a failure of the case, not of the run.
                let said = ((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "").split(separator: "\n")
                    .filter { $0.contains("Fatal error") || $0.contains("error:") || $0.contains("Crash") || $0.contains("signal") }.prefix(3).joined(separator: " / ")
                fail(open.label, open.description, timedOut ? "no answer within \(Self.workerTimeout) s (a hang)" : "the process died (status \(status)): \(said)")
                next = open.index + 1
            } else if status != 0 || lines.isEmpty {
                fail("worker \(workers)", "", "the worker ended with status \(status) without a case open; stderr: \((try? String(contentsOfFile: errors, encoding: .utf8))?.suffix(600) ?? "")")
                break
            } else {
                break
            }
        }
        XCTAssertEqual(done + failures >= cases.count || next >= cases.count, true, "every case ran (\(next) of \(cases.count))")
        print("onnxfuzz: \(cases.count) mutated models from seed \(Self.seed) in \(Int(Date().timeIntervalSince(started))) s (\(workers) worker process\(workers == 1 ? "" : "es")), \(failures) failing; \(converted) converted and costed; rejected at "
              + stages.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
              + "; slowest \(slowest.1) \(slowest.0) ms; \(echoing) cases' messages quote control characters from the model (escaped when printed)")
    }

    /// Failures reported one by one (`CONVCALC_ONNXFUZZ_MAX_FAILURES`, default 30); the rest are counted.
    static let maximumReported = Int(environment["CONVCALC_ONNXFUZZ_MAX_FAILURES"] ?? "") ?? 30

    /// A case that gives no answer within this many seconds is a hang (the U-Net's receptive
    /// field alone takes about 4 s in a debug build).
    static let workerTimeout = 60.0

    /// Runs this test bundle again as a worker from case `from`; kills it after `workerTimeout`
    /// seconds without progress.
    static func runWorker(from: Int, report: String, errors: String) throws -> (status: Int32, timedOut: Bool) {
        _ = FileManager.default.createFile(atPath: report, contents: nil)
        _ = FileManager.default.createFile(atPath: errors, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = ["ConvCalcCoreTests.OnnxFuzzTests/testMutatedModels"]
        var environment = ProcessInfo.processInfo.environment
        environment["CONVCALC_ONNXFUZZ_REPORT"] = report
        environment["CONVCALC_ONNXFUZZ_FROM"] = String(from)
        environment["CONVCALC_ONNXFUZZ_SEED"] = String(seed)
        environment["SWIFT_BACKTRACE"] = "enable=no"   // a trap ends the worker at once
        environment.removeValue(forKey: "CONVCALC_ONNXFUZZ_CASE")
        process.environment = environment
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: errors)
        try process.run()
        var size = 0, progress = Date(), timedOut = false
        while process.isRunning {
            usleep(20_000)
            let now = (try? FileManager.default.attributesOfItem(atPath: report)[.size] as? Int) ?? 0
            if now != size { (size, progress) = (now, Date()) }
            if Date().timeIntervalSince(progress) > workerTimeout {
                timedOut = true
                process.terminate()
                process.waitUntilExit()
                break
            }
        }
        process.waitUntilExit()
        return (process.terminationStatus, timedOut)
    }

    /// The worker: runs `cases`, writing a line as each starts (`S`), each problem (`P`) and
    /// each end (`E`, with the outcome and milliseconds), straight to the file (a trap loses nothing).
    static func work(_ cases: [(Fixture, Int)], first: Int, report: String) {
        guard let file = FileHandle(forWritingAtPath: report) else { return }
        func say(_ fields: [String]) {
            let line = fields.map { $0.replacingOccurrences(of: "\t", with: "\\t").replacingOccurrences(of: "\n", with: "\\n") }.joined(separator: "\t") + "\n"
            file.write(line.data(using: .utf8)!)
        }
        for (offset, (fixture, index)) in cases.enumerated() {
            let global = String(first + offset)
            let test = makeCase(fixture, index: index)
            say(["S", global, "\(fixture.name):\(index)", test.options.isEmpty ? "" : String(test.options.dropFirst()), "[" + test.mutations.joined(separator: "; ") + "]"])
            if verbose { fputs("onnxfuzz case \(fixture.name):\(index)\(test.options): \(test.mutations.joined(separator: "; "))\n", stderr) }
            let started = Date(), echoedBefore = echoed
            let (problems, outcome) = check(test.bytes, name: fixture.name, inputSize: test.inputSize, inputChannels: test.inputChannels,
                                           receptiveField: receptiveField(fixture.name, index: index))
            let ms = Int(Date().timeIntervalSince(started) * 1000)
            for problem in problems { say(["P", global, problem]) }
            if ms > 20_000 { say(["P", global, "took \(ms / 1000) s"]) }
            switch outcome {
            case .converted: say(["E", global, "converted", String(ms), String(echoed - echoedBefore)])
            case .rejected(let stage): say(["E", global, stage, String(ms), String(echoed - echoedBefore)])
            }
        }
    }
}
