// The one place that calls CBLAS: a batched dense layer as a single SGEMM.
import COpenBLAS

/// Matrix kernels backed by OpenBLAS.
public enum BLASMatrix {
    /// Sets how many threads OpenBLAS runs each GEMM on.
    public static func setThreads(_ count: Int) { openblas_set_num_threads(Int32(max(1, count))) }

    /// The kernel family OpenBLAS chose for this CPU at load time (e.g. `Haswell`, `Prescott`).
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// Most rows for which `affine` calls SGEMV once per row instead of one SGEMM. SGEMM copies
    /// the whole weight matrix into its packed layout at every call (1.6 MB for the reference
    /// model), whatever the number of rows: at 500 listens/s in cycles of two users that copy
    /// (`sgemm_incopy`) took most of the worker thread's samples. SGEMV reads the weights once
    /// per row, at about 28 GFLOP/s here whatever the rows; SGEMM reached 9–10 GFLOP/s on 2 rows,
    /// 20–22 on 4, 29–34 on 8 and 40–48 on 16 (`bench`'s encoder microbenchmarks, 2 pairs).
    public static let rowByRowMaximum = 4

    /// `out[r, :] = bias + W · input[r, :]` for every row `r`, as one SGEMM over the batch
    /// (or, for at most `rowByRowMaximum` rows, one SGEMV per row).
    /// `input` is `rows × layer.inputs`, `out` is `rows × layer.outputs`, both row major.
    public static func affine(
        _ layer: DenseLayer, rows: Int,
        input: UnsafeBufferPointer<Float>, out: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(input.count >= rows * layer.inputs && out.count >= rows * layer.outputs)
        guard rows > 0, let x = input.baseAddress, let y = out.baseAddress else { return }
        layer.bias.withUnsafeBufferPointer { b in
            guard let bias = b.baseAddress else { return }
            for r in 0..<rows { (y + r * layer.outputs).update(from: bias, count: layer.outputs) }
        }
        if rows <= rowByRowMaximum {
            layer.weights.withUnsafeBufferPointer { w in
                for r in 0..<rows {
                    cblas_sgemv(
                        CblasRowMajor, CblasNoTrans, Int32(layer.outputs), Int32(layer.inputs), 1, w.baseAddress, Int32(layer.inputs),
                        x + r * layer.inputs, 1, 1, y + r * layer.outputs, 1)
                }
            }
            return
        }
        layer.weights.withUnsafeBufferPointer { w in
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasTrans,
                Int32(rows), Int32(layer.outputs), Int32(layer.inputs),
                1, x, Int32(layer.inputs),
                w.baseAddress, Int32(layer.inputs),
                1, y, Int32(layer.outputs)
            )
        }
    }

    /// `gemm` on buffers (nothing happens for an empty one).
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, _ a: UnsafeBufferPointer<Float>, lda: Int,
        _ b: UnsafeBufferPointer<Float>, ldb: Int, beta: Float, _ c: UnsafeMutableBufferPointer<Float>, ldc: Int
    ) {
        guard let pa = a.baseAddress, let pb = b.baseAddress, let pc = c.baseAddress else { return }
        gemm(transA: transA, transB: transB, m: m, n: n, k: k, pa, lda: lda, pb, ldb: ldb, beta: beta, pc, ldc: ldc)
    }

    /// `C = alpha · op(A) · op(B) + beta · C`, row major: `op(A)` is `m × k`, `op(B)` `k × n`, `C` `m × n`;
    /// `transA`/`transB` read `A`/`B` transposed. Leading dimensions are the stored row lengths.
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
        beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0, k > 0 else { return }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
