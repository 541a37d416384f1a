import EASTCore
@testable import EASTEngine
import Foundation
import Testing

/// LoRA: the adapter's gradients against finite differences, B = 0 leaves the
/// base model's output unchanged, training moves only the adapter, cached
/// sampling and merging agree with the training forward, PEFT files round-trip.
@Suite struct LoRATests {
    static let allTargets = LoRATarget.allCases

    /// The tiny model of the whole-model gradient test, with larger weights so every path carries signal.
    /// With `qwen2Llama3`, the model has q/k/v biases and Llama 3's RoPE scaling.
    static func model(tied: Bool = false, qwen2Llama3: Bool = false) throws -> Transformer {
        let config = qwen2Llama3 ? ModelGradientTests.qwen2Llama3Config(tied: tied) : ModelGradientTests.tinyConfig(tied: tied)
        let model = try Transformer(config: config, seed: 42)
        let start = randomFloats(model.parameterCount, seed: 3, scale: 0.5)
        for e in model.layout.entries where e.isMatrix || e.isBias {
            for i in 0..<e.count { model.parameters[e.offset + i] = start[e.offset + i] }
        }
        return model
    }

    /// An adapter with B random too (a fresh one has B = 0, which hides A's gradient).
    static func adapter(for model: Transformer, targets: [LoRATarget] = allTargets, rank: Int = 2,
                        seed: UInt64 = 11) throws -> LoRAAdapter {
        let adapter = try LoRAAdapter(config: LoRAConfig(rank: rank, alpha: 4, targets: targets),
                                      modelConfig: model.config, seed: seed)
        let noise = randomFloats(adapter.parameterCount, seed: seed + 1, scale: 0.5)
        for e in adapter.layout.entries where e.name.hasSuffix("lora_B.weight") {
            for i in 0..<e.count { adapter.parameters[e.offset + i] = noise[e.offset + i] }
        }
        return adapter
    }

    /// Finite differences of every entry, summarised for the report: the
    /// relative error of the whole gradient, ||analytic - numeric|| / ||numeric||,
    /// and the largest entry-wise relative error among entries of at least 10%
    /// of the largest (smaller ones are dominated by Float rounding of the loss).
    static func relativeErrors(values: [Float], analytic: [Float], eps: Float,
                               loss: ([Float]) -> Double) -> (global: Double, maxEntry: Double) {
        var numeric = [Double](repeating: 0, count: values.count)
        for i in values.indices {
            var plus = values, minus = values
            plus[i] += eps
            minus[i] -= eps
            numeric[i] = (loss(plus) - loss(minus)) / Double(2 * eps)
        }
        var diff = 0.0, norm = 0.0, worst = 0.0
        let large = 0.1 * numeric.map(abs).max()!
        for i in values.indices {
            let d = Double(analytic[i]) - numeric[i]
            diff += d * d
            norm += numeric[i] * numeric[i]
            if abs(numeric[i]) >= large { worst = max(worst, abs(d) / abs(numeric[i])) }
        }
        return ((diff / norm).squareRoot(), worst)
    }

    @Test func loraLinearGradients() {
        let M = 3, K = 5, N = 4, r = 2
        let scale: Float = 1.5
        let x = randomFloats(M * K, seed: 1), a = randomFloats(r * K, seed: 2)
        let b = randomFloats(N * r, seed: 3), dy = randomFloats(M * N, seed: 4)
        func f(_ x: [Float], _ a: [Float], _ b: [Float]) -> [Float] {
            var u = [Float](repeating: 0, count: M * r)
            return [Float](repeating: 0, count: M * N).mutated {
                LoRALinear.forward(out: $0, u: &u, inp: x, a: a, b: b, scale: scale, M: M, K: K, N: N, r: r)
            }
        }
        var u = [Float](repeating: 0, count: M * r), du = u
        _ = [Float](repeating: 0, count: M * N).mutated {
            LoRALinear.forward(out: $0, u: &u, inp: x, a: a, b: b, scale: scale, M: M, K: K, N: N, r: r)
        }
        var da = [Float](repeating: 0, count: r * K), db = [Float](repeating: 0, count: N * r)
        let dx = [Float](repeating: 0, count: M * K).mutated { dxp in
            LoRALinear.backward(dinp: dxp, da: &da, db: &db, du: &du, dout: dy, u: u, inp: x, a: a, b: b,
                                scale: scale, M: M, K: K, N: N, r: r)
        }
        checkGradient("dx", values: x, analytic: dx) { weightedSum(f($0, a, b), dy) }
        checkGradient("dA", values: a, analytic: da) { weightedSum(f(x, $0, b), dy) }
        checkGradient("dB", values: b, analytic: db) { weightedSum(f(x, a, $0), dy) }
    }

    /// Every adapter parameter of every target in both layers: layer 0's
    /// gradients also flow back through layer 1's LoRA input gradients.
    @Test(arguments: [true, false], [false, true]) func wholeModelAdapterGradient(tied: Bool, qwen2Llama3: Bool) throws {
        let model = try Self.model(tied: tied, qwen2Llama3: qwen2Llama3)
        let adapter = try Self.adapter(for: model)
        model.adapter = adapter
        let acts = Activations(config: model.config, batchSize: 2, seqLen: 5, chunkRows: 3)
        let batch = ModelGradientTests.batch
        let tokenWeights = batch.lossMask.enumerated().map { -$1 * (1 + Float($0 % 3)) }
        func loss(_ values: [Float]) -> Double {
            adapter.parameters.copy(from: values)
            return weightedSum(model.forward(batch, acts).logProbs, tokenWeights)
        }
        let values = adapter.parameters.array
        _ = loss(values)
        model.zeroGradients()
        model.backward(batch, acts, dLogProbs: tokenWeights)
        let grads = adapter.gradients.array
        #expect(grads.contains { $0 != 0 })
        checkGradient("lora", values: values, analytic: grads, eps: 2e-3, relative: 3e-2, absolute: 3e-3, loss: loss)
        let errors = Self.relativeErrors(values: values, analytic: grads, eps: 2e-3, loss: loss)
        print("LoRA finite differences (tied \(tied)), \(values.count) parameters: relative error of the gradient "
              + "\(errors.global), largest entry-wise \(errors.maxEntry)")
        #expect(errors.global < 1e-2 && errors.maxEntry < 2e-2)
        // the base is frozen: backward never touched its gradient block
        #expect(model.gradients.array.allSatisfy { $0 == 0 })
    }

    @Test func zeroBLeavesTheBaseModelUnchanged() throws {
        let model = try Self.model()
        let acts = Activations(config: model.config, batchSize: 2, seqLen: 5)
        let base = model.forward(ModelGradientTests.batch, acts)
        model.adapter = try LoRAAdapter(config: LoRAConfig(rank: 4, alpha: 8, targets: Self.allTargets),
                                        modelConfig: model.config, seed: 1)
        let adapted = model.forward(ModelGradientTests.batch, acts)
        #expect(adapted.logProbs == base.logProbs)
        #expect(adapted.logSumSquaredProbs == base.logSumSquaredProbs)
    }

    @Test func peftInitialisation() throws {
        let config = ModelGradientTests.tinyConfig(tied: true)
        let adapter = try LoRAAdapter(config: LoRAConfig(rank: 3, alpha: 6, targets: [.v, .q, .down, .q]),
                                      modelConfig: config, seed: 5)
        #expect(adapter.config.targets == [.q, .v, .down])
        #expect(adapter.config.scale == 2)
        for e in adapter.layout.entries {
            let values = adapter.parameters.slice(e.offset, e.count)
            if e.name.hasSuffix("lora_B.weight") {
                #expect(values.allSatisfy { $0 == 0 })
            } else {  // kaiming_uniform(a = sqrt(5)): U(-1/sqrt(in), 1/sqrt(in))
                let bound = 1 / Float(e.shape[1]).squareRoot()
                #expect(values.allSatisfy { abs($0) <= bound } && values.contains { abs($0) > bound / 2 })
            }
        }
        #expect(adapter.layout.entries[0].name == "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
        #expect(adapter.layout.entries[0].shape == [3, 8])
        #expect(adapter.layout.entries.last!.name == "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight")
        #expect(adapter.layout.entries.last!.shape == [8, 3])
    }

    @Test func trainingMovesOnlyTheAdapter() throws {
        let config = ModelConfig(vocabSize: 16, dim: 32, layers: 2, heads: 4, kvHeads: 2, hiddenDim: 64, maxSeqLen: 32)
        // a base with weights well above the 0.02 init: with a frozen embedding
        // and head that small, the logits could hardly move whatever the adapter does
        let model = try Transformer(config: config, seed: 7)
        let noise = randomFloats(model.parameterCount, seed: 8, scale: 0.3)
        for e in model.layout.entries where e.isMatrix {
            for i in 0..<e.count { model.parameters[e.offset + i] = noise[e.offset + i] }
        }
        let baseBefore = model.parameters.array
        model.adapter = try LoRAAdapter(config: LoRAConfig(rank: 4, alpha: 8, targets: Self.allTargets),
                                        modelConfig: config, seed: 3)
        let batch = TokenBatch(sequences: [
            (prompt: [1, 5], completion: [9, 3, 12, 4, 2]),
            (prompt: [1, 6, 7], completion: [10, 11, 2]),
            (prompt: [1], completion: [13, 14, 15, 8, 9, 2]),
        ], padId: 0)
        let trainer = Trainer(model: model, schedule: LearningRateSchedule(peak: 2e-2, warmupSteps: 5, totalSteps: 60),
                              maxGradientNorm: 1)
        #expect(trainer.optimizer.m.count == model.adapter!.parameterCount)
        var first: Float = 0, last: Float = 0
        for step in 0..<60 {
            // weighted SFT, two micro-batches to exercise accumulation
            let report = trainer.step([batch, batch]) { SFTLoss.compute($0, $1, weights: [1, 0.5, 2]) }
            if step == 0 { first = report.loss }
            last = report.loss
        }
        #expect(last < 0.5 * first, "loss went from \(first) to \(last)")
        #expect(model.parameters.array == baseBefore)  // bit-identical
        #expect(model.adapter!.parameters.array.contains { $0 != 0 })
    }

    /// DPO with the base as its own reference: PEFT's setup (the reference is
    /// the policy with its adapter disabled), here a copy without the adapter.
    @Test func dpoTrainsTheAdapter() throws {
        let config = PreferenceTrainingTests.config
        let policy = try Transformer(config: config, seed: 3)
        let noise = randomFloats(policy.parameterCount, seed: 4, scale: 0.3)
        for e in policy.layout.entries where e.isMatrix {
            for i in 0..<e.count { policy.parameters[e.offset + i] = noise[e.offset + i] }
        }
        let reference = policy.copy()
        policy.adapter = try LoRAAdapter(config: LoRAConfig(rank: 4, alpha: 8, targets: [.q, .v, .up, .down]),
                                         modelConfig: config, seed: 9)
        let batch = TokenBatch(sequences: [
            (prompt: [1, 5], completion: [6, 7, 2]), (prompt: [1, 8], completion: [9, 2]),
            (prompt: [1, 5], completion: [10, 11, 2]), (prompt: [1, 8], completion: [12, 13, 2]),
        ], padId: 0)
        let referenceSums = SequenceLogProbs.sums(of: reference, on: batch)
        let trainer = Trainer(model: policy, schedule: LearningRateSchedule(peak: 1e-2, totalSteps: 30))
        var losses: [Float] = []
        for _ in 0..<30 {
            losses.append(trainer.step([batch]) {
                DPOLoss.compute($0, $1, referenceSums: referenceSums, weights: [1, 2], beta: 0.5)
            }.loss)
        }
        #expect(abs(losses[0] - 1.5 * 0.6931472) < 1e-4)  // B = 0: policy == reference, mean weight 1.5
        #expect(losses.last! < 0.5 * losses[0], "DPO loss went from \(losses[0]) to \(losses.last!)")
        #expect(policy.parameters.array == reference.parameters.array)
    }

    /// The kept LoRA inputs are strided by the activations' capacity, not the batch.
    @Test func largerActivationBuffersGiveTheSameAdapterGradients() throws {
        let model = try Self.model()
        model.adapter = try Self.adapter(for: model)
        let batch = ModelGradientTests.batch
        let d = batch.lossMask.map { -$0 }
        func gradients(_ acts: Activations) -> [Float] {
            model.zeroGradients()
            model.forward(batch, acts)
            model.backward(batch, acts, dLogProbs: d)
            return model.adapter!.gradients.array
        }
        let exact = gradients(Activations(config: model.config, batchSize: 2, seqLen: 5))
        #expect(gradients(Activations(config: model.config, batchSize: 3, seqLen: 9)) == exact)
    }

    @Test(arguments: [false, true]) func cachedGreedyDecodeAndMergeMatchTheAdaptedForward(qwen2Llama3: Bool) throws {
        let base = try SamplingTests.model(qwen2Llama3: qwen2Llama3)
        let adapter = try Self.adapter(for: base, seed: 21)
        let V = base.config.vocabSize
        let prompt = [1, 4, 7, 2]
        let baseLogits = base.fullLogits(tokens: prompt)
        base.adapter = adapter
        let model = base
        #expect(zip(model.fullLogits(tokens: prompt), baseLogits).contains { abs($0 - $1) > 1e-2 })  // it matters

        let sample = Sampler(model: model, maxRows: 2).generate(prompt: prompt, n: 1, parameters: .greedy(maxNewTokens: 10))[0]
        var sequence = prompt
        for (token, logProb) in zip(sample.tokens, sample.logProbs) {
            let logits = model.fullLogits(tokens: sequence)
            let lsm = SamplingTests.logSoftmax(logits[(sequence.count - 1) * V ..< sequence.count * V])
            #expect(token == lsm.indices.max { lsm[$0] < lsm[$1] }!)
            #expect(abs(Double(logProb) - lsm[token]) < 1e-4)
            sequence.append(token)
        }
        // merged W + scale B A: the same logits without the adapter path
        let merged = adapter.merged(into: model)
        #expect(merged.adapter == nil)
        let a = model.fullLogits(tokens: sequence), b = merged.fullLogits(tokens: sequence)
        #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-4 })
        let mergedSample = Sampler(model: merged, maxRows: 1).generate(prompt: prompt, n: 1, parameters: .greedy(maxNewTokens: 10))[0]
        #expect(mergedSample.tokens == sample.tokens)
    }

    static func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("lora-\(UUID().uuidString)")
    }

    @Test func savesAndLoadsPEFTFiles() throws {
        let model = try Self.model()
        let adapter = try Self.adapter(for: model, targets: [.q, .v, .up])
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try adapter.save(to: dir, baseModel: "HuggingFaceTB/SmolLM2-135M")

        let loaded = try LoRAAdapter.load(from: dir, modelConfig: model.config)
        #expect(loaded.config == adapter.config)
        #expect(loaded.parameters.array == adapter.parameters.array)

        let json = try JSON.parse(String(contentsOf: dir.appendingPathComponent("adapter_config.json"), encoding: .utf8))
        #expect(json["peft_type"] == "LORA" && json["task_type"] == "CAUSAL_LM" && json["bias"] == "none")
        #expect(json["r"]?.intValue == 2 && json["lora_alpha"]?.numberValue == 4 && json["lora_dropout"]?.numberValue == 0)
        #expect(json["target_modules"] == .array(["q_proj", "v_proj", "up_proj"]))
        #expect(json["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M")
        let file = try SafeTensorsFile(url: dir.appendingPathComponent("adapter_model.safetensors"))
        #expect(file.tensors.count == 2 * 3 * 2)
        #expect(file.tensors["base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight"]?.shape == [2, 8])
        #expect(file.tensors["base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"]?.shape == [4, 2])
        #expect(file.tensors["base_model.model.model.layers.0.mlp.up_proj.lora_B.weight"]?.shape == [12, 2])
    }

    @Test func loadingReportsMissingMisshapedAndUnexpectedTensors() throws {
        let model = try Self.model()
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.adapter(for: model, targets: [.q, .v]).save(to: dir)
        let configURL = dir.appendingPathComponent("adapter_config.json")
        func rewriteConfig(rank: Int, targets: [String]) throws {
            let text = JSON.object([("peft_type", "LORA"), ("r", .number(Double(rank))), ("lora_alpha", 4),
                                    ("target_modules", .array(targets.map { .string($0) }))]).text
            try text.write(to: configURL, atomically: true, encoding: .utf8)
        }
        func loadError() -> String {
            do {
                _ = try LoRAAdapter.load(from: dir, modelConfig: model.config)
                return "no error"
            } catch let error as CheckpointError {
                return error.message
            } catch {
                return "not a CheckpointError: \(error)"
            }
        }
        try rewriteConfig(rank: 2, targets: ["q_proj", "k_proj", "v_proj"])
        #expect(loadError().contains("missing tensor base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight"))
        try rewriteConfig(rank: 3, targets: ["q_proj", "v_proj"])
        #expect(loadError().contains("has shape [2, 8]"))
        try rewriteConfig(rank: 2, targets: ["q_proj"])
        #expect(loadError().contains("unexpected tensor base_model.model.model.layers.0.self_attn.v_proj"))
        try rewriteConfig(rank: 2, targets: ["embed_tokens"])
        #expect(loadError().contains("target module"))
        try FileManager.default.removeItem(at: dir.appendingPathComponent("adapter_model.safetensors"))
        try rewriteConfig(rank: 2, targets: ["q_proj", "v_proj"])
        #expect(loadError().contains("cannot read file"))
    }
}
