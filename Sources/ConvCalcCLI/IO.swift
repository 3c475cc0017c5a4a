#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ConvCalcCore

/// Where text output goes. Passed in, so tests capture it and run in parallel.
public protocol TextSink: AnyObject {
    func write(_ text: String)
    /// Writes UTF-8 bytes (large outputs, without building a String).
    func write(bytes: UnsafeBufferPointer<UInt8>)
    /// The terminal's width when this sink is a terminal, else nil (then output is laid out
    /// for 80 columns, so files and tests do not depend on the terminal).
    var terminalWidth: Int? { get }
}

extension TextSink {
    public var terminalWidth: Int? { nil }
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
    public init(descriptor: Int32) { self.descriptor = descriptor }
    public static let standardOutput = FileDescriptorSink(descriptor: 1)

    public var terminalWidth: Int? {
        guard isatty(descriptor) == 1 else { return nil }
        var size = winsize()
        guard ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }
    public static let standardError = FileDescriptorSink(descriptor: 2)

    public func write(_ text: String) {
        var text = text
        _ = text.withUTF8 { FileDescriptorSink.writeAll($0, to: descriptor) }   // a closed pipe: nothing more can be said
    }

    public func write(bytes: UnsafeBufferPointer<UInt8>) {
        _ = FileDescriptorSink.writeAll(bytes, to: descriptor)
    }

    /// Writes all of `buffer` to `descriptor`, retrying after interruptions; false on an error
    /// (then `errno` says which).
    static func writeAll(_ buffer: UnsafeBufferPointer<UInt8>, to descriptor: Int32) -> Bool {
        var offset = 0
        while offset < buffer.count {
            let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }
}

/// Where standard input comes from. Passed in, so tests can feed it.
public protocol InputSource {
    func readAll() throws -> String
    /// The bytes as they are (matrix files: no UTF-8 check needed, numbers are ASCII).
    func readAllBytes() throws -> [UInt8]
}

extension InputSource {
    public func readAllBytes() throws -> [UInt8] { Array(try readAll().utf8) }
}

/// Standard input of the process.
public struct StandardInput: InputSource {
    public init() {}
    public func readAll() throws -> String {
        try FileReader.text(try readAllBytes(), name: "<stdin>")
    }
    public func readAllBytes() throws -> [UInt8] {
        // Standard input is held in memory: at most 2 GiB, and a quarter of the memory available.
        let limit = min(1 << 31, (Machine.availableMemory() ?? Int.max) / 4)
        return try FileReader.readAll(descriptor: 0, name: "<stdin>", limit: limit)
    }
}

/// Fixed text as standard input (tests).
public struct StringInput: InputSource {
    let text: String
    public init(_ text: String) { self.text = text }
    public func readAll() throws -> String { text }
}

/// A file that cannot be read, or stdin asked for twice.
public enum InputError: UserFacingError {
    case unreadable(path: String, reason: String)
    case stdinTwice
    case notText(path: String)
    case tooLarge(path: String, limit: Int)

    public var message: String {
        switch self {
        case let .unreadable(path, reason): return "cannot read '\(path)': \(reason)"
        case .stdinTwice: return "standard input ('-') can be read only once per command"
        case let .notText(path): return "'\(path)' is not UTF-8 text"
        case let .tooLarge(path, limit):
            return "\(path) holds more than \(limit >> 20) MiB, the most convcalc keeps in memory from a pipe (2 GiB at most, a quarter of the memory available); give a file instead"
        }
    }
    public var category: ErrorCategory { .data }
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
        try withOpenFile(path) { fd, size in try readAll(descriptor: fd, name: path, expected: size ?? 0) }
    }

    /// A regular file of 1 MiB or more mapped into memory (no copy); smaller files, pipes,
    /// devices, and files that cannot be mapped are read.
    static func map(path: String) throws -> FileBytes {
        try withOpenFile(path) { fd, size in
            if let size, size >= 1 << 20,
               let address = mmap(nil, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0), address != MAP_FAILED {
                return FileBytes(mapped: UnsafeRawPointer(address), count: size)
            }
            return FileBytes(try readAll(descriptor: fd, name: path, expected: size ?? 0))
        }
    }

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
                    let got = Glibc.read(descriptor, buffer.baseAddress! + count, buffer.count - count)
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
