// Per-column mean and variance of a row-major matrix, in double precision: the one pass that the
// trainer's standardization, the evaluation classifier's and the evaluation's input baseline share.

/// The mean and population variance of every column over a chosen set of rows.
public struct ColumnMoments: Sendable {
    /// Mean per column.
    public let mean: [Double]
    /// Population variance per column (never negative).
    public let variance: [Double]

    /// The moments of `values` (`width` floats per row) over `rows`, each summed in row order;
    /// zeros when `rows` is empty.
    public init(_ values: UnsafeBufferPointer<Float>, width: Int, rows: some Collection<Int>) {
        var sum = [Double](repeating: 0, count: width), squares = sum
        for r in rows {
            for k in 0..<width {
                let v = Double(values[r * width + k])
                sum[k] += v
                squares[k] += v * v
            }
        }
        let n = Double(max(rows.count, 1))
        let mean = sum.map { $0 / n }
        self.mean = mean
        variance = (0..<width).map { max(0, squares[$0] / n - mean[$0] * mean[$0]) }
    }
}
