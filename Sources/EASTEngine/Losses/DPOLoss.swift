import Foundation

/// Direct Preference Optimization (Rafailov et al. 2023), per-pair weighted:
///
///   L = (1/P) sum_p w_p * -log sigmoid(beta * ((lp_c - ref_c) - (lp_r - ref_r)))
///
/// lp = summed completion log-prob under the policy; ref = the same under the
/// frozen start model (computed once, no gradient).
///
/// Batch layout: rows 0..<P are the chosen answers, rows P..<2P the rejected
/// answers of the same pairs.
public enum DPOLoss {
    public static func compute(
        _ out: TokenLogProbs, _ batch: TokenBatch, referenceSums: [Float], weights: [Float], beta: Float
    ) -> LossResult {
        let B = batch.batchSize, P = B / 2
        precondition(B % 2 == 0 && weights.count == P && referenceSums.count == B,
                     "DPOLoss: need 2P rows (chosen, then rejected), P weights, 2P reference sums")
        let lp = SequenceLogProbs.sums(out.logProbs, batch)
        var loss: Float = 0
        var dSums = [Float](repeating: 0, count: B)
        for p in 0..<P {
            let margin = (lp[p] - referenceSums[p]) - (lp[P + p] - referenceSums[P + p])
            let z = beta * margin
            loss += weights[p] * negativeLogSigmoid(z) / Float(P)
            // d/dz -log sigmoid(z) = -(1 - sigmoid(z))
            let dz = -weights[p] * (1 - sigmoid(z)) / Float(P)
            dSums[p] = dz * beta
            dSums[P + p] = -dz * beta
        }
        return LossResult(loss: loss, dLogProbs: SequenceLogProbs.spread(dSums, batch))
    }
}
