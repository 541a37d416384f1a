import ArgumentParser
import EASTCommandLine
import EASTCore
import EASTEngine
import Foundation

/// `east bench engine`: how fast the engine is on this machine, all measured
/// in one run so the numbers are comparable:
///   sgemm GFLOP/s on the model's own matmul shapes (the machine's limit),
///   forward and training tokens/s, training MFU against that limit,
///   sampling tokens/s for n = 1 and n = 16 samples sharing a prompt, and for
///   4 prompts x 16 samples decoded together,
///   and with --memory, the peak RSS of training a SmolLM2-135M-shaped model,
///   and with --lora, LoRA training vs full training tokens/s on that shape,
///   and with --model PATH.gguf, the real model on a real prompt: prefill,
///   generation at n = 1 and n = 16, LoRA training and peak RSS, next to the
///   engine's speed targets (see BenchCommand+Model.swift),
///   and with --shape qwen2.5-0.5b|llama3.2-1b, the same on random weights of that shape.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure the engine's and the cluster's speed.", subcommands: [Engine.self, Cluster.self])
}

extension BenchCommand {
    struct Engine: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Benchmark sgemm, training and sampling.")

        @Flag(help: "Print JSON instead of text.") var json = false
        @Option(help: "Threads for the engine (matrix products and parallel loops).") var threads = 1
        @Option(help: "Width of the benchmark model.") var dim = 512
        @Option(help: "Layers of the benchmark model.") var layers = 8
        @Option(help: "Attention heads (default: dim / 64).") var heads: Int?
        @Option(name: .customLong("kv-heads"), help: "Key/value heads (default: heads / 2).") var kvHeads: Int?
        @Option(help: "SwiGLU width (default: 8/3 dim rounded up to 64).") var hidden: Int?
        @Option(help: "Vocabulary of the benchmark model.") var vocab = 8192
        @Option(help: "Training batch: sequences.") var batch = 4
        @Option(name: .customLong("seq-len"), help: "Training batch: tokens per sequence.") var seqLen = 256
        @Option(help: "Training steps to time (after one warm-up step).") var steps = 3
        @Option(name: .customLong("new-tokens"), help: "Sampling: new tokens per sample.") var newTokens = 64
        @Flag(help: "Skip the training measurements (sgemm and sampling only).")
        var skipTraining = false
        @Flag(help: "Instead: train a SmolLM2-135M-shaped model one step at 4x256 and report peak RSS.")
        var memory = false
        @Flag(help: "Instead: time LoRA training against full training of a SmolLM2-135M-shaped model (--batch x --seq-len).")
        var lora = false
        @Option(name: .customLong("lora-rank"), help: "LoRA rank (alpha = 2 x rank).") var loraRank = 16
        @Option(name: .customLong("lora-targets"), help: "LoRA target modules, comma-separated.")
        var loraTargets = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
        @Option(help: ArgumentHelp("Instead: benchmark this GGUF model (e.g. SmolLM2-135M-Instruct.Q4_1.gguf) on a chat prompt: "
                                   + "prefill, generation n=1 / n=16 (--new-tokens), LoRA r=16 training at --batch x --seq-len "
                                   + "(not with --skip-training), peak RSS.", valueName: "path.gguf"))
        var model: String?
        @Option(help: ArgumentHelp("Instead: the --model measurements on random weights of a real model's shape: "
                                   + "qwen2.5-0.5b, llama3.2-1b or smollm2-135m.", valueName: "name"))
        var shape: String?
        @Option(help: ArgumentHelp("With --shape: quantize the random weights' matrices as a llama.cpp file of this type "
                                   + "would hold them (a type such as q4_1 or q6_k, or the q4_k_m / q5_k_m mix), so that decoding reads their codes.",
                                   valueName: "type"))
        var quantize: String?

        @Flag(name: .customLong("keep-blas-kernels"),
              help: "Do not restart with OPENBLAS_CORETYPE set when OpenBLAS fell back to generic kernels.")
        var keepBLASKernels = false

        func run() throws {
            if quantize != nil && shape == nil { throw ValidationError("--quantize goes with --shape") }
            if !keepBLASKernels { relaunchWithFasterBLASKernelsIfNeeded() }
            BLASThreads.set(threads)
            if memory { return try runMemory() }
            if lora { return try runLoRA() }
            if let model { return try runModel(path: model) }
            if let shape { return try runShape(shape) }
            let headCount = heads ?? max(1, dim / 64)
            let config = ModelConfig(vocabSize: vocab, dim: dim, layers: layers, heads: headCount,
                                     kvHeads: kvHeads ?? max(1, headCount / 2), hiddenDim: hidden ?? (dim * 8 / 3 + 63) / 64 * 64,
                                     ropeTheta: 10_000, tiedEmbeddings: true, maxSeqLen: max(seqLen, 512))
            let model = try failing { try Transformer(config: config, seed: 1) }
            let report = Report(setup: BenchSetup(config: config, parameters: model.parameterCount, threads: threads),
                                batch: batch, seqLen: seqLen)

            // 1. sgemm on the shapes a training step runs (M = tokens)
            let N = batch * seqLen, C = config.dim
            let shapes: [(String, Int, Int, Int)] = [
                ("qkvo (N,C)x(C,C)", N, C, C),
                ("mlp up (N,C)x(C,hidden)", N, C, config.hiddenDim),
                ("mlp down (N,hidden)x(hidden,C)", N, config.hiddenDim, C),
                ("head chunk (256,C)x(C,V)", 256, C, config.vocabSize),
                ("attention (T,hd)x(hd,T)", seqLen, config.headDim, seqLen),
            ]
            for (name, m, k, n) in shapes {
                report.sgemm.append(.init(shape: name, m: m, k: k, n: n, gflops: Self.sgemmGFLOPs(M: m, K: k, N: n)))
            }
            let peak = report.sgemm.map(\.gflops).max()!
            report.sgemmPeakGFLOPs = peak

            // 2. forward and training throughput on random token batches
            if !skipTraining {
            var rng = SeededGenerator(seed: 7)
            let sequences = (0..<batch).map { _ in
                (prompt: [1], completion: (0..<seqLen).map { _ in Int(rng.next() % UInt64(vocab - 3)) + 3 })
            }
            let tokenBatch = TokenBatch(sequences: sequences, padId: 0)
            let acts = Activations(config: config, batchSize: batch, seqLen: seqLen)
            model.forward(tokenBatch, acts)
            let forwardSeconds = Self.time(repeats: steps) { model.forward(tokenBatch, acts) }
            report.forwardTokensPerSecond = Double(N) / forwardSeconds

            let trainer = Trainer(model: model, schedule: LearningRateSchedule(peak: 1e-4, totalSteps: 100))
            let weights = [Float](repeating: 1, count: batch)
            let sft: (TokenLogProbs, TokenBatch) -> LossResult = { SFTLoss.compute($0, $1, weights: weights) }
            trainer.step([tokenBatch], loss: sft)
            let stepSeconds = Self.time(repeats: steps) { trainer.step([tokenBatch], loss: sft) }
            report.trainingTokensPerSecond = Double(N) / stepSeconds
            // model FLOPs per token: 6 * params (fwd + bwd of every weight) + attention
            // 12 * layers * dim * T (QK^T and PV, fwd + bwd, counted without the causal half, as in PaLM)
            let flopsPerToken = 6 * Double(model.parameterCount) + 12 * Double(config.layers * C * seqLen)
            report.trainingModelGFLOPs = flopsPerToken * Double(N) / stepSeconds / 1e9
            report.trainingMFU = report.trainingModelGFLOPs / peak
            }

            // 3. sampling: n samples of one 32-token prompt, temperature 1; n = 1
            //    and n = 16 in turn, best of 5 rounds each
            let prompt = (0..<32).map { 3 + $0 % (vocab - 3) }
            let counts = [1, 16]
            let samplers = counts.map { Sampler(model: model, maxRows: $0, maxSequenceLength: prompt.count + newTokens) }
            let p = SamplingParameters(temperature: 1, maxNewTokens: newTokens, seed: 1)
            var produced = [0, 0]
            for (i, n) in counts.enumerated() {  // warm-up: packs the weights, faults in the buffers
                _ = samplers[i].generate(prompt: prompt, n: n, parameters: .init(temperature: 1, maxNewTokens: 2))
            }
            let times = Self.bestTimesInterleaved(rounds: 5, counts.indices.map { i in {
                produced[i] = samplers[i].generate(prompt: prompt, n: counts[i], parameters: p).reduce(0) { $0 + $1.tokens.count }
            } })
            report.samplingTokensPerSecondN1 = Double(produced[0]) / times[0]
            report.samplingTokensPerSecondN16 = Double(produced[1]) / times[1]
            report.samplingSpeedup = report.samplingTokensPerSecondN16 / report.samplingTokensPerSecondN1
            // 4 prompts x 16 samples decoded together: M = 64
            let sampler = Sampler(model: model, maxRows: 64, maxSequenceLength: prompt.count + newTokens)
            let requests = (0..<4).map { q in
                GenerationRequest(prompt: prompt.map { 3 + ($0 + q) % (vocab - 3) }, n: 16,
                                  parameters: .init(temperature: 1, maxNewTokens: newTokens, seed: UInt64(q)))
            }
            var produced4x16 = 0
            let seconds = Self.bestTime(of: 3) {
                produced4x16 = sampler.generate(requests).joined().reduce(0) { $0 + $1.tokens.count }
            }
            report.samplingTokensPerSecond4x16 = Double(produced4x16) / seconds
            try report.print(json: json)
        }

        /// Two training steps of the SmolLM2-135M shape at batch 4x256 (logits
        /// chunked in the output head); the second is timed; peak RSS after both.
        func runMemory() throws {
            let config = ModelConfig.smolLM2_135M
            let model = try Transformer(config: config, seed: 1)
            let core = BLASKernels.coreName
            let (tokenBatch, sft) = Self.randomSFTBatch(config, rows: 4, length: 256)
            let trainer = Trainer(model: model, schedule: LearningRateSchedule(peak: 1e-4, totalSteps: 10))
            var loss: Float = 0
            trainer.step([tokenBatch], loss: sft)  // the first step also faults in every page
            let seconds = Self.time(repeats: 1) { loss = trainer.step([tokenBatch], loss: sft).loss }
            let peakKiB = Self.statusKiB("VmHWM")
            struct MemoryReport: Encodable {
                let parameters: Int, blasCore: String, batch: String, stepSeconds: Double, loss: Float, peakRSSGiB: Double, underFourGiB: Bool
            }
            let r = MemoryReport(parameters: model.parameterCount, blasCore: core, batch: "4x256", stepSeconds: seconds, loss: loss,
                                 peakRSSGiB: Double(peakKiB) / 1_048_576, underFourGiB: peakKiB < 4 * 1_048_576)
            if json {
                try printJSON(r)
            } else {
                Swift.print(String(format: "SmolLM2-135M shape (%d parameters), training at 4x256, %@ kernels", r.parameters, core as NSString))
                Swift.print(String(format: "  second step %.1f s (%.0f tokens/s), loss %.3f, peak RSS (VmHWM) %.2f GiB",
                                   seconds, 1024 / seconds, loss, r.peakRSSGiB))
            }
        }

        /// Training steps of the SmolLM2-135M shape (random weights) at
        /// --batch x --seq-len, first full (every parameter), then with a LoRA
        /// adapter (base frozen: no base weight gradients, AdamW over the
        /// adapter only), each timed over --steps after one warm-up step.
        func runLoRA() throws {
            let config = ModelConfig.smolLM2_135M
            let model = try failing { try Transformer(config: config, seed: 1) }
            var targets: [LoRATarget] = []
            for name in loraTargets.split(separator: ",") {
                guard let target = LoRATarget(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("unknown LoRA target \(name); use \(LoRATarget.allCases.map(\.rawValue))")
                }
                targets.append(target)
            }
            let loraConfig = LoRAConfig(rank: loraRank, alpha: Float(2 * loraRank), targets: targets)
            let (tokenBatch, sft) = Self.randomSFTBatch(config, rows: batch, length: seqLen)
            let schedule = LearningRateSchedule(peak: 1e-4, totalSteps: 100)

            let full = Trainer(model: model, schedule: schedule)
            full.step([tokenBatch], loss: sft)
            let fullSeconds = Self.time(repeats: steps) { full.step([tokenBatch], loss: sft) }

            let adapter = try failing { try LoRAAdapter(config: loraConfig, modelConfig: config, seed: 1) }
            model.adapter = adapter
            let trainer = Trainer(model: model, schedule: schedule)
            trainer.step([tokenBatch], loss: sft)
            let loraSeconds = Self.time(repeats: steps) { trainer.step([tokenBatch], loss: sft) }

            struct LoRAReport: Encodable {
                let parameters: Int, adapterParameters: Int, rank: Int, targets: [String], blasCore: String, threads: Int
                let batch: String, fullStepSeconds: Double, loraStepSeconds: Double
                let fullTokensPerSecond: Double, loraTokensPerSecond: Double, speedup: Double
            }
            let tokens = Double(batch * seqLen)
            let r = LoRAReport(parameters: model.parameterCount, adapterParameters: adapter.parameterCount, rank: loraRank,
                               targets: loraConfig.targets.map(\.rawValue), blasCore: BLASKernels.coreName, threads: threads,
                               batch: "\(batch)x\(seqLen)", fullStepSeconds: fullSeconds, loraStepSeconds: loraSeconds,
                               fullTokensPerSecond: tokens / fullSeconds, loraTokensPerSecond: tokens / loraSeconds,
                               speedup: fullSeconds / loraSeconds)
            if json {
                try printJSON(r)
            } else {
                Swift.print("SmolLM2-135M shape (\(r.parameters) parameters), training at \(r.batch), "
                            + "\(threads) thread(s), OpenBLAS \(r.blasCore) kernels")
                Swift.print(String(format: "  full training        %6.2f s/step  %7.0f tokens/s", fullSeconds, r.fullTokensPerSecond))
                Swift.print(String(format: "  LoRA r=%-3d          %6.2f s/step  %7.0f tokens/s  = %.2fx full (%d adapter parameters, %@)",
                                   loraRank, loraSeconds, r.loraTokensPerSecond, r.speedup, r.adapterParameters,
                                   r.targets.joined(separator: ",") as NSString))
            }
        }

        /// The best of five 0.2 s windows: the machine's limit for this shape, not
        /// an average dragged down by whatever else ran at the time.
        static func sgemmGFLOPs(M: Int, K: Int, N: Int) -> Double {
            var rng = SeededGenerator(seed: 1)
            let a = (0..<(M * K)).map { _ in rng.nextUnitFloat() - 0.5 }
            let b = (0..<(N * K)).map { _ in rng.nextUnitFloat() - 0.5 }
            var c = [Float](repeating: 0, count: M * N)
            let flops = 2.0 * Double(M * N * K)
            var best = 0.0
            c.withUnsafeMutableBufferPointer { out in
                Matmul.forward(out: out.baseAddress!, inp: a, weight: b, M: M, K: K, N: N)  // warm-up
                for _ in 0..<5 {
                    var calls = 0
                    var elapsed = 0.0
                    let start = ContinuousClock.now
                    repeat {
                        Matmul.forward(out: out.baseAddress!, inp: a, weight: b, M: M, K: K, N: N)
                        calls += 1
                        elapsed = seconds(ContinuousClock.now - start)
                    } while elapsed < 0.2
                    best = max(best, flops * Double(calls) / elapsed / 1e9)
                }
            }
            return best
        }

        /// `rows` random completions of `length` tokens after a one-token
        /// prompt, and the unweighted SFT loss on them: the training benches' input.
        static func randomSFTBatch(_ config: ModelConfig, rows: Int, length: Int) -> (TokenBatch, (TokenLogProbs, TokenBatch) -> LossResult) {
            var rng = SeededGenerator(seed: 3)
            let sequences = (0..<rows).map { _ in
                (prompt: [1], completion: (0..<length).map { _ in Int(rng.next() % UInt64(config.vocabSize - 3)) + 3 })
            }
            let weights = [Float](repeating: 1, count: rows)
            return (TokenBatch(sequences: sequences, padId: 0), { SFTLoss.compute($0, $1, weights: weights) })
        }

        /// Mean wall seconds of `repeats` calls.
        static func time(repeats: Int, _ body: () -> Void) -> Double {
            let start = ContinuousClock.now
            for _ in 0..<repeats { body() }
            return seconds(ContinuousClock.now - start) / Double(repeats)
        }

        /// Fewest wall seconds of `runs` calls (sampling runs are short; the best
        /// run is the least disturbed by other processes).
        static func bestTime(of runs: Int, _ body: () -> Void) -> Double {
            (0..<runs).map { _ in time(repeats: 1, body) }.min()!
        }

        /// The best time of each body over `rounds` rounds that run them in
        /// turn, so that a ratio between them compares runs made under the
        /// same conditions (this machine's memory bandwidth varies with its
        /// neighbours' load by up to 2x within a minute).
        static func bestTimesInterleaved(rounds: Int, _ bodies: [() -> Void]) -> [Double] {
            var best = [Double](repeating: .infinity, count: bodies.count)
            for _ in 0..<rounds {
                for (i, body) in bodies.enumerated() { best[i] = min(best[i], time(repeats: 1, body)) }
            }
            return best
        }

        static func seconds(_ d: Duration) -> Double {
            Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        }

        /// A "Key:   N kB" line of /proc/self/status, in KiB (0 if absent).
        static func statusKiB(_ key: String) -> Int {
            guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
            // "VmHWM:\t  123456 kB", or with no space after the tab from 10^7 kB (9.5 GiB) on
            for line in status.split(separator: "\n") where line.hasPrefix(key + ":") {
                return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? 0
            }
            return 0
        }
    }
}

/// What every engine report starts with: the model's shape and the machine's settings.
struct BenchSetup: Encodable {
    let config: ModelConfig
    let parameters: Int
    let threads: Int
    var blasCore = BLASKernels.coreName
    var decodeKernels = DecodeKernels.description

    /// The report's first line, after the model's name.
    var line: String {
        let c = config
        return "dim \(c.dim), \(c.layers) layers, \(c.heads) heads / \(c.kvHeads) kv, hidden \(c.hiddenDim), "
            + "vocab \(c.vocabSize), \(parameters) parameters; \(threads) thread(s), OpenBLAS \(blasCore) kernels; "
            + "decode kernels: \(decodeKernels)"
    }
}

/// The figures `east bench engine` prints.
final class Report: Encodable {
    struct Sgemm: Encodable { let shape: String; let m, k, n: Int; let gflops: Double }
    let setup: BenchSetup
    let batch: Int
    let seqLen: Int
    var sgemm: [Sgemm] = []
    var sgemmPeakGFLOPs = 0.0
    var forwardTokensPerSecond = 0.0
    var trainingTokensPerSecond = 0.0
    var trainingModelGFLOPs = 0.0
    var trainingMFU = 0.0
    var samplingTokensPerSecondN1 = 0.0
    var samplingTokensPerSecondN16 = 0.0
    var samplingSpeedup = 0.0
    var samplingTokensPerSecond4x16 = 0.0

    init(setup: BenchSetup, batch: Int, seqLen: Int) {
        (self.setup, self.batch, self.seqLen) = (setup, batch, seqLen)
    }

    func print(json: Bool) throws {
        if json { return try printJSON(self) }
        Swift.print("model: \(setup.line); batch \(batch)x\(seqLen)")
        for s in sgemm {
            Swift.print(String(format: "  sgemm %-32@ M=%-5d K=%-5d N=%-6d %7.1f GFLOP/s", s.shape as NSString, s.m, s.k, s.n, s.gflops))
        }
        Swift.print(String(format: "sgemm peak (best model shape)     %8.1f GFLOP/s", sgemmPeakGFLOPs))
        if trainingTokensPerSecond > 0 {  // not with --skip-training
            Swift.print(String(format: "forward                           %8.0f tokens/s", forwardTokensPerSecond))
            Swift.print(String(format: "training (fwd+bwd+AdamW)          %8.0f tokens/s  = %.1f model GFLOP/s, MFU %.1f%%",
                               trainingTokensPerSecond, trainingModelGFLOPs, 100 * trainingMFU))
        }
        Swift.print(String(format: "sampling n=1                      %8.1f tokens/s", samplingTokensPerSecondN1))
        Swift.print(String(format: "sampling n=16 (shared prompt)     %8.1f tokens/s  = %.1fx n=1",
                           samplingTokensPerSecondN16, samplingSpeedup))
        Swift.print(String(format: "sampling 4 prompts x 16 together  %8.1f tokens/s  = %.1fx n=1",
                           samplingTokensPerSecond4x16, samplingTokensPerSecond4x16 / samplingTokensPerSecondN1))
    }
}
