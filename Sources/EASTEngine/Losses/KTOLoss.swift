import Foundation

/// Kahneman-Tversky Optimization as TRL's `KTOTrainer` computes it, per-example weighted.
///
///   r  = lp - ref                     (summed completion log-probs, policy minus reference)
///   z0 = max(0, mean_i [lp(y_j | x_i) - ref(y_j | x_i)])   over mismatched pairs, detached
///   desirable:   lambdaD * (1 - sigmoid(beta * (r - z0)))
///   undesirable: lambdaU * (1 - sigmoid(beta * (z0 - r)))
///   L = (1/B) sum_b w_b * loss_b
///
/// z0 estimates the KL between policy and reference; TRL takes it from the
/// same batch with completions paired to the wrong prompts (`mismatchedPairs`).
public enum KTOLoss {
    public struct Settings: Sendable {
        public var beta: Float = 0.1
        public var desirableWeight: Float = 1   // lambdaD
        public var undesirableWeight: Float = 1 // lambdaU
        public init(beta: Float = 0.1, desirableWeight: Float = 1, undesirableWeight: Float = 1) {
            self.beta = beta
            self.desirableWeight = desirableWeight
            self.undesirableWeight = undesirableWeight
        }
    }

    /// The KL batch: example i's prompt with example (i+1) mod B's completion
    /// (TRL shifts the completions by one in the same way).
    public static func mismatchedPairs(_ examples: [(prompt: [Int], completion: [Int])])
        -> [(prompt: [Int], completion: [Int])]
    {
        examples.indices.map { i in
            (prompt: examples[i].prompt, completion: examples[(i + 1) % examples.count].completion)
        }
    }

    /// z0 = max(0, mean(policy - reference)) of the mismatched pairs' summed log-probs.
    public static func klEstimate(policySums: [Float], referenceSums: [Float]) -> Float {
        guard !policySums.isEmpty else { return 0 }
        let mean = zip(policySums, referenceSums).reduce(Float(0)) { $0 + $1.0 - $1.1 } / Float(policySums.count)
        return max(0, mean)
    }

    public static func compute(
        _ out: TokenLogProbs, _ batch: TokenBatch, referenceSums: [Float], desirable: [Bool],
        weights: [Float], klEstimate z0: Float, settings: Settings
    ) -> LossResult {
        let B = batch.batchSize
        precondition(referenceSums.count == B && desirable.count == B && weights.count == B,
                     "KTOLoss: need one reference sum, label and weight per example")
        let lp = SequenceLogProbs.sums(out.logProbs, batch)
        let beta = settings.beta
        var loss: Float = 0
        var dSums = [Float](repeating: 0, count: B)
        for b in 0..<B {
            let r = lp[b] - referenceSums[b]
            let scale = weights[b] / Float(B)
            if desirable[b] {
                let s = sigmoid(beta * (r - z0))
                loss += scale * settings.desirableWeight * (1 - s)
                dSums[b] = -scale * settings.desirableWeight * beta * s * (1 - s)
            } else {
                let s = sigmoid(beta * (z0 - r))
                loss += scale * settings.undesirableWeight * (1 - s)
                dSums[b] = scale * settings.undesirableWeight * beta * s * (1 - s)
            }
        }
        return LossResult(loss: loss, dLogProbs: SequenceLogProbs.spread(dSums, batch))
    }
}
