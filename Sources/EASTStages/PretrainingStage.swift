import EASTCore
import EASTEngine
import Foundation

/// Builds the embedded backbone: a small transformer trained with SFT on the
/// task's worked solutions (the `pretrain` split), from scratch.
public enum PretrainingStage {
    public struct Settings: Sendable {
        public var task: ArithmeticTask = .easy
        public var examples = 20_000
        // The defaults build the committed backbone (models/arith-easy): long
        // enough to learn the format and some arithmetic, short enough to
        // leave room for self-training (see models/README.md).
        public var steps = 550
        public var batchSize = 32
        public var learningRate: Float = 3e-3
        public var warmupSteps = 100
        public var seed: UInt64 = 1
        public var dim = 128
        public var layers = 4
        public var heads = 4
        public var kvHeads = 2
        public var hiddenDim = 384
        public var maxSeqLen = 256

        public init() {}
    }

    /// The tokenizer's vocabulary covers every template of both levels and
    /// every split, so no question of the task is ever <unk>.
    public static func tokenizer() -> WordTokenizer {
        var corpus: [String] = []
        for task in ArithmeticTask.allCases {
            for split in ArithmeticTask.Split.allCases {
                for p in task.problems(split: split, count: 3_000, seed: 12_345) { corpus += [p.question, p.solution] }
            }
        }
        return WordTokenizer(corpus: corpus)
    }

    public static func initialPolicy(_ s: Settings) throws -> Policy {
        let tokenizer = tokenizer()
        let config = ModelConfig(
            vocabSize: tokenizer.vocabSize, dim: s.dim, layers: s.layers, heads: s.heads, kvHeads: s.kvHeads,
            hiddenDim: s.hiddenDim, ropeTheta: 10_000, rmsNormEps: 1e-5, tiedEmbeddings: true, maxSeqLen: s.maxSeqLen)
        try config.validate()
        return Policy(model: try Transformer(config: config, seed: s.seed), tokenizer: tokenizer)
    }

    /// Trains `policy` on the pretrain split; `progress` sees (step, loss) every step.
    public static func train(_ policy: Policy, settings s: Settings, progress: (Int, Float) -> Void) {
        let problems = s.task.problems(split: .pretrain, count: s.examples, seed: s.seed)
        let sequences = problems.map { p in
            (prompt: policy.format.prompt(p.question, tokenizer: policy.tokenizer),
             completion: policy.format.completion(p.solution, tokenizer: policy.tokenizer))
        }
        let trainer = Trainer(
            model: policy.model,
            optimizer: AdamW(layout: policy.model.layout, settings: .init(weightDecay: 0.01)),
            schedule: LearningRateSchedule(peak: s.learningRate, warmupSteps: s.warmupSteps, totalSteps: s.steps, decay: .cosine))
        var rng = SeededGenerator(seed: s.seed, stream: 7)
        var order = Array(sequences.indices).shuffled(using: &rng)
        var cursor = 0
        for step in 0..<s.steps {
            var chosen: [(prompt: [Int], completion: [Int])] = []
            for _ in 0..<s.batchSize {
                if cursor == order.count { order.shuffle(using: &rng); cursor = 0 }
                chosen.append(sequences[order[cursor]])
                cursor += 1
            }
            let batch = TokenBatch(sequences: chosen, padId: policy.tokenizer.padId)
            let ones = [Float](repeating: 1, count: chosen.count)
            let report = trainer.step([batch]) { SFTLoss.compute($0, $1, weights: ones) }
            progress(step, report.loss)
        }
    }
}
