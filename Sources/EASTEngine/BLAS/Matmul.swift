import COpenBLAS

/// Every matrix product of the model goes through these functions, thin
/// wrappers over OpenBLAS `cblas_sgemm` (row-major), each product split over
/// the engine's threads (`BLASThreads`) by slices of its output.
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
        gemm(transA: false, transB: true, M: M, N: N, K: K, A: inp, lda: K, B: weight, ldb: K, beta: 0, C: out, ldc: N)
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
            gemm(transA: false, transB: false, M: M, N: K, K: N, A: dout, lda: N, B: weight, ldb: K,
                 beta: accumulateInput ? 1 : 0, C: dinp, ldc: K)
        }
        if let dweight {
            gemm(transA: true, transB: false, M: N, N: K, K: M, A: dout, lda: N, B: inp, ldb: K,
                 beta: 1, C: dweight, ldc: K)
        }
    }

    /// The general row-major product C = alpha * op(A) op(B) + beta * C with
    /// explicit leading dimensions (attention takes one head of Q, K and V as
    /// strided views into (T, heads * headDim) rows).
    ///
    /// Split over the engine's threads into slices of C's rows (or columns,
    /// when C is wider than tall), each one single-threaded sgemm; `serial`
    /// keeps the product on the calling thread (a caller that already runs
    /// its own loop in parallel). Products too small to pay for a hand-off
    /// stay whole.
    public static func gemm(
        transA: Bool, transB: Bool, M: Int, N: Int, K: Int, alpha: Float = 1,
        A: UnsafePointer<Float>, lda: Int, B: UnsafePointer<Float>, ldb: Int,
        beta: Float, C: UnsafeMutablePointer<Float>, ldc: Int, serial: Bool = false
    ) {
        let byRows = M >= N
        let long = byRows ? M : N
        // at least 16 rows or columns and ~1 MFLOP a slice
        let slices = serial ? 1 : min(BLASThreads.current, long / 16, M * N * K / (1 << 19))
        nonisolated(unsafe) let (a, b, c) = (A, B, C)
        BLASThreads.shareRanges(long, parts: slices, align: 16) { start, end in
            if byRows {  // rows start..<end of op(A) and of C
                let aSlice = transA ? a + start : a + start * lda
                sgemm(transA, transB, end - start, N, K, alpha, aSlice, lda, b, ldb, beta, c + start * ldc, ldc)
            } else {     // columns start..<end of op(B) and of C
                let bSlice = transB ? b + start * ldb : b + start
                sgemm(transA, transB, M, end - start, K, alpha, a, lda, bSlice, ldb, beta, c + start, ldc)
            }
        }
    }

    @inline(__always)
    private static func sgemm(
        _ transA: Bool, _ transB: Bool, _ M: Int, _ N: Int, _ K: Int, _ alpha: Float,
        _ A: UnsafePointer<Float>, _ lda: Int, _ B: UnsafePointer<Float>, _ ldb: Int,
        _ beta: Float, _ C: UnsafeMutablePointer<Float>, _ ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(M), Int32(N), Int32(K), alpha, A, Int32(lda), B, Int32(ldb), beta, C, Int32(ldc))
    }
}
