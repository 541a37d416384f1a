import EASTEngine
import Testing

/// The losses plugged into the model end to end: a frozen reference model,
/// sequence log-probs, a few optimizer steps.
@Suite struct PreferenceTrainingTests {
    static let config = ModelConfig(vocabSize: 16, dim: 32, layers: 2, heads: 4, kvHeads: 2, hiddenDim: 64, maxSeqLen: 32)

    static func sums(_ model: Transformer, _ batch: TokenBatch) -> [Float] {
        SequenceLogProbs.sums(of: model, on: batch)
    }

    @Test func dpoRaisesTheChosenOverTheRejected() throws {
        let policy = try Transformer(config: Self.config, seed: 3)
        let reference = policy.copy()
        // two pairs: rows 0, 1 chosen; rows 2, 3 rejected
        let batch = TokenBatch(sequences: [
            (prompt: [1, 5], completion: [6, 7, 2]), (prompt: [1, 8], completion: [9, 2]),
            (prompt: [1, 5], completion: [10, 11, 2]), (prompt: [1, 8], completion: [12, 13, 2]),
        ], padId: 0)
        let referenceSums = Self.sums(reference, batch)
        let trainer = Trainer(model: policy, schedule: LearningRateSchedule(peak: 3e-3, totalSteps: 20))
        var losses: [Float] = []
        for _ in 0..<20 {
            losses.append(trainer.step([batch]) {
                DPOLoss.compute($0, $1, referenceSums: referenceSums, weights: [1, 1], beta: 0.5)
            }.loss)
        }
        #expect(abs(losses[0] - 0.6931472) < 1e-4)  // policy == reference: -log sigmoid(0)
        #expect(losses.last! < 0.5 * losses[0])
        let after = Self.sums(policy, batch)
        for p in 0..<2 {
            #expect(after[p] - after[2 + p] > referenceSums[p] - referenceSums[2 + p])
        }
    }

    @Test func ktoWithMismatchedPairsBaseline() throws {
        let policy = try Transformer(config: Self.config, seed: 4)
        let reference = policy.copy()
        let examples: [(prompt: [Int], completion: [Int])] = [
            ([1, 5], [6, 7, 2]), ([1, 8], [9, 2]), ([1, 3], [10, 11, 2]), ([1, 4], [12, 2]),
        ]
        let desirable = [true, true, false, false]
        let batch = TokenBatch(sequences: examples, padId: 0)
        let klBatch = TokenBatch(sequences: KTOLoss.mismatchedPairs(examples), padId: 0)
        #expect(KTOLoss.mismatchedPairs(examples)[0].completion == [9, 2])
        let referenceSums = Self.sums(reference, batch)
        let referenceKL = Self.sums(reference, klBatch)
        let trainer = Trainer(model: policy, schedule: LearningRateSchedule(peak: 3e-3, totalSteps: 20))
        for _ in 0..<20 {
            let z0 = KTOLoss.klEstimate(policySums: Self.sums(policy, klBatch), referenceSums: referenceKL)
            trainer.step([batch]) {
                KTOLoss.compute($0, $1, referenceSums: referenceSums, desirable: desirable, weights: [1, 1, 1, 1],
                                klEstimate: z0, settings: .init(beta: 0.5))
            }
        }
        let after = Self.sums(policy, batch)
        for b in 0..<4 {
            if desirable[b] { #expect(after[b] > referenceSums[b]) } else { #expect(after[b] < referenceSums[b]) }
        }
    }

    @Test func largerActivationBuffersGiveTheSameResult() throws {
        let model = try Transformer(config: Self.config, seed: 5)
        let batch = TokenBatch(sequences: [(prompt: [1, 2], completion: [3, 4]), (prompt: [1], completion: [5])], padId: 0)
        let exact = Activations(config: Self.config, batchSize: 2, seqLen: 3)
        let larger = Activations(config: Self.config, batchSize: 5, seqLen: 9)
        #expect(model.forward(batch, exact).logProbs == model.forward(batch, larger).logProbs)
        let d = batch.lossMask.map { -$0 }
        model.zeroGradients()
        model.forward(batch, exact)
        model.backward(batch, exact, dLogProbs: d)
        let g1 = model.gradients.array
        model.zeroGradients()
        model.forward(batch, larger)
        model.backward(batch, larger, dLogProbs: d)
        #expect(model.gradients.array == g1)
    }
}
