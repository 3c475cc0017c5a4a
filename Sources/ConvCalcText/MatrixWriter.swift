#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ConvCalcCore
import ConvCalcEngine

/// How `run` writes matrices: text (a row a line), csv, or json.
public enum MatrixFormat: String, CaseIterable, Sendable { case text, csv, json }

/// Matrices as text: the shortest round-trip form, or `--precision` significant digits.
public struct MatrixFormatter {
    public init(precision: Int?) { self.precision = precision }

    public var precision: Int?

    /// `4`, `-0.5`, `1e-05`, `nan`, `inf`: integers without a decimal point, otherwise the
    /// shortest text that reads back to the same double (`NumberText`).
    public func number(_ value: Double) -> String {
        String(decoding: NumberText.bytes(capacity: NumberText.room) { append(value, to: &$0) }, as: UTF8.self)
    }

    @inline(__always)
    public func append(_ value: Double, to text: inout NumberText) {
        guard let precision, value.isFinite else {
            text.append(value)
            return
        }
        text.write { cursor in
            let count = withVaList([Int32(precision), value]) {
                vsnprintf(UnsafeMutableRawPointer(cursor).assumingMemoryBound(to: CChar.self), NumberText.room, "%.*g", $0)
            }
            return Int(count)
        }
    }

    /// The matrices printed in parts of about 2^15 values, in reading order, on `threads`
    /// threads, and handed to `write` in order as each part is ready (writing overlaps
    /// printing; no buffer grows with the output). Parts this small keep the few buffers
    /// they are printed into (about 1.4 MiB each, reused) in the cache, and few pages are
    /// faulted in: with parts of 2^18 values the buffers took 21 MiB of fresh pages at 2048².
    ///
    /// text: rows a line, values separated by spaces, channels by a blank line; csv: commas;
    /// json: `{"channels", "rows", "columns", "data": [[[...]]]}`, data always channels ×
    /// rows × columns (one channel too, so the nesting never changes), nan, inf and -inf as
    /// strings; it reads back as input (`MatrixJSON`).
    public func stream(_ channels: [Matrix], format: MatrixFormat, threads: Int,
                write: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        let layout = MatrixLayout(channels: channels.count, rows: channels[0].rows, columns: channels[0].columns, format: format)
        if let header = layout.header {
            var header = header
            guard header.withUTF8(write) else { return false }
        }
        let values = layout.channels * layout.plane
        let parts = values < 1 << 16 ? 1 : max(threads, (values + (1 << 15) - 1) >> 15)
        let workers = max(1, min(threads, parts))
        // Room for every value of a part with its separators, quotes and brackets.
        let buffers = PartBuffers(count: workers * OrderedParts.aheadPerThread,
                                  capacity: (values / parts + 1) * (NumberText.room + 10) + 16)
        let printed = OrderedParts.run(count: parts, threads: workers, make: { part -> UnsafeBufferPointer<UInt8> in
            self.print((part * values / parts)..<((part + 1) * values / parts), of: channels, layout, into: buffers.buffer(for: part))
        }, take: write)
        guard printed else { return false }
        var footer = layout.json ? "}\n" : ""
        return footer.isEmpty || footer.withUTF8(write)
    }

    /// The values `range` of the channels in reading order (a part of the output), with the
    /// punctuation of the rows and channels they start and end, written from `start` on.
    func print(_ range: Range<Int>, of channels: [Matrix], _ layout: MatrixLayout, into start: UnsafeMutablePointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var text = NumberText(cursor: start)
        var index = range.lowerBound
        while index < range.upperBound {
            let (c, offset) = index.quotientAndRemainder(dividingBy: layout.plane)
            let (i, j) = offset.quotientAndRemainder(dividingBy: layout.columns)
            let end = min(range.upperBound, index - j + layout.columns)   // the rest of this row in the part
            if j == 0 { layout.putRowStart(channel: c, row: i, into: &text) }
            print(channels[c], row: i, columns: j..<(j + end - index), layout, into: &text)
            if end == index - j + layout.columns { layout.putRowEnd(channel: c, row: i, into: &text) }
            index = end
        }
        return UnsafeBufferPointer(start: start, count: text.cursor - start)
    }

    /// The values of `columns` of one row, each after a separator but the row's first.
    func print(_ matrix: Matrix, row i: Int, columns: Range<Int>, _ layout: MatrixLayout, into text: inout NumberText) {
        matrix.values.withUnsafeBufferPointer { v in
            let row = v[(i * layout.columns)...]
            if precision == nil && !layout.json {
                // The common case without a test per value: shortest text, one separator byte.
                let separator: UInt8 = layout.format == .csv ? 0x2C : 0x20
                for column in columns {
                    if column > 0 { text.append(byte: separator) }
                    text.appendInline(row[row.startIndex + column])
                }
                return
            }
            for column in columns {
                if column > 0 { layout.putSeparator(into: &text) }
                let value = row[row.startIndex + column]
                if layout.json && !value.isFinite {
                    text.append(byte: 0x22)   // nan, inf and -inf as strings
                    append(value, to: &text)
                    text.append(byte: 0x22)
                } else {
                    append(value, to: &text)
                }
            }
        }
    }
}

/// The buffers the parts of a printed matrix are written into, reused: part p goes to buffer
/// p mod `count`. With `count` = threads * `OrderedParts.aheadPerThread`, `OrderedParts`
/// takes (writes out) part p - count before it makes part p, so a buffer is free when it is
/// written again. Memory is written many times instead of fresh pages being faulted in (and
/// zeroed by the kernel) for every part. Each buffer is allocated when first used, by the
/// one thread that makes its parts at that time; all are freed with this object.
final class PartBuffers {
    private let buffers: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>
    private let count: Int
    private let capacity: Int

    init(count: Int, capacity: Int) {
        self.count = max(count, 1)
        self.capacity = max(capacity, 1)
        buffers = .allocate(capacity: self.count)
        buffers.initialize(repeating: nil, count: self.count)
    }

    deinit {
        for i in 0..<count { buffers[i]?.deallocate() }
        buffers.deallocate()
    }

    /// The buffer of part `part`, `capacity` bytes.
    func buffer(for part: Int) -> UnsafeMutablePointer<UInt8> {
        let slot = buffers + part % count
        if let buffer = slot.pointee { return buffer }
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        slot.pointee = buffer
        return buffer
    }
}

/// The punctuation of a printed matrix: text (spaces, a row a line, a blank line between
/// channels), csv (commas) and json (nested arrays).
struct MatrixLayout {
    let channels: Int
    let rows: Int
    let columns: Int
    let format: MatrixFormat
    var json: Bool { format == .json }
    var plane: Int { rows * columns }

    /// The JSON object's opening, up to its data array.
    var header: String? {
        guard json else { return nil }
        return "{\"channels\": \(channels), \"rows\": \(rows), \"columns\": \(columns), \"data\": "
    }

    func putSeparator(into text: inout NumberText) {
        switch format {
        case .csv: text.append(byte: 0x2C)
        case .json: text.append(byte: 0x2C); text.append(byte: 0x20)
        case .text: text.append(byte: 0x20)
        }
    }

    /// What comes before the first value of row `i` of channel `c`.
    func putRowStart(channel c: Int, row i: Int, into text: inout NumberText) {
        guard json else {
            if i == 0 && c > 0 { text.append(byte: 0x0A) }   // blank line between channels
            return
        }
        if i == 0 {
            if c > 0 { putSeparator(into: &text) } else { text.append(byte: 0x5B) }   // ", " between channels, or "["
            text.append(byte: 0x5B)   // the channel's rows
        } else {
            putSeparator(into: &text)
        }
        text.append(byte: 0x5B)       // the row
    }

    /// What comes after the last value of row `i` of channel `c`.
    func putRowEnd(channel c: Int, row i: Int, into text: inout NumberText) {
        guard json else {
            text.append(byte: 0x0A)
            return
        }
        text.append(byte: 0x5D)
        if i == rows - 1 { text.append(byte: 0x5D) }
        if i == rows - 1 && c == channels - 1 { text.append(byte: 0x5D) }
    }
}
