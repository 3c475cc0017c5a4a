/// The structural rules of matrix text, line by line, in one place for the whole text
/// (`MatrixText.assemble`) and for text read piece by piece (`MatrixStream`): a row is a line
/// with values; every row of a block has the first row's count (else `ragged`, naming that
/// row's line); a blank line after rows ends the block, and every block has the first one's
/// shape (else `blockShape`, naming the block's first line). Comment-only lines change nothing.
public struct BlockAssembly {
    /// The current block's columns (-1 before its first row) and rows.
    public private(set) var columns = -1
    public private(set) var rows = 0
    /// Blocks begun so far.
    public private(set) var blocks = 0
    private var firstRowLine = 0
    private var firstBlockLine = 0
    private var blankLine: Int?
    private var firstShape: (rows: Int, columns: Int)?

    public init() {}

    /// The blank line that ends the current block, when a row comes next: the caller takes
    /// the block's values and calls `closeBlock()` before `addRow`.
    public var separator: Int? { rows > 0 ? blankLine : nil }

    /// A row of `count` values on `line`; true when it begins a block.
    ///
    /// - Throws: `MatrixTextError.ragged` when the count differs from the block's first row's.
    public mutating func addRow(line: Int, count: Int) throws -> Bool {
        let begins = rows == 0
        if begins { blocks += 1 }
        if columns < 0 {
            columns = count
            firstRowLine = line
            if begins { firstBlockLine = line }
        } else if count != columns {
            throw MatrixTextError.ragged(line: line, count: count, expected: columns, firstLine: firstRowLine)
        }
        rows += 1
        blankLine = nil
        return begins
    }

    /// A blank line (no values, no comment).
    public mutating func blank(line: Int) {
        if rows > 0 && blankLine == nil { blankLine = line }
    }

    /// The current block ends (nothing when it has no rows).
    ///
    /// - Throws: `MatrixTextError.blockShape` when its shape differs from the first block's.
    public mutating func closeBlock() throws {
        guard rows > 0 else { return }
        if let first = firstShape, first.rows != rows || first.columns != columns {
            throw MatrixTextError.blockShape(line: firstBlockLine, rows: rows, columns: columns, expectedRows: first.rows, expectedColumns: first.columns)
        }
        if firstShape == nil { firstShape = (rows, columns) }
        (columns, rows) = (-1, 0)
    }
}
