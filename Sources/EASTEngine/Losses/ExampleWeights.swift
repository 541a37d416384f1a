import Foundation

/// Token-level baselines that turn the model's own confidence into per-example
/// weights. They are detached: computed from the forward's numbers and passed
/// to a loss as plain `weights`, so no gradient flows through them.
public enum ExampleWeights {
    /// LW(P): each example's perplexity under the current policy divided by the
    /// batch's mean perplexity (so the weights average to 1).
    /// perplexity_b = exp(-mean over completion tokens of log p(y_t)).
    public static func perplexity(_ out: TokenLogProbs, _ batch: TokenBatch) -> [Float] {
        let ppl = SequenceLogProbs.means(out.logProbs, batch).map { exp(-$0) }
        let mean = ppl.reduce(0, +) / Float(ppl.count)
        return ppl.map { $0 / mean }
    }

    /// LW(W), WPO's weight: exp(mean_t [log p(y_t) - log sum_v p(v)^2]).
    /// log sum_v p(v)^2 is the log-prob of the policy's own "typical" token,
    /// so the weight compares the answer with what the policy would have sampled.
    public static func wpo(_ out: TokenLogProbs, _ batch: TokenBatch) -> [Float] {
        let T = batch.seqLen
        return (0..<batch.batchSize).map { b in
            var sum: Float = 0
            for t in 0..<T where batch.lossMask[b * T + t] != 0 {
                sum += out.logProbs[b * T + t] - out.logSumSquaredProbs[b * T + t]
            }
            return exp(sum / Float(max(1, batch.completionTokenCount(b))))
        }
    }

    /// For DPO: the weight of a pair is the product of its chosen and rejected
    /// answers' weights (rows 0..<P chosen, P..<2P rejected).
    public static func pairProduct(_ rowWeights: [Float]) -> [Float] {
        let P = rowWeights.count / 2
        return (0..<P).map { rowWeights[$0] * rowWeights[P + $0] }
    }
}
