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

/// Where text output goes. Passed in, so tests capture it and run in parallel.
public protocol TextSink: AnyObject {
    func write(_ text: String)
    /// Writes UTF-8 bytes (large outputs, without building a String).
    func write(bytes: UnsafeBufferPointer<UInt8>)
    /// The terminal's width when this sink is a terminal, else nil (then output is laid out
    /// for COLUMNS or 80 columns, so files and tests do not depend on the terminal).
    var terminalWidth: Int? { get }
    /// Whether this sink is a terminal (it may still report no width: a pseudo-terminal of size 0).
    var isTerminal: Bool { get }
    /// The `errno` of the first write that failed (a full disk, a closed pipe or descriptor),
    /// nil while every write has succeeded. After a failure further writes are skipped.
    var writeFailure: Int32? { get }
}

extension TextSink {
    public var terminalWidth: Int? { nil }
    public var isTerminal: Bool { terminalWidth != nil }
    public var writeFailure: Int32? { nil }
    public func write(bytes: UnsafeBufferPointer<UInt8>) { write(String(decoding: bytes, as: UTF8.self)) }
}

/// Collects output in memory (tests).
public final class StringSink: TextSink {
    public private(set) var text = ""
    public init() {}
    public func write(_ text: String) { self.text += text }
}

/// Writes to a file descriptor (the real stdout and stderr).
public final class FileDescriptorSink: TextSink {
    let descriptor: Int32
    /// The process was started with this descriptor closed (`>&-`); it now holds /dev/null
    /// only to keep the number from being reused, and writing anything fails with EBADF.
    let closed: Bool
    public private(set) var writeFailure: Int32?

    public init(descriptor: Int32, closed: Bool = false) {
        self.descriptor = descriptor
        self.closed = closed
    }

    public var isTerminal: Bool { !closed && isatty(descriptor) == 1 }

    public var terminalWidth: Int? {
        guard isTerminal else { return nil }
        var size = winsize()
        guard ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }

    public func write(_ text: String) {
        var text = text
        text.withUTF8 { write(bytes: $0) }
    }

    public func write(bytes: UnsafeBufferPointer<UInt8>) {
        guard writeFailure == nil, !bytes.isEmpty else { return }
        if closed {
            writeFailure = EBADF
        } else if !FileDescriptorSink.writeAll(bytes, to: descriptor) {
            writeFailure = errno
        }
    }

    /// Writes all of `buffer` to `descriptor`, retrying after interruptions; false on an error
    /// (then `errno` says which).
    static func writeAll(_ buffer: UnsafeBufferPointer<UInt8>, to descriptor: Int32) -> Bool {
        var offset = 0
        while offset < buffer.count {
            let written = systemWrite(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }
}

/// What the real process sets up before running a command (`main.swift`).
public enum ProcessSetup {
    /// The standard descriptors the process was started without (set once by `prepare`):
    /// `-o -` or `-o /dev/stdout` onto one of them is an error, as writing to stdout is.
    private(set) static var closedAtStart: Set<Int32> = []

    /// Makes the process behave as a command-line tool should under hostile conditions, and
    /// returns which of descriptors 0, 1 and 2 were closed when it started:
    /// - each closed one is opened on /dev/null, so a file convcalc opens later (`-o FILE`, an
    ///   input) can never take its number and receive what was meant for standard output;
    /// - SIGQUIT ends the process as it does any other (the Swift runtime's handler would print
    ///   a backtrace and let the run go on);
    /// - under an address-space limit (`ulimit -v`) threads share one malloc arena, as each
    ///   extra arena reserves 64 MiB of address space.
    public static func prepare() -> (input: Bool, output: Bool, error: Bool) {
        func reserve(_ descriptor: Int32) -> Bool {
            guard fcntl(descriptor, F_GETFD) == -1 && errno == EBADF else { return false }
            let opened = open("/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY)
            if opened >= 0 && opened != descriptor { close(opened) }   // not the lowest free number: leave it
            return true
        }
        let closed = (reserve(0), reserve(1), reserve(2))
        closedAtStart = Set([(0, closed.0), (1, closed.1), (2, closed.2)].filter(\.1).map { Int32($0.0) })
        signal(SIGQUIT, SIG_DFL)
        #if os(Linux)
        // glibc's mallopt(M_ARENA_MAX = -8, 1); <malloc.h> is not in the Glibc module.
        if Machine.addressSpaceLeft() != nil, let mallopt = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") {
            _ = unsafeBitCast(mallopt, to: (@convention(c) (Int32, Int32) -> Int32).self)(-8, 1)
        }
        #endif
        return closed
    }
}

/// Where standard input comes from. Passed in, so tests can feed it.
public protocol InputSource {
    func readAll() throws -> String
    /// The bytes as they are (matrix files: no UTF-8 check needed, numbers are ASCII).
    func readAllBytes() throws -> [UInt8]
    /// The bytes piece by piece as they come (`run` as a filter), and the size when it is
    /// known in advance (a regular file).
    func pieces() throws -> InputPieces
    /// The size when it is known without reading (a regular file; fixed text), else nil.
    func knownSize() -> Int?
}

extension InputSource {
    public func readAllBytes() throws -> [UInt8] { Array(try readAll().utf8) }
    public func knownSize() -> Int? { (try? readAll()).map { $0.utf8.count } }
    /// Pieces of the bytes read whole (fixed text in tests): the size is known.
    public func pieces() throws -> InputPieces {
        let bytes = try readAllBytes()
        var offset = 0
        return InputPieces(size: bytes.count) { buffer in
            let count = min(buffer.count, bytes.count - offset)
            bytes[offset..<(offset + count)].withUnsafeBytes { buffer.copyMemory(from: $0) }
            offset += count
            return count
        }
    }
}

/// An input read piece by piece: `read` fills a buffer (0 at the end); `size` is known for a
/// regular file; a descriptor opened for it is closed when this goes away.
public final class InputPieces {
    public let size: Int?
    let read: MatrixStream.Read
    private let descriptor: Int32?

    public init(size: Int?, descriptor: Int32? = nil, read: @escaping MatrixStream.Read) {
        (self.size, self.descriptor, self.read) = (size, descriptor, read)
    }

    /// Reads descriptor `fd` (closed at the end when `owned`); errors name `name`.
    init(descriptor fd: Int32, name: String, owned: Bool) throws {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw InputError.unreadable(path: name, reason: FileReader.describeErrno()) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw InputError.unreadable(path: name, reason: "it is a directory") }
        size = (info.st_mode & S_IFMT) == S_IFREG ? Int(info.st_size) : nil
        descriptor = owned ? fd : nil
        read = { buffer in
            while true {
                let got = systemRead(fd, buffer.baseAddress, buffer.count)
                if got >= 0 { return got }
                if errno != EINTR { throw InputError.unreadable(path: name, reason: FileReader.describeErrno()) }
            }
        }
    }

    deinit { if let descriptor { close(descriptor) } }
}

/// Standard input of the process.
public struct StandardInput: InputSource {
    /// The process was started with standard input closed (`<&-`).
    let closed: Bool
    public init(closed: Bool = false) { self.closed = closed }
    public func readAll() throws -> String {
        try FileReader.text(try readAllBytes(), name: "<stdin>")
    }
    public func readAllBytes() throws -> [UInt8] {
        guard !closed else { throw InputError.unreadable(path: "<stdin>", reason: "standard input is closed") }
        return try FileReader.readAll(descriptor: 0, name: "<stdin>", limit: FileReader.streamLimit())
    }
    public func knownSize() -> Int? {
        var info = stat()
        guard !closed, fstat(0, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(info.st_size)
    }
    public func pieces() throws -> InputPieces {
        guard !closed else { throw InputError.unreadable(path: "<stdin>", reason: "standard input is closed") }
        return try InputPieces(descriptor: 0, name: "<stdin>", owned: false)
    }
}

/// Fixed text as standard input (tests).
public struct StringInput: InputSource {
    let text: String
    public init(_ text: String) { self.text = text }
    public func readAll() throws -> String { text }
}

/// A file that cannot be read, or stdin asked for twice.
public enum InputError: UserFacingError, Equatable {
    case unreadable(path: String, reason: String)
    case stdinTwice
    case notText(path: String)
    /// More than `limit` bytes from a source whose size is not known in advance.
    case tooLarge(path: String, limit: Int)
    /// A regular file that could not be mapped (an address-space limit) and would not fit if read.
    case cannotHold(path: String, bytes: Int, available: Int)

    public var message: String {
        switch self {
        case let .unreadable(path, reason): return "cannot read '\(path)': \(reason)"
        case .stdinTwice: return "standard input ('-') can be read only once per command"
        case let .notText(path): return "'\(path)' is not UTF-8 text"
        case let .tooLarge(path, limit):
            return "\(path) holds more than \(limit >> 20) MiB, the most convcalc keeps in memory from a pipe or device (2 GiB at most, a quarter of the memory available); give a regular file instead"
        case let .cannotHold(path, bytes, available):
            return "'\(path)' (\(bytes >> 20) MiB) cannot be mapped into memory and does not fit in the \(available >> 20) MiB convcalc may use (ulimit -v, the control group, or MemAvailable); give a smaller input"
        }
    }
    /// Reading standard input twice is how the command was written (usage, as `run - -` is).
    public var category: ErrorCategory { self == .stdinTwice ? .usage : .data }
}

/// The bytes of an input: a read buffer, or a file mapped into memory (unmapped at the end).
final class FileBytes {
    private let array: [UInt8]
    private let mapped: UnsafeRawPointer?
    let count: Int

    init(_ array: [UInt8]) {
        self.array = array
        mapped = nil
        count = array.count
    }

    init(mapped: UnsafeRawPointer, count: Int) {
        array = []
        self.mapped = mapped
        self.count = count
    }

    deinit {
        if let mapped { munmap(UnsafeMutableRawPointer(mutating: mapped), count) }
    }

    func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        if let mapped { return try body(UnsafeBufferPointer(start: mapped.assumingMemoryBound(to: UInt8.self), count: count)) }
        return try array.withUnsafeBufferPointer(body)
    }
}

/// Reads whole files through the C library (no Foundation on the start-up path).
enum FileReader {
    static func read(path: String) throws -> String {
        try text(try readBytes(path: path), name: path)
    }

    static func readBytes(path: String) throws -> [UInt8] {
        try withOpenFile(path) { fd, size in
            try readAll(descriptor: fd, name: path, expected: size ?? 0, limit: size == nil ? streamLimit() : Int.max)
        }
    }

    /// The most read from a source of unknown size (standard input, a pipe, a FIFO, a device
    /// such as /dev/zero), all of it held in memory: 2 GiB, and a quarter of the memory
    /// convcalc may use.
    static func streamLimit() -> Int {
        min(1 << 31, (Machine.availableMemory() ?? Int.max) / 4)
    }

    /// A regular file of 1 MiB or more mapped into memory (no copy); smaller files, pipes,
    /// devices, and files that cannot be mapped are read. `populate`: read the pages in at
    /// once (a matrix is read whole); off, pages are read when touched (an ONNX model's
    /// weights never are).
    static func map(path: String, populate: Bool = true) throws -> FileBytes {
        try withOpenFile(path) { fd, size in
            if let size, size >= 1 << 20,
               let address = mmap(nil, size, PROT_READ, MAP_PRIVATE | (populate ? FileReader.populate : 0), fd, 0), address != MAP_FAILED {
                return FileBytes(mapped: UnsafeRawPointer(address), count: size)
            }
            if let size, let available = Machine.availableMemory(), size > available / 2 {
                // Mapping failed (an address-space limit) and a copy would not fit either.
                throw InputError.cannotHold(path: path, bytes: size, available: available)
            }
            return FileBytes(try readAll(descriptor: fd, name: path, expected: size ?? 0, limit: size == nil ? streamLimit() : Int.max))
        }
    }

    /// Linux's MAP_POPULATE (read the mapped file in at once, not page by page); 0 elsewhere.
    #if os(Linux)
    static let populate = MAP_POPULATE
    #else
    static let populate: Int32 = 0
    #endif

    /// Opens `path` for reading (a directory is an error) and passes the descriptor and, for
    /// a regular file, its size; closes it afterwards.
    static func withOpenFile<R>(_ path: String, _ body: (Int32, Int?) throws -> R) throws -> R {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw InputError.unreadable(path: path, reason: describeErrno()) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw InputError.unreadable(path: path, reason: describeErrno()) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw InputError.unreadable(path: path, reason: "it is a directory") }
        return try body(fd, (info.st_mode & S_IFMT) == S_IFREG ? Int(info.st_size) : nil)
    }

    static func text(_ bytes: [UInt8], name: String) throws -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw InputError.notText(path: name) }
        return text
    }

    /// Reads to the end. `expected` (a regular file's size) lets the buffer be allocated once
    /// and filled by the kernel directly.
    static func readAll(descriptor: Int32, name: String, expected: Int = 0, limit: Int = Int.max) throws -> [UInt8] {
        var result: [UInt8] = []
        var capacity = max(expected + 1, 1 << 16)
        while true {
            var failure: Int32 = 0
            var atEnd = false
            let chunk = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                count = 0
                while count < buffer.count {
                    let got = systemRead(descriptor, buffer.baseAddress! + count, buffer.count - count)
                    if got < 0 {
                        if errno == EINTR { continue }
                        failure = errno
                        return
                    }
                    if got == 0 {
                        atEnd = true
                        return
                    }
                    count += got
                }
            }
            if failure != 0 {
                errno = failure
                throw InputError.unreadable(path: name, reason: describeErrno())
            }
            if result.isEmpty { result = chunk } else { result += chunk }
            if result.count > limit { throw InputError.tooLarge(path: name, limit: limit) }
            if atEnd { return result }
            capacity = min(max(capacity, result.count), max(limit - result.count + 1, 1))   // doubles what has been read
        }
    }

    static func describeErrno() -> String {
        switch errno {
        case ENOENT: return "no such file"
        case EACCES: return "permission denied"
        case EISDIR: return "it is a directory"
        default: return String(cString: strerror(errno))
        }
    }
}

/// The C library's write(2) and read(2), named apart from the sinks' own `write`.
private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(descriptor, buffer, count)
    #elseif canImport(Musl)
    return Musl.write(descriptor, buffer, count)
    #else
    return Darwin.write(descriptor, buffer, count)
    #endif
}

private func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.read(descriptor, buffer, count)
    #elseif canImport(Musl)
    return Musl.read(descriptor, buffer, count)
    #else
    return Darwin.read(descriptor, buffer, count)
    #endif
}
