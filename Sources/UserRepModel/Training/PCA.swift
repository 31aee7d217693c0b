// Principal components by LAPACK's symmetric eigensolver: the linear baseline an autoencoder is held against.

/// The top principal components of row-major data, from the covariance matrix's eigenvectors
/// (LAPACK `dsyev`, double precision).
public struct PCA: Sendable {
    /// Per-feature means of the fitted rows.
    public let mean: [Double]
    /// Components, `count × width` row major, by decreasing variance; orthonormal.
    public let components: [Double]
    /// Variance along each component.
    public let variances: [Double]
    /// Components kept, and features per row.
    public let count: Int, width: Int

    /// Fits `count` components to `rows` (indices into `data`, `width` floats per row).
    public init(_ data: UnsafeBufferPointer<Float>, width: Int, rows: [Int], count: Int) throws {
        precondition(count >= 1 && count <= width)
        var mean = [Double](repeating: 0, count: width)
        for r in rows { for k in 0..<width { mean[k] += Double(data[r * width + k]) } }
        for k in 0..<width { mean[k] /= Double(max(rows.count, 1)) }
        var cov = [Double](repeating: 0, count: width * width)
        var centred = [Double](repeating: 0, count: width)
        for r in rows {
            for k in 0..<width { centred[k] = Double(data[r * width + k]) - mean[k] }
            for i in 0..<width { for j in i..<width { cov[i * width + j] += centred[i] * centred[j] } }
        }
        // Both triangles scaled (the eigensolver reads the upper one).
        for i in 0..<width {
            for j in i..<width {
                let c = cov[i * width + j] / Double(max(rows.count - 1, 1))
                cov[i * width + j] = c
                cov[j * width + i] = c
            }
        }
        let eigen = try SymmetricEigen(cov, n: width)
        // Keep the largest `count`.
        var comps: [Double] = []
        var vars: [Double] = []
        for c in 0..<count {
            let col = width - 1 - c
            comps += eigen.vectors[(col * width)..<((col + 1) * width)]
            vars.append(eigen.values[col])
        }
        self.mean = mean
        components = comps
        variances = vars
        self.count = count
        self.width = width
    }

    /// Row `r` of `data` on the components: its centred values' dot product with each.
    public func coordinates(_ data: UnsafeBufferPointer<Float>, row r: Int) -> [Double] {
        (0..<count).map { c in
            var dot = 0.0
            for k in 0..<width { dot += (Double(data[r * width + k]) - mean[k]) * components[c * width + k] }
            return dot
        }
    }

    /// Mean over `rows` of the squared reconstruction error per feature (MSE) after projecting
    /// onto the components.
    public func reconstructionMSE(_ data: UnsafeBufferPointer<Float>, rows: [Int]) -> Double {
        var total = 0.0
        for r in rows {
            var y = [Double](repeating: 0, count: width)
            for (c, dot) in coordinates(data, row: r).enumerated() {
                for k in 0..<width { y[k] += dot * components[c * width + k] }
            }
            for k in 0..<width {
                let x = Double(data[r * width + k]) - mean[k]
                total += (x - y[k]) * (x - y[k])
            }
        }
        return total / Double(max(rows.count * width, 1))
    }
}
