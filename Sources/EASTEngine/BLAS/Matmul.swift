import COpenBLAS

/// Every matrix product of the model goes through these two functions, both
/// thin wrappers over OpenBLAS `cblas_sgemm` (row-major).
///
/// Weights are stored (out, in) like PyTorch's `nn.Linear`, so a layer computes
/// `y = x W^T`; checkpoints then hold the same layout as Hugging Face files.
public enum Matmul {
    /// out = inp W^T
    /// inp: (M, K), weight: (N, K), out: (M, N)
    ///
    /// With one row (decoding one sample) this is a matrix-vector product;
    /// OpenBLAS's sgemv does it up to 3x faster than sgemm with M = 1.
    public static func forward(
        out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        M: Int, K: Int, N: Int
    ) {
        if M == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(N), Int32(K), 1, weight, Int32(K), inp, 1, 0, out, 1)
            return
        }
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(M), Int32(N), Int32(K),
            1, inp, Int32(K), weight, Int32(K), 0, out, Int32(N))
    }

    /// Given dout = dL/dout, computes
    ///   dinp = dout W        (M, K)   overwritten, or added to when `accumulateInput`
    ///   dweight += dout^T inp (N, K)  always added to (gradient accumulation)
    /// Pass `dinp: nil` when the input needs no gradient, `dweight: nil` when
    /// the weight is frozen (LoRA training skips the base's weight gradients).
    public static func backward(
        dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?,
        dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        M: Int, K: Int, N: Int, accumulateInput: Bool = false
    ) {
        if let dinp {
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(M), Int32(K), Int32(N),
                1, dout, Int32(N), weight, Int32(K), accumulateInput ? 1 : 0, dinp, Int32(K))
        }
        if let dweight {
            cblas_sgemm(
                CblasRowMajor, CblasTrans, CblasNoTrans, Int32(N), Int32(K), Int32(M),
                1, dout, Int32(N), inp, Int32(K), 1, dweight, Int32(K))
        }
    }

    /// The general row-major product C = alpha * op(A) op(B) + beta * C with
    /// explicit leading dimensions, for attention, where Q, K and V of one head
    /// are strided views into (T, heads * headDim) rows.
    @inline(__always)
    public static func gemm(
        transA: Bool, transB: Bool, M: Int, N: Int, K: Int, alpha: Float = 1,
        A: UnsafePointer<Float>, lda: Int, B: UnsafePointer<Float>, ldb: Int,
        beta: Float, C: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(M), Int32(N), Int32(K), alpha, A, Int32(lda), B, Int32(ldb), beta, C, Int32(ldc))
    }
}
