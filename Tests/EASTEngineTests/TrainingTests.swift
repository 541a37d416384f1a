import EASTEngine
import Testing

@Suite struct TrainingTests {
    @Test func scheduleWarmsUpThenDecays() {
        let cosine = LearningRateSchedule(peak: 1, warmupSteps: 4, totalSteps: 14, decay: .cosine, minRatio: 0.1)
        #expect(cosine.rate(at: 0) == 0.25 && cosine.rate(at: 3) == 1)
        #expect(abs(cosine.rate(at: 9) - 0.55) < 1e-6)   // halfway: (1 + 0.1) / 2
        #expect(abs(cosine.rate(at: 14) - 0.1) < 1e-6 && abs(cosine.rate(at: 100) - 0.1) < 1e-6)
        let linear = LearningRateSchedule(peak: 2, warmupSteps: 0, totalSteps: 10, decay: .linear, minRatio: 0)
        #expect(linear.rate(at: 0) == 2 && abs(linear.rate(at: 5) - 1) < 1e-6 && linear.rate(at: 10) == 0)
    }

    @Test func clippingScalesToMaxNorm() {
        let g = FloatBuffer([3, 4])
        #expect(GradientClipping.clip(g, maxNorm: 1) == 5)
        #expect(abs(g[0] - 0.6) < 1e-6 && abs(g[1] - 0.8) < 1e-6)
        #expect(GradientClipping.clip(g, maxNorm: 10) == 1 && g[0] == 0.6)
    }

    @Test func adamWFirstStepMovesBySignTimesLR() throws {
        let config = ModelConfig(vocabSize: 5, dim: 4, layers: 1, heads: 2, kvHeads: 1, hiddenDim: 6, maxSeqLen: 8)
        let layout = ParameterLayout(config: config)
        let adam = AdamW(layout: layout, settings: .init(weightDecay: 0.5))
        let p = FloatBuffer(count: layout.totalCount), g = FloatBuffer(count: layout.totalCount)
        for i in 0..<p.count { p[i] = 1; g[i] = i % 2 == 0 ? 2 : -3 }
        adam.update(parameters: p, gradients: g, lr: 0.1)
        // bias-corrected first step: mhat/sqrt(vhat) = sign(g); decay only on matrices
        let norm = layout["model.layers.0.input_layernorm.weight"]!.offset
        let matrix = layout["model.embed_tokens.weight"]!.offset
        #expect(abs(p[matrix] - (1 - 0.1 * (1 + 0.5))) < 1e-5)
        #expect(abs(p[norm] - (1 - 0.1 * (norm % 2 == 0 ? 1 : -1))) < 1e-5)
    }

    @Test func tinyModelOverfitsAFewSequences() throws {
        let config = ModelConfig(vocabSize: 16, dim: 32, layers: 2, heads: 4, kvHeads: 2, hiddenDim: 64, maxSeqLen: 32)
        let model = try Transformer(config: config, seed: 7)
        let batch = TokenBatch(sequences: [
            (prompt: [1, 5], completion: [9, 3, 12, 4, 2]),
            (prompt: [1, 6, 7], completion: [10, 11, 2]),
            (prompt: [1], completion: [13, 14, 15, 8, 9, 2]),
        ], padId: 0)
        let trainer = Trainer(model: model,
                              schedule: LearningRateSchedule(peak: 1e-2, warmupSteps: 5, totalSteps: 80),
                              maxGradientNorm: 1)
        var first: Float = 0, last: Float = 0
        for step in 0..<80 {
            // two micro-batches: the same batch, to exercise accumulation
            let report = trainer.step([batch, batch]) { SFTLoss.compute($0, $1, weights: [1, 1, 1]) }
            if step == 0 { first = report.loss }
            last = report.loss
        }
        #expect(first > 2)           // about log(16) = 2.77 at the start
        #expect(last < 0.05 * first, "loss went from \(first) to \(last)")
    }
}
