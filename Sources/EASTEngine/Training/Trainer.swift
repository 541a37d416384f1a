/// One optimizer step over one or more micro-batches (gradient accumulation):
/// zero gradients; for each micro-batch forward, loss, backward (gradients
/// add up, each loss scaled by 1/count so the step sees their mean); clip the
/// global norm; AdamW update at the scheduled learning rate.
public final class Trainer {
    public let model: Transformer
    public let optimizer: AdamW
    public var schedule: LearningRateSchedule
    /// 0 disables clipping.
    public var maxGradientNorm: Float
    private var activations: Activations?

    public struct StepReport: Sendable {
        public var loss: Float           // mean over micro-batches
        public var gradientNorm: Float   // before clipping
        public var learningRate: Float
    }

    public init(model: Transformer, optimizer: AdamW? = nil, schedule: LearningRateSchedule,
                maxGradientNorm: Float = 1.0) {
        self.model = model
        self.optimizer = optimizer ?? AdamW(layout: model.layout)
        self.schedule = schedule
        self.maxGradientNorm = maxGradientNorm
    }

    /// `loss` turns a micro-batch's forward output into a `LossResult`
    /// (e.g. `{ SFTLoss.compute($0, $1, weights: ...) }`).
    @discardableResult
    public func step(_ microBatches: [TokenBatch], loss: (TokenLogProbs, TokenBatch) -> LossResult) -> StepReport {
        precondition(!microBatches.isEmpty)
        model.zeroGradients()
        var total: Float = 0
        let scale = 1 / Float(microBatches.count)
        for batch in microBatches {
            let acts = activations(for: batch)
            let out = model.forward(batch, acts)
            let result = loss(out, batch)
            total += result.loss
            model.backward(batch, acts, dLogProbs: result.dLogProbs.map { $0 * scale })
        }
        let norm = GradientClipping.clip(model.gradients, maxNorm: maxGradientNorm)
        let lr = schedule.rate(at: optimizer.step)
        optimizer.update(parameters: model.parameters, gradients: model.gradients, lr: lr)
        return StepReport(loss: total * scale, gradientNorm: norm, learningRate: lr)
    }

    /// Reuses the activation buffers; reallocates only for a larger batch shape.
    private func activations(for batch: TokenBatch) -> Activations {
        if let a = activations, a.batchSize >= batch.batchSize, a.seqLen >= batch.seqLen { return a }
        let a = Activations(config: model.config, batchSize: max(batch.batchSize, activations?.batchSize ?? 0),
                            seqLen: max(batch.seqLen, activations?.seqLen ?? 0))
        activations = a
        return a
    }
}
