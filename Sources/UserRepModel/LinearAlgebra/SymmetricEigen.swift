// Eigen-decomposition of a symmetric matrix by LAPACK's dsyev (double precision, OpenBLAS).
import COpenBLAS

/// Eigenvalues and eigenvectors of a symmetric `n × n` matrix.
public struct SymmetricEigen: Sendable {
    /// Eigenvalues, ascending.
    public let values: [Double]
    /// Eigenvectors: vector `i` (of `values[i]`) is `vectors[i * n ..< (i + 1) * n]`.
    public let vectors: [Double]
    /// The matrix order.
    public let n: Int

    /// Decomposes `matrix` (row major; only its upper triangle in C order is read).
    public init(_ matrix: [Double], n: Int) throws {
        precondition(matrix.count == n * n && n >= 1)
        var a = matrix
        var values = [Double](repeating: 0, count: n)
        var order = Int32(n), lda = Int32(n), info: Int32 = 0, lwork: Int32 = -1
        var query = 0.0
        // "V": vectors too; "L" in Fortran's column-major view is the upper triangle in C's.
        var jobz: CChar = 86, uplo: CChar = 76
        dsyev_(&jobz, &uplo, &order, &a, &lda, &values, &query, &lwork, &info)
        lwork = Int32(max(1, Int(query)))
        var work = [Double](repeating: 0, count: Int(lwork))
        dsyev_(&jobz, &uplo, &order, &a, &lda, &values, &work, &lwork, &info)
        guard info == 0 else { throw ModelError("LAPACK dsyev failed (info \(info)) on a \(n) × \(n) matrix") }
        // Column j of the Fortran result is row j of `a` in C order.
        self.values = values
        vectors = a
        self.n = n
    }
}
