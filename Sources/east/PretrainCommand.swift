import ArgumentParser
import EASTCommandLine
import EASTCore
import EASTEngine
import EASTStages
import Foundation

struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Train the embedded backbone on the task's worked solutions.",
        discussion: "Deterministic for a seed and a thread count. Prints the figures EAST needs: greedy test accuracy and the share of mixed train questions.")

    @Option(help: "arith-easy or arith-hard.") var task: ArithmeticTask = .easy
    @Option(help: "Output checkpoint directory.") var out: String
    @Option(help: "Optimizer steps.") var steps = PretrainingStage.Settings().steps
    @Option(help: "Sequences per step.") var batch = PretrainingStage.Settings().batchSize
    @Option(help: "Distinct pretraining problems.") var examples = PretrainingStage.Settings().examples
    @Option(help: "Peak learning rate.") var lr: Float = PretrainingStage.Settings().learningRate
    @Option(help: "Model width.") var dim = PretrainingStage.Settings().dim
    @Option(help: "Transformer layers.") var layers = PretrainingStage.Settings().layers
    @Option(help: "Attention heads.") var heads = PretrainingStage.Settings().heads
    @Option(help: "Key/value heads.") var kvHeads = PretrainingStage.Settings().kvHeads
    @Option(help: "SwiGLU hidden width.") var hidden = PretrainingStage.Settings().hiddenDim
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Threads for the engine (matrix products and parallel loops).") var threads = 1
    @Option(help: "Questions for the closing figures.") var evalCount = 200

    func validate() throws {
        guard steps > 0, batch > 0, examples > 0, evalCount > 0 else { throw ValidationError("--steps, --batch, --examples and --eval-count must be positive") }
        guard steps <= 10_000_000, batch <= 65_536 else { throw ValidationError("--steps must be at most 10000000 and --batch at most 65536") }
        guard examples <= ArithmeticTask.maxCount, evalCount <= ArithmeticTask.maxCount else {
            throw ValidationError("--examples and --eval-count must be at most \(ArithmeticTask.maxCount)")
        }
        guard lr > 0, lr < 1 else { throw ValidationError("--lr must be in (0, 1), got \(lr)") }
        try validateThreads(threads)
    }

    func run() throws {
        relaunchWithFasterBLASKernelsIfNeeded()
        try failing {
            BLASThreads.set(threads)
            var s = PretrainingStage.Settings()
            (s.task, s.steps, s.batchSize, s.examples, s.learningRate, s.seed) = (task, steps, batch, examples, lr, seed)
            (s.dim, s.layers, s.heads, s.kvHeads, s.hiddenDim) = (dim, layers, heads, kvHeads, hidden)
            let policy = try PretrainingStage.initialPolicy(s)
            say("model: \(policy.model.parameterCount) parameters, vocabulary \(policy.tokenizer.vocabSize)")
            let start = Date()
            var window: [Float] = []
            PretrainingStage.train(policy, settings: s) { step, loss in
                window.append(loss)
                if (step + 1) % 50 == 0 || step + 1 == steps {
                    let mean = window.reduce(0, +) / Float(window.count)
                    say(String(format: "step %5d/%d  loss %.4f  %.0f s", step + 1, steps, mean, Date().timeIntervalSince(start)))
                    window.removeAll()
                }
            }
            let minutes = Date().timeIntervalSince(start) / 60
            try policy.save(to: URL(fileURLWithPath: out))
            let figures = try BackboneFigures.measure(policy, task: task, count: evalCount, seed: seed)
            say(figures.summary)
            let provenance = Provenance(
                command: CommandLine.arguments.dropFirst().joined(separator: " "), seed: seed, threads: threads,
                blasKernels: BLASKernels.coreName, trainingMinutes: (minutes * 10).rounded() / 10,
                parameters: policy.model.parameterCount, figures: figures.record)
            try AtomicFile.write(try JSONCoding.encode(provenance, pretty: true), to: URL(fileURLWithPath: out + "/provenance.json"))
        }
    }
}

/// The two figures that say whether a backbone leaves room for EAST.
struct BackboneFigures {
    var testAccuracy: EvaluationStage.Result
    var mixedShare: Double
    var count: Int

    static func measure(_ policy: Policy, task: ArithmeticTask, count: Int, seed: UInt64) throws -> BackboneFigures {
        let sampler = Sampler(model: policy.model, maxRows: 64, maxSequenceLength: 256)
        let test = try QuestionSource.task(task, split: .test, count: count, seed: seed).load()
        let train = try QuestionSource.task(task, split: .train, count: count, seed: seed).load()
        let accuracy = try EvaluationStage.evaluate(policy, questions: test, maxNewTokens: 96, sampler: sampler, batch: 32)
        let mixed = EvaluationStage.mixedShare(
            policy, questions: train, settings: SamplingSettings(n: 8, temperature: 0.8, maxNewTokens: 96), seed: seed, sampler: sampler)
        return BackboneFigures(testAccuracy: accuracy, mixedShare: mixed, count: count)
    }

    var summary: String {
        String(format: "greedy test accuracy %.1f%% (%d/%d); mixed train questions (n=8, T=0.8) %.1f%% of %d",
               testAccuracy.accuracy * 100, testAccuracy.correct, testAccuracy.total, mixedShare * 100, count)
    }

    struct Record: Codable {
        var testAccuracy: Double, testQuestions: Int, mixedShare: Double, trainQuestions: Int
        enum CodingKeys: String, CodingKey {
            case testAccuracy = "test_accuracy", testQuestions = "test_questions", mixedShare = "mixed_share_n8_t0.8", trainQuestions = "train_questions"
        }
    }

    var record: Record {
        Record(testAccuracy: testAccuracy.accuracy, testQuestions: testAccuracy.total, mixedShare: mixedShare, trainQuestions: count)
    }
}

/// How a backbone was made (`provenance.json` beside it).
struct Provenance: Codable {
    var command: String, seed: UInt64, threads: Int, blasKernels: String, trainingMinutes: Double, parameters: Int
    var figures: BackboneFigures.Record
    enum CodingKeys: String, CodingKey {
        case command, seed, threads, blasKernels = "blas_kernels", trainingMinutes = "training_minutes", parameters, figures
    }
}
