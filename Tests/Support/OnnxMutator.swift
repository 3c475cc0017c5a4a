import Foundation

/// Mutation of ONNX (protocol-buffer) files for the fuzz tests: `Tests/ConvCalcCoreTests/OnnxFuzzTests.swift`
/// (the reader in process) and `Tests/ConvCalcCLITests/FuzzTests.swift` (whole command lines).

// MARK: Where the fields are

/// The protocol-buffer structure of a file, found by reading it as nested messages: every field
/// with its key, value and the length fields that enclose it. A length-delimited payload is taken
/// for a message when it reads as one to its end (a name sometimes does; that only adds targets).
public struct WireMap {
    /// A varint: its offset and byte count.
    public struct Varint {
        public var offset: Int
        public var count: Int
        public var range: Range<Int> { offset..<(offset + count) }
    }

    public struct Field {
        public var number: Int
        public var key: Varint
        /// A varint field's value.
        public var value: Varint?
        /// A length-delimited field's length and payload.
        public var length: Varint?
        public var payload: Range<Int>?
        public var isMessage = false
        /// The whole field, key to end.
        public var range: Range<Int>
        /// The length-delimited fields that enclose this one (indices into `fields`), outermost first.
        public var parents: [Int]
    }

    public private(set) var fields: [Field] = []
    public var keys: [Varint] { fields.map(\.key) }
    public var values: [Varint] { fields.compactMap(\.value) }
    public var lengths: [Varint] { fields.compactMap(\.length) }
    /// Length-delimited fields that are not messages: names, strings, raw bytes.
    public var leaves: [Int] { fields.indices.filter { fields[$0].payload != nil && !fields[$0].isMessage } }

    public init(_ bytes: [UInt8]) {
        walk(bytes, 0..<bytes.count, parents: [])
    }

    private mutating func walk(_ bytes: [UInt8], _ range: Range<Int>, parents: [Int]) {
        guard parents.count < 12, let found = WireMap.fields(bytes, range, parents: parents) else { return }
        if let last = parents.last { fields[last].isMessage = true }
        for field in found {
            fields.append(field)
            if let payload = field.payload, !payload.isEmpty { walk(bytes, payload, parents: parents + [fields.count - 1]) }
        }
    }

    /// The fields of `range` when it reads as a message to its end, else nil.
    static func fields(_ bytes: [UInt8], _ range: Range<Int>, parents: [Int]) -> [Field]? {
        var position = range.lowerBound
        var fields: [Field] = []
        func varint() -> (UInt64, Varint)? {
            let start = position
            var result: UInt64 = 0, shift: UInt64 = 0
            while position < range.upperBound, shift < 64 {
                let byte = bytes[position]
                position += 1
                result |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return (result, Varint(offset: start, count: position - start)) }
                shift += 7
            }
            return nil
        }
        while position < range.upperBound {
            let start = position
            guard let (key, keyAt) = varint(), key >> 3 >= 1, key >> 3 <= UInt64(Int32.max) else { return nil }
            var field = Field(number: Int(key >> 3), key: keyAt, range: start..<start, parents: parents)
            switch key & 7 {
            case 0:
                guard let (_, at) = varint() else { return nil }
                field.value = at
            case 1:
                guard range.upperBound - position >= 8 else { return nil }
                position += 8
            case 5:
                guard range.upperBound - position >= 4 else { return nil }
                position += 4
            case 2:
                guard let (length, at) = varint(), length <= UInt64(range.upperBound - position) else { return nil }
                field.length = at
                field.payload = position..<(position + Int(length))
                position += Int(length)
            default: return nil
            }
            field.range = start..<position
            fields.append(field)
        }
        return fields
    }

    /// `bytes` (the file the map was made of) with `range` replaced by `new`, and the length of
    /// every enclosing message (`parents`) changed to match: still well-formed protocol buffers.
    public func edited(_ bytes: [UInt8], replacing range: Range<Int>, with new: [UInt8], parents: [Int]) -> [UInt8] {
        var out = bytes
        out.replaceSubrange(range, with: new)
        var delta = new.count - range.count
        for index in parents.reversed() {   // innermost first: outer length fields lie before and keep their offsets
            let field = fields[index]
            guard let length = field.length, let payload = field.payload else { continue }
            let encoded = Mutator.encode(UInt64(payload.count + delta))
            out.replaceSubrange(length.range, with: encoded)
            delta += encoded.count - length.count
        }
        return out
    }
}

/// Damage to a file's bytes, logged in words (with offsets) for the report. Raw damage (bits,
/// bytes, cuts, insertions) mostly breaks the encoding; structured damage (a number, a name, a
/// whole field removed, duplicated or moved, the enclosing lengths fixed) keeps it well-formed and
/// reaches the converter.
public struct Mutator {
    public var bytes: [UInt8]
    public let map: WireMap
    public var random: SeededGenerator
    /// What was done, one entry a mutation, with offsets and bytes.
    public var log: [String] = []
    /// True while `bytes` is still the file the map describes (structured edits need it).
    public var pristine = true

    public init(bytes: [UInt8], map: WireMap, random: SeededGenerator) {
        self.bytes = bytes
        self.map = map
        self.random = random
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &random) < p }
    mutating func offset() -> Int { bytes.isEmpty ? 0 : int(0...bytes.count - 1) }

    public static func encode(_ value: UInt64) -> [UInt8] {
        var value = value, out: [UInt8] = []
        repeat {
            out.append(UInt8(value & 0x7F) | (value > 0x7F ? 0x80 : 0))
            value >>= 7
        } while value != 0
        return out
    }

    public static func hex(_ bytes: some Collection<UInt8>) -> String {
        bytes.prefix(24).map { String(format: "%02x", $0) }.joined(separator: " ") + (bytes.count > 24 ? " …(\(bytes.count) bytes)" : "")
    }

    static func text(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: Array(bytes.prefix(60)), as: UTF8.self).debugDescription
    }

    /// A varint of the map that still lies inside the (possibly already changed) bytes.
    mutating func pick(_ list: [WireMap.Varint]) -> WireMap.Varint? {
        guard !list.isEmpty else { return nil }
        for _ in 0..<8 {
            let v = list.randomElement(using: &random)!
            if v.offset + v.count <= bytes.count { return v }
        }
        return nil
    }

    /// Replaces a range of the bytes as they are now (the enclosing lengths left as they were).
    mutating func replace(_ range: Range<Int>, with new: [UInt8], what: String) {
        log.append("\(what) at \(range.lowerBound): [\(Mutator.hex(bytes[range]))] -> [\(Mutator.hex(new))]")
        bytes.replaceSubrange(range, with: new)
        pristine = false
    }

    /// Replaces a range of the pristine file and fixes the enclosing lengths.
    mutating func edit(_ range: Range<Int>, with new: [UInt8], parents: [Int], what: String) {
        log.append("\(what) at \(range.lowerBound) (enclosing lengths fixed): [\(Mutator.hex(bytes[range]))] -> [\(Mutator.hex(new))]")
        bytes = map.edited(bytes, replacing: range, with: new, parents: parents)
        pristine = false
    }

    /// Numbers that break arithmetic: zero, one, negative (ten bytes), 2^31, 2^32, 2^62, 2^63 - 1, 2^64 - 1.
    static let specialValues: [UInt64] = [0, 1, 2, 3, 0x7F, 0x80, UInt64(bitPattern: -1), UInt64(bitPattern: -2), UInt64(bitPattern: Int64.min),
                                          1 << 31, (1 << 31) - 1, 1 << 32, 1 << 62, UInt64(Int64.max), UInt64.max, 1_000_000, 65_536]

    /// One mutation: raw damage, or (while the bytes are still the mapped file, half the time) structured damage.
    public mutating func mutate() {
        if bytes.isEmpty {
            bytes = (0..<int(1...4)).map { _ in UInt8.random(in: 0...255, using: &random) }
            log.append("empty: replaced by [\(Mutator.hex(bytes))]")
            return
        }
        if pristine && !map.fields.isEmpty && chance(0.5) { return mutateStructure() }
        switch int(0...11) {
        case 0:
            let at = offset(), bit = int(0...7)
            log.append("bit \(bit) flipped at \(at): \(String(format: "%02x", bytes[at])) -> \(String(format: "%02x", bytes[at] ^ (1 << bit)))")
            bytes[at] ^= 1 << bit
            pristine = false
        case 1:
            let at = offset(), count = min(chance(0.7) ? 1 : int(2...16), bytes.count - at)
            let value: UInt8 = [0x00, 0xFF, 0x80].randomElement(using: &random)!
            replace(at..<(at + count), with: Array(repeating: value, count: count), what: "\(count) byte(s) overwritten")
        case 2:
            let at = chance(0.3) ? int(max(0, bytes.count - 16)...bytes.count - 1) : offset()
            log.append("truncated at \(at) of \(bytes.count)")
            bytes.removeSubrange(at...)
            pristine = false
        case 3:
            let at = int(0...bytes.count)
            let inserted: [UInt8] = chance(0.5) ? (0..<int(1...8)).map { _ in UInt8.random(in: 0...255, using: &random) }
                : Array(repeating: [0x00, 0xFF, 0x80, 0x0A, 0x08].randomElement(using: &random)!, count: int(1...12))
            replace(at..<at, with: inserted, what: "inserted")
        case 4:
            let at = offset(), count = min(int(1...16), bytes.count - at)
            replace(at..<(at + count), with: [], what: "deleted \(count) byte(s)")
        case 5:
            let start = offset(), count = min(int(1...256), bytes.count - start)
            let slice = Array(bytes[start..<(start + count)])
            let at = chance(0.5) ? start + count : int(0...bytes.count)
            log.append("duplicated \(count) bytes from \(start), inserted at \(at)")
            bytes.insert(contentsOf: slice, at: at)
            pristine = false
        case 6, 7:
            // A varint (key, value or length) whose continuation bits run on.
            guard let v = pick(map.keys + map.values + map.lengths) else { return mutateRandom() }
            let old = Array(bytes[v.range])
            var new = old
            switch int(0...3) {
            case 0: new[new.count - 1] |= 0x80   // runs into the next byte
            case 1: new = new.map { $0 | 0x80 }
            case 2: new = Array(repeating: 0xFF, count: int(9...12))   // ten bytes and more
            default: new = old.map { $0 | 0x80 } + Array(repeating: 0x80, count: int(1...10)) + [0x00]   // overlong, maybe over ten bytes
            }
            replace(v.range, with: new, what: "varint with continuation bits set")
        case 8, 9:
            // A length field made huge, or just past its message, or zero.
            let candidates = map.fields.filter { $0.length != nil && $0.range.upperBound <= bytes.count }
            guard let field = candidates.randomElement(using: &random), let length = field.length, let payload = field.payload else { return mutateRandom() }
            let values: [UInt64] = [UInt64.max, UInt64(Int64.max), UInt64(Int64.max) - 1, 1 << 32, (1 << 31) - 1, 1 << 31, UInt64(bytes.count),
                                    UInt64(payload.count) + 1, UInt64(payload.count) + UInt64(int(2...1000)), 0,
                                    UInt64(max(0, payload.count - 1)), UInt64(Int.max - payload.lowerBound + 1)]
            replace(length.range, with: Mutator.encode(values.randomElement(using: &random)!), what: "length field")
        case 10:
            // A number replaced by one that breaks arithmetic, in place.
            guard let v = pick(map.values) else { return mutateRandom() }
            replace(v.range, with: Mutator.encode(Mutator.specialValues.randomElement(using: &random)!), what: "varint value")
        default:
            // A key with another field number or wire type.
            guard let v = pick(map.keys) else { return mutateRandom() }
            var key: UInt64 = 0
            for (i, byte) in bytes[v.range].enumerated() { key |= UInt64(byte & 0x7F) << (7 * UInt64(i)) }
            let new: UInt64 = chance(0.5) ? (key & ~7) | UInt64(int(0...7)) : (UInt64(int(0...40)) << 3) | (key & 7)
            replace(v.range, with: Mutator.encode(new), what: "key")
        }
    }

    /// Well-formed damage: the file stays protocol-buffer data, the model's meaning changes.
    mutating func mutateStructure() {
        let fields = map.fields
        let index = int(0...fields.count - 1)
        let field = fields[index]
        switch int(0...8) {
        case 7:
            // One number of a packed list (int64_data, ints, dims written packed) replaced.
            let packed = map.leaves.filter { i in
                let payload = fields[i].payload!
                return !payload.isEmpty && payload.count <= 80 && bytes[payload.upperBound - 1] & 0x80 == 0
            }
            guard let i = packed.randomElement(using: &random), let payload = fields[i].payload else { return mutateRandom() }
            var starts = [payload.lowerBound]
            for at in payload.dropLast() where bytes[at] & 0x80 == 0 { starts.append(at + 1) }
            let which = int(0...starts.count - 1)
            let end = which + 1 < starts.count ? starts[which + 1] : payload.upperBound
            let new = Mutator.encode(Mutator.specialValues.randomElement(using: &random)!)
            edit(starts[which]..<end, with: new, parents: fields[i].parents + [i], what: "packed number \(which) of field \(fields[i].number)")
        case 8:
            // Raw little-endian data (raw_data, float_data) overwritten: NaN, infinities, huge values.
            let raw = map.leaves.filter { fields[$0].payload!.count >= 4 && fields[$0].payload!.count % 4 == 0 }
            guard let i = raw.randomElement(using: &random), let payload = fields[i].payload else { return mutateRandom() }
            let words: [[UInt8]] = [[0x00, 0x00, 0xC0, 0x7F], [0x00, 0x00, 0x80, 0x7F], [0x00, 0x00, 0x80, 0xFF], [0xFF, 0xFF, 0x7F, 0x7F],
                                    [0x00, 0x00, 0x00, 0x80], [0xFF, 0xFF, 0xFF, 0xFF], [0xFF, 0xFF, 0xFF, 0x7F], [0x00, 0x00, 0x00, 0x00]]
            let wide: [[UInt8]] = [[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], [0, 0, 0, 0, 0, 0, 0, 0x80], [0, 0, 0, 0, 0, 0, 0xF8, 0x7F],
                                   [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], [0, 0, 0, 0, 0, 0, 0xF0, 0x7F]]
            let eight = payload.count % 8 == 0 && chance(0.5)
            let width = eight ? 8 : 4
            let at = payload.lowerBound + width * int(0...(payload.count / width - 1))
            let new = eight ? wide.randomElement(using: &random)! : words.randomElement(using: &random)!
            edit(at..<(at + width), with: new, parents: fields[i].parents + [i], what: "raw \(width)-byte value of field \(fields[i].number)")
        case 0, 1:
            // A number (a dim, an attribute, a version, a type) replaced, the lengths fixed.
            let valued = fields.indices.filter { fields[$0].value != nil }
            guard let i = valued.randomElement(using: &random), let value = fields[i].value else { return mutateRandom() }
            let new: UInt64 = chance(0.7) ? Mutator.specialValues.randomElement(using: &random)! : UInt64(int(0...9))
            edit(value.range, with: Mutator.encode(new), parents: fields[i].parents, what: "field \(fields[i].number)'s number set to \(Int64(bitPattern: new))")
        case 2:
            // A whole field removed: a node, an input, an attribute, a dim, the opset, the graph.
            edit(field.range, with: [], parents: field.parents, what: "field \(field.number) removed")
        case 3:
            // A whole field repeated: a node twice, an attribute twice, a dim more.
            let copy = Array(bytes[field.range])
            edit(field.range.upperBound..<field.range.upperBound, with: copy, parents: field.parents, what: "field \(field.number) (\(field.range.count) bytes) repeated")
        case 4:
            // Two fields of one message swapped: nodes out of order, inputs exchanged.
            let siblings = fields.indices.filter { fields[$0].parents == field.parents && $0 != index }
            guard let j = siblings.randomElement(using: &random) else { return mutateRandom() }
            let (a, b) = field.range.lowerBound < fields[j].range.lowerBound ? (field, fields[j]) : (fields[j], field)
            let new = Array(bytes[b.range]) + Array(bytes[a.range.upperBound..<b.range.lowerBound]) + Array(bytes[a.range])
            edit(a.range.lowerBound..<b.range.upperBound, with: new, parents: a.parents, what: "fields \(a.number) at \(a.range.lowerBound) and \(b.number) at \(b.range.lowerBound) swapped")
        default:
            // A name or string replaced: by another one of the file (a node reads another value),
            // empty, damaged, or with control characters and odd Unicode.
            let leaves = map.leaves
            guard let i = leaves.randomElement(using: &random), let payload = fields[i].payload else { return mutateRandom() }
            var new: [UInt8]
            switch int(0...4) {
            case 0, 1:
                let other = fields[leaves.randomElement(using: &random)!].payload!
                new = Array(bytes[other])
            case 2: new = []
            case 3:
                new = Array(bytes[payload])
                let extra: [UInt8] = [[0x0A], [0x0D], [0x1B, 0x5B, 0x33, 0x31, 0x6D], [0x00], [0xFF], [0xC3], [0xE2, 0x80, 0xA8], [0xEF, 0xBB, 0xBF], [0x7F], [0xC2, 0x85]]
                    .randomElement(using: &random)!
                new.insert(contentsOf: extra, at: int(0...new.count))
            default:
                new = Array(bytes[payload]) + Array(repeating: UInt8(ascii: "x"), count: chance(0.5) ? int(1...10) : 5000)
            }
            edit(payload, with: new, parents: fields[i].parents + [i], what: "field \(fields[i].number)'s bytes \(Mutator.text(bytes[payload])) replaced by \(Mutator.text(new))")
        }
    }

    mutating func mutateRandom() {
        let at = offset(), value = UInt8.random(in: 0...255, using: &random)
        log.append("byte at \(at) set to \(String(format: "%02x", value))")
        bytes[at] = value
        pristine = false
    }
}
