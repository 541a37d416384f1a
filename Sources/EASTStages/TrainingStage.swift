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

/// What one optimizer step did: its loss and learning rate, and the mean
/// log-probability (summed over a response's tokens) that the policy gave the
/// batch's preferred responses (SFT's targets, DPO's chosen, KTO's desirable)
/// and its dispreferred ones (DPO's rejected, KTO's undesirable; nil for SFT),
/// as measured in the step's forward pass; nil where the batch held none (a
/// KTO batch can hold only desirable or only undesirable examples). A preference run whose chosen
/// responses lose probability too is collapsing, and shows it here.
public struct TrainingStep: Codable, Equatable, Sendable {
    public var loss: Double
    public var learningRate: Double
    public var chosenLogProb: Double?
    public var rejectedLogProb: Double?

    public init(loss: Double, learningRate: Double, chosenLogProb: Double?, rejectedLogProb: Double?) {
        (self.loss, self.learningRate, self.chosenLogProb, self.rejectedLogProb) = (loss, learningRate, chosenLogProb, rejectedLogProb)
    }

    enum CodingKeys: String, CodingKey {
        case loss, learningRate = "learning_rate", chosenLogProb = "chosen_log_prob", rejectedLogProb = "rejected_log_prob"
    }
}

extension Array where Element == TrainingStep {
    /// The preferred responses' mean log-probability over the first and over
    /// the last tenth of the steps that had any: windows of many batches, so
    /// that the change is the policy's, not one batch's questions against another's.
    public var chosenFirstLast: (first: Double, last: Double)? { Self.firstLast(compactMap(\.chosenLogProb)) }
    /// The same for the dispreferred responses.
    public var rejectedFirstLast: (first: Double, last: Double)? { Self.firstLast(compactMap(\.rejectedLogProb)) }

    static func firstLast(_ values: [Double]) -> (first: Double, last: Double)? {
        guard !values.isEmpty else { return nil }
        let window = Swift.max(1, values.count / 10)
        func mean(_ part: ArraySlice<Double>) -> Double { part.reduce(0, +) / Double(part.count) }
        return (mean(values.prefix(window)), mean(values.suffix(window)))
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
    private let spec: RunSpec

    /// `reference` is the policy as the iteration started (default: `policy`
    /// frozen now, its adapter folded in; a trainer resuming mid-iteration
    /// passes the saved start). `optimizer`: a resumed one (default: a new
    /// one over what trains, the adapter when one is attached).
    public init(policy: Policy, spec: RunSpec, totalSteps: Int, reference: Transformer? = nil, optimizer: AdamW? = nil) {
        self.policy = policy
        self.spec = spec
        self.reference = spec.loss == .sft ? nil : (reference ?? policy.frozenModel())
        let adam = optimizer ?? policy.model.adapter.map { AdamW(entries: $0.layout.entries, count: $0.parameterCount, settings: spec.optimizer) }
            ?? AdamW(layout: policy.model.layout, settings: spec.optimizer)
        trainer = Trainer(model: policy.model, optimizer: adam, schedule: spec.learningRateSchedule(totalSteps: totalSteps),
                          maxGradientNorm: spec.maxGradientNorm)
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
    public func step(_ items: [TrainingItem]) -> TrainingStep {
        let format = policy.format, tokenizer = policy.tokenizer
        func sequence(_ question: String, _ response: String) -> (prompt: [Int], completion: [Int]) {
            (format.prompt(question, tokenizer: tokenizer), format.completion(response, tokenizer: tokenizer))
        }
        func mean(_ values: [Float]) -> Double { values.isEmpty ? 0 : Double(values.reduce(0, +)) / Double(values.count) }
        let pad = tokenizer.padId
        // The policy's summed log-prob of each row, from the step's own forward pass.
        var rowLogProbs: [Float] = []
        let report: Trainer.StepReport
        let preferred: (Int) -> Bool
        switch spec.loss {
        case .sft:
            let rows = items.compactMap { item -> (prompt: [Int], completion: [Int])? in
                guard case let .sft(_, response, _) = item.example else { return nil }
                return sequence(item.question, response)
            }
            precondition(rows.count == items.count, "SFT session given non-SFT examples")
            let questionWeights = items.map { Float($0.example.weight) }
            let batch = TokenBatch(sequences: rows, padId: pad)
            report = trainer.step([batch]) { out, batch in
                rowLogProbs = SequenceLogProbs.sums(out.logProbs, batch)
                return SFTLoss.compute(out, batch, weights: zip(questionWeights, self.tokenWeights(out, batch)).map { $0 * $1 })
            }
            preferred = { _ in true }
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
            let beta = spec.beta
            report = trainer.step([batch]) { out, batch in
                rowLogProbs = SequenceLogProbs.sums(out.logProbs, batch)
                let token = ExampleWeights.pairProduct(self.tokenWeights(out, batch))
                return DPOLoss.compute(out, batch, referenceSums: referenceSums,
                                       weights: zip(pairWeights, token).map { $0 * $1 }, beta: beta)
            }
            let pairs = items.count
            preferred = { $0 < pairs }
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
            let settings = KTOLoss.Settings(beta: spec.beta)
            report = trainer.step([batch]) { out, batch in
                rowLogProbs = SequenceLogProbs.sums(out.logProbs, batch)
                return KTOLoss.compute(out, batch, referenceSums: referenceSums, desirable: desirable,
                                       weights: zip(exampleWeights, self.tokenWeights(out, batch)).map { $0 * $1 },
                                       klEstimate: z0, settings: settings)
            }
            preferred = { desirable[$0] }
        }
        let rows = rowLogProbs.indices
        let good = rows.filter(preferred).map { rowLogProbs[$0] }, bad = rows.filter { !preferred($0) }.map { rowLogProbs[$0] }
        return TrainingStep(loss: Double(report.loss), learningRate: Double(report.learningRate), chosenLogProb: good.isEmpty ? nil : mean(good),
                            rejectedLogProb: spec.loss == .sft || bad.isEmpty ? nil : mean(bad))
    }

    /// Per-row token-level weights of the LW baselines (1 otherwise).
    private func tokenWeights(_ out: TokenLogProbs, _ batch: TokenBatch) -> [Float] {
        switch spec.weighting {
        case .lwp: return ExampleWeights.perplexity(out, batch)
        case .lww: return ExampleWeights.wpo(out, batch)
        default: return [Float](repeating: 1, count: batch.batchSize)
        }
    }
}
