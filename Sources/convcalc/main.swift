#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ConvCalcCLI

let closed = ProcessSetup.prepare()
let status = run(Array(CommandLine.arguments.dropFirst()),
                 stdin: StandardInput(closed: closed.input),
                 stdout: FileDescriptorSink(descriptor: 1, closed: closed.output),
                 stderr: FileDescriptorSink(descriptor: 2, closed: closed.error),
                 environment: Terminal.processEnvironment())
exit(status)
