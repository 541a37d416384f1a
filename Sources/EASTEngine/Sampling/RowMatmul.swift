import CKernels

/// The decode steps' products when there is no packed copy (no AVX-512):
/// `east_matmul_rows`, every output one dot product in a fixed order, split
/// over the BLAS threads by columns only. sgemm's bits for a row move with
/// the number of rows, so with it a sample decoded beside others would not
/// be the sample decoded alone; with this they are the same bits.
enum RowMatmul {
    /// out = inp W^T. inp: (M, K), W: (N, K), out: (M, N)
    static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, M: Int, K: Int, N: Int) {
        let slices = M * N * K < 1 << 18 ? 1 : max(1, min(BLASThreads.current, N / 64))
        let per = (N + slices - 1) / slices
        nonisolated(unsafe) let (o, x, w) = (out, inp, weight)
        BLASThreads.shareOut(slices) { t, _ in
            let n0 = t * per, n1 = min(N, n0 + per)
            if n0 < n1 { east_matmul_rows(o, x, w, M, K, N, n0, n1) }
        }
    }
}
