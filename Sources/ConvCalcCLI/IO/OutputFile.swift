#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// Where `-o PATH` writes.
///
/// - A regular file (new or existing, also through symbolic links) is written through a
///   temporary file created exclusively, under an unpredictable name, in the directory of the
///   file the links lead to, then renamed over it: a failed or interrupted run leaves no
///   partial file, the links stay links, and an existing file keeps its mode and owner.
/// - A character or block device, a FIFO or a socket (`/dev/null`, a named pipe) is written
///   in place, as a shell's `>` would; `-` and `/dev/stdout`, `/dev/stderr` and `/dev/fd/N`
///   write to that descriptor of this process.
///
/// Opened before the work starts, so an unwritable path fails at once. The temporary file is
/// removed when the run fails, when the value goes away uncommitted, and when a signal ends
/// the process (SIGKILL aside, which no program can catch).
final class OutputFile {
    /// The path as the user gave it (for messages).
    let path: String
    private var descriptor: Int32
    /// For a regular file: the name the links lead to and the temporary file beside it.
    private let replacement: (final: String, temporary: String)?

    /// What a path names, once its symbolic links are followed.
    enum Target: Equatable {
        /// One of this process's descriptors (`-`, `/dev/stdout`, `/dev/fd/N`).
        case inherited(Int32)
        /// A device, FIFO or socket: written in place.
        case inPlace(String)
        /// A regular file, existing or new, replaced through a temporary file beside it.
        case regular(String)
    }

    /// `directory`: where a relative `path` is (nil: the working directory); messages name `path`.
    init(path: String, directory: String? = nil) throws {
        self.path = path
        func failure(_ reason: String? = nil) -> OutputError {
            .cannotWrite(path: path, reason: reason ?? FileReader.describeErrno())
        }
        guard !path.isEmpty else { throw failure("the name is empty") }
        switch try OutputFile.target(InputContext.resolve(path, in: directory), failure: failure) {
        case let .inherited(number):
            guard !ProcessSetup.closedAtStart.contains(number) else {
                throw failure(number == 1 ? "standard output is closed" : number == 2 ? "standard error is closed" : "descriptor \(number) is closed")
            }
            descriptor = dup(number)
            replacement = nil
        case let .inPlace(name):
            descriptor = open(name, O_WRONLY | O_NOCTTY | O_CLOEXEC)
            replacement = nil
        case let .regular(name):
            var template = Array((OutputFile.directory(of: name) + "/.convcalc-XXXXXX").utf8CString)
            // Made and registered with the terminating signals held back: none can come between.
            let made = OutputFile.withSignalsBlocked { () -> (Int32, Int32) in
                let made = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
                let reason = errno
                if made >= 0 { OutputFile.registerForSignals(String(cString: template)) }
                return (made, reason)
            }
            descriptor = made.0
            guard descriptor >= 0 else {
                errno = made.1
                throw failure(errno == ENOENT ? "no such directory" : nil)
            }
            replacement = (name, String(cString: template))
            OutputFile.giveMode(descriptor, like: name)
        }
        guard descriptor >= 0 else { throw failure() }
    }

    /// Follows `name`'s symbolic links (at most 40, as the kernel does) to what it names.
    static func target(_ name: String, failure: (String?) -> OutputError) throws -> Target {
        var resolved = name
        for _ in 0...40 {
            if let inherited = inheritedDescriptor(resolved) { return .inherited(inherited) }
            var info = stat()
            guard lstat(resolved, &info) == 0 else {
                guard errno == ENOENT else { throw failure(nil) }
                return .regular(resolved)   // a new file
            }
            switch info.st_mode & S_IFMT {
            case S_IFLNK:
                guard let link = linkTarget(resolved) else { throw failure(nil) }
                resolved = link.hasPrefix("/") ? link : directory(of: resolved) + "/" + link
            case S_IFDIR: throw failure("it is a directory")
            case S_IFREG: return .regular(resolved)
            default: return .inPlace(resolved)
            }
        }
        throw failure("too many levels of symbolic links")
    }

    /// The mode a shell's `>` would give the file that replaces `name`: an existing file's own
    /// (and its owner, where this process may set it), else 0666 less the umask (mkstemp made 0600).
    static func giveMode(_ descriptor: Int32, like name: String) {
        var existing = stat()
        guard stat(name, &existing) == 0 else {
            let mask = umask(0)
            umask(mask)
            _ = fchmod(descriptor, 0o666 & ~mask)
            return
        }
        if existing.st_uid != geteuid() || existing.st_gid != getegid() {
            _ = fchown(descriptor, existing.st_uid, existing.st_gid)
        }
        _ = fchmod(descriptor, existing.st_mode & 0o7777)
    }

    /// Writes everything `stream` makes; a replaced file is then renamed into place. A stream
    /// that stops by itself (false with every write done: its input failed) leaves nothing:
    /// the temporary file is removed, an existing file kept as it was.
    func commit(_ stream: ((UnsafeBufferPointer<UInt8>) -> Bool) -> Bool) throws {
        var failure: String?
        let complete = stream { bytes in
            guard FileDescriptorSink.writeAll(bytes, to: self.descriptor) else {
                failure = FileReader.describeErrno()   // errno of this thread, right after the failed write
                return false
            }
            return true
        }
        if !complete && failure == nil {
            discard()
            return
        }
        if close(descriptor) != 0 && failure == nil { failure = FileReader.describeErrno() }
        descriptor = -1
        if let replacement {
            if failure == nil && !OutputFile.replace(replacement.final, with: replacement.temporary) { failure = FileReader.describeErrno() }
            if failure != nil { unlink(replacement.temporary) }
            OutputFile.registerForSignals(nil)
        }
        if let failure { throw OutputError.cannotWrite(path: path, reason: failure) }
    }

    /// Puts the file `temporary` in the place of `final` in one atomic step; false (with
    /// `errno`) when that failed. An existing `final` is exchanged with `temporary` (Linux's
    /// renameat2 with RENAME_EXCHANGE), and the old file, now named `temporary`, unlinked;
    /// a new `final`, or a file system without the exchange, is renamed over as usual.
    ///
    /// Why not always rename: on ext4, renaming over an existing file makes the rename itself
    /// write back the new file's delayed-allocation data first (the `auto_da_alloc`
    /// heuristic), about 55 ms for 85 MB here, the slowest step of a 2048² run. With the
    /// exchange that writeback is left to the kernel's flusher, as for any newly written file
    /// (and a new file renamed to a new name): convcalc never promised more, it does not fsync.
    static func replace(_ final: String, with temporary: String) -> Bool {
        #if os(Linux)
        if let exchange = renameExchange,
           exchange(AT_FDCWD, temporary, AT_FDCWD, final, 2 /* RENAME_EXCHANGE */) == 0 {
            unlink(temporary)   // the old file: failing to remove it leaves the new one in place
            return true
        }
        #endif
        return rename(temporary, final) == 0
    }

    #if os(Linux)
    /// glibc's renameat2 (2.28 on; not in the Glibc module's headers), nil when absent.
    private static let renameExchange: (@convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32).self)
    }()
    #endif

    func discard() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
        if let replacement {
            unlink(replacement.temporary)
            OutputFile.registerForSignals(nil)
        }
    }

    deinit { discard() }

    /// The descriptor a name of this process's own descriptors stands for: `-` and `/dev/stdout` 1,
    /// `/dev/stderr` 2, `/dev/fd/N` and `/proc/self/fd/N` N. Written to through a duplicate,
    /// so a shell's `>>` keeps appending and a pipe stays the pipe.
    static func inheritedDescriptor(_ path: String) -> Int32? {
        switch path {
        case "-", "/dev/stdout": return 1
        case "/dev/stderr": return 2
        default:
            for prefix in ["/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/"] where path.hasPrefix(prefix) {
                return Int32(path.dropFirst(prefix.count))
            }
            return nil
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func linkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Removal on signals

    /// The temporary file to remove when a signal ends the process (a C string, read by the
    /// handler, which may call only async-signal-safe functions), and the actions it replaced.
    private static var pendingTemporary: UnsafeMutablePointer<CChar>?
    private static let previousActions = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)
    private static var handlersInstalled = false

    /// Signals whose default action ends the process (SIGKILL and SIGSTOP cannot be caught).
    static let terminatingSignals: [Int32] = [SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGABRT, SIGBUS, SIGFPE, SIGSEGV,
                                              SIGPIPE, SIGALRM, SIGTERM, SIGUSR1, SIGUSR2, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF]

    /// Runs `body` with the asynchronous terminating signals blocked on this thread (the only
    /// one running when a temporary file is made or forgotten), then delivers any that came.
    static func withSignalsBlocked<R>(_ body: () -> R) -> R {
        var blocked = sigset_t(), previous = sigset_t()
        sigemptyset(&blocked)
        for signal in [SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGALRM, SIGTERM, SIGUSR1, SIGUSR2, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF] {
            sigaddset(&blocked, signal)
        }
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        return body()
    }

    private static func registerForSignals(_ temporary: String?) {
        withSignalsBlocked {
            let old = pendingTemporary
            pendingTemporary = temporary.map { strdup($0) }
            free(old)
        }
        guard temporary != nil, !handlersInstalled else { return }
        handlersInstalled = true
        for signal in terminatingSignals {
            // A signal the parent ignores (SIGINT for a background job, SIGPIPE) stays ignored.
            sigaction(signal, nil, previousActions + Int(signal))
            if unsafeBitCast(previousActions[Int(signal)].__sigaction_handler.sa_handler, to: Int.self) == 1 { continue }   // SIG_IGN
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in
                if let name = OutputFile.pendingTemporary { unlink(name) }
                // Then what would have happened: the action found at start (the default, or
                // the runtime's crash report), taken when this handler returns.
                sigaction(signal, OutputFile.previousActions + Int(signal), nil)
                raise(signal)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(signal, &action, nil)
        }
    }
}

enum OutputError: UserFacingError {
    case cannotWrite(path: String, reason: String)
    var message: String {
        if case let .cannotWrite(path, reason) = self { return "cannot write '\(path)': \(reason)" }
        return ""
    }
    var category: ErrorCategory { .data }
}
