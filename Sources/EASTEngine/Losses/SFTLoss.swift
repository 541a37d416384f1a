/// Supervised fine-tuning: per example, the mean token cross-entropy over its
/// completion tokens, times that example's weight; averaged over examples.
///
///   L = (1/B) sum_b w_b * (1/n_b) sum_{t in completion_b} -log p(y_t)
///
/// Each example is weighted, not the batch mean: with EAST's weights a
/// question's answers count by how much the question is worth, and a long
/// answer does not count more than a short one.
public enum SFTLoss {
    public static func compute(_ out: TokenLogProbs, _ batch: TokenBatch, weights: [Float]) -> LossResult {
        let B = batch.batchSize, T = batch.seqLen
        precondition(weights.count == B, "SFTLoss: \(weights.count) weights for \(B) examples")
        var loss: Float = 0
        var d = [Float](repeating: 0, count: B * T)
        for b in 0..<B {
            let n = Float(max(1, batch.completionTokenCount(b)))
            let scale = weights[b] / (n * Float(B))
            for t in 0..<T where batch.lossMask[b * T + t] != 0 {
                loss -= scale * out.logProbs[b * T + t]
                d[b * T + t] = -scale
            }
        }
        return LossResult(loss: loss, dLogProbs: d)
    }
}
