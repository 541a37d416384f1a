import ArgumentParser
import EASTCore
import EASTEngine
import Foundation
import EASTStages

/// The settings of a self-training run, as command-line options. Shared by
/// `east selftrain` and `east-coordinator` so both read a run the same way.
public struct RunOptions: ParsableArguments {
    public init() {}

    @Option(help: "Starting checkpoint directory, or a GGUF instruct model (e.g. models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf).")
    public var checkpoint = "models/arith-easy"

    @Option(help: "Train a LoRA adapter of this rank instead of every weight (0: full training).")
    public var loraRank = 0

    @Option(help: "LoRA alpha (the update is scaled by alpha / rank).")
    public var loraAlpha: Float = 32

    @Option(help: "LoRA target modules, comma-separated: q,k,v,o,gate,up,down.")
    public var loraTargets = "q,k,v,o,gate,up,down"

    @Option(help: "Embedded task for the train and test questions: arith-easy or arith-hard.")
    public var task: ArithmeticTask = .easy

    @Option(help: "Train questions from a JSONL file (GSM8K or MATH form) instead of the task.")
    public var trainFile: String?

    @Option(help: "Test questions from a JSONL file instead of the task.")
    public var testFile: String?

    @Option(help: "Number of train questions.")
    public var trainCount = 2048

    @Option(help: "Number of test questions.")
    public var testCount = 500

    @Option(help: "Samples per question.")
    public var n = 8

    @Option(help: "Sampling temperature.")
    public var temperature: Float = 0.8

    @Option(help: "Nucleus sampling threshold.")
    public var topP: Float = 1

    @Option(help: "Most tokens per sampled response.")
    public var maxTokens = 96

    @Option(help: "Loss: sft, dpo or kto.")
    public var loss: LossKind = .sft

    @Option(help: "Weighting: uniform, entropy, accuracy, rejection, lwp, lww.")
    public var weighting: RunWeighting = .entropy

    @Option(help: "Score-to-weight mapping: power (EAST), mean, linear.")
    public var mapping: MappingName = .power

    @Option(name: .customLong("a"), help: "Exponent of the power mapping (a < 0 favours confident questions).")
    public var exponent = 1.0

    @Option(help: "Spread of the linear mapping's weights.")
    public var range = 1.0

    @Option(help: "Self-training iterations T.")
    public var iterations = 1

    @Option(help: "Epochs over each iteration's examples.")
    public var epochs = 2

    @Option(help: "Examples per training batch.")
    public var batchSize = 32

    @Option(help: "Peak learning rate of each iteration.")
    public var lr: Float = 1e-4

    @Option(help: "DPO / KTO beta.")
    public var beta: Float = 0.1

    @Option(help: "Run seed.")
    public var seed: UInt64 = 1

    public enum MappingName: String, ExpressibleByArgument, CaseIterable, Sendable {
        case power, mean, linear
    }

    /// The run spec these options describe (not yet validated).
    public var spec: RunSpec {
        let train: QuestionSource = trainFile.map { .file(path: $0, limit: trainCount) }
            ?? .task(task, split: .train, count: trainCount, seed: seed)
        let test: QuestionSource = testFile.map { .file(path: $0, limit: testCount) }
            ?? .task(task, split: .test, count: testCount, seed: seed)
        var spec = RunSpec(
            checkpoint: checkpoint, train: train, test: test,
            sampling: SamplingSettings(n: n, temperature: temperature, topP: topP, maxNewTokens: maxTokens))
        spec.loss = loss
        spec.weighting = weighting
        switch mapping {
        case .power: spec.mapping = .power(exponent: exponent)
        case .mean: spec.mapping = .meanDivision
        case .linear: spec.mapping = .linear(range: range)
        }
        spec.iterations = iterations
        spec.epochs = epochs
        spec.batchSize = batchSize
        spec.learningRate = lr
        spec.beta = beta
        spec.seed = seed
        spec.evalMaxNewTokens = maxTokens
        if loraRank != 0 {
            let names = ["q": LoRATarget.q, "k": .k, "v": .v, "o": .o, "gate": .gate, "up": .up, "down": .down]
            let targets = loraTargets.split(separator: ",").map { names[String($0).trimmingCharacters(in: .whitespaces)] }
            // An unknown name leaves the list empty, which validate() refuses with the setting's name.
            spec.lora = LoRAConfig(rank: loraRank, alpha: loraAlpha, targets: targets.contains(nil) ? [] : targets.compactMap { $0 })
        }
        return spec
    }
}
