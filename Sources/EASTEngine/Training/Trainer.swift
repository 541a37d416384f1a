/// One optimizer step over one or more micro-batches (gradient accumulation):
/// zero gradients; for each micro-batch forward, loss, backward (gradients
/// add up, each loss scaled by 1/count so the step sees their mean); clip the
/// global norm; AdamW update at the scheduled learning rate.
///
/// A model with a LoRA adapter attached when the trainer is created trains
/// that adapter only: the gradients, clipping and AdamW cover the adapter's
/// block, and the base parameters are never written.
public final class Trainer {
    public let model: Transformer
    public let optimizer: AdamW
    public var schedule: LearningRateSchedule
    /// 0 disables clipping.
    public var maxGradientNorm: Float
    private var activations: Activations?
    /// The adapter being trained (nil: the whole model).
    private let adapter: LoRAAdapter?

    public struct StepReport: Sendable {
        public var loss: Float           // mean over micro-batches
        public var gradientNorm: Float   // before clipping
        public var learningRate: Float
    }

    public init(model: Transformer, optimizer: AdamW? = nil, schedule: LearningRateSchedule,
                maxGradientNorm: Float = 1.0) {
        self.model = model
        adapter = model.adapter
        if let adapter {
            self.optimizer = optimizer ?? AdamW(entries: adapter.layout.entries, count: adapter.parameterCount)
        } else {
            self.optimizer = optimizer ?? AdamW(layout: model.layout)
        }
        precondition(self.optimizer.m.count == (adapter?.parameterCount ?? model.parameterCount),
                     "Trainer: the optimizer was built for another parameter block")
        self.schedule = schedule
        self.maxGradientNorm = maxGradientNorm
    }

    /// `loss` turns a micro-batch's forward output into a `LossResult`
    /// (e.g. `{ SFTLoss.compute($0, $1, weights: ...) }`).
    @discardableResult
    public func step(_ microBatches: [TokenBatch], loss: (TokenLogProbs, TokenBatch) -> LossResult) -> StepReport {
        precondition(!microBatches.isEmpty)
        precondition(model.adapter === adapter, "Trainer: the model's adapter changed since the trainer was created")
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
        let (parameters, gradients) = adapter.map { ($0.parameters, $0.gradients) } ?? (model.parameters, model.gradients)
        let norm = GradientClipping.clip(gradients, maxNorm: maxGradientNorm)
        let lr = schedule.rate(at: optimizer.step)
        optimizer.update(parameters: parameters, gradients: gradients, lr: lr)
        if adapter == nil { model.parametersDidChange() }  // an adapter is applied unmerged: the base is unchanged
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
