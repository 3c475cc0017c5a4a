import Foundation
import XCTest

/// The real binary with real file descriptors: full disks, closed and broken pipes, devices,
/// FIFOs and symbolic links as `-o`, signals, address-space limits, endless inputs, huge
/// stacks. An in-process harness writing to string buffers cannot see any of these.
///
/// Each case is a bash script run in a fresh directory with `$C` naming the binary. The quick
/// mode runs in `swift test`; `CONVCALC_LONG_ROBUSTNESS=1` adds the slow sizes (2 GiB reads from
/// /dev/zero without a memory limit, 100,000-layer stacks, a finer `ulimit -v` sweep). Time
/// bounds are measured by `bench/robustness.sh`, not asserted here.
/// The convcalc executable `swift test` built next to the test bundle.
func builtBinary() throws -> String {
    let near = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    for candidate in [near + "/convcalc", packageRoot + "/.build/debug/convcalc"]
    where FileManager.default.isExecutableFile(atPath: candidate) {
        return candidate
    }
    XCTFail("the convcalc executable was not built next to the tests (\(near))")
    throw CocoaError(.fileNoSuchFile)
}

final class ProcessRobustnessTests: XCTestCase {
    static let long = ProcessInfo.processInfo.environment["CONVCALC_LONG_ROBUSTNESS"] == "1"

    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("convcalc-process-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        _ = try? script("mountpoint -q small && umount small; true")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs `text` with bash in the test's directory; stdout and stderr go to files (no pipe
    /// to fill up). The status is the script's own (128 + N when its last command was killed by signal N).
    @discardableResult
    func script(_ text: String) throws -> (out: String, err: String, status: Int32) {
        let result = try ChildProcess.run("/bin/bash", ["-c", text], in: directory, environment: [
            "C": try builtBinary(), "EXAMPLES": packageRoot + "/examples",
            "SWIFT_BACKTRACE": "enable=no",   // a crash must show as a signal, quickly
        ])
        return (result.out, result.err, result.status ?? -1)
    }

    /// The files of the test directory, sorted.
    func files() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    /// One command line per command, each writing something to stdout on success.
    static let everyCommand = [
        "help", "--version", "shape --help", "shape --k 3 --in 32", "shape -q --k 3 --in 32", "rf conv:k=3 conv:k=3,d=2",
        "rf --map --in 16 conv:k=3", "params --cin 3 --in 32 conv:k=3,c=16 --json", "run '[1 2;3 4]' '[1]'",
        "run --format csv '[1 2;3 4]' '[1 1]'", "run --explain '[1 2;3 4]' '[1]'", "run --as-matrix --in 3x3 '[1 2;3 4]'",
        "shape --draw --in 5 conv:k=3", "shape --draw svg --animate --in 3 tconv:k=3,s=2", "rf --draw svg --no-warnings conv:k=3,d=2 conv:k=3,d=2",
        "run --explain --draw svg '[1 2;3 4]' '[1]'",
    ]

    /// Drawings are coloured on a real terminal (a pseudo-terminal made by script(1)), and
    /// not with NO_COLOR or TERM=dumb, nor through a pipe.
    func testDrawingColourOnATerminal() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { throw XCTSkip("no script(1) to make a terminal") }
        let draw = "$C shape --draw --in 5 conv:k=3 --cell 0,0"
        let lit = "\u{1B}[1;33m"
        // The test runner's own NO_COLOR or TERM must not decide.
        let terminal = try script("env -u NO_COLOR TERM=xterm script -qec \"\(draw)\" /dev/null")
        XCTAssertTrue(terminal.out.contains(lit), terminal.out + terminal.err)
        for variable in ["NO_COLOR=1", "TERM=dumb"] {
            let plain = try script("env -u NO_COLOR TERM=xterm \(variable) script -qec \"\(draw)\" /dev/null")
            XCTAssertFalse(plain.out.contains("\u{1B}["), variable)
            XCTAssertTrue(plain.out.contains("■"), variable)
        }
        XCTAssertFalse(try script(draw + " | cat").out.contains("\u{1B}["))
    }

    // MARK: Standard output that cannot be written

    func testFullDeviceAsStandardOutput() throws {
        for command in Self.everyCommand {
            let result = try script("$C \(command) > /dev/full")
            XCTAssertEqual(result.status, 1, command)
            XCTAssertEqual(result.err, "convcalc: error: cannot write standard output: No space left on device\n", command)
        }
    }

    func testClosedStandardOutput() throws {
        for command in Self.everyCommand {
            let result = try script("$C \(command) >&-")
            XCTAssertEqual(result.status, 1, command)
            XCTAssertEqual(result.err, "convcalc: error: cannot write standard output: Bad file descriptor\n", command)
        }
        // Nothing to say on stdout: a closed one is no error. -o must not take descriptor 1.
        let quiet = try script("$C run '[1 2;3 4]' '[1]' -o out.txt >&-; echo $?; cat out.txt")
        XCTAssertEqual(quiet.out, "0\n1 2\n3 4\n")
        XCTAssertEqual(quiet.err, "")
        // -o onto the closed stdout is the same error, not a write into the /dev/null holding its place.
        for target in ["-", "/dev/stdout"] {
            let named = try script("$C run '[1 2;3 4]' '[1]' -o \(target) >&-")
            XCTAssertEqual(named.status, 1, target)
            XCTAssertEqual(named.err, "convcalc: error: cannot write '\(target)': standard output is closed\n", target)
        }
        // A closed standard input is an unreadable one, not an empty one.
        let input = try script("$C run - '[1]' <&-")
        XCTAssertEqual(input.status, 1)
        XCTAssertEqual(input.err, "convcalc: error: cannot read '<stdin>': standard input is closed\n")
        // A closed stderr: the error cannot be said, the status still tells.
        XCTAssertEqual(try script("$C shape --k 9 --in 3 2>&-").status, 1)
    }

    /// A reader that stops early: with SIGPIPE at its default the process ends by it (as `yes | head`
    /// does); with SIGPIPE ignored the write fails with EPIPE: a quiet exit 1, never 0.
    func testBrokenPipe() throws {
        let big = "$C run --p 300 '[1 2;3 4]' '[1]'"   // 602x602 values, far more than a pipe holds
        let killed = try script("\(big) | head -c 10 > /dev/null; echo ${PIPESTATUS[0]}")
        XCTAssertEqual(killed.out, "141\n")
        let ignored = try script("trap '' PIPE; \(big) | head -c 10 > /dev/null; echo ${PIPESTATUS[0]}")
        XCTAssertEqual(ignored.out, "1\n")
        XCTAssertEqual(ignored.err, "")
        let shape = try script("trap '' PIPE; for i in $(seq 3000); do echo conv:k=1; done > many.net; $C shape --in 8 -f many.net | head -c 1 > /dev/null; echo ${PIPESTATUS[0]}")
        XCTAssertEqual(shape.out, "1\n", shape.err)
    }

    /// A small file system that fills up: stdout redirected there and `-o` there both fail with
    /// exit 1, and `-o` leaves neither a partial file nor a temporary one.
    func testFullFileSystem() throws {
        guard try script("mkdir small && mount -t tmpfs -o size=64k tmpfs small").status == 0 else {
            throw XCTSkip("cannot mount a small file system here (needs root)")
        }
        let redirected = try script("$C run --p 200 '[1 2;3 4]' '[1]' > small/out.txt; echo $?")
        XCTAssertEqual(redirected.out, "1\n")
        XCTAssertEqual(redirected.err, "convcalc: error: cannot write standard output: No space left on device\n")
        try script("rm -f small/out.txt")
        let named = try script("echo keep > small/old.txt; $C run --p 200 '[1 2;3 4]' '[1]' -o small/old.txt; echo $?; ls -A small; cat small/old.txt")
        XCTAssertEqual(named.out, "1\nold.txt\nkeep\n")
        XCTAssertEqual(named.err, "convcalc: error: cannot write 'small/old.txt': No space left on device\n")
    }

    // MARK: -o onto what is not a plain file

    func testOutputOntoDevicesFIFOsAndLinks() throws {
        // A character device is written in place, never replaced by a regular file.
        let null = try script("$C run '[1 2;3 4]' '[1]' -o /dev/null; echo $?; stat -c %F /dev/null")
        XCTAssertEqual(null.out, "0\ncharacter special file\n")
        if try script("mknod full c 1 7").status == 0 {
            let full = try script("$C run '[1 2;3 4]' '[1]' -o full; echo $?; stat -c %F full; ls -A")
            XCTAssertEqual(full.out, "1\ncharacter special file\nfull\n")
            XCTAssertEqual(full.err, "convcalc: error: cannot write 'full': No space left on device\n")
        }
        // A FIFO: its reader gets the output; it stays a FIFO.
        let fifo = try script("mkfifo pipe; cat pipe > got.txt & $C run '[1 2;3 4]' '[1]' -o pipe; echo $?; wait; cat got.txt; stat -c %F pipe")
        XCTAssertEqual(fifo.out, "0\n1 2\n3 4\nfifo\n")
        // The descriptors of the process itself.
        let stdout = try script("$C run '[1 2;3 4]' '[1]' -o /dev/stdout | cat; $C run '[5]' '[1]' -o /dev/fd/1 >> appended.txt; $C run '[6]' '[1]' -o /dev/stdout >> appended.txt; $C run '[7]' '[1]' -o - >> appended.txt; cat appended.txt")
        XCTAssertEqual(stdout.out, "1 2\n3 4\n5\n6\n7\n")
        XCTAssertEqual(stdout.err, "")
        // A symbolic link to a file: the file gets the output, the link stays a link.
        let link = try script("mkdir links; cd links; echo old > target.txt; ln -s target.txt link.txt; $C run '[7]' '[1]' -o link.txt; stat -c %F link.txt; cat target.txt; ln -s new.txt dangling.txt; $C run '[8]' '[1]' -o dangling.txt; cat new.txt; ls -A")
        XCTAssertEqual(link.out, "symbolic link\n7\n8\ndangling.txt\nlink.txt\nnew.txt\ntarget.txt\n")
        XCTAssertEqual(link.err, "")
        let loop = try script("ln -s a b; ln -s b a; $C run '[1]' '[1]' -o a; echo $?")
        XCTAssertEqual(loop.out, "1\n")
        XCTAssertEqual(loop.err, "convcalc: error: cannot write 'a': too many levels of symbolic links\n")
        let directory = try script("mkdir d; $C run '[1]' '[1]' -o d; echo $?")
        XCTAssertEqual(directory.err, "convcalc: error: cannot write 'd': it is a directory\n")
    }

    /// An existing file keeps its mode; a new one gets 0666 less the umask, as with `>`.
    func testOutputKeepsTheMode() throws {
        let result = try script("echo x > private.txt; chmod 600 private.txt; chmod 751 . ; $C run '[1]' '[1]' -o private.txt; umask 027; $C run '[1]' '[1]' -o new.txt; stat -c %a private.txt new.txt")
        XCTAssertEqual(result.out, "600\n640\n")
    }

    /// Replacing an existing file (exchanged with the temporary file, then the old one
    /// removed): the name holds the new output, a hard link to the old file keeps the old
    /// text, no temporary file is left, and a second run over the result works the same.
    func testOutputReplacesAnExistingFile() throws {
        let result = try script("""
            echo old > out.txt; ln out.txt other.txt
            $C run '[1 2]' '[1]' -o out.txt; echo $?; $C run '[3 4]' '[1]' -o out.txt; echo $?
            cat out.txt other.txt; stat -c %h out.txt other.txt; find . -name '.convcalc-*' | wc -l
            """)
        XCTAssertEqual(result.out, "0\n0\n3 4\nold\n1\n1\n0\n", result.err)
    }

    /// The temporary file is made exclusively under an unpredictable name: a symbolic link
    /// planted at the name older versions used (`OUT.convcalc-PID.tmp`) is left alone, and so is
    /// its victim. A 254-character name (the longest most file systems allow with room for
    /// nothing) is accepted.
    func testPlantedTemporaryName() throws {
        let result = try script("""
            echo precious > victim.txt
            bash -c 'ln -s victim.txt out.txt.convcalc-$$.tmp; exec "$C" run "[1 2;3 4]" "[1]" -o out.txt'
            echo $?; cat victim.txt out.txt; find . -name '.convcalc-*' | wc -l
            """)
        XCTAssertEqual(result.out, "0\nprecious\n1 2\n3 4\n0\n")
        let name = String(repeating: "n", count: 254)
        let long = try script("mkdir long; cd long; $C run '[1]' '[1]' -o \(name); echo $?; ls -A")
        XCTAssertEqual(long.out, "0\n\(name)\n", long.err)
    }

    /// Line ends (LF, CRLF, lone CR), a byte-order mark and empty cells through every reader of
    /// the real binary: matrix files, standard input, --bias, layer files and `-f -`.
    func testLineEndsMarksAndCellsInEveryReader() throws {
        let bom = "\\xef\\xbb\\xbf"
        for (name, end) in [("lf", "\\n"), ("crlf", "\\r\\n"), ("cr", "\\r")] {
            let result = try script("""
                printf '\(bom)# image\(end)1 2\(end)3 4\(end)' > m.txt
                printf '\(bom)# block\(end)conv:k=3,c=64\(end)conv:k=3,c=64\(end)maxpool:k=2\(end)' > n.net
                printf '\(bom)0.5\(end)' > b.txt
                $C run m.txt '[1]'; $C run - '[1 1]' < m.txt; $C run --bias b.txt m.txt '[1]'
                $C params --cin 3 --in 32 -q -f n.net conv:k=1,c=10; $C shape -q --in 32 -f - < n.net
                """)
            XCTAssertEqual(result.out, "1 2\n3 4\n3\n7\n1.5 2.5\n3.5 4.5\n39370\n14\n", "\(name): \(result.err)")
            XCTAssertEqual(result.err, "", name)
        }
        let cells = try script("printf '1,,3\\n4,,6\\n' | $C run - '[1]'; echo $?; printf ',1,2\\n' > lead.csv; $C run lead.csv '[1]'; echo $?")
        XCTAssertEqual(cells.out, "1\n1\n")
        XCTAssertEqual(cells.err.split(separator: "\n").count, 2, cells.err)
        XCTAssertTrue(cells.err.split(separator: "\n").allSatisfy { $0.hasPrefix("convcalc: error: ") && $0.contains("empty cell") }, cells.err)
    }

    // MARK: Signals and limits

    /// SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGABRT (what a failed allocation raises) during
    /// `-o`: the process ends by the signal and no temporary file is left behind (SIGQUIT once
    /// printed a backtrace and let the run finish).
    func testSignalsDuringOutputFile() throws {
        for signal in ["INT", "TERM", "HUP", "QUIT", "ABRT"] {
            let result = try script("""
                set -m   # the job gets SIGINT at its default action, as in an interactive shell
                $C run --p 2500 '[1 2;3 4]' '[1 2;3 4]' -o out.txt & pid=$!
                for i in $(seq 400); do ls -A | grep -q '^.convcalc-' && break; sleep 0.02; done
                kill -\(signal) $pid; wait $pid; echo $?; ls -A
                """)
            let expected = ["INT": 130, "TERM": 143, "HUP": 129, "QUIT": 131, "ABRT": 134][signal]!
            XCTAssertEqual(result.out, "\(expected)\n", "SIG\(signal): \(result.err)")
        }
    }

    /// Under `ulimit -v` every run either works or refuses in one line: no abort, no backtrace.
    func testAddressSpaceLimit() throws {
        try script("$C run --p 1000 '[1]' '[1]' -o big.txt")
        let limits = Self.long ? Array(stride(from: 40_000, through: 1_000_000, by: 20_000)) : [50_000, 120_000, 300_000]
        let commands = ["run big.txt '[1 2;3 4]' -o out.txt", "run --p 3000 '[1 2;3 4]' '[1 2;3 4]' -o out.txt",
                        "run --method fft --p 40 big.txt '[1 2 3;4 5 6;7 8 9]' -o out.txt", "run - '[1 2;3 4]' -o out.txt < big.txt"]
        for limit in limits {
            for command in commands {
                let result = try script("ulimit -v \(limit); $C \(command)")
                XCTAssertTrue(result.status == 0 || result.status == 1, "ulimit -v \(limit) \(command): status \(result.status) \(result.err.prefix(300))")
                XCTAssertTrue(result.err.isEmpty || (result.err.hasPrefix("convcalc: error: ") && result.err.filter { $0 == "\n" }.count == 1),
                              "ulimit -v \(limit) \(command): \(result.err.prefix(300))")
            }
        }
        XCTAssertEqual(try files().filter { $0.hasPrefix(".convcalc-") }, [])
    }

    /// No thread to be had (a stack limit that does not fit the address space): the printer's
    /// parts are made by the writing thread instead (it once waited forever for its worker).
    func testNoThreadCanBeStarted() throws {
        try script("$C run --p 600 '[1 2;3 4]' '[1]' -o big.txt; $C run big.txt '[1]' -o expected.txt")
        for threads in [1, 2] {
            let result = try script("ulimit -s 3000000; ulimit -v 2500000; timeout 120 $C run --threads \(threads) big.txt '[1]' -o got.txt; echo $?; cmp got.txt expected.txt && echo same")
            XCTAssertEqual(result.out, "0\nsame\n", "--threads \(threads): \(result.err)")
        }
    }

    /// /dev/zero, which never ends, as every input: refused at the limit for pipes and devices.
    func testEndlessInputs() throws {
        // A lower memory limit keeps the quick mode quick (a quarter of it is the cap); the long mode reads 2 GiB.
        let limit = Self.long ? "" : "ulimit -v 1000000; "
        let inputs = ["run /dev/zero '[1]'", "run '[1]' /dev/zero", "run --bias /dev/zero '[1]' '[1]'", "run - '[1]' < /dev/zero",
                      "shape -f /dev/zero", "rf -f /dev/zero", "params -f /dev/zero", "shape -f - < /dev/zero"]
        for input in inputs {
            let result = try script(limit + "$C " + input)
            XCTAssertEqual(result.status, 1, input)
            XCTAssertTrue(result.err.hasPrefix("convcalc: error: ") && result.err.contains("holds more than"), "\(input): \(result.err)")
        }
    }

    /// Long and deep stacks end in time, with an answer or one clear error (no stack overflow).
    func testHugeStacks() throws {
        let layers = Self.long ? 100_000 : 10_000
        try script("for i in $(seq \(layers)); do echo conv:k=1; done > long.net")
        for command in ["shape -q --in 8 -f long.net", "rf -q -f long.net", "params -q --cin 1 -f long.net", "shape -q -f long.net", "rf --in 8 -f long.net"] {
            let result = try script("$C \(command) > /dev/null")
            XCTAssertEqual(result.status, 0, "\(command): \(result.err.prefix(300))")
        }
        // The deepest nesting accepted (100) works in every command; 20,000 is one clear error, not SIGSEGV.
        for depth in [100, 20_000] {
            try script("(for i in $(seq \(depth)); do echo 'add {'; done; echo conv:k=1; for i in $(seq \(depth)); do echo '} { conv:k=1 }'; done) > deep.net")
            for command in ["shape -q --in 8 -f deep.net", "shape --in 8 -f deep.net", "shape -f deep.net", "rf -q -f deep.net", "rf --map --in 8 -f deep.net",
                            "rf --json --in 8 -f deep.net", "params --cin 1 --in 8 -f deep.net", "params --json --cin 1 --in 8 -f deep.net --vs -f deep.net"] {
                let result = try script("$C \(command) > /dev/null")
                if depth == 100 {
                    XCTAssertEqual(result.status, 0, "\(command): \(result.err.prefix(300))")
                } else {
                    XCTAssertEqual(result.status, 1, command)
                    XCTAssertTrue(result.err.hasPrefix("convcalc: error: deep.net:") && result.err.contains("at most 100 merges")
                                  && result.err.filter { $0 == "\n" }.count == 1, "\(command): \(result.err.prefix(300))")
                }
            }
        }
    }
}
