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
    /// The terminal's width when this sink is a terminal, else nil (then output is laid out
    /// for 80 columns, so files and tests do not depend on the terminal).
    var terminalWidth: Int? { get }
}

extension TextSink {
    public var terminalWidth: Int? { nil }
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
        _ = FileDescriptorSink.writeAll(text, to: descriptor)   // a closed pipe: nothing more can be said
    }

    /// Writes all of `text` to `descriptor`, retrying after interruptions; false on an error
    /// (then `errno` says which).
    static func writeAll(_ text: String, to descriptor: Int32) -> Bool {
        var text = text
        return text.withUTF8 { buffer in
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
}

/// Where standard input comes from. Passed in, so tests can feed it.
public protocol InputSource {
    func readAll() throws -> String
}

/// Standard input of the process.
public struct StandardInput: InputSource {
    public init() {}
    public func readAll() throws -> String {
        try FileReader.readAll(descriptor: 0, name: "<stdin>")
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

    public var message: String {
        switch self {
        case let .unreadable(path, reason): return "cannot read '\(path)': \(reason)"
        case .stdinTwice: return "standard input ('-') can be read only once per command"
        case let .notText(path): return "'\(path)' is not UTF-8 text"
        }
    }
    public var category: ErrorCategory { .data }
}

/// Reads whole files through the C library (no Foundation on the start-up path).
enum FileReader {
    static func read(path: String) throws -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw InputError.unreadable(path: path, reason: describeErrno()) }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            throw InputError.unreadable(path: path, reason: "it is a directory")
        }
        return try readAll(descriptor: fd, name: path)
    }

    static func readAll(descriptor: Int32, name: String) throws -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw InputError.unreadable(path: name, reason: describeErrno())
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw InputError.notText(path: name) }
        return text
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
