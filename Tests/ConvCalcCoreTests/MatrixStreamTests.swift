import XCTest
import ConvCalcTestSupport
@testable import ConvCalcCore
@testable import ConvCalcEngine
@testable import ConvCalcText

/// `MatrixStream` (matrix text read in pieces) against `MatrixText.parseBlocks` (read whole):
/// the same blocks, or the same first error at the same line and column, however the text is cut.
final class MatrixStreamTests: XCTestCase {
    /// The blocks a stream gives, read in pieces of `piece` bytes (`read` hands out fewer at times).
    func streamed(_ bytes: [UInt8], piece: Int, generator: inout SeededGenerator) throws -> [Matrix] {
        var offset = 0
        var local = generator
        let stream = MatrixStream(pieceSize: piece) { buffer in
            let count = min(buffer.count, bytes.count - offset, Int.random(in: 1...max(1, buffer.count), using: &local))
            bytes[offset..<(offset + count)].withUnsafeBytes { buffer.copyMemory(from: $0) }
            offset += count
            return count
        }
        var blocks: [[Double]] = []
        var shape = (rows: 0, columns: 0)
        while let pieces = try stream.next() {
            for rows in pieces {
                if rows.block >= blocks.count { blocks.append([]) }
                blocks[rows.block] += rows.values
                if rows.block == 0 { shape = (shape.rows + rows.count, rows.columns) }
            }
        }
        generator = local
        return blocks.map { Matrix(rows: shape.rows, columns: shape.columns, values: $0) }
    }

    func testPiecesGiveWhatTheWholeTextGives() throws {
        var generator = SeededGenerator(seed: testSeed &+ 7)
        let tokens = ["1", "-2.5", "3e2", "nan", "inf", "-inf", "0.1", "7", "x1", "1e400", ""]
        let ends = ["\n", "\r\n", "\r"]
        var outcomes = (matrices: 0, errors: 0)
        for trial in 0..<(longTests ? 3000 : 600) {
            var text = trial % 7 == 0 ? "\u{FEFF}" : ""
            let columns = Int.random(in: 1...4, using: &generator)
            for _ in 0..<Int.random(in: 0...12, using: &generator) {
                let end = ends.randomElement(using: &generator)!
                switch Int.random(in: 0...9, using: &generator) {
                case 0: text += end   // a blank line (between blocks)
                case 1: text += "# a comment" + end
                default:
                    let count = Int.random(in: 0...19, using: &generator) == 0 ? columns + 1 : columns
                    let values = (0..<count).map { _ in Int.random(in: 0...40, using: &generator) == 0 ? tokens.randomElement(using: &generator)! : tokens[Int.random(in: 0...7, using: &generator)] }
                    text += values.joined(separator: Bool.random(using: &generator) ? " " : ",") + end
                }
            }
            if Bool.random(using: &generator), text.hasSuffix("\n") { text.removeLast() }
            let bytes = Array(text.utf8)
            let whole = Result { try bytes.withUnsafeBufferPointer { try MatrixText.parseBlocks(bytes: $0).matrices } }
            let piece = Int.random(in: 16...40, using: &generator)
            let parts = Result { try streamed(bytes, piece: piece, generator: &generator) }
            let note = "trial \(trial), pieces of \(piece): \(text.debugDescription), \(seedNote)"
            switch (whole, parts) {
            case let (.success(a), .success(b)):
                outcomes.matrices += 1
                XCTAssertEqual(a.map { $0.values.map(\.bitPattern) }, b.map { $0.values.map(\.bitPattern) }, note)
                XCTAssertEqual(a.map(\.rows), b.map(\.rows), note)
                XCTAssertEqual(a.map(\.columns), b.map(\.columns), note)
            case let (.failure(a as MatrixTextError), .failure(b as MatrixTextError)):
                outcomes.errors += 1
                XCTAssertEqual(a, b, note)
            default:
                XCTFail("whole \(whole), pieces \(parts); \(note)")
            }
        }
        XCTAssertGreaterThan(outcomes.matrices, 100, "\(outcomes)")
        XCTAssertGreaterThan(outcomes.errors, 100, "\(outcomes)")
    }
}
