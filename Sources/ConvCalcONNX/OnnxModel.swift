/// The parts of an ONNX model convcalc reads (onnx.proto: ModelProto, GraphProto, NodeProto,
/// AttributeProto, TensorProto, ValueInfoProto), decoded from the wire format. Field numbers
/// are onnx.proto's (see Tests/fixtures/onnx_notes.md); other fields are skipped.
///
/// Tensor data is never loaded: a weight is its name, element type and dims. Only small
/// integer and float constants (shapes, axes, pads, Clip bounds, Resize scales: at most
/// `OnnxTensor.smallLimit` elements) keep their values, from `raw_data` or the typed fields.
public struct OnnxModel: Sendable {
    public var irVersion: Int
    /// The producer, e.g. `pytorch 2.15.0`.
    public var producer: String
    /// The opset of the default domain (`""` or `ai.onnx`); nil when the file imports none.
    public var opset: Int?
    /// Every imported domain and its version.
    public var opsets: [(domain: String, version: Int)]
    public var graph: OnnxGraph

    /// Decodes a model from `bytes` (the whole file).
    /// - Throws: `OnnxError` for data that is not an ONNX model, with the byte offset.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> OnnxModel {
        do {
            return try decodeModel(ProtobufReader(bytes))
        } catch let error as ProtobufError {
            throw OnnxError.malformed(offset: error.offset, problem: error.problem)
        }
    }

    private static func decodeModel(_ reader: ProtobufReader) throws -> OnnxModel {
        var reader = reader
        var irVersion: Int?
        var producer = "", producerVersion = ""
        var opsets: [(String, Int)] = []
        var graph: OnnxGraph?
        while let field = try reader.next() {
            switch field.number {
            case 1:
                try ProtobufReader.expect(field, .varint, name: "ModelProto.ir_version")
                irVersion = Int(truncatingIfNeeded: field.bits)
            case 2:
                try ProtobufReader.expect(field, .lengthDelimited, name: "ModelProto.producer_name")
                producer = reader.string(field)
            case 3:
                try ProtobufReader.expect(field, .lengthDelimited, name: "ModelProto.producer_version")
                producerVersion = reader.string(field)
            case 7:
                try ProtobufReader.expect(field, .lengthDelimited, name: "ModelProto.graph")
                graph = try OnnxGraph.decode(reader.nested(field))
            case 8:
                try ProtobufReader.expect(field, .lengthDelimited, name: "ModelProto.opset_import")
                opsets.append(try decodeOpset(reader.nested(field)))
            default: break
            }
        }
        guard let graph, let irVersion else {
            throw OnnxError.notModel(missing: graph == nil ? "a graph (ModelProto field 7)" : "an IR version (ModelProto field 1)")
        }
        let opset = opsets.first { $0.0 == "" || $0.0 == "ai.onnx" }?.1
        let name = [producer, producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        return OnnxModel(irVersion: irVersion, producer: name, opset: opset, opsets: opsets.map { (domain: $0.0, version: $0.1) }, graph: graph)
    }

    private static func decodeOpset(_ reader: ProtobufReader) throws -> (String, Int) {
        var reader = reader
        var domain = "", version = 0
        while let field = try reader.next() {
            switch field.number {
            case 1:
                try ProtobufReader.expect(field, .lengthDelimited, name: "OperatorSetIdProto.domain")
                domain = reader.string(field)
            case 2:
                try ProtobufReader.expect(field, .varint, name: "OperatorSetIdProto.version")
                version = Int(truncatingIfNeeded: field.bits)
            default: break
            }
        }
        return (domain, version)
    }
}

/// A graph: nodes (in the order written), initializers (weights and constants), inputs and
/// outputs with their types, and the shapes an exporter recorded (`value_info`).
public struct OnnxGraph: Sendable {
    public var name = ""
    public var nodes: [OnnxNode] = []
    public var initializers: [String: OnnxTensor] = [:]
    public var inputs: [OnnxValueInfo] = []
    public var outputs: [OnnxValueInfo] = []
    public var valueInfo: [OnnxValueInfo] = []

    static func decode(_ reader: ProtobufReader) throws -> OnnxGraph {
        var reader = reader
        var graph = OnnxGraph()
        while let field = try reader.next() {
            switch field.number {
            case 1:
                try ProtobufReader.expect(field, .lengthDelimited, name: "GraphProto.node")
                graph.nodes.append(try OnnxNode.decode(reader.nested(field), offset: field.offset))
            case 2:
                try ProtobufReader.expect(field, .lengthDelimited, name: "GraphProto.name")
                graph.name = reader.string(field)
            case 5:
                try ProtobufReader.expect(field, .lengthDelimited, name: "GraphProto.initializer")
                let tensor = try OnnxTensor.decode(reader.nested(field))
                graph.initializers[tensor.name] = tensor
            case 11, 12, 13:
                try ProtobufReader.expect(field, .lengthDelimited, name: "GraphProto.input/output/value_info")
                let info = try OnnxValueInfo.decode(reader.nested(field))
                if field.number == 11 { graph.inputs.append(info) } else if field.number == 12 { graph.outputs.append(info) } else { graph.valueInfo.append(info) }
            default: break
            }
        }
        return graph
    }
}

/// One operator application.
public struct OnnxNode: Sendable {
    public var name = ""
    public var opType = ""
    public var domain = ""
    /// Input value names; `""` is an omitted optional input.
    public var inputs: [String] = []
    public var outputs: [String] = []
    public var attributes: [String: OnnxAttribute] = [:]
    /// Where the node starts in the file, for messages about unnamed nodes.
    public var offset = 0

    /// The node as messages name it: its name, else its op type and first output.
    public var label: String {
        name.isEmpty ? "\(opType) → \(outputs.first ?? "?")" : name
    }

    static func decode(_ reader: ProtobufReader, offset: Int) throws -> OnnxNode {
        var reader = reader
        var node = OnnxNode(offset: offset)
        while let field = try reader.next() {
            guard [1, 2, 3, 4, 5, 7].contains(field.number) else { continue }
            try ProtobufReader.expect(field, .lengthDelimited, name: "NodeProto field \(field.number)")
            switch field.number {
            case 1: node.inputs.append(reader.string(field))
            case 2: node.outputs.append(reader.string(field))
            case 3: node.name = reader.string(field)
            case 4: node.opType = reader.string(field)
            case 5:
                let (name, value) = try OnnxAttribute.decode(reader.nested(field))
                node.attributes[name] = value
            default: node.domain = reader.string(field)
            }
        }
        return node
    }
}

/// An attribute's value (AttributeProto: `f` 2, `i` 3, `s` 4, `t` 5, `floats` 7, `ints` 8).
public enum OnnxAttribute: Sendable, Equatable {
    case int(Int)
    case ints([Int])
    case float(Float)
    case floats([Float])
    case string(String)
    case tensor(OnnxTensor)
    /// A graph, a list of strings or tensors, a type: nothing convcalc reads.
    case other

    static func decode(_ reader: ProtobufReader) throws -> (String, OnnxAttribute) {
        var reader = reader
        var name = ""
        var value = OnnxAttribute.other
        var ints: [Int] = [], floats: [Float] = []
        var declared: Int?
        while let field = try reader.next() {
            switch field.number {
            case 1:
                try ProtobufReader.expect(field, .lengthDelimited, name: "AttributeProto.name")
                name = reader.string(field)
            case 2:
                try ProtobufReader.expect(field, .fixed32, name: "AttributeProto.f")
                value = .float(Float(bitPattern: UInt32(truncatingIfNeeded: field.bits)))
            case 3:
                try ProtobufReader.expect(field, .varint, name: "AttributeProto.i")
                value = .int(Int(Int64(bitPattern: field.bits)))
            case 4:
                try ProtobufReader.expect(field, .lengthDelimited, name: "AttributeProto.s")
                value = .string(reader.string(field))
            case 5:
                try ProtobufReader.expect(field, .lengthDelimited, name: "AttributeProto.t")
                value = .tensor(try OnnxTensor.decode(reader.nested(field)))
            case 7: floats += try reader.floats(field)
            case 8: ints += try reader.integers(field).map { Int($0) }
            case 20:
                try ProtobufReader.expect(field, .varint, name: "AttributeProto.type")
                declared = Int(truncatingIfNeeded: field.bits)
            default: break
            }
        }
        // An empty list has no elements on the wire: its declared type (INTS 7, FLOATS 6) says which.
        if !ints.isEmpty || declared == 7 { value = .ints(ints) }
        if !floats.isEmpty || declared == 6 { value = .floats(floats) }
        return (name, value)
    }
}

/// A tensor's name, element type and dims; its values only when it is a small number constant.
public struct OnnxTensor: Sendable, Equatable {
    /// The most elements whose values are read (shapes, axes, pads, scales; never weights).
    public static let smallLimit = 64

    public var name = ""
    /// TensorProto.DataType: 1 float, 7 int64, 6 int32, 10 float16, 11 double, 16 bfloat16, …
    public var dataType = 0
    public var dims: [Int] = []
    /// The values of a small constant, as doubles (integers are exact below 2^53).
    public var values: [Double]?

    /// The number of elements (the product of dims; 1 for a scalar); nil on overflow.
    public var elementCount: Int? {
        var count = 1
        for dim in dims {
            guard dim >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            if overflow { return nil }
            count = product
        }
        return count
    }

    /// `value` as an integer, clamped to ±2^62 (INT64_MIN and INT64_MAX mean "to the end" in
    /// slices); nil for NaN and for a fraction.
    public static func clampedInteger(_ value: Double) -> Int? {
        guard !value.isNaN, value == value.rounded() else { return nil }
        return value >= 4e18 ? Int.max / 2 : value <= -4e18 ? Int.min / 2 : Int(value)
    }

    /// The values as integers, when every one is a whole number.
    public var integers: [Int]? {
        values?.allSatisfy({ $0 == $0.rounded() && abs($0) < 9.0e15 }) == true ? values!.map { Int($0) } : nil
    }

    static func decode(_ reader: ProtobufReader) throws -> OnnxTensor {
        var reader = reader
        var tensor = OnnxTensor()
        var typed: [Double] = []
        var raw: ProtobufReader.Field?
        while let field = try reader.next() {
            switch field.number {
            case 1: tensor.dims += try reader.integers(field).map { Int($0) }
            case 2:
                try ProtobufReader.expect(field, .varint, name: "TensorProto.data_type")
                tensor.dataType = Int(truncatingIfNeeded: field.bits)
            case 4, 5, 7, 10:
                // Typed values, read only while few (a weight's float_data is skipped unread).
                guard typed.count <= smallLimit, field.range.count <= smallLimit * 10 else { continue }
                switch field.number {
                case 4: typed += try reader.floats(field).map(Double.init)
                case 10: typed += try reader.doubles(field)
                default: typed += try reader.integers(field).map { Double($0) }
                }
            case 8:
                try ProtobufReader.expect(field, .lengthDelimited, name: "TensorProto.name")
                tensor.name = reader.string(field)
            case 9:
                try ProtobufReader.expect(field, .lengthDelimited, name: "TensorProto.raw_data")
                raw = field
            default: break
            }
        }
        guard let count = tensor.elementCount, count <= smallLimit else { return tensor }
        if let raw, let values = rawValues(reader, raw, dataType: tensor.dataType), values.count == count {
            tensor.values = values
        } else if typed.count == count {
            tensor.values = typed
        }
        return tensor
    }

    /// `raw_data` of a small tensor of float, double, int32 or int64 as doubles (little-endian).
    private static func rawValues(_ reader: ProtobufReader, _ field: ProtobufReader.Field, dataType: Int) -> [Double]? {
        switch dataType {
        case 1: return reader.littleEndianWords(field, width: 4, limit: smallLimit)?.map { Double(Float(bitPattern: UInt32($0))) }
        case 11: return reader.littleEndianWords(field, width: 8, limit: smallLimit)?.map { Double(bitPattern: $0) }
        case 6: return reader.littleEndianWords(field, width: 4, limit: smallLimit)?.map { Double(Int32(bitPattern: UInt32($0))) }
        case 7: return reader.littleEndianWords(field, width: 8, limit: smallLimit)?.map { Double(Int64(bitPattern: $0)) }
        default: return nil
        }
    }
}

/// A graph input's or output's name, element type and shape.
public struct OnnxValueInfo: Sendable {
    public enum Dimension: Sendable, Equatable {
        case value(Int)
        /// A symbolic dimension (`batch`, `height`).
        case parameter(String)
        case unknown
    }

    public var name = ""
    public var elementType = 0
    /// nil when the rank is unknown.
    public var shape: [Dimension]?

    static func decode(_ reader: ProtobufReader) throws -> OnnxValueInfo {
        var reader = reader
        var info = OnnxValueInfo()
        while let field = try reader.next() {
            switch field.number {
            case 1:
                try ProtobufReader.expect(field, .lengthDelimited, name: "ValueInfoProto.name")
                info.name = reader.string(field)
            case 2:
                try ProtobufReader.expect(field, .lengthDelimited, name: "ValueInfoProto.type")
                try decodeType(reader.nested(field), into: &info)
            default: break
            }
        }
        return info
    }

    /// TypeProto.tensor_type (1) → elem_type (1), shape (2) → dim (1) → dim_value (1) / dim_param (2).
    private static func decodeType(_ reader: ProtobufReader, into info: inout OnnxValueInfo) throws {
        var reader = reader
        while let field = try reader.next() {
            guard field.number == 1, field.wireType == .lengthDelimited else { continue }
            var tensor = reader.nested(field)
            while let part = try tensor.next() {
                if part.number == 1, part.wireType == .varint { info.elementType = Int(truncatingIfNeeded: part.bits) }
                guard part.number == 2, part.wireType == .lengthDelimited else { continue }
                var shape = tensor.nested(part)
                var dims: [Dimension] = []
                while let dim = try shape.next() {
                    guard dim.number == 1, dim.wireType == .lengthDelimited else { continue }
                    dims.append(try decodeDimension(shape.nested(dim)))
                }
                info.shape = dims
            }
        }
    }

    private static func decodeDimension(_ reader: ProtobufReader) throws -> Dimension {
        var reader = reader
        var dimension = Dimension.unknown
        while let field = try reader.next() {
            if field.number == 1, field.wireType == .varint { dimension = .value(Int(Int64(bitPattern: field.bits))) }
            if field.number == 2, field.wireType == .lengthDelimited { dimension = .parameter(reader.string(field)) }
        }
        return dimension
    }
}
