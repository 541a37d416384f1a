import EASTCore
import Foundation

/// What each run setting means, beside its key: the one place the
/// documentation of a setting lives (`east settings` prints the table, and
/// docs/configuration.md holds it, checked by a test).
extension RunSpec.CodingKeys {
    public var meaning: String {
        switch self {
        case .checkpoint: return "Starting policy: a checkpoint folder, or a GGUF instruct model."
        case .train: return "Train questions: `{task, split, count, seed}` of the embedded task, or `{file, limit}` (GSM8K or MATH form)."
        case .test: return "Test questions, the same two forms; greedy accuracy on them is the result."
        case .n: return "Samples per question (the entropy's resolution: at n = 8 it takes 20 values, at 128 it is nearly continuous)."
        case .temperature: return "Sampling temperature."
        case .topP: return "Nucleus sampling threshold."
        case .maxTokens: return "Most new tokens of a sampled response."
        case .evalMaxTokens: return "Most new tokens of a greedy test answer."
        case .loss: return "sft, dpo or kto."
        case .weighting: return "uniform (vanilla), entropy (EAST), accuracy, rejection, lwp or lww (the token-level baselines)."
        case .mapping: return "Score to weight: power (EAST's h^a N / sum h^a), mean (h / mean h) or linear."
        case .a: return "Exponent of the power mapping; a < 0 favours confident questions."
        case .range: return "Spread (max - min) of the linear mapping's weights."
        case .iterations: return "Self-training iterations T (sample, weigh, train)."
        case .seed: return "Run seed: draws the train questions, the samples' seeds, the examples and the batch order."
        case .epochs: return "Passes over each iteration's examples."
        case .batchSize: return "Examples per optimizer step (a DPO pair counts as one)."
        case .learningRate: return "Peak learning rate of each iteration."
        case .warmupRatio: return "Share of an iteration's steps over which the learning rate rises linearly from 0 (rounded up)."
        case .schedule: return "Decay after the warmup: linear, cosine or constant."
        case .minLearningRateRatio: return "The learning rate decays to this share of its peak."
        case .beta: return "DPO's and KTO's beta."
        case .ktoUndesirable: return "KTO's undesirable example: dominant (a response of the most common wrong answer) or any wrong response."
        case .adamBeta1: return "AdamW's first-moment decay."
        case .adamBeta2: return "AdamW's second-moment decay."
        case .adamEpsilon: return "AdamW's epsilon."
        case .weightDecay: return "AdamW's decoupled weight decay (matrices only)."
        case .maxGradientNorm: return "Gradients are clipped to this global norm (0: no clipping)."
        case .systemPrompt: return "System message of chat models' prompts (plain-prompt models have none)."
        case .lora: return "Train a LoRA adapter `{rank, alpha, targets}` instead of every weight (null: full training)."
        case .grader: return "The grader's version (recorded; a spec naming another is refused)."
        }
    }

    /// The `east selftrain` / `east-coordinator` option that sets it.
    public var flag: String {
        switch self {
        case .checkpoint: return "--checkpoint"
        case .train: return "--task, --train-file, --train-count, --seed"
        case .test: return "--task, --test-file, --test-count, --test-seed"
        case .n: return "--n"
        case .temperature: return "--temperature"
        case .topP: return "--top-p"
        case .maxTokens: return "--max-tokens"
        case .evalMaxTokens: return "--max-tokens"
        case .loss: return "--loss"
        case .weighting: return "--weighting"
        case .mapping: return "--mapping"
        case .a: return "--a"
        case .range: return "--range"
        case .iterations: return "--iterations"
        case .seed: return "--seed"
        case .epochs: return "--epochs"
        case .batchSize: return "--batch-size"
        case .learningRate: return "--learning-rate"
        case .warmupRatio: return "--warmup-ratio"
        case .schedule: return "--schedule"
        case .minLearningRateRatio: return "--min-lr-ratio"
        case .beta: return "--beta"
        case .ktoUndesirable: return "--kto-undesirable"
        case .systemPrompt: return "--system-prompt"
        case .lora: return "--lora-rank, --lora-alpha, --lora-targets"
        case .adamBeta1, .adamBeta2, .adamEpsilon, .weightDecay, .maxGradientNorm, .grader: return "(spec only)"
        }
    }
}

extension RunSpec {
    /// Every setting with its key, flag, default and meaning, as a Markdown table.
    public static var settingsTable: String {
        let encoded = (try? JSONCoding.encode(RunSpec.defaults)).flatMap { try? JSON.parse(String(decoding: $0, as: UTF8.self)) }
        var md = "| key | option | default | meaning |\n| --- | --- | --- | --- |\n"
        for key in CodingKeys.allCases {
            // `range` is written only with the linear mapping, whose default it is.
            let value = encoded?[key.stringValue].map { "`\($0.text)`" } ?? (key == .range ? "`1` (linear mapping)" : "-")
            md += "| `\(key.stringValue)` | \(key.flag) | \(value) | \(key.meaning) |\n"
        }
        return md
    }
}
