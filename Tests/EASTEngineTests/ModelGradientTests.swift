import EASTCore
import Foundation
import EASTEngine
import Testing

/// The whole model's backward against finite differences of its forward.
@Suite struct ModelGradientTests {
    static func tinyConfig(tied: Bool) -> ModelConfig {
        ModelConfig(vocabSize: 11, dim: 8, layers: 2, heads: 2, kvHeads: 1, hiddenDim: 12,
                    ropeTheta: 10_000, rmsNormEps: 1e-5, tiedEmbeddings: tied, maxSeqLen: 16)
    }

    /// Two sequences of different lengths: padding and prompt tokens carry no loss.
    static let batch = TokenBatch(
        sequences: [(prompt: [1, 4], completion: [5, 6, 2]), (prompt: [1, 7, 8, 9], completion: [3, 2])],
        padId: 0)

    @Test func layoutUsesHuggingFaceNames() throws {
        let untied = ParameterLayout(config: Self.tinyConfig(tied: false))
        #expect(untied.entries.first?.name == "model.embed_tokens.weight")
        #expect(untied["model.layers.1.self_attn.k_proj.weight"]?.shape == [4, 8])
        #expect(untied["model.layers.0.mlp.down_proj.weight"]?.shape == [8, 12])
        #expect(untied["lm_head.weight"] != nil)
        let tied = ParameterLayout(config: Self.tinyConfig(tied: true))
        #expect(tied["lm_head.weight"] == nil)
        #expect(tied.outputHead == tied.embedding)
        #expect(untied.totalCount == tied.totalCount + 11 * 8)
    }

    @Test func batchMasksPromptAndPadding() {
        let b = Self.batch
        #expect(b.seqLen == 5)
        #expect(b.lossMask == [0, 1, 1, 1, 0, /**/ 0, 0, 0, 1, 1])
        #expect(b.inputs[0..<5] == [1, 4, 5, 6, 0])
        #expect(b.targets[5..<10] == [7, 8, 9, 3, 2])
    }

    /// Qwen2's q/k/v biases and Llama 3's scaled RoPE together; an original
    /// context of 16 puts the tiny heads' two frequencies in the smoothed and
    /// the divided band (the kept band is plain RoPE, checked above).
    static func qwen2Llama3Config(tied: Bool) -> ModelConfig {
        var c = tinyConfig(tied: tied)
        c.attentionBias = true
        c.ropeTheta = 100
        c.ropeScaling = RoPEScaling(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16)
        return c
    }

    @Test func biasesAreInTheLayoutAndStartAtZero() throws {
        let c = Self.qwen2Llama3Config(tied: true)
        let model = try Transformer(config: c, seed: 1)
        #expect(model.layout["model.layers.1.self_attn.q_proj.bias"]?.shape == [8])
        #expect(model.layout["model.layers.1.self_attn.k_proj.bias"]?.shape == [4])
        #expect(model.layout["model.layers.1.self_attn.v_proj.bias"]?.shape == [4])
        #expect(model.layout["model.layers.1.self_attn.o_proj.bias"] == nil)
        #expect(model.tensor("model.layers.0.self_attn.v_proj.bias") == [0, 0, 0, 0])
        #expect(model.parameterCount == ParameterLayout(config: Self.tinyConfig(tied: true)).totalCount + 2 * (8 + 4 + 4))
        // headDim 4, theta 100: frequencies 1 and 0.1, wavelengths 6.3 (between 16 / 4 and 16:
        // smoothed) and 63 (> 16: divided by 8)
        let f = c.ropeFrequencies, s = (16 / (2 * Double.pi) - 1) / 3
        #expect(abs(f[0] - ((1 - s) / 8 + s)) < 1e-12 && abs(f[1] - 0.1 / 8) < 1e-12)
    }

    @Test(arguments: [true, false]) func wholeModelGradient(tied: Bool) throws {
        try checkWholeModel(Self.tinyConfig(tied: tied))
    }

    @Test(arguments: [true, false]) func wholeModelGradientWithBiasesAndScaledRoPE(tied: Bool) throws {
        try checkWholeModel(Self.qwen2Llama3Config(tied: tied))
    }

    /// head_dim 6 with dim 8 and 2 heads: q_proj (12, 8), o_proj (8, 12).
    @Test func wholeModelGradientWithExplicitHeadDim() throws {
        var c = Self.qwen2Llama3Config(tied: false)
        c.headDim = 6
        try checkWholeModel(c)
    }

    func checkWholeModel(_ config: ModelConfig) throws {
        let tied = config.tiedEmbeddings
        let model = try Transformer(config: config, seed: 42)
        // Larger weights than the 0.02 init so that every path carries signal.
        let start = randomFloats(model.parameterCount, seed: 3, scale: 0.5)
        for entry in model.layout.entries where !entry.isMatrix {
            for i in 0..<entry.count {
                model.parameters[entry.offset + i] = entry.isBias ? start[entry.offset + i] : 1 + start[entry.offset + i] * 0.2
            }
        }
        for entry in model.layout.entries where entry.isMatrix {
            for i in 0..<entry.count { model.parameters[entry.offset + i] = start[entry.offset + i] }
        }
        let acts = Activations(config: model.config, batchSize: 2, seqLen: 5, chunkRows: 3)
        let batch = Self.batch
        // loss = -sum of masked log-probs with per-position weights
        let tokenWeights = batch.lossMask.enumerated().map { -$1 * (1 + Float($0 % 3)) }
        func loss(_ params: [Float]) -> Double {
            model.parameters.copy(from: params)
            return weightedSum(model.forward(batch, acts).logProbs, tokenWeights)
        }
        let params = model.parameters.array
        _ = loss(params)
        model.zeroGradients()
        model.backward(batch, acts, dLogProbs: tokenWeights)
        let grads = model.gradients.array

        // 1. every parameter, one at a time
        checkGradient("params", values: params, analytic: grads, eps: 2e-3, relative: 3e-2, absolute: 3e-3, loss: loss)
        // 2. directional derivatives along random directions: all gradients at once.
        // The Float32 loss's rounding over the whole forward (about 1e-5 here)
        // divided by 2 eps gives the central difference a noise of about 5e-3,
        // which differs with the BLAS kernels' summation order (OpenBLAS's
        // Haswell kernels on the AVX2 path): 2% leaves room for it; a wrong
        // gradient is off by far more.
        for seed in 0..<3 as Range<UInt64> {
            let d = randomFloats(params.count, seed: 100 + seed)
            let eps: Float = 1e-3
            let plus = zip(params, d).map { $0 + eps * $1 }, minus = zip(params, d).map { $0 - eps * $1 }
            let numeric = (loss(plus) - loss(minus)) / Double(2 * eps)
            let analytic = zip(grads, d).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            #expect(abs(numeric - analytic) < 2e-2 * abs(analytic) + 1e-3, "direction \(seed): \(analytic) vs \(numeric)")
        }
        // untied, the padding token's embedding row (id 0 is only ever an input at
        // padded positions) gets exactly no gradient: nothing attends to a later position
        if !tied {
            let embedding = model.layout["model.embed_tokens.weight"]!
            #expect(grads[embedding.offset ..< embedding.offset + 8].allSatisfy { $0 == 0 })
        }
        #expect(grads.contains { $0 != 0 })
        for entry in model.layout.entries where entry.isBias {  // every bias learns
            #expect(grads[entry.offset ..< entry.offset + entry.count].contains { $0 != 0 }, "\(entry.name)")
        }
    }
}
