import ArgumentParser
import EASTCommandLine
import EASTCore
import EASTEngine
import EASTStages
import Foundation

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Greedy accuracy of a checkpoint (and, with --n, the share of mixed questions).")

    @Option(help: "Checkpoint directory.") var checkpoint: String
    @Option(help: "arith-easy or arith-hard.") var task: ArithmeticTask = .easy
    @Option(help: "pretrain, train or test.") var split: ArithmeticTask.Split = .test
    @Option(help: "Questions from a JSONL file instead of the task.") var file: String?
    @Option(help: "Number of questions.") var count = 200
    @Option(help: "Also sample this many responses per question and report the mixed share.") var n: Int?
    @Option(help: "Temperature for --n.") var temperature: Float = 0.8
    @Option(help: "Most new tokens per answer.") var maxTokens = 96
    @Option(help: "Seed of the task questions and the samples.") var seed: UInt64 = 1
    @Option(help: "Threads for the engine (matrix products and parallel loops).") var threads = 1
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard count > 0, count <= ArithmeticTask.maxCount else { throw ValidationError("--count must be from 1 to \(ArithmeticTask.maxCount), got \(count)") }
        if let n, n < 2 || n > RunSpec.maxSamples { throw ValidationError("--n must be from 2 to \(RunSpec.maxSamples), got \(n)") }
        guard temperature > 0, temperature.isFinite else { throw ValidationError("--temperature must be above 0, got \(temperature)") }
        guard maxTokens >= 1, maxTokens <= RunSpec.maxNewTokensBound else {
            throw ValidationError("--max-tokens must be from 1 to \(RunSpec.maxNewTokensBound), got \(maxTokens)")
        }
        try validateThreads(threads)
    }

    @Option(help: "A folder where samples and greedy answers are kept by content address and reused (default: none).")
    var sampleCache: String?

    /// `--json`'s line.
    struct Figures: Encodable {
        var questions: Int
        var correct: Int
        var accuracy: Double
        var mixedShare: Double?
        var entropySplitHalf: Double?
        enum CodingKeys: String, CodingKey {
            case questions, correct, accuracy, mixedShare = "mixed_share", entropySplitHalf = "entropy_split_half"
        }
    }

    func run() throws {
        relaunchWithFasterBLASKernelsIfNeeded()
        try failing {
            BLASThreads.set(threads)
            let policy = try Policy.load(from: URL(fileURLWithPath: checkpoint))
            let source: QuestionSource = file.map { .file(path: $0, limit: count) } ?? .task(task, split: split, count: count, seed: seed)
            let questions = try source.load()
            let store = sampleCache.map { FolderSampleStore(folder: URL(fileURLWithPath: $0)) }
            let sampler = policy.sampler(rows: max(64, n ?? 0))
            let result = try EvaluationStage.evaluate(policy, questions: questions, maxNewTokens: maxTokens, sampler: sampler, batch: 32, store: store)
            var figures = Figures(questions: result.total, correct: result.correct, accuracy: result.accuracy)
            if let n {
                // The share of mixed questions (room for EAST) and how reliable their entropy is at this n.
                let settings = SamplingSettings(n: n, temperature: temperature, maxNewTokens: maxTokens)
                let samples = try SamplingStage.sample(policy, questions: questions, settings: settings, runSeed: seed, sampler: sampler, store: store)
                let records = zip(questions, samples).map { WeighingStage.record($0, $1, spec: RunSpec.defaults, version: policy.version) }
                let mixed = records.filter(\.kept)
                figures.mixedShare = Double(mixed.count) / Double(max(1, records.count))
                figures.entropySplitHalf = Reliability.correlation(mixed.map { $0.halfEntropies[0] }, mixed.map { $0.halfEntropies[1] })
            }
            if json {
                say(try JSONCoding.string(figures))
            } else {
                say(String(format: "greedy accuracy %.1f%% (%d/%d) on %@", result.accuracy * 100, result.correct, result.total, source.description))
                if let n, let mixed = figures.mixedShare {
                    say(String(format: "mixed questions (n=%d, T=%.2f): %.1f%%", n, temperature, mixed * 100))
                    if let r = figures.entropySplitHalf {
                        say(String(format: "entropy of the mixed questions: split-half r %.2f (%.2f from all %d samples, Spearman-Brown)",
                                   r, Reliability.spearmanBrown(r), n))
                    }
                }
            }
        }
    }
}
