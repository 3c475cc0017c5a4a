/// The protocol-buffer wire format, read directly from a file's bytes (no generated code, no
/// package): <https://protobuf.dev/programming-guides/encoding/>.
///
/// A message is a sequence of fields, each a key — a varint `(number << 3) | wireType` — and
/// a value: wire type 0 a varint (up to 10 bytes, 7 bits each, least significant first),
/// 1 eight bytes little-endian, 2 a varint length and that many bytes (strings, bytes, nested
/// messages, packed repeated numbers), 5 four bytes little-endian. Groups (3, 4) are
/// deprecated and rejected. Unknown fields are skipped by their wire type, so newer ONNX files
/// read.
///
/// Every read is checked against the end of its message: a truncated or corrupted file is a
/// `ProtobufError` with the byte offset, never a read past the buffer. Nothing is copied:
/// large `bytes` fields (weights) are skipped without touching their pages.
public struct ProtobufReader {
    public enum WireType: UInt8 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
    }

    /// One field: its number, wire type, where its value starts, and the value's byte range
    /// (length-delimited) or the number (varint and fixed).
    public struct Field {
        public var number: Int
        public var wireType: WireType
        /// The key's offset in the file, for messages.
        public var offset: Int
        /// A varint's or fixed field's bits.
        public var bits: UInt64 = 0
        /// A length-delimited field's bytes (offsets into the file).
        public var range: Range<Int> = 0..<0
    }

    private let bytes: UnsafeRawBufferPointer
    private(set) var position: Int
    private let end: Int

    /// A reader of `range` of `bytes` (the whole file, or one nested message).
    public init(_ bytes: UnsafeRawBufferPointer, range: Range<Int>? = nil) {
        self.bytes = bytes
        let range = range ?? 0..<bytes.count
        position = range.lowerBound
        end = range.upperBound
    }

    /// A reader of a length-delimited field's bytes.
    public func nested(_ field: Field) -> ProtobufReader {
        ProtobufReader(bytes, range: field.range)
    }

    /// The next field, nil at the end of the message.
    public mutating func next() throws -> Field? {
        guard position < end else { return nil }
        let offset = position
        let key = try varint()
        guard key >> 3 >= 1, key >> 3 <= UInt64(Int32.max) else { throw ProtobufError.badFieldNumber(offset: offset) }
        guard let wireType = WireType(rawValue: UInt8(key & 7)) else {
            throw ProtobufError.badWireType(offset: offset, wireType: Int(key & 7))
        }
        var field = Field(number: Int(key >> 3), wireType: wireType, offset: offset)
        switch wireType {
        case .varint: field.bits = try varint()
        case .fixed64: field.bits = try fixed(8)
        case .fixed32: field.bits = try fixed(4)
        case .lengthDelimited:
            let length = try varint()
            guard length <= UInt64(end - position) else {
                throw ProtobufError.truncated(offset: offset, needed: length, available: end - position)
            }
            field.range = position..<(position + Int(length))
            position += Int(length)
        }
        return field
    }

    /// A varint (at most 10 bytes; the tenth may hold only the top bit).
    mutating func varint() throws -> UInt64 {
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw ProtobufError.truncated(offset: start, needed: 1, available: 0) }
            let byte = bytes[position]
            position += 1
            if shift == 63 && byte > 1 { throw ProtobufError.badVarint(offset: start) }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw ProtobufError.badVarint(offset: start) }
        }
    }

    /// `count` bytes little-endian.
    mutating func fixed(_ count: Int) throws -> UInt64 {
        guard end - position >= count else { throw ProtobufError.truncated(offset: position, needed: UInt64(count), available: end - position) }
        var result: UInt64 = 0
        for i in 0..<count { result |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += count
        return result
    }

    /// A length-delimited field's bytes as UTF-8 text (invalid sequences replaced).
    public func string(_ field: Field) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[field.range]), as: UTF8.self)
    }

    /// The integers of a repeated varint field, packed (one length-delimited field) or not
    /// (this one field's value): protobuf readers must accept both.
    public func integers(_ field: Field) throws -> [Int64] {
        try repeated(field, .varint, { Int64(bitPattern: $0) }) { Int64(bitPattern: try $0.varint()) }
    }

    /// The floats of a repeated float field (fixed32), packed or not.
    public func floats(_ field: Field) throws -> [Float] {
        try repeated(field, .fixed32, { Float(bitPattern: UInt32(truncatingIfNeeded: $0)) }) {
            Float(bitPattern: UInt32(truncatingIfNeeded: try $0.fixed(4)))
        }
    }

    /// The doubles of a repeated double field (fixed64), packed or not.
    public func doubles(_ field: Field) throws -> [Double] {
        try repeated(field, .fixed64, { Double(bitPattern: $0) }) { Double(bitPattern: try $0.fixed(8)) }
    }

    /// A repeated scalar field: one value of `wireType` (unpacked), or a length-delimited run
    /// of them (packed), each read by `next`.
    private func repeated<T>(_ field: Field, _ wireType: WireType, _ single: (UInt64) -> T,
                             _ next: (inout ProtobufReader) throws -> T) throws -> [T] {
        if field.wireType == wireType { return [single(field.bits)] }
        guard field.wireType == .lengthDelimited else {
            throw ProtobufError.unexpectedWireType(offset: field.offset, field: field.number, found: field.wireType)
        }
        var reader = nested(field)
        var values: [T] = []
        while reader.position < reader.end { values.append(try next(&reader)) }
        return values
    }

    /// The bytes of a field as little-endian fixed-width values of `width` bytes, when there
    /// are at most `limit` of them (small constants only: weights are never read).
    public func littleEndianWords(_ field: Field, width: Int, limit: Int) -> [UInt64]? {
        let count = field.range.count
        guard width > 0, count % width == 0, count / width <= limit else { return nil }
        return stride(from: field.range.lowerBound, to: field.range.upperBound, by: width).map { start in
            var value: UInt64 = 0
            for i in 0..<width { value |= UInt64(bytes[start + i]) << (8 * UInt64(i)) }
            return value
        }
    }

    /// Checks that `field` has the wire type its schema gives it.
    public static func expect(_ field: Field, _ wireType: WireType, name: String) throws {
        guard field.wireType == wireType else {
            throw ProtobufError.wrongType(offset: field.offset, field: name, found: field.wireType, expected: wireType)
        }
    }
}

/// A file that is not well-formed protocol-buffer data.
public enum ProtobufError: Error, Equatable {
    case truncated(offset: Int, needed: UInt64, available: Int)
    case badVarint(offset: Int)
    case badWireType(offset: Int, wireType: Int)
    case badFieldNumber(offset: Int)
    case unexpectedWireType(offset: Int, field: Int, found: ProtobufReader.WireType)
    case wrongType(offset: Int, field: String, found: ProtobufReader.WireType, expected: ProtobufReader.WireType)

    /// The byte offset where the problem is.
    public var offset: Int {
        switch self {
        case let .truncated(offset, _, _), let .badVarint(offset), let .badWireType(offset, _), let .badFieldNumber(offset),
             let .unexpectedWireType(offset, _, _), let .wrongType(offset, _, _, _):
            return offset
        }
    }

    /// What is wrong, without the offset.
    public var problem: String {
        switch self {
        case let .truncated(_, needed, available):
            return "a field needs \(needed) more bytes but its message has \(available) (the file is truncated or corrupted)"
        case .badVarint: return "a number runs past 10 bytes (not protocol-buffer data)"
        case let .badWireType(_, wireType): return "wire type \(wireType) is not a protocol-buffer value type (not protocol-buffer data)"
        case .badFieldNumber: return "field number 0 (not protocol-buffer data)"
        case let .unexpectedWireType(_, field, found): return "field \(field) has wire type \(found.rawValue), not a list of numbers"
        case let .wrongType(_, field, found, expected):
            return "\(field) has wire type \(found.rawValue), expected \(expected.rawValue) (\(expected))"
        }
    }
}
