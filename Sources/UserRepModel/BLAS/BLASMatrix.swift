// The one place that calls CBLAS: a batched dense layer as a single SGEMM.
import COpenBLAS

/// Matrix kernels backed by OpenBLAS.
public enum BLASMatrix {
    /// Sets how many threads OpenBLAS runs each GEMM on.
    public static func setThreads(_ count: Int) { openblas_set_num_threads(Int32(max(1, count))) }

    /// `out[r, :] = bias + W · input[r, :]` for every row `r`, as one SGEMM over the batch.
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
}
