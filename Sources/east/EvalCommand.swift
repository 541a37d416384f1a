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
        guard count > 0 else { throw ValidationError("--count must be positive") }
        if let n, n < 2 { throw ValidationError("--n must be at least 2") }
        guard temperature > 0 else { throw ValidationError("--temperature must be above 0") }
    }

    func run() throws {
        relaunchWithFasterBLASKernelsIfNeeded()
        try failing {
            BLASThreads.set(threads)
            let policy = try Policy.load(from: URL(fileURLWithPath: checkpoint))
            let source: QuestionSource = file.map { .file(path: $0, limit: count) } ?? .task(task, split: split, count: count, seed: seed)
            let questions = try source.load()
            let sampler = Sampler(model: policy.model, maxRows: 64, maxSequenceLength: min(512, policy.model.config.maxSeqLen))
            let result = EvaluationStage.evaluate(policy, questions: questions, maxNewTokens: maxTokens, sampler: sampler, batch: 32)
            let mixed = n.map {
                EvaluationStage.mixedShare(policy, questions: questions, settings: SamplingSettings(n: $0, temperature: temperature, maxNewTokens: maxTokens), seed: seed, sampler: sampler)
            }
            if json {
                var pairs: [(String, JSON)] = [("questions", .number(Double(result.total))), ("correct", .number(Double(result.correct))),
                                               ("accuracy", .number(result.accuracy))]
                if let mixed { pairs.append(("mixed_share", .number(mixed))) }
                say(JSON.object(pairs).text)
            } else {
                say(String(format: "greedy accuracy %.1f%% (%d/%d) on %@", result.accuracy * 100, result.correct, result.total, source.description))
                if let mixed, let n { say(String(format: "mixed questions (n=%d, T=%.2f): %.1f%%", n, temperature, mixed * 100)) }
            }
        }
    }
}
