/// What every loss returns: its value, and dL/d log p(target) at every
/// position (B, T), which is exactly what `Transformer.backward` takes.
public struct LossResult: Sendable {
    public var loss: Float
    /// (B, T); zero at prompt and padding positions.
    public var dLogProbs: [Float]
}
