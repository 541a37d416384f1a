import CKernels

/// The decode steps' products when there is no packed copy (no AVX-512):
/// `east_matmul_rows`, every output one dot product in a fixed order, split
/// over the threads by columns only. sgemm's bits for a row move with
/// the number of rows, so with it a sample decoded beside others would not
/// be the sample decoded alone; with this they are the same bits.
enum RowMatmul {
    /// out = inp W^T. inp: (M, K), W: (N, K), out: (M, N)
    static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, M: Int, K: Int, N: Int) {
        nonisolated(unsafe) let (o, x, w) = (out, inp, weight)
        shareColumns(M: M, K: K, N: N) { n0, n1 in east_matmul_rows(o, x, w, M, K, N, n0, n1) }
    }

    /// The same product with W read from the loader's codes (one byte a
    /// weight, and a scale and offset a block of 32, instead of 4 bytes a
    /// weight): decoding streams every weight once a step, so it is bound by
    /// those bytes. The same bits as from the Float32 weights.
    static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, codes m: QuantizedMatrix, M: Int, K: Int, N: Int) {
        precondition(K % 32 == 0 && m.codes.count == N * K, "RowMatmul: codes do not fit (\(N), \(K))")
        m.codes.withUnsafeBufferPointer { codes in
            m.scales.withUnsafeBufferPointer { scales in
                m.offsets.withUnsafeBufferPointer { offsets in
                    nonisolated(unsafe) let (o, x, c, s) = (out, inp, codes.baseAddress!, scales.baseAddress!)
                    nonisolated(unsafe) let offs = m.hasOffsets ? offsets.baseAddress : nil
                    shareColumns(M: M, K: K, N: N) { n0, n1 in east_matmul_rows_codes(o, x, c, s, offs, M, K, N, n0, n1) }
                }
            }
        }
    }

    /// Columns n0..<n1 of the product, one slice per thread when the product pays for the hand-off.
    private static func shareColumns(M: Int, K: Int, N: Int, _ body: @Sendable (_ n0: Int, _ n1: Int) -> Void) {
        let slices = M * N * K < 1 << 18 ? 1 : min(BLASThreads.current, N / 64)
        BLASThreads.shareRanges(N, parts: slices, align: 1, body)
    }
}
