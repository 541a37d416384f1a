import ArgumentParser
import EASTCommandLine
import EASTCore
import EASTEngine
import Foundation

/// `east bench engine --model PATH.gguf`: the engine's speed on real weights
/// and a real prompt rather than on a random model of the same shape, because
/// the engine's speed targets are about the model the stages actually run
/// (SmolLM2-135M-Instruct). Everything is measured in one process, one after
/// the other, so the figures share the machine's state and are comparable.
extension BenchCommand.Engine {
    /// The engine's speed targets on SmolLM2 (batch-1 and 16-sample generation), printed next to the measured figures.
    enum ModelTargets {
        static let generationN1TokensPerSecond = 35.0
        static let generationN16TokensPerSecond = 300.0
        static let loraTrainingTokensPerSecond = 150.0
    }

    /// A GSM8K-style question (the kind of prompt the stages sample from);
    /// with the chat template and SmolLM2's system message it is about 100 tokens.
    static let benchQuestion = """
        Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins \
        for her friends every day with four. She sells the remainder at the farmers' market daily for $2 \
        per fresh duck egg. How much in dollars does she make every day at the farmers' market? \
        Think step by step and give the final answer after ####.
        """
    /// A GSM8K-style answer: the completion the LoRA training batch learns.
    static let benchAnswer = """
        Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.
        She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer's market.
        #### 18
        """

    /// The figures of one `--model` run.
    struct ModelReport: Encodable {
        struct Target: Encodable { let target: Double; let met: Bool }
        let model: String
        let setup: BenchSetup
        let promptTokens: Int
        let newTokens: Int
        var sgemmPeakGFLOPs = 0.0
        var generation = Generation()
        /// Nil with --skip-training.
        var loraTraining: LoRATraining?
        var peakRSSGiB = 0.0
        var targets: [String: Target] = [:]

        /// Tokens per second of prefill and sampling.
        struct Generation: Encodable {
            /// Prompt tokens per second of one prefill (no sampling).
            var prefill = 0.0
            /// New tokens per second of a whole `generate` call (its prefill included).
            var n1 = 0.0, n16 = 0.0
            var speedupN16 = 0.0
            /// The same, with one prefill's time taken off: the decode loop alone.
            var decodeN1 = 0.0, decodeN16 = 0.0
        }

        struct LoRATraining: Encodable {
            let batch: String, rank: Int, alpha: Float, targets: [String], adapterParameters: Int
            let stepSeconds: Double, tokensPerSecond: Double, loss: Float
        }
    }

    /// Loads the GGUF, then measures prefill, generation at n = 1 and n = 16
    /// (one shared prompt), LoRA training at --batch x --seq-len (rank 16,
    /// alpha 32, all seven targets) and the process's peak RSS.
    func runModel(path: String) throws {
        let url = URL(fileURLWithPath: path)
        let loaded = try failing { try GGUFModel.load(from: url) }
        guard let tokenizer = loaded.tokenizer else {
            throw ValidationError("\(path) has no tokenizer.ggml.* vocabulary; the bench needs a real prompt")
        }
        let prompt = tokenizer.encode(loaded.chatTemplate.prompt(user: Self.benchQuestion))
        try measure(loaded.model, name: url.lastPathComponent, prompt: prompt, answer: tokenizer.encode(Self.benchAnswer),
                    padId: tokenizer.padId, withTargets: true)
    }

    /// The real models' shapes `--shape` takes, for machines that do not have their weights.
    static let shapes: [String: ModelConfig] = ["qwen2.5-0.5b": .qwen25_05B, "llama3.2-1b": .llama32_1B, "smollm2-135m": .smolLM2_135M]

    /// The same measurements on random weights of a real model's shape
    /// (`--shape qwen2.5-0.5b`: q/k/v biases; `--shape llama3.2-1b`: llama3
    /// RoPE): a 100-token random prompt and random answer tokens. The RoPE
    /// table and KV cache are sized for the bench's lengths, not the
    /// model's 32k-128k context.
    func runShape(_ name: String) throws {
        guard var config = Self.shapes[name] else {
            throw ValidationError("unknown --shape \(name); known: \(Self.shapes.keys.sorted().joined(separator: ", "))")
        }
        config.maxSeqLen = max(seqLen, 100 + newTokens) + 1
        let mix = try quantize.map { q in
            guard let mix = QuantizationMix(name: q) else {
                throw ValidationError("unknown --quantize \(q); known: \(QuantizationMix.names.joined(separator: ", "))")
            }
            return mix
        }
        let model = try failing { try Transformer(config: config, seed: 1) }
        var label = "\(name) shape, random weights"
        if let mix, let q = quantize {
            model.quantizeMatrices(to: mix)
            label += " quantized to \(q.uppercased())"
        }
        var rng = SeededGenerator(seed: 5)
        let prompt = (0..<100).map { _ in Int(rng.next() % UInt64(config.vocabSize - 3)) + 3 }
        let answer = (0..<64).map { _ in Int(rng.next() % UInt64(config.vocabSize - 3)) + 3 }
        try measure(model, name: label, prompt: prompt, answer: answer, padId: 0, withTargets: false)
    }

    /// Prefill, generation at n = 1 and n = 16, LoRA training and peak RSS of
    /// `model` on `prompt`; `withTargets`: beside the engine's speed targets (SmolLM2's).
    func measure(_ model: Transformer, name: String, prompt: [Int], answer: [Int], padId: Int, withTargets: Bool) throws {
        let config = model.config
        var r = ModelReport(model: name, setup: BenchSetup(config: config, parameters: model.parameterCount, threads: threads),
                            promptTokens: prompt.count, newTokens: newTokens)

        // The machine's limit on this model's widest matmuls, for context: the
        // output head (vocab 49152) and the MLP up projection at training batch size.
        r.sgemmPeakGFLOPs = max(Self.sgemmGFLOPs(M: 256, K: config.dim, N: config.vocabSize),
                                Self.sgemmGFLOPs(M: batch * seqLen, K: config.dim, N: config.hiddenDim))

        // 1. prefill and generation. No stop tokens, so every sample runs the
        //    full --new-tokens and runs are comparable; best of 3 (the runs
        //    are short, the best is the least disturbed by other processes).
        let sampler = Sampler(model: model, maxRows: 16, maxSequenceLength: prompt.count + newTokens)
        _ = sampler.nextTokenLogProbs(prompt: prompt)  // warm-up: faults in buffers and the KV cache
        let prefillSeconds = Self.bestTime(of: 3) { _ = sampler.nextTokenLogProbs(prompt: prompt) }
        r.generation.prefill = Double(prompt.count) / prefillSeconds
        let parameters = SamplingParameters(temperature: 1, maxNewTokens: newTokens, seed: 1)
        _ = sampler.generate(prompt: prompt, n: 1, parameters: .init(temperature: 1, maxNewTokens: 2))  // packs the weights
        var produced = [0, 0]
        let counts = [1, 16]
        let times = Self.bestTimesInterleaved(rounds: 3, counts.indices.map { i in {
            produced[i] = sampler.generate(prompt: prompt, n: counts[i], parameters: parameters).reduce(0) { $0 + $1.tokens.count }
        } })
        for (i, n) in counts.enumerated() {
            let decode = Double(produced[i]) / max(times[i] - prefillSeconds, 1e-9)
            if n == 1 { (r.generation.n1, r.generation.decodeN1) = (Double(produced[i]) / times[i], decode) }
            else { (r.generation.n16, r.generation.decodeN16) = (Double(produced[i]) / times[i], decode) }
        }
        r.generation.speedupN16 = r.generation.n16 / r.generation.n1

        // 2. LoRA training: every sequence is the chat prompt followed by the
        //    answer (repeated to fill --seq-len positions); the loss is SFT on
        //    the completion, as in the stages. One warm-up step, then --steps timed.
        if !skipTraining {
            let loraConfig = LoRAConfig(rank: 16, alpha: 32, targets: LoRATarget.allCases)
            let adapter = try failing { try LoRAAdapter(config: loraConfig, modelConfig: config, seed: 1) }
            model.adapter = adapter
            let completionCount = max(1, seqLen + 1 - prompt.count)
            let completion = (0..<completionCount).map { answer[$0 % answer.count] }
            let tokenBatch = TokenBatch(sequences: Array(repeating: (prompt: prompt, completion: completion), count: batch),
                                        padId: padId)
            let weights = [Float](repeating: 1, count: batch)
            let sft: (TokenLogProbs, TokenBatch) -> LossResult = { SFTLoss.compute($0, $1, weights: weights) }
            let trainer = Trainer(model: model, schedule: LearningRateSchedule(peak: 1e-4, totalSteps: 100))
            trainer.step([tokenBatch], loss: sft)
            var loss: Float = 0
            let stepSeconds = Self.time(repeats: steps) { loss = trainer.step([tokenBatch], loss: sft).loss }
            model.adapter = nil
            let tokens = Double(tokenBatch.batchSize * tokenBatch.seqLen)
            r.loraTraining = .init(batch: "\(tokenBatch.batchSize)x\(tokenBatch.seqLen)", rank: loraConfig.rank,
                                   alpha: loraConfig.alpha, targets: loraConfig.targets.map(\.rawValue),
                                   adapterParameters: adapter.parameterCount, stepSeconds: stepSeconds,
                                   tokensPerSecond: tokens / stepSeconds, loss: loss)
        }

        // 3. peak RSS of the whole run (weights, KV cache, training buffers).
        r.peakRSSGiB = Double(Self.statusKiB("VmHWM")) / 1_048_576
        if withTargets { setTargets(&r) }
        if json { return try printJSON(r) }
        printModelReport(r)
    }

    private func setTargets(_ r: inout ModelReport) {
        r.targets["generationN1"] = .init(target: ModelTargets.generationN1TokensPerSecond,
                                          met: r.generation.n1 >= ModelTargets.generationN1TokensPerSecond)
        r.targets["generationN16"] = .init(target: ModelTargets.generationN16TokensPerSecond,
                                           met: r.generation.n16 >= ModelTargets.generationN16TokensPerSecond)
        if let lora = r.loraTraining {
            r.targets["loraTraining"] = .init(target: ModelTargets.loraTrainingTokensPerSecond,
                                              met: lora.tokensPerSecond >= ModelTargets.loraTrainingTokensPerSecond)
        }
    }

    private func printModelReport(_ r: ModelReport) {
        func verdict(_ key: String) -> String {
            guard let t = r.targets[key] else { return "" }
            return String(format: "  (target >= %.0f: %@)", t.target, t.met ? "met" : "NOT met")
        }
        Swift.print("\(r.model): \(r.setup.line)")
        Swift.print("prompt: \(r.promptTokens) tokens; \(r.newTokens) new tokens per sample")
        Swift.print(String(format: "sgemm peak (head / MLP shapes)    %8.1f GFLOP/s", r.sgemmPeakGFLOPs))
        Swift.print(String(format: "prefill                           %8.1f tokens/s", r.generation.prefill))
        Swift.print(String(format: "generation n=1                    %8.1f tokens/s (decode alone %.1f)",
                           r.generation.n1, r.generation.decodeN1) + verdict("generationN1"))
        Swift.print(String(format: "generation n=16 (shared prompt)   %8.1f tokens/s in total = %.1fx n=1 (decode alone %.1f)",
                           r.generation.n16, r.generation.speedupN16, r.generation.decodeN16)
                    + verdict("generationN16"))
        if let l = r.loraTraining {
            let label = "LoRA training r=\(l.rank) at \(l.batch)".padding(toLength: 34, withPad: " ", startingAt: 0)
            Swift.print(label + String(format: "%8.1f tokens/s (%.2f s/step, loss %.3f, %d adapter parameters)",
                                       l.tokensPerSecond, l.stepSeconds, l.loss, l.adapterParameters) + verdict("loraTraining"))
        }
        Swift.print(String(format: "peak RSS (VmHWM)                  %8.2f GiB", r.peakRSSGiB))
    }
}
