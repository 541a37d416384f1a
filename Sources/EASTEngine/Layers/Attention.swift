import CKernels
import Foundation

/// Causal self-attention with grouped key/value heads (GQA), on sgemm.
///
/// Query head h reads key/value head h / (H / KV). Q, K and V stay in their
/// projection layout, (B, T, heads, headDim); one head of one sequence is a
/// strided (T, headDim) view with leading dimension heads * headDim, which
/// sgemm takes directly, so nothing is transposed or copied.
///
/// The heads (forward) and key/value groups (backward) are shared out over
/// the threads, each running its small products serially: a 256 x 256 x 64
/// product gains little from two threads (about 125 GFLOP/s on one, 115-155
/// on two, measured), whole heads on each thread keep both busy.
/// Only the lower triangle of the scores is computed, in row blocks.
/// Sequences are right-padded, so the causal mask alone keeps real tokens
/// from seeing padding; padded positions compute garbage that the loss mask drops.
enum Attention {
    /// Query rows per block: a block of rows [i0, i1) needs keys 0..<i1 only,
    /// so at T = 256 the products do 62.5% of the full (T, T) work.
    static let rowBlock = 64

    /// q: (B, T, H, hd), k, v: (B, T, KV, hd) with RoPE already applied to q and k
    /// probs: (B, H, T, T) softmax(q k^T / sqrt(hd)) with the causal mask, kept for backward
    /// out: (B, T, H, hd)
    static func forward(
        out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        B: Int, T: Int, H: Int, KV: Int, hd: Int
    ) {
        let scale = 1 / Float(hd).squareRoot()
        let qStride = H * hd, kvStride = KV * hd
        nonisolated(unsafe) let (out, probs, q, k, v) = (out, probs, q, k, v)
        BLASThreads.shareOut(B * H) { bh, _ in
            let (b, h) = (bh / H, bh % H)
            let g = h / (H / KV)
            let qh = q + b * T * qStride + h * hd
            let kg = k + b * T * kvStride + g * hd
            let vg = v + b * T * kvStride + g * hd
            let p = probs + (b * H + h) * T * T
            // Row block [i0, i1) of the causal scores reads keys 0..<i1 only.
            for i0 in stride(from: 0, to: T, by: rowBlock) {
                let i1 = min(T, i0 + rowBlock)
                // scores (rows, i1) = scale * q_h k_g^T
                Matmul.gemm(transA: false, transB: true, M: i1 - i0, N: i1, K: hd, alpha: scale,
                            A: qh + i0 * qStride, lda: qStride, B: kg, ldb: kvStride, beta: 0,
                            C: p + i0 * T, ldc: T, serial: true)
                for i in i0..<i1 { east_causal_softmax(p + i * T, T, i + 1) }
                // out_h (rows, hd) = probs (rows, i1) v_g (i1, hd)
                Matmul.gemm(transA: false, transB: false, M: i1 - i0, N: hd, K: i1,
                            A: p + i0 * T, lda: T, B: vg, ldb: kvStride, beta: 0,
                            C: out + (b * T + i0) * qStride + h * hd, ldc: qStride, serial: true)
            }
        }
    }

    /// Backward through out = P v, P = softmax(S), S = scale * q k^T:
    ///   dP = dout v^T,  dv += P^T dout
    ///   dS = P * (dP - rowsum(P * dP)) * scale
    ///   dq = dS k,      dk += dS^T q
    /// dq is overwritten; dk and dv are zeroed here and summed over the query
    /// heads that share each KV head (one thread per (sequence, KV head), so
    /// no two threads add into the same rows).
    static func backward(
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        dout: UnsafePointer<Float>, probs: UnsafePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        B: Int, T: Int, H: Int, KV: Int, hd: Int
    ) {
        let scale = 1 / Float(hd).squareRoot()
        let qStride = H * hd, kvStride = KV * hd
        dk.update(repeating: 0, count: B * T * kvStride)
        dv.update(repeating: 0, count: B * T * kvStride)
        let threads = max(1, min(BLASThreads.current, B * KV))
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: threads * T * T)  // dP, one (T, T) per thread
        defer { scratch.deallocate() }
        nonisolated(unsafe) let (dq, dk, dv, dout, probs, q, k, v, dPs) = (dq, dk, dv, dout, probs, q, k, v, scratch)
        BLASThreads.shareOut(B * KV) { bg, thread in
            let (b, g) = (bg / KV, bg % KV)
            let dP = dPs + thread * T * T
            let kg = k + b * T * kvStride + g * hd
            let vg = v + b * T * kvStride + g * hd
            let dkg = dk + b * T * kvStride + g * hd
            let dvg = dv + b * T * kvStride + g * hd
            for h in (g * (H / KV))..<((g + 1) * (H / KV)) {
                let qh = q + b * T * qStride + h * hd
                let douth = dout + b * T * qStride + h * hd
                let dqh = dq + b * T * qStride + h * hd
                let p = probs + (b * H + h) * T * T
                for i0 in stride(from: 0, to: T, by: rowBlock) {
                    let i1 = min(T, i0 + rowBlock), rows = i1 - i0
                    let pBlock = p + i0 * T, dPBlock = dP + i0 * T
                    // dP (rows, i1) = dout_h v_g^T
                    Matmul.gemm(transA: false, transB: true, M: rows, N: i1, K: hd,
                                A: douth + i0 * qStride, lda: qStride, B: vg, ldb: kvStride, beta: 0,
                                C: dPBlock, ldc: T, serial: true)
                    // dv_g (i1, hd) += P^T dout_h
                    Matmul.gemm(transA: true, transB: false, M: i1, N: hd, K: rows,
                                A: pBlock, lda: T, B: douth + i0 * qStride, ldb: qStride, beta: 1,
                                C: dvg, ldc: kvStride, serial: true)
                    // softmax backward, in place: dP becomes dS (already times scale)
                    for i in i0..<i1 {
                        let pRow = p + i * T, dRow = dP + i * T
                        var dot: Float = 0
                        for j in 0...i { dot += pRow[j] * dRow[j] }
                        for j in 0...i { dRow[j] = pRow[j] * (dRow[j] - dot) * scale }
                        for j in (i + 1)..<i1 { dRow[j] = 0 }
                    }
                    // dq_h (rows, hd) = dS k_g
                    Matmul.gemm(transA: false, transB: false, M: rows, N: hd, K: i1,
                                A: dPBlock, lda: T, B: kg, ldb: kvStride, beta: 0,
                                C: dqh + i0 * qStride, ldc: qStride, serial: true)
                    // dk_g (i1, hd) += dS^T q_h
                    Matmul.gemm(transA: true, transB: false, M: i1, N: hd, K: rows,
                                A: dPBlock, lda: T, B: qh + i0 * qStride, ldb: qStride, beta: 1,
                                C: dkg, ldc: kvStride, serial: true)
                }
            }
        }
    }
}
