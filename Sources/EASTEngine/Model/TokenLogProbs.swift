/// What the forward pass gives the losses, one value per position (B, T).
public struct TokenLogProbs: Sendable {
    /// log p(target) under the model (temperature 1).
    public var logProbs: [Float]
    /// log sum_v p(v)^2 at that position (used by the WPO weights).
    public var logSumSquaredProbs: [Float]

    public init(logProbs: [Float], logSumSquaredProbs: [Float]) {
        self.logProbs = logProbs
        self.logSumSquaredProbs = logSumSquaredProbs
    }
}
