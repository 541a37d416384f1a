/// Sequence-level log-probs from the per-position ones.
public enum SequenceLogProbs {
    /// log p(completion | prompt) of each sequence: the sum over its
    /// completion positions. (B)
    public static func sums(_ logProbs: [Float], _ batch: TokenBatch) -> [Float] {
        let T = batch.seqLen
        return (0..<batch.batchSize).map { b in
            var sum: Float = 0
            for t in 0..<T { sum += batch.lossMask[b * T + t] * logProbs[b * T + t] }
            return sum
        }
    }

    /// Runs `model` forward (no backward) and returns each sequence's summed
    /// completion log-prob: the reference numbers of DPO and KTO, computed once
    /// with the frozen start model, and KTO's mismatched-pair KL terms.
    public static func sums(of model: Transformer, on batch: TokenBatch, activations: Activations? = nil) -> [Float] {
        let acts = activations ?? Activations(config: model.config, batchSize: batch.batchSize, seqLen: batch.seqLen)
        return sums(model.forward(batch, acts).logProbs, batch)
    }

    /// Mean log-prob per completion token of each sequence. (B)
    public static func means(_ logProbs: [Float], _ batch: TokenBatch) -> [Float] {
        let sums = sums(logProbs, batch)
        return (0..<batch.batchSize).map { sums[$0] / Float(max(1, batch.completionTokenCount($0))) }
    }

    /// A gradient with respect to each sequence's summed log-prob, spread to
    /// its completion positions (d sum / d logp_t = 1 there). (B) -> (B, T)
    public static func spread(_ dSums: [Float], _ batch: TokenBatch) -> [Float] {
        let T = batch.seqLen
        var d = [Float](repeating: 0, count: batch.batchSize * T)
        for b in 0..<batch.batchSize {
            for t in 0..<T { d[b * T + t] = batch.lossMask[b * T + t] * dSums[b] }
        }
        return d
    }
}
