#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ConvCalcCore
import ConvCalcEngine

/// Matrix text read piece by piece as it arrives (`convcalc run` as a filter): whole lines are
/// scanned by the same scanner as `MatrixText.parseBlocks` (`MatrixText.scan`) and put
/// together by the same rules (`MatrixText.assemble`: rows, ragged rows, blocks between blank
/// lines of one shape, the first error in file order at its line and column), without holding
/// more than a piece of the text.
///
/// Pieces are cut after a line end (never between CR and LF), so line numbers run on across
/// them. A UTF-8 byte-order mark at the start is skipped; JSON is not read here (`isJSON`).
public final class MatrixStream {
    /// Reads up to the buffer's size into it; 0 at the end.
    public typealias Read = (UnsafeMutableRawBufferPointer) throws -> Int

    /// Rows of one block that came in one piece.
    public struct Rows {
        /// The block (channel) they belong to, from 0.
        public var block: Int
        public var values: [Double]
        public var count: Int
        public var columns: Int
    }

    private let read: Read
    private var pending: [UInt8] = []
    public private(set) var atEnd = false
    private var started = false
    /// Lines scanned before the pending bytes.
    private var lineBase = 0
    /// The structural rules, across pieces.
    private var assembly = BlockAssembly()
    /// Blocks begun so far.
    public var blocks: Int { assembly.blocks }
    /// The piece read at a time.
    let pieceSize: Int
    /// The most bytes held at once (a line, the white space before JSON, JSON read whole).
    public let holdLimit: Int
    /// The error past `holdLimit`.
    public let tooLong: () -> Error
    /// Bytes read so far.
    public private(set) var bytesRead = 0
    /// The pending bytes before this index hold no line end (searched already).
    private var searched = 0

    public init(pieceSize: Int = 1 << 20, holdLimit: Int = Int.max, tooLong: @escaping () -> Error = { MatrixTextError.empty }, read: @escaping Read) {
        self.read = read
        self.pieceSize = max(16, pieceSize)
        (self.holdLimit, self.tooLong) = (holdLimit, tooLong)
    }

    /// Reads until the first byte that is not white space: whether the text is JSON
    /// (`MatrixJSON.isJSON`), which is then read whole (`rest()` gives every byte).
    public func isJSON() throws -> Bool {
        while !atEnd {
            let found = pending.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D && $0 != 0xEF && $0 != 0xBB && $0 != 0xBF })
            if found != nil { break }
            try fill()
        }
        return pending.withUnsafeBufferPointer { bytes in
            var bytes = bytes
            if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { bytes = UnsafeBufferPointer(rebasing: bytes[3...]) }
            return MatrixJSON.isJSON(bytes)
        }
    }

    /// Every byte not yet scanned, to the end (for reading whole).
    public func rest() throws -> [UInt8] {
        while !atEnd { try fill() }
        defer { pending = [] }
        return pending
    }

    /// One more piece from `read` onto the pending bytes.
    private func fill() throws {
        guard pending.count <= holdLimit else { throw tooLong() }
        var got = 0
        var failure: Error?
        let piece = [UInt8](unsafeUninitializedCapacity: pieceSize) { buffer, count in
            do {
                got = try read(UnsafeMutableRawBufferPointer(buffer))
            } catch {
                failure = error
            }
            count = max(0, got)
        }
        if let failure { throw failure }
        pending += piece
        bytesRead += max(0, got)
        if got <= 0 { atEnd = true }
    }

    /// The rows of the next piece of whole lines (several blocks give several `Rows`); nil at
    /// the end, after the checks of the last block.
    ///
    /// - Throws: `MatrixTextError` at its line and column in the whole text, as
    ///   `MatrixText.parseBlocks` reports it.
    public func next() throws -> [Rows]? {
        while true {
            if !started && pending.count >= 3 || atEnd {
                if !started && pending.count >= 3 && pending[0] == 0xEF && pending[1] == 0xBB && pending[2] == 0xBF { pending.removeFirst(3) }
                started = true
            }
            let cut = started ? lineCut() : 0
            if cut > 0 || (atEnd && !pending.isEmpty) {
                let end = cut > 0 ? cut : pending.count
                let scan = pending.withUnsafeBufferPointer { MatrixText.scan(UnsafeBufferPointer(rebasing: $0[0..<end])) }
                pending.removeFirst(end)
                searched = 0
                return try take(scan)
            }
            if atEnd {
                try assembly.closeBlock()
                guard blocks > 0 else { throw MatrixTextError.empty }
                return nil
            }
            try fill()
        }
    }

    /// Where the pending bytes' last whole line ends (after LF, or after a CR known not to be
    /// followed by LF); 0 when no line is whole yet.
    private func lineCut() -> Int {
        // The last LF, or the last CR known not to start a CRLF; memchr first finds whether
        // there is any (a long line is searched once, not from its end at every piece).
        let cut = pending.withUnsafeBufferPointer { bytes -> Int in
            guard let base = bytes.baseAddress, bytes.count > searched else { return 0 }
            let rest = bytes.count - searched
            guard memchr(base + searched, 0x0A, rest) != nil || memchr(base + searched, 0x0D, rest) != nil else { return 0 }
            var i = bytes.count - 1
            while i >= searched {
                if base[i] == 0x0A || (base[i] == 0x0D && (i + 1 < bytes.count || atEnd)) { return i + 1 }
                i -= 1
            }
            return 0
        }
        if cut == 0 { searched = max(0, pending.count - 1) }   // a CR at the end may yet be a line end
        return cut
    }

    /// A scanned piece put together as `MatrixText.assemble` does, line by line (`BlockAssembly`).
    private func take(_ scan: MatrixText.LineScan) throws -> [Rows] {
        var out: [Rows] = []
        var value = 0
        for (offset, count) in scan.lines.enumerated() {
            let line = lineBase + offset + 1
            if offset + 1 >= scan.errorLine { break }
            if count > 0 {
                if assembly.separator != nil { try assembly.closeBlock() }
                _ = try assembly.addRow(line: line, count: count)
                let block = assembly.blocks - 1
                if out.last?.block != block { out.append(Rows(block: block, values: [], count: 0, columns: count)) }
                out[out.count - 1].values.append(contentsOf: scan.values[value..<(value + count)])
                out[out.count - 1].count += 1
                value += count
            } else if count == MatrixText.LineScan.blank {
                assembly.blank(line: line)
            }
        }
        if let error = scan.error { throw error.atLine(lineBase + scan.errorLine) }
        lineBase += scan.lines.count
        return out
    }
}
