import Foundation

/// Causal self-attention with grouped key/value heads (GQA), on sgemm.
///
/// Query head h reads key/value head h / (H / KV). Q, K and V stay in their
/// projection layout, (B, T, heads, headDim); one head of one sequence is a
/// strided (T, headDim) view with leading dimension heads * headDim, which
/// sgemm takes directly, so nothing is transposed or copied.
///
/// Sequences are right-padded, so the causal mask alone keeps real tokens
/// from seeing padding; padded positions compute garbage that the loss mask drops.
enum Attention {
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
        for b in 0..<B {
            for h in 0..<H {
                let g = h / (H / KV)
                let qh = q + b * T * qStride + h * hd
                let kg = k + b * T * kvStride + g * hd
                let vg = v + b * T * kvStride + g * hd
                let p = probs + (b * H + h) * T * T
                // scores (T, T) = scale * q_h k_g^T
                Matmul.gemm(transA: false, transB: true, M: T, N: T, K: hd, alpha: scale,
                            A: qh, lda: qStride, B: kg, ldb: kvStride, beta: 0, C: p, ldc: T)
                causalSoftmaxRows(p, T: T)
                // out_h (T, hd) = probs (T, T) v_g (T, hd)
                Matmul.gemm(transA: false, transB: false, M: T, N: hd, K: T,
                            A: p, lda: T, B: vg, ldb: kvStride, beta: 0,
                            C: out + b * T * qStride + h * hd, ldc: qStride)
            }
        }
    }

    /// Backward through out = P v, P = softmax(S), S = scale * q k^T:
    ///   dP = dout v^T,  dv += P^T dout
    ///   dS = P * (dP - rowsum(P * dP)) * scale
    ///   dq = dS k,      dk += dS^T q
    /// dq is overwritten; dk and dv are zeroed here and summed over the query
    /// heads that share each KV head. scratch: (T, T).
    static func backward(
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, probs: UnsafePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        B: Int, T: Int, H: Int, KV: Int, hd: Int
    ) {
        let scale = 1 / Float(hd).squareRoot()
        let qStride = H * hd, kvStride = KV * hd
        dk.update(repeating: 0, count: B * T * kvStride)
        dv.update(repeating: 0, count: B * T * kvStride)
        let dP = scratch
        for b in 0..<B {
            for h in 0..<H {
                let g = h / (H / KV)
                let qh = q + b * T * qStride + h * hd
                let kg = k + b * T * kvStride + g * hd
                let vg = v + b * T * kvStride + g * hd
                let douth = dout + b * T * qStride + h * hd
                let dqh = dq + b * T * qStride + h * hd
                let dkg = dk + b * T * kvStride + g * hd
                let dvg = dv + b * T * kvStride + g * hd
                let p = probs + (b * H + h) * T * T
                // dP (T, T) = dout_h v_g^T
                Matmul.gemm(transA: false, transB: true, M: T, N: T, K: hd,
                            A: douth, lda: qStride, B: vg, ldb: kvStride, beta: 0, C: dP, ldc: T)
                // dv_g (T, hd) += P^T dout_h
                Matmul.gemm(transA: true, transB: false, M: T, N: hd, K: T,
                            A: p, lda: T, B: douth, ldb: qStride, beta: 1, C: dvg, ldc: kvStride)
                // softmax backward, in place: dP becomes dS (already times scale)
                for i in 0..<T {
                    let pRow = p + i * T, dRow = dP + i * T
                    var dot: Float = 0
                    for j in 0...i { dot += pRow[j] * dRow[j] }
                    for j in 0...i { dRow[j] = pRow[j] * (dRow[j] - dot) * scale }
                    for j in (i + 1)..<T { dRow[j] = 0 }
                }
                // dq_h (T, hd) = dS k_g
                Matmul.gemm(transA: false, transB: false, M: T, N: hd, K: T,
                            A: dP, lda: T, B: kg, ldb: kvStride, beta: 0, C: dqh, ldc: qStride)
                // dk_g (T, hd) += dS^T q_h
                Matmul.gemm(transA: true, transB: false, M: T, N: hd, K: T,
                            A: dP, lda: T, B: qh, ldb: qStride, beta: 1, C: dkg, ldc: kvStride)
            }
        }
    }

    /// Row i keeps columns 0...i (softmax over them) and zeroes the rest.
    /// p: (T, T)
    static func causalSoftmaxRows(_ p: UnsafeMutablePointer<Float>, T: Int) {
        for i in 0..<T {
            let row = p + i * T
            var maxScore = -Float.infinity
            for j in 0...i { maxScore = max(maxScore, row[j]) }
            var sum: Float = 0
            for j in 0...i {
                let e = exp(row[j] - maxScore)
                row[j] = e
                sum += e
            }
            let inv = 1 / sum
            for j in 0...i { row[j] *= inv }
            for j in (i + 1)..<T { row[j] = 0 }
        }
    }
}
