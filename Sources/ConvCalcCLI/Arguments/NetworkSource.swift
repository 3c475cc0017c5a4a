import ConvCalcCore
import ConvCalcONNX

/// What `-f FILE` holds: a network text file, or an ONNX model converted to the same words.
///
/// A model is recognised by its content, not its name: protocol-buffer data that starts with
/// ModelProto's field 1 (`ir_version`, the byte 0x08, which no text file starts with), or any
/// file named `*.onnx`. A file that is neither UTF-8 text nor a model says both.
enum NetworkSource {
    case text(String)
    case model(OnnxNetwork)

    /// Reads `path` (`-`: stdin) and converts a model with `--in`/`--cin` applied.
    static func read(_ path: String, options: StackOptions, context: InputContext) throws -> NetworkSource {
        let name = path == "-" ? "<stdin>" : path
        let bytes = try context.readBytes(path, populate: false)
        return try bytes.withBytes { buffer -> NetworkSource in
            let raw = UnsafeRawBufferPointer(buffer)
            let named = name.lowercased().hasSuffix(".onnx")
            if !named && buffer.first != 0x08 {
                guard let text = String(validating: buffer, as: UTF8.self) else {
                    do {
                        return .model(try convert(raw, name: name, options: options))
                    } catch let error as LocatedError {
                        throw LocatedError(location: name, underlying: NotNetworkError(reason: error.underlying.message))
                    }
                }
                return .text(text)
            }
            return .model(try convert(raw, name: name, options: options))
        }
    }

    private static func convert(_ bytes: UnsafeRawBufferPointer, name: String, options: StackOptions) throws -> OnnxNetwork {
        do {
            let model = try OnnxModel.decode(bytes)
            return try OnnxNetwork.convert(model, file: name, inputSize: options.inputSize, inputChannels: options.inputChannels)
        } catch let error as OnnxError {
            throw LocatedError(location: name, underlying: error)
        }
    }

    /// A binary file that is no ONNX model either.
    struct NotNetworkError: UserFacingError {
        var reason: String
        var message: String { "neither a network text file (it is not UTF-8 text) nor an ONNX model (\(reason))" }
        var category: ErrorCategory { .data }
    }
}

extension OnnxNetwork {
    /// The model's notes for stderr: what `--in` replaced, what was counted as zero.
    func notices(given options: StackOptions) -> [StackNotice] {
        var notices: [StackNotice] = []
        if let given = options.inputSize, let declared = declaredInputSize, declared != inputSize {
            notices.append(.replacesModelInput(given: "\(given)", model: declared.map(String.init).joined(separator: "x")))
        }
        return notices + warnings.map { StackNotice.model($0) }
    }
}
