import EASTCore
import EASTEngine

/// One training example with the question it answers (a batch on the queue
/// carries both, so the trainer needs nothing else).
public struct TrainingItem: Codable, Equatable, Sendable {
    public var question: String
    public var example: TrainingExample

    public init(question: String, example: TrainingExample) {
        (self.question, self.example) = (question, example)
    }
}

/// Stage 3 of an iteration: weighted SFT, DPO or KTO steps on the policy.
///
/// A session owns the optimizer and, for DPO and KTO, the frozen reference
/// (the policy as the iteration started). One `step` is one batch: the unit
/// the trainer worker consumes from its queue.
public final class TrainingSession {
    public let policy: Policy
    public let trainer: Trainer
    private let reference: Transformer?
    private let loss: LossKind
    private let weighting: RunWeighting
    private let beta: Float

    public convenience init(policy: Policy, spec: RunSpec, totalSteps: Int) {
        self.init(policy: policy, loss: spec.loss, weighting: spec.weighting, learningRate: spec.learningRate,
                  beta: spec.beta, totalSteps: totalSteps)
    }

    /// `reference` is the policy as the iteration started (default: `policy`
    /// frozen now, its adapter folded in; a trainer resuming mid-iteration
    /// passes the saved start).
    public init(policy: Policy, loss: LossKind, weighting: RunWeighting, learningRate: Float, beta: Float,
                totalSteps: Int, reference: Transformer? = nil, optimizer: AdamW? = nil) {
        self.policy = policy
        self.loss = loss
        self.weighting = weighting
        self.beta = beta
        self.reference = loss == .sft ? nil : (reference ?? policy.frozenModel())
        // Without an optimizer given, the Trainer builds one for what trains:
        // the adapter when one is attached, else the whole model.
        trainer = Trainer(
            model: policy.model, optimizer: optimizer,
            schedule: LearningRateSchedule(peak: learningRate, warmupSteps: min(10, totalSteps / 10),
                                           totalSteps: max(1, totalSteps), decay: .cosine))
    }

    /// Splits examples into batches in a seeded random order. A DPO pair or a
    /// KTO example counts as one item.
    public static func batches(_ items: [TrainingItem], size: Int, epochs: Int, seed: UInt64) -> [[TrainingItem]] {
        var rng = SeededGenerator(seed: seed, stream: 0xBA7C)
        var out: [[TrainingItem]] = []
        for _ in 0..<epochs {
            let order = items.shuffled(using: &rng)
            var start = 0
            while start < order.count {
                out.append(Array(order[start..<min(start + size, order.count)]))
                start += size
            }
        }
        return out
    }

    @discardableResult
    public func step(_ items: [TrainingItem]) -> Trainer.StepReport {
        let format = policy.format, tokenizer = policy.tokenizer
        func sequence(_ question: String, _ response: String) -> (prompt: [Int], completion: [Int]) {
            (format.prompt(question, tokenizer: tokenizer), format.completion(response, tokenizer: tokenizer))
        }
        let pad = tokenizer.padId
        switch loss {
        case .sft:
            let rows = items.compactMap { item -> (prompt: [Int], completion: [Int])? in
                guard case let .sft(_, response, _) = item.example else { return nil }
                return sequence(item.question, response)
            }
            precondition(rows.count == items.count, "SFT session given non-SFT examples")
            let questionWeights = items.map { Float($0.example.weight) }
            let batch = TokenBatch(sequences: rows, padId: pad)
            return trainer.step([batch]) { out, batch in
                SFTLoss.compute(out, batch, weights: zip(questionWeights, self.tokenWeights(out, batch)).map { $0 * $1 })
            }
        case .dpo:
            var chosen: [(prompt: [Int], completion: [Int])] = [], rejected = chosen
            for item in items {
                guard case let .dpo(_, c, r, _) = item.example else { preconditionFailure("DPO session given non-DPO examples") }
                chosen.append(sequence(item.question, c))
                rejected.append(sequence(item.question, r))
            }
            let batch = TokenBatch(sequences: chosen + rejected, padId: pad)
            let referenceSums = SequenceLogProbs.sums(of: reference!, on: batch)
            let pairWeights = items.map { Float($0.example.weight) }
            let beta = self.beta
            return trainer.step([batch]) { out, batch in
                let token = ExampleWeights.pairProduct(self.tokenWeights(out, batch))
                return DPOLoss.compute(out, batch, referenceSums: referenceSums,
                                       weights: zip(pairWeights, token).map { $0 * $1 }, beta: beta)
            }
        case .kto:
            var rows: [(prompt: [Int], completion: [Int])] = [], desirable: [Bool] = []
            for item in items {
                guard case let .kto(_, response, good, _) = item.example else { preconditionFailure("KTO session given non-KTO examples") }
                rows.append(sequence(item.question, response))
                desirable.append(good)
            }
            let batch = TokenBatch(sequences: rows, padId: pad)
            let referenceSums = SequenceLogProbs.sums(of: reference!, on: batch)
            // z0: the policy/reference KL on mismatched prompt-completion pairs, detached.
            let klBatch = TokenBatch(sequences: KTOLoss.mismatchedPairs(rows), padId: pad)
            let z0 = KTOLoss.klEstimate(policySums: SequenceLogProbs.sums(of: policy.model, on: klBatch),
                                        referenceSums: SequenceLogProbs.sums(of: reference!, on: klBatch))
            let exampleWeights = items.map { Float($0.example.weight) }
            let settings = KTOLoss.Settings(beta: beta)
            return trainer.step([batch]) { out, batch in
                KTOLoss.compute(out, batch, referenceSums: referenceSums, desirable: desirable,
                                weights: zip(exampleWeights, self.tokenWeights(out, batch)).map { $0 * $1 },
                                klEstimate: z0, settings: settings)
            }
        }
    }

    /// Per-row token-level weights of the LW baselines (1 otherwise).
    private func tokenWeights(_ out: TokenLogProbs, _ batch: TokenBatch) -> [Float] {
        switch weighting {
        case .lwp: return ExampleWeights.perplexity(out, batch)
        case .lww: return ExampleWeights.wpo(out, batch)
        default: return [Float](repeating: 1, count: batch.batchSize)
        }
    }
}
