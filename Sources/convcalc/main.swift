#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ConvCalcCLI

let status = run(Array(CommandLine.arguments.dropFirst()),
                 stdin: StandardInput(),
                 stdout: FileDescriptorSink.standardOutput,
                 stderr: FileDescriptorSink.standardError)
exit(status)
