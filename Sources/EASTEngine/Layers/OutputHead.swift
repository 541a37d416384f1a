import CKernels
import Foundation

/// The output head fused with log-softmax: for each position, the log-prob of
/// its target token, log p(target) = logit[target] - logsumexp(logits).
///
/// The logits are (B*T, vocab), 200 MB for 1024 tokens of a 49k vocabulary.
/// When they fit one chunk (`Activations` makes the chunk the whole batch up
/// to a memory budget) the backward reuses the forward's; otherwise they are
/// computed `chunkRows` rows at a time, each row reduced to three numbers,
/// and each chunk is computed again in backward (one more (chunk, C) x (C, V)
/// product per chunk, for less memory).
///
/// The losses only need the target log-probs, plus (for WPO weights) the
/// per-position log sum_v p(v)^2, which is also computed here.
enum OutputHead {
    /// hidden: (N, C) final-normed, weight: (V, C), targets: (N)
    /// scratch: (chunkRows, V), holding the last chunk's logits afterwards
    /// out: targetLogProbs (N), logSumExp (N), logSumSquaredProbs (N)
    static func forward(
        targetLogProbs: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
        logSumSquaredProbs: UnsafeMutablePointer<Float>,
        hidden: UnsafePointer<Float>, weight: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
        scratch: UnsafeMutablePointer<Float>, chunkRows: Int, N: Int, C: Int, V: Int
    ) {
        nonisolated(unsafe) let (lp, lse, lss, tg) = (targetLogProbs, logSumExp, logSumSquaredProbs, targets)
        for start in stride(from: 0, to: N, by: chunkRows) {
            let rows = min(chunkRows, N - start)
            Matmul.forward(out: scratch, inp: hidden + start * C, weight: weight, M: rows, K: C, N: V)
            nonisolated(unsafe) let chunk = scratch
            BLASThreads.shareRanges(rows, align: 1, minimum: 8) { r0, r1 in
                var stats: [Float] = [0, 0, 0]  // max, sum of exp(x - max), sum of its squares
                for r in r0..<r1 {
                    let n = start + r
                    let logits = chunk + r * V
                    east_softmax_stats(logits, V, &stats)
                    let (maxLogit, sum, sumSquares) = (stats[0], stats[1], stats[2])
                    let logSum = log(sum)
                    lse[n] = maxLogit + logSum
                    lp[n] = logits[Int(tg[n])] - lse[n]
                    // log sum_v p_v^2 = log sum_v e_v^2 - 2 log sum_v e_v
                    lss[n] = log(sumSquares) - 2 * logSum
                }
            }
        }
    }

    /// dlogp: (N) = dL/d targetLogProbs. With p = softmax(logits):
    ///   dlogits = dlogp * (onehot(target) - p)
    ///   dhidden = dlogits W (overwritten), dweight += dlogits^T hidden
    /// Rows with dlogp = 0 (prompt, padding) contribute nothing: only runs of
    /// rows with a gradient go through the products. `scratch` must still
    /// hold the forward's logits when N <= chunkRows.
    static func backward(
        dhidden: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>?,
        dlogp: UnsafePointer<Float>, hidden: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        targets: UnsafePointer<Int32>, logSumExp: UnsafePointer<Float>,
        scratch: UnsafeMutablePointer<Float>, chunkRows: Int, N: Int, C: Int, V: Int
    ) {
        dhidden.update(repeating: 0, count: N * C)
        let logitsKept = N <= chunkRows
        nonisolated(unsafe) let (g, lse, tg, chunk) = (dlogp, logSumExp, targets, scratch)
        for start in stride(from: 0, to: N, by: chunkRows) {
            let rows = min(chunkRows, N - start)
            let runs = runsOfGradient(dlogp + start, rows)
            if runs.isEmpty { continue }  // e.g. a chunk of prompt or padding: nothing flows back
            if !logitsKept {
                Matmul.forward(out: scratch, inp: hidden + start * C, weight: weight, M: rows, K: C, N: V)
            }
            for run in runs {
                // dlogits of the run's rows, in place of their logits
                BLASThreads.shareRanges(run.count, align: 1, minimum: 8) { r0, r1 in
                    for r in (run.lowerBound + r0)..<(run.lowerBound + r1) {
                        let n = start + r
                        let logits = chunk + r * V
                        east_scaled_exp(logits, V, lse[n], -g[n])
                        logits[Int(tg[n])] += g[n]
                    }
                }
                let first = start + run.lowerBound
                Matmul.backward(dinp: dhidden + first * C, dweight: dweight, dout: scratch + run.lowerBound * V,
                                inp: hidden + first * C, weight: weight, M: run.count, K: C, N: V)
            }
        }
    }

    /// The maximal runs of consecutive rows with a non-zero gradient.
    static func runsOfGradient(_ dlogp: UnsafePointer<Float>, _ rows: Int) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        var r = 0
        while r < rows {
            guard dlogp[r] != 0 else { r += 1; continue }
            let first = r
            while r < rows && dlogp[r] != 0 { r += 1 }
            runs.append(first..<r)
        }
        return runs
    }
}
