import CKernels

/// The decode steps' products of Float32 matrices when there is no packed
/// copy (no AVX-512): `east_matmul_rows`, every output one dot product in a
/// fixed order, split over the threads by columns only. sgemm's bits for a
/// row move with the number of rows, so with it a sample decoded beside
/// others would not be the sample decoded alone; with this they are the
/// same bits. (Quantized matrices decode from integer panels on every CPU:
/// `PackedWeights`.)
enum RowMatmul {
    /// out = inp W^T. inp: (M, K), W: (N, K), out: (M, N)
    static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, M: Int, K: Int, N: Int) {
        nonisolated(unsafe) let (o, x, w) = (out, inp, weight)
        let slices = M * N * K < 1 << 18 ? 1 : min(BLASThreads.current, N / 64)
        BLASThreads.shareRanges(N, parts: slices, align: 1) { n0, n1 in east_matmul_rows(o, x, w, M, K, N, n0, n1) }
    }
}
