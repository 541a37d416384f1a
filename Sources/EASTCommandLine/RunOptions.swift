import ArgumentParser
import EASTCore
import EASTEngine
import EASTStages
import Foundation

/// The settings of a self-training run, as command-line options. Shared by
/// `east selftrain` and `east-coordinator` so both read a run the same way.
/// Every option is optional: `spec` fills in `RunSpec.defaults` (which the
/// help text quotes), and `apply(to:)` lays only the options given over
/// another spec (a resumed run's stored one), so a resumed coordinator can
/// tell a repeated setting from a changed one.
public struct RunOptions: ParsableArguments, Sendable {
    public init() {}

    private static let d = RunSpec.defaults

    @Option(help: "Starting checkpoint directory, or a GGUF instruct model (default \(d.checkpoint)).")
    public var checkpoint: String?

    @Option(help: "Train a LoRA adapter of this rank instead of every weight (default 0: full training).")
    public var loraRank: Int?

    @Option(help: "LoRA alpha: the update is scaled by alpha / rank (default \(RunSpec.defaultLoRA.alpha)).")
    public var loraAlpha: Float?

    @Option(help: "LoRA target modules, comma-separated (default q,k,v,o,gate,up,down).")
    public var loraTargets: String?

    @Option(help: "Embedded task of the train and test questions: arith-easy or arith-hard (default arith-easy).")
    public var task: ArithmeticTask?

    @Option(help: "Train questions from a JSONL file instead of the task.")
    public var trainFile: String?

    @Option(help: "Test questions from a JSONL file instead of the task.")
    public var testFile: String?

    @Option(help: "Number of train questions (default \(d.train.count ?? 0)).")
    public var trainCount: Int?

    @Option(help: "Number of test questions (default \(d.test.count ?? 0)).")
    public var testCount: Int?

    @Option(help: "Samples per question (default \(d.sampling.n)).")
    public var n: Int?

    @Option(help: "Sampling temperature (default \(d.sampling.temperature)).")
    public var temperature: Float?

    @Option(help: "Nucleus sampling threshold (default \(d.sampling.topP)).")
    public var topP: Float?

    @Option(help: "Most tokens per sampled or greedy response (default \(d.sampling.maxNewTokens)).")
    public var maxTokens: Int?

    @Option(help: "Loss: sft, dpo or kto (default \(d.loss.rawValue)).")
    public var loss: LossKind?

    @Option(help: "Weighting: uniform, entropy, accuracy, rejection, lwp, lww (default \(d.weighting.rawValue)).")
    public var weighting: RunWeighting?

    @Option(help: "Score-to-weight mapping: power (EAST), mean, linear (default power).")
    public var mapping: MappingName?

    @Option(name: .customLong("a"), help: "Exponent of the power mapping; a < 0 favours confident questions (default 1).")
    public var exponent: Double?

    @Option(help: "Spread of the linear mapping's weights (default 1).")
    public var range: Double?

    @Option(help: "Self-training iterations T (default \(d.iterations)).")
    public var iterations: Int?

    @Option(help: "Epochs over each iteration's examples (default \(d.epochs)).")
    public var epochs: Int?

    @Option(help: "Examples per training batch (default \(d.batchSize)).")
    public var batchSize: Int?

    @Option(name: [.customLong("learning-rate"), .customLong("lr")], help: "Peak learning rate of each iteration (default \(d.learningRate)).")
    public var learningRate: Float?

    @Option(help: "Share of an iteration's steps spent warming the learning rate up (default \(d.warmupRatio)).")
    public var warmupRatio: Double?

    @Option(help: "Decay after the warmup: linear, cosine or constant (default \(d.schedule.rawValue)).")
    public var schedule: LearningRateSchedule.Decay?

    @Option(name: .customLong("min-lr-ratio"), help: "The learning rate decays to this share of its peak (default \(d.minLearningRateRatio)).")
    public var minLearningRateRatio: Float?

    @Option(help: "DPO / KTO beta (default \(d.beta)).")
    public var beta: Float?

    @Option(help: "KTO's undesirable example: dominant (a response of the most common wrong answer) or any wrong response (default \(d.ktoUndesirable.rawValue)).")
    public var ktoUndesirable: ExampleSelection.Undesirable?

    @Option(help: "System message of chat models' prompts (default: the EAST paper's).")
    public var systemPrompt: String?

    @Option(help: "Run seed; also draws the task's questions (default \(d.seed)).")
    public var seed: UInt64?

    @Option(help: "Seed of the task's test questions (default: the run seed). Runs that share it are evaluated on the same questions, so `east compare` can pair them.")
    public var testSeed: UInt64?

    public enum MappingName: String, ExpressibleByArgument, CaseIterable, Sendable {
        case power, mean, linear
    }

    /// The run spec these options describe, defaults filling the rest (not yet validated).
    public var spec: RunSpec {
        var spec = RunSpec.defaults
        apply(to: &spec)
        return spec
    }

    /// Lays the options that were given over `spec`.
    public func apply(to spec: inout RunSpec) {
        if let checkpoint { spec.checkpoint = checkpoint }
        spec.train = source(spec.train, file: trainFile, count: trainCount, split: .train)
        spec.test = source(spec.test, file: testFile, count: testCount, split: .test)
        if let n { spec.sampling.n = n }
        if let temperature { spec.sampling.temperature = temperature }
        if let topP { spec.sampling.topP = topP }
        if let maxTokens {
            spec.sampling.maxNewTokens = maxTokens
            spec.evalMaxNewTokens = maxTokens
        }
        if let loss { spec.loss = loss }
        if let weighting { spec.weighting = weighting }
        switch mapping {
        case .power?: spec.mapping = .power(exponent: exponent ?? 1)
        case .mean?: spec.mapping = .meanDivision
        case .linear?: spec.mapping = .linear(range: range ?? 1)
        case nil:
            if let exponent, case .power = spec.mapping { spec.mapping = .power(exponent: exponent) }
            if let range, case .linear = spec.mapping { spec.mapping = .linear(range: range) }
        }
        if let iterations { spec.iterations = iterations }
        if let epochs { spec.epochs = epochs }
        if let batchSize { spec.batchSize = batchSize }
        if let learningRate { spec.learningRate = learningRate }
        if let warmupRatio { spec.warmupRatio = warmupRatio }
        if let schedule { spec.schedule = schedule }
        if let minLearningRateRatio { spec.minLearningRateRatio = minLearningRateRatio }
        if let beta { spec.beta = beta }
        if let ktoUndesirable { spec.ktoUndesirable = ktoUndesirable }
        if let systemPrompt { spec.systemPrompt = systemPrompt }
        if let seed { spec.seed = seed }
        if let loraRank {
            spec.lora = loraRank == 0 ? nil : LoRAConfig(rank: loraRank, alpha: RunSpec.defaultLoRA.alpha, targets: RunSpec.defaultLoRA.targets)
        }
        if var lora = spec.lora {
            if let loraAlpha { lora.alpha = loraAlpha }
            if let loraTargets {
                let names = ["q": LoRATarget.q, "k": .k, "v": .v, "o": .o, "gate": .gate, "up": .up, "down": .down]
                let targets = loraTargets.split(separator: ",").map { names[String($0).trimmingCharacters(in: .whitespaces)] }
                // An unknown name leaves the list empty, which validate() refuses with the setting's name.
                lora.targets = targets.contains(nil) ? [] : targets.compactMap { $0 }
            }
            spec.lora = lora
        }
    }

    /// A question source with the given file, count, task and seed laid over it.
    private func source(_ base: QuestionSource, file: String?, count: Int?, split: ArithmeticTask.Split) -> QuestionSource {
        switch (file, base) {
        case let (path?, .file(_, limit)): return .file(path: path, limit: count ?? limit)
        case let (path?, .task(_, _, taskCount, _)): return .file(path: path, limit: count ?? taskCount)
        case let (nil, .file(path, limit)): return .file(path: path, limit: count ?? limit)
        case let (nil, .task(baseTask, baseSplit, baseCount, baseSeed)):
            // The split stays the base's (a spec's test questions may be validation questions).
            let questionSeed = split == .test ? testSeed ?? seed : seed
            return .task(task ?? baseTask, split: baseSplit, count: count ?? baseCount, seed: questionSeed ?? baseSeed)
        }
    }
}

extension LearningRateSchedule.Decay: ExpressibleByArgument {}
extension ExampleSelection.Undesirable: ExpressibleByArgument {}
