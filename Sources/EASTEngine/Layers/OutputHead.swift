import Foundation

/// The output head fused with log-softmax: for each position, the log-prob of
/// its target token, log p(target) = logit[target] - logsumexp(logits).
///
/// Why fused and chunked: the full logits are (B*T, vocab), 200 MB for
/// 1024 tokens of a 49k vocabulary. We compute them `chunkRows` rows at a time,
/// keep only three numbers per row, and recompute the chunk in backward. That
/// costs one extra (chunk, C) x (C, V) sgemm per chunk and saves the memory.
///
/// The losses only need the target log-probs, plus (for WPO weights) the
/// per-position log sum_v p(v)^2, which is also computed here.
enum OutputHead {
    /// hidden: (N, C) final-normed, weight: (V, C), targets: (N)
    /// scratch: (chunkRows, V)
    /// out: targetLogProbs (N), logSumExp (N), logSumSquaredProbs (N)
    static func forward(
        targetLogProbs: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
        logSumSquaredProbs: UnsafeMutablePointer<Float>,
        hidden: UnsafePointer<Float>, weight: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
        scratch: UnsafeMutablePointer<Float>, chunkRows: Int, N: Int, C: Int, V: Int
    ) {
        for start in stride(from: 0, to: N, by: chunkRows) {
            let rows = min(chunkRows, N - start)
            Matmul.forward(out: scratch, inp: hidden + start * C, weight: weight, M: rows, K: C, N: V)
            for r in 0..<rows {
                let n = start + r
                let logits = scratch + r * V
                var maxLogit = -Float.infinity
                for v in 0..<V { maxLogit = max(maxLogit, logits[v]) }
                var sum: Float = 0, sumSquares: Float = 0
                for v in 0..<V {
                    let e = exp(logits[v] - maxLogit)
                    sum += e
                    sumSquares += e * e
                }
                let lse = maxLogit + log(sum)
                logSumExp[n] = lse
                targetLogProbs[n] = logits[Int(targets[n])] - lse
                // log sum_v p_v^2 = log sum_v e_v^2 - 2 log sum_v e_v
                logSumSquaredProbs[n] = log(sumSquares) - 2 * log(sum)
            }
        }
    }

    /// dlogp: (N) = dL/d targetLogProbs. With p = softmax(logits):
    ///   dlogits = dlogp * (onehot(target) - p)
    ///   dhidden = dlogits W (overwritten), dweight += dlogits^T hidden
    static func backward(
        dhidden: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>?,
        dlogp: UnsafePointer<Float>, hidden: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        targets: UnsafePointer<Int32>, logSumExp: UnsafePointer<Float>,
        scratch: UnsafeMutablePointer<Float>, chunkRows: Int, N: Int, C: Int, V: Int
    ) {
        for start in stride(from: 0, to: N, by: chunkRows) {
            let rows = min(chunkRows, N - start)
            var anyGradient = false
            for r in 0..<rows where dlogp[start + r] != 0 { anyGradient = true }
            if !anyGradient {  // e.g. a chunk of prompt or padding: nothing flows back
                (dhidden + start * C).update(repeating: 0, count: rows * C)
                continue
            }
            Matmul.forward(out: scratch, inp: hidden + start * C, weight: weight, M: rows, K: C, N: V)
            for r in 0..<rows {
                let n = start + r
                let g = dlogp[n]
                let logits = scratch + r * V
                let lse = logSumExp[n]
                for v in 0..<V { logits[v] = -g * exp(logits[v] - lse) }
                logits[Int(targets[n])] += g
            }
            Matmul.backward(dinp: dhidden + start * C, dweight: dweight, dout: scratch,
                            inp: hidden + start * C, weight: weight, M: rows, K: C, N: V)
        }
    }
}
