import ConvCalcCore
/// A dense matrix of doubles, row-major and contiguous.
public struct Matrix: Equatable, Sendable {
    public let rows: Int
    public let columns: Int
    public var values: [Double]

    public init(rows: Int, columns: Int, values: [Double]) {
        precondition(values.count == rows * columns, "a matrix needs rows·columns values")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    public init(rows: Int, columns: Int, repeating value: Double = 0) {
        self.init(rows: rows, columns: columns, values: [Double](repeating: value, count: rows * columns))
    }

    public subscript(row: Int, column: Int) -> Double {
        get { values[row * columns + column] }
        set { values[row * columns + column] = newValue }
    }

    /// The matrix turned by 180°: true convolution correlates with this (MATLAB `rot90(k, 2)`).
    public func rotated180() -> Matrix {
        Matrix(rows: rows, columns: columns, values: values.reversed())
    }

    /// Rows as arrays (for tests and JSON).
    public var rowArrays: [[Double]] {
        (0..<rows).map { Array(values[($0 * columns)..<(($0 + 1) * columns)]) }
    }
}
