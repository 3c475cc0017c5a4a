import Foundation
import XCTest

/// ONNX models through the real binary with real files: truncated and empty models, endless and
/// empty devices, FIFOs, standard input, directories, unreadable files; and the models the fuzz
/// tests found to break the reader (`testRegression…`: each describes how the reader broke
/// before it was fixed — a trap, a hang, an emitted network that counted otherwise — and checks
/// the clean error or result it gives now).
///
/// Every run has a time limit (a hang is a failure, not a stuck test) and must end with status
/// 0, 1 or 2; on error exactly one line `convcalc: error: …` on stderr and nothing on stdout.
final class OnnxProcessTests: XCTestCase {
    var directory = ""
    static let fixtures = packageRoot + "/Tests/fixtures/onnx"

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("convcalc-onnx-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        _ = try? script("chmod -R u+rwx . 2>/dev/null; true")
        try? FileManager.default.removeItem(atPath: directory)
    }

    struct Result {
        var out: String
        var err: String
        /// The script's status; 128 + N when killed by signal N; nil when it timed out.
        var status: Int32?
    }

    /// Runs `text` with bash in the test's directory, `$C` the binary and `$FIXTURES` the ONNX
    /// fixtures; stdout and stderr go to files. Killed after `seconds` (status nil).
    @discardableResult
    func script(_ text: String, seconds: Double = 60) throws -> Result {
        let result = try ChildProcess.run("/bin/bash", ["-c", text], in: directory, environment: [
            "C": try builtBinary(), "FIXTURES": Self.fixtures,
            "SWIFT_BACKTRACE": "enable=no",   // a crash must show as a signal, quickly
        ], seconds: seconds)
        return Result(out: result.out, err: result.err, status: result.status)
    }

    /// Runs `convcalc ARGS` (a shell fragment after `$C`) with a time limit and checks the rules:
    /// the expected status, one error line and no stdout on error.
    /// `before` runs first (a FIFO's writer in the background); `after` runs last (stopping it),
    /// the status staying convcalc's.
    @discardableResult
    func expect(_ status: Int32, _ command: String, before: String = "", after: String = "", contains: String? = nil, seconds: Double = 60,
                note: String = "", file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        try expect([status], command, before: before, after: after, contains: contains, seconds: seconds, note: note, file: file, line: line)
    }

    /// The same, with any of `statuses` accepted.
    @discardableResult
    func expect(_ statuses: Set<Int32>, _ command: String, before: String = "", after: String = "", contains: String? = nil, seconds: Double = 60,
                note: String = "", file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        let result = try script(before + "timeout -k 5 \(Int(seconds)) $C " + command + (after.isEmpty ? "" : "; status=$?; \(after); exit $status"),
                                seconds: seconds + 15)
        let command = note.isEmpty ? command : command + " (" + note + ")"   // for messages
        guard let got = result.status else {
            XCTFail("\(command): no answer within \(Int(seconds)) s (a hang)", file: file, line: line)
            return result
        }
        guard got != 124 && got != 137 else {
            XCTFail("\(command): killed by timeout after \(Int(seconds)) s (a hang)", file: file, line: line)
            return result
        }
        XCTAssertTrue(statuses.contains(got), "\(command): status \(got) (\(got > 128 ? "signal \(got - 128)" : "exit")), stderr: \(result.err.prefix(400))", file: file, line: line)
        if got != 0 && got < 128 {   // (a signal is failure enough; its backtrace is no error line)
            XCTAssertEqual(result.out, "", "\(command): stdout on error", file: file, line: line)
            let lines = result.err.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            XCTAssertTrue(lines.count == 1 && lines[0].hasPrefix("convcalc: error: ") && result.err.hasSuffix("\n"),
                          "\(command): stderr must be one error line: \(result.err.debugDescription.prefix(600))", file: file, line: line)
            XCTAssertFalse(result.err.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || $0.value == 0x7F },
                           "\(command): control characters on stderr: \(result.err.debugDescription.prefix(600))", file: file, line: line)
        }
        if let contains {
            XCTAssertTrue(result.err.contains(contains) || result.out.contains(contains), "\(command): expected '\(contains)' in \(result.err.prefix(400))", file: file, line: line)
        }
        return result
    }

    static let commands = ["params", "shape", "rf"]

    // MARK: Files that are not whole models

    func testTruncatedModel() throws {
        try script("head -c 5000 $FIXTURES/resnet18.onnx > cut.onnx; head -c 5000 $FIXTURES/resnet18.onnx > cut.bin; head -c 1 $FIXTURES/resnet18.onnx > one.onnx")
        for command in Self.commands {
            for form in ["cut.onnx", "-f cut.onnx", "-f cut.bin", "one.onnx", "-q cut.onnx", "--json -f cut.onnx", "--emit net cut.onnx"] {
                try expect(1, "\(command) \(form)", contains: "not a readable ONNX model")
            }
        }
        // Every 37th cut of the small model: status 1 with one line.
        let size = try FileManager.default.attributesOfItem(atPath: Self.fixtures + "/convtranspose_grouped.onnx")[.size] as! Int
        for length in stride(from: 0, to: size, by: 37) {
            try script("head -c \(length) $FIXTURES/convtranspose_grouped.onnx > c.onnx")
            try expect(1, "params c.onnx")
        }
    }

    func testEmptyModelFile() throws {
        try script(": > x.onnx")
        for command in Self.commands {
            try expect(1, "\(command) x.onnx", contains: "x.onnx")
            try expect(1, "\(command) -f x.onnx", contains: "x.onnx")
            try expect(1, "\(command) -q --in 224 x.onnx")
        }
    }

    /// /dev/zero never ends: refused at the size limit (with a memory limit, so that is quick),
    /// as `-f` and as a model named `z.onnx` (a symbolic link) given as an argument.
    func testEndlessDeviceAsModel() throws {
        try script("ln -s /dev/zero z.onnx")
        let limit = "ulimit -v 1000000; "
        for command in Self.commands {
            try expect(1, "\(command) -f /dev/zero", before: limit, seconds: 120)
            try expect(1, "\(command) z.onnx", before: limit, seconds: 120)
            try expect(1, "\(command) -f z.onnx", before: limit, seconds: 120)
        }
    }

    /// /dev/null is empty: no layer (usage, 2) as a network file; no model (1) when named *.onnx.
    func testEmptyDeviceAsModel() throws {
        try script("ln -s /dev/null n.onnx")
        for command in Self.commands {
            let asFile = try script("timeout 60 $C \(command) -f /dev/null")
            XCTAssertTrue(asFile.status == 1 || asFile.status == 2, "\(command) -f /dev/null: \(String(describing: asFile.status)) \(asFile.err)")
            try expect(asFile.status ?? 1, "\(command) -f /dev/null")
            try expect(1, "\(command) n.onnx", contains: "n.onnx")
            try expect(1, "\(command) -f n.onnx", contains: "n.onnx")
        }
    }

    /// Ends the FIFO's writer if convcalc never opened the FIFO (it would wait for a reader forever).
    static let stopWriter = "kill $! 2>/dev/null; wait"

    /// A FIFO is read to its end, as a model named *.onnx and (by its first byte) as `-f`.
    func testModelThroughFIFO() throws {
        let file = try expect(0, "params -q $FIXTURES/resnet18.onnx")
        XCTAssertEqual(file.out, "11684712\n")
        let named = try expect(0, "params -q p.onnx", before: "mkfifo p.onnx; cat $FIXTURES/resnet18.onnx > p.onnx & ", after: Self.stopWriter)
        XCTAssertEqual(named.out, file.out)
        let unnamed = try expect(0, "params -q -f pipe", before: "mkfifo pipe; cat $FIXTURES/resnet18.onnx > pipe & ", after: Self.stopWriter)
        XCTAssertEqual(unnamed.out, file.out)
        let shape = try expect(0, "shape -q -f p2.onnx", before: "mkfifo p2.onnx; cat $FIXTURES/resnet18.onnx > p2.onnx & ", after: Self.stopWriter)
        XCTAssertEqual(shape.out, "1\n")
        // A writer that stops early: a truncated model, status 1.
        try expect(1, "params p3.onnx", before: "mkfifo p3.onnx; head -c 3000 $FIXTURES/resnet18.onnx > p3.onnx & ", after: Self.stopWriter)
    }

    /// `-f -`: a model on standard input (recognised by its first byte) gives the same numbers
    /// as the file.
    func testModelFromStandardInput() throws {
        for name in ["resnet18", "mobilenet_v2", "unet", "squeezenet1_0", "resnet18_dynamo"] {
            let file = try expect(0, "params -q $FIXTURES/\(name).onnx")
            let stdin = try expect(0, "params -q -f - < $FIXTURES/\(name).onnx")
            XCTAssertEqual(stdin.out, file.out, name)
            XCTAssertFalse(file.out.isEmpty, name)
            let piped = try expect(0, "params -q -f -", before: "cat $FIXTURES/\(name).onnx | ")
            XCTAssertEqual(piped.out, file.out, name)
        }
        let resnet = try expect(0, "params -q -f - < $FIXTURES/resnet18.onnx")
        XCTAssertEqual(resnet.out, "11684712\n")
        // A damaged model on stdin: one error naming <stdin>.
        try expect(1, "params -f -", before: "head -c 4000 $FIXTURES/resnet18.onnx | ", contains: "<stdin>")
        // The dynamic model needs --in, on stdin too.
        try expect(2, "params -q -f - < $FIXTURES/resnet18_dynamic.onnx", contains: "--in")
        let dynamic = try expect(0, "params -q --in 224 -f - < $FIXTURES/resnet18_dynamic.onnx")
        XCTAssertEqual(dynamic.out, "11684712\n")
    }

    func testDirectoryNamedLikeAModel() throws {
        try script("mkdir d.onnx")
        for command in Self.commands {
            try expect(1, "\(command) d.onnx", contains: "d.onnx")
            try expect(1, "\(command) -f d.onnx", contains: "d.onnx")
        }
    }

    /// A model that cannot be read (mode 000). As root every file is readable: the binary then
    /// runs as `nobody` through setpriv, or the test is skipped.
    func testUnreadableModel() throws {
        var prefix = ""
        if geteuid() == 0 {
            guard try script("setpriv --reuid=65534 --regid=65534 --clear-groups true").status == 0 else {
                throw XCTSkip("running as root without setpriv: a chmod 000 file is still readable")
            }
            prefix = "setpriv --reuid=65534 --regid=65534 --clear-groups "
        }
        try script("chmod 755 .; cp $FIXTURES/resnet18.onnx locked.onnx; chmod 000 locked.onnx; cp locked.onnx locked.bin 2>/dev/null; chmod 000 locked.bin")
        for command in Self.commands {
            for form in ["locked.onnx", "-f locked.onnx", "-f locked.bin"] {
                let result = try script("timeout 60 \(prefix)$C \(command) \(form)")
                XCTAssertEqual(result.status, 1, "\(command) \(form): \(result.err)")
                XCTAssertEqual(result.out, "", "\(command) \(form)")
                XCTAssertTrue(result.err.hasPrefix("convcalc: error: cannot read 'locked.") && result.err.hasSuffix("': permission denied\n")
                              && result.err.filter { $0 == "\n" }.count == 1, "\(command) \(form): \(result.err)")
            }
        }
    }

    /// A missing model, and a model named twice on standard input.
    func testMissingModelAndStdinTwice() throws {
        for command in Self.commands {
            try expect(1, "\(command) missing.onnx", contains: "missing.onnx")
            try expect(1, "\(command) -f missing.onnx", contains: "missing.onnx")
        }
        let twice = try script("timeout 60 $C params -f - --vs -f - < $FIXTURES/resnet18.onnx")
        XCTAssertTrue(twice.status == 1 || twice.status == 2, "\(String(describing: twice.status)) \(twice.err)")
        try expect(twice.status ?? 1, "params -f - --vs -f - < $FIXTURES/resnet18.onnx")
    }

    // MARK: Models the fuzz tests found to break the reader

    /// A node whose first input is a constant or empty while a later one is the data: the reader
    /// trapped instead of an error, exit 1. Every operator reads `node.inputs[0]` as the data value
    /// (`OnnxOperators.swift` `convert`: `let input = node.inputs[0]`), but `convertNodes` sends
    /// a node there when any input is data; `values[name]!` then unwraps nil in `shape(_:)`
    /// (OnnxConverter.swift:183, e.g. from OnnxWindows.swift:86 for ConvTranspose, MaxPool,
    /// Flatten, Reshape, Slice, Split, Resize, Transpose, ReduceMean), in `emit` (OnnxConverter.swift:231:
    /// Relu, Sigmoid, Softmax, BatchNormalization, GlobalAveragePool, DepthToSpace) or in `alias`
    /// (OnnxConverter.swift:239: Identity). Found by OnnxFuzzTests (seed 20261124,
    /// convtranspose_grouped.onnx:49: a ConvTranspose's inputs swapped, the data moved last;
    /// handmade_pads.onnx:204, resnet50.onnx:172, unet.onnx:45, …). A Conv with inputs (W, x)
    /// is refused: its first input is a constant.
    func testRegressionDataInputNotFirstTraps() throws {
        let inits = [OnnxBuilder.tensor("W", dims: [3, 4, 3, 3]), OnnxBuilder.tensor("B", dims: [4]), OnnxBuilder.tensor("s", dims: [3])]
        let cases: [(String, [String], [OnnxBuilder.Message])] = [
            ("ConvTranspose", ["B", "W", "x"], [OnnxBuilder.ints("kernel_shape", [3, 3])]),
            ("Relu", ["s", "x"], []),
            ("Relu", ["", "x"], []),
            ("MaxPool", ["s", "x"], [OnnxBuilder.ints("kernel_shape", [2, 2])]),
            ("BatchNormalization", ["s", "x"], []),
            ("Identity", ["", "x"], []),
            ("Flatten", ["s", "x"], []),
        ]
        for (index, (op, inputs, attributes)) in cases.enumerated() {
            let model = OnnxBuilder.model(nodes: [OnnxBuilder.node(op, name: "n", inputs: inputs, outputs: ["y"], attributes: attributes)],
                                          initializers: inits, input: ("x", [1, 3, 8, 8]), output: ("y", [1, 3, 8, 8]))
            try write(model, to: "second\(index).onnx")
            try expect(1, "params second\(index).onnx", note: "\(op) with inputs \(inputs)")
        }
        let conv = OnnxBuilder.model(nodes: [OnnxBuilder.node("Conv", name: "conv", inputs: ["W", "x"], outputs: ["y"], attributes: [OnnxBuilder.ints("kernel_shape", [3, 3])])],
                                     initializers: [OnnxBuilder.tensor("W", dims: [4, 3, 3, 3])], input: ("x", [1, 3, 8, 8]), output: ("y", [1, 4, 6, 6]))
        try write(conv, to: "conv.onnx")
        for command in Self.commands { try expect(1, "\(command) conv.onnx", contains: "its first input 'W' is a constant") }
    }

    /// A node without outputs (not valid ONNX, but a file can say so) on the data flow: the reader
    /// trapped with "Index out of range" on `node.outputs[0]` instead of an error (or ignoring the
    /// dead node): Add/Mul of two data values and Concat (`join`, OnnxOperators.swift:105), Flatten
    /// (OnnxShapeOperators.swift:37), Gemm (:134), MatMul (:148), Sigmoid (:190); also Resize (:288) and the
    /// pixel-shuffle reshape pattern (:82, :108, a later node's `outputs[0]`). Found by
    /// OnnxFuzzTests (seed 20261124, resnet18_bn.onnx:193 and resnet50.onnx:246: an Add's output
    /// field removed). Relu, Conv, pools and BatchNormalization without outputs are fine (exit 0).
    func testRegressionNodeWithoutOutputTraps() throws {
        let inits = [OnnxBuilder.tensor("G", dims: [3, 5])]
        let cases: [(String, [String], [OnnxBuilder.Message])] = [
            ("Add", ["x", "r"], []), ("Mul", ["x", "r"], []), ("Concat", ["x", "r"], [OnnxBuilder.int("axis", 1)]),
            ("Flatten", ["r"], []), ("Gemm", ["r", "G"], []), ("MatMul", ["r", "G"], []), ("Sigmoid", ["r"], []),
        ]
        for (index, (op, inputs, attributes)) in cases.enumerated() {
            let model = OnnxBuilder.model(
                nodes: [OnnxBuilder.node("Relu", name: "relu", inputs: ["x"], outputs: ["r"]),
                        OnnxBuilder.node(op, name: "n", inputs: inputs, outputs: [], attributes: attributes)],
                initializers: inits, input: ("x", [1, 3, 8, 8]), output: ("r", [1, 3, 8, 8]))
            try write(model, to: "nooutput\(index).onnx")
            try expect([0, 1], "params nooutput\(index).onnx", note: "\(op) without outputs")
        }
    }

    /// The small constant evaluator (OnnxConstants.swift, `evaluated`) trapped on constants a file
    /// can hold: `Int(Double)` of a value ≥ 2^63 or NaN (Reshape's shape, line 49; ConstantOfShape's
    /// shape, line 57; Gather's indices, line 68), products that overflow (Reshape, line 50:
    /// [2^40, 2^40, -1]; ConstantOfShape, line 60: eleven dims of 64), and Add/Sub/Mul/Div of an
    /// empty constant and a scalar (line 83: `a[0]` of an empty list). Each node here works on
    /// constants only, off the data flow (x → Relu → y is the network), so the model is fine
    /// without it. Found by OnnxFuzzTests (seed 20261124, shufflenet_v2_x0_5.onnx:77: a dim set
    /// to 0 made an empty constant) and then by hand.
    func testRegressionConstantArithmeticTraps() throws {
        let big = Int64.max
        let cases: [(String, OnnxBuilder.Message, [OnnxBuilder.Message])] = [
            ("Reshape to [2^63-1, 2^63-1, -1]", OnnxBuilder.node("Reshape", name: "reshape", inputs: ["a", "s"], outputs: ["o"]),
             [OnnxBuilder.int64s("a", [1, 2, 3, 4]), OnnxBuilder.int64s("s", [big, big, -1])]),
            ("Reshape to [2^40, 2^40, -1]", OnnxBuilder.node("Reshape", name: "reshape", inputs: ["a", "s"], outputs: ["o"]),
             [OnnxBuilder.int64s("a", [1, 2, 3, 4]), OnnxBuilder.int64s("s", [1 << 40, 1 << 40, -1])]),
            ("ConstantOfShape [2^63-1]", OnnxBuilder.node("ConstantOfShape", name: "fill", inputs: ["s"], outputs: ["o"]),
             [OnnxBuilder.int64s("s", [big])]),
            ("ConstantOfShape [NaN]", OnnxBuilder.node("ConstantOfShape", name: "fill", inputs: ["s"], outputs: ["o"]),
             [OnnxBuilder.floats("s", [.nan])]),
            ("ConstantOfShape of eleven 64s", OnnxBuilder.node("ConstantOfShape", name: "fill", inputs: ["s"], outputs: ["o"]),
             [OnnxBuilder.int64s("s", Array(repeating: 64, count: 11))]),
            ("Gather index 2^63-1", OnnxBuilder.node("Gather", name: "gather", inputs: ["a", "i"], outputs: ["o"]),
             [OnnxBuilder.int64s("a", [1, 2, 3, 4]), OnnxBuilder.int64s("i", [big])]),
            ("Add of [] and [1]", OnnxBuilder.node("Add", name: "add", inputs: ["e", "one"], outputs: ["o"]),
             [OnnxBuilder.int64s("e", [], dims: [0]), OnnxBuilder.int64s("one", [1])]),
        ]
        for (index, (what, node, constants)) in cases.enumerated() {
            let model = OnnxBuilder.model(nodes: [OnnxBuilder.node("Relu", name: "relu", inputs: ["x"], outputs: ["y"]), node],
                                          initializers: constants, input: ("x", [1, 3, 8, 8]), output: ("y", [1, 3, 8, 8]))
            try write(model, to: "constant\(index).onnx")
            try expect([0, 1], "params -q constant\(index).onnx", note: what)
        }
    }

    /// A MatMul or PRelu with only its data input: the reader trapped with "Index out of range" on
    /// `node.inputs[1]` (MatMul: OnnxShapeOperators.swift:141; PRelu: OnnxOperators.swift, its
    /// case in `convert`) instead of saying the operand is missing, as Conv ("it has no weight
    /// input") and Gemm ("it has no B input") do. Found by OnnxFuzzTests (seed 1,
    /// matmul_linear.onnx:255).
    func testRegressionMissingSecondInputTraps() throws {
        for op in ["MatMul", "PRelu"] {
            let model = OnnxBuilder.model(nodes: [OnnxBuilder.node("Relu", name: "relu", inputs: ["x"], outputs: ["r"]),
                                                  OnnxBuilder.node(op, name: "n", inputs: ["r"], outputs: ["y"])],
                                          initializers: [], input: ("x", [1, 3, 8, 8]), output: ("y", [1, 3, 8, 8]))
            try write(model, to: "\(op).onnx")
            try expect(1, "params \(op).onnx", note: "\(op) with one input")
        }
    }

    /// Transpose of an empty constant of dims [0, 2^62] (a Reshape of an empty list to [-1, N]
    /// makes one): the evaluator (OnnxConstants.swift:103) checks rows × columns == 0 values and
    /// then maps over `0..<columns`, 2^62 rounds: it never ends. Found by OnnxFuzzTests (seed 1,
    /// reflect_pad.onnx:215: the Reshape shape [-1, 2] of the pads chain became
    /// [-1, 0x7FF0000000000000]): `convcalc params` on that file runs for ever.
    func testRegressionTransposeOfEmptyConstantHangs() throws {
        let model = OnnxBuilder.model(nodes: [OnnxBuilder.node("Relu", name: "relu", inputs: ["x"], outputs: ["y"]),
                                              OnnxBuilder.node("Transpose", name: "t", inputs: ["a"], outputs: ["o"])],
                                      initializers: [OnnxBuilder.int64s("a", [], dims: [0, 1 << 62])], input: ("x", [1, 3, 8, 8]), output: ("y", [1, 3, 8, 8]))
        try write(model, to: "transpose.onnx")
        try expect([0, 1], "params -q transpose.onnx", seconds: 10)
    }

    /// Names in the model reach error and warning lines as they are (a newline, an escape
    /// sequence, NUL, U+2028 in a node's name, op type or a value's name: OnnxFuzzTests meets
    /// them often); the command line spells them `\u{1B}`, so the line stays one line.
    func testControlCharactersInNamesAreEscapedOnStderr() throws {
        let cases: [(String, [UInt8])] = [
            ("optype.onnx", OnnxBuilder.model(nodes: [OnnxBuilder.node("Foo\nconvcalc: error: second line", name: "n", inputs: ["x"], outputs: ["y"])],
                                              initializers: [], input: ("x", [1, 3, 8, 8]), output: ("y", [1, 3, 8, 8]))),
            ("output.onnx", OnnxBuilder.model(nodes: [OnnxBuilder.node("Relu", name: "n", inputs: ["x"], outputs: ["y"])],
                                              initializers: [], input: ("x", [1, 3, 8, 8]), output: ("y\u{1B}[31mred", [1, 3, 8, 8]))),
            ("input.onnx", OnnxBuilder.model(nodes: [OnnxBuilder.node("Relu", name: "n\0", inputs: ["x\r"], outputs: ["y"])],
                                             initializers: [], input: ("x", [1, 3, 8, 8]), output: ("y", [1, 3, 8, 8]))),
            ("separator.onnx", OnnxBuilder.model(nodes: [OnnxBuilder.node("Relu", name: "n", inputs: ["x\u{2028}"], outputs: ["y"])],
                                                 initializers: [], input: ("x", [1, 3, 8, 8]), output: ("y", [1, 3, 8, 8]))),
        ]
        for (name, bytes) in cases {
            try write(bytes, to: name)
            try expect(1, "params \(name)")
            let err = try script("$C params \(name) 2>&1 >/dev/null")
            XCTAssertFalse(err.out.contains("\u{2028}"), err.out)
        }
        // A warning quoting an op type with an escape sequence (an uncounted operator).
        let warned = OnnxBuilder.model(nodes: [OnnxBuilder.node("Relu", name: "r", inputs: ["x"], outputs: ["r"]),
                                               OnnxBuilder.node("Celu", name: "c\u{1B}[2J", inputs: ["r"], outputs: ["y"])],
                                       initializers: [], input: ("x", [1, 3, 8, 8]), output: ("y", [1, 3, 8, 8]))
        try write(warned, to: "warned.onnx")
        let result = try expect(0, "params warned.onnx")
        XCTAssertFalse((result.out + result.err).unicodeScalars.contains { $0.value == 0x1B }, result.err)
    }

    /// `--emit net` writes node names (and the producer) as comments unchanged: a name with a
    /// newline ends the comment, and the rest of the name becomes a line of the network. The
    /// emitted text then reads as another network (here one with an extra conv of a million
    /// channels) or not at all; escape sequences in names reach the terminal. Found by
    /// OnnxFuzzTests' check that the emitted text gives the words' numbers (e.g. seed 20261124
    /// unet.onnx:183, a node named "/pool_3/\nMaxPool"; convtranspose_grouped.onnx:244, producer
    /// "pyto\nrch"). (Only `--emit net`: the tables, JSON and stderr escape or leave out names.)
    func testRegressionNewlineInNodeNameChangesEmittedNetwork() throws {
        let model = OnnxBuilder.model(
            nodes: [OnnxBuilder.node("Relu", name: "relu\nconv:k=1,c=1000000", inputs: ["x"], outputs: ["y"])],
            initializers: [], input: ("x", [1, 3, 8, 8]), output: ("y", [1, 3, 8, 8]), producer: "maker\nfc:c=5")
        try write(model, to: "named.onnx")
        let direct = try expect(0, "params -q named.onnx")
        XCTAssertEqual(direct.out, "0\n")
        let emitted = try expect(0, "params --emit net named.onnx")
        try emitted.out.write(toFile: directory + "/named.net", atomically: true, encoding: .utf8)
        let reread = try script("timeout 60 $C params -q -f named.net")
        XCTAssertEqual(reread.status, 0, "the emitted network does not read back: \(reread.err)\n\(emitted.out)")
        XCTAssertEqual(reread.out, direct.out, "the emitted network gives other numbers:\n\(emitted.out)")
        // Injected: a node named "relu\nconv:k=1,c=1000000" adds a layer to the emitted network.
        let injected = OnnxBuilder.model(
            nodes: [OnnxBuilder.node("Relu", name: "relu\nconv:k=1,c=1000000", inputs: ["x"], outputs: ["y"])],
            initializers: [], input: ("x", [1, 3, 8, 8]), output: ("y", [1, 3, 8, 8]))
        try write(injected, to: "injected.onnx")
        let text = try expect(0, "params --emit net injected.onnx")
        try text.out.write(toFile: directory + "/injected.net", atomically: true, encoding: .utf8)
        let counted = try script("timeout 60 $C params -q -f injected.net")
        XCTAssertEqual(counted.out, "0\n", "the emitted network of a model with no parameters counts \(counted.out) \(counted.err):\n\(text.out)")
        // Escape sequences in names reach the terminal through --emit net.
        let escaped = OnnxBuilder.model(
            nodes: [OnnxBuilder.node("Relu", name: "relu\u{1B}[2J", inputs: ["x"], outputs: ["y"])],
            initializers: [], input: ("x", [1, 3, 8, 8]), output: ("y", [1, 3, 8, 8]))
        try write(escaped, to: "escaped.onnx")
        let shown = try expect(0, "params --emit net escaped.onnx")
        XCTAssertFalse(shown.out.unicodeScalars.contains { $0.value == 0x1B }, "an escape sequence on stdout: \(shown.out.debugDescription)")
    }

    func write(_ bytes: [UInt8], to name: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + name))
    }
}

/// Small ONNX models written field by field (onnx.proto's numbers; see Tests/fixtures/onnx_notes.md),
/// for the cases the fixtures do not have.
enum OnnxBuilder {
    /// One protocol-buffer message being written.
    struct Message {
        var bytes: [UInt8] = []

        mutating func varint(_ value: UInt64) {
            var value = value
            repeat {
                bytes.append(UInt8(value & 0x7F) | (value > 0x7F ? 0x80 : 0))
                value >>= 7
            } while value != 0
        }

        mutating func int(_ field: Int, _ value: Int) {
            varint(UInt64(field << 3))
            varint(UInt64(bitPattern: Int64(value)))
        }

        mutating func data(_ field: Int, _ payload: [UInt8]) {
            varint(UInt64(field << 3 | 2))
            varint(UInt64(payload.count))
            bytes += payload
        }

        mutating func string(_ field: Int, _ text: String) { data(field, Array(text.utf8)) }
        mutating func message(_ field: Int, _ message: Message) { data(field, message.bytes) }
    }

    /// NodeProto: input 1, output 2, name 3, op_type 4, attribute 5.
    static func node(_ op: String, name: String, inputs: [String], outputs: [String], attributes: [Message] = []) -> Message {
        var node = Message()
        for input in inputs { node.string(1, input) }
        for output in outputs { node.string(2, output) }
        node.string(3, name)
        node.string(4, op)
        for attribute in attributes { node.message(5, attribute) }
        return node
    }

    /// AttributeProto of type INT (2): name 1, i 3, type 20.
    static func int(_ name: String, _ value: Int) -> Message {
        var attribute = Message()
        attribute.string(1, name)
        attribute.int(3, value)
        attribute.int(20, 2)
        return attribute
    }

    /// AttributeProto of type INTS (7): name 1, ints 8, type 20.
    static func ints(_ name: String, _ values: [Int]) -> Message {
        var attribute = Message()
        attribute.string(1, name)
        for value in values { attribute.int(8, value) }
        attribute.int(20, 7)
        return attribute
    }

    /// A float TensorProto without data: dims 1, data_type 2, name 8.
    static func tensor(_ name: String, dims: [Int]) -> Message {
        var tensor = Message()
        for dim in dims { tensor.int(1, dim) }
        tensor.int(2, 1)
        tensor.string(8, name)
        return tensor
    }

    /// An int64 TensorProto with its values: dims 1, data_type 2 (7), int64_data 7 (packed), name 8.
    static func int64s(_ name: String, _ values: [Int64], dims: [Int]? = nil) -> Message {
        var tensor = Message()
        for dim in dims ?? [values.count] { tensor.int(1, dim) }
        tensor.int(2, 7)
        var packed = Message()
        for value in values { packed.varint(UInt64(bitPattern: value)) }
        tensor.data(7, packed.bytes)
        tensor.string(8, name)
        return tensor
    }

    /// A float TensorProto with its values as raw_data (9), little-endian.
    static func floats(_ name: String, _ values: [Float]) -> Message {
        var tensor = Message()
        tensor.int(1, values.count)
        tensor.int(2, 1)
        tensor.data(9, values.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * $0)) } })
        tensor.string(8, name)
        return tensor
    }

    /// ValueInfoProto (name 1, type 2) of a float tensor of fixed dims.
    static func value(_ name: String, dims: [Int]) -> Message {
        var shape = Message()
        for dim in dims {
            var dimension = Message()
            dimension.int(1, dim)
            shape.message(1, dimension)
        }
        var tensorType = Message()
        tensorType.int(1, 1)
        tensorType.message(2, shape)
        var type = Message()
        type.message(1, tensorType)
        var info = Message()
        info.string(1, name)
        info.message(2, type)
        return info
    }

    /// ModelProto (ir_version 1, producer_name 2, graph 7, opset_import 8) with opset 17 and a
    /// graph (node 1, name 2, initializer 5, input 11, output 12).
    static func model(nodes: [Message], initializers: [Message], input: (String, [Int]), output: (String, [Int]), producer: String = "convcalc tests") -> [UInt8] {
        var graph = Message()
        for node in nodes { graph.message(1, node) }
        graph.string(2, "g")
        for initializer in initializers { graph.message(5, initializer) }
        graph.message(11, value(input.0, dims: input.1))
        graph.message(12, value(output.0, dims: output.1))
        var opset = Message()
        opset.string(1, "")
        opset.int(2, 17)
        var model = Message()
        model.int(1, 8)
        model.string(2, producer)
        model.message(7, graph)
        model.message(8, opset)
        return model.bytes
    }
}
