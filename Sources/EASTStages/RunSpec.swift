import EASTCore
import EASTEngine

/// How a run weights its training examples: a question-level score mapped to
/// weights (EAST and its ablations), or a token-level baseline computed from
/// the policy during training (LW(P), LW(W)), or nothing (vanilla).
public enum RunWeighting: String, CaseIterable, Sendable {
    case uniform, entropy, accuracy, rejection, lwp, lww

    /// The question-level strategy; the token-level baselines weigh
    /// questions uniformly and reweight examples in the loss instead.
    public var questionStrategy: WeightingStrategy {
        switch self {
        case .entropy: return .entropy
        case .accuracy: return .accuracy
        case .rejection: return .rejection
        case .uniform, .lwp, .lww: return .uniform
        }
    }
}

/// Everything that defines a self-training run. The in-process runner and
/// the coordinator both start from one of these; `validate` refuses
/// impossible settings up front with a message naming the setting.
public struct RunSpec: Equatable, Sendable {
    public var checkpoint: String
    public var train: QuestionSource
    public var test: QuestionSource
    public var sampling: SamplingSettings
    public var loss: LossKind = .sft
    public var weighting: RunWeighting = .entropy
    public var mapping: WeightMapping = .power(exponent: 1)
    public var iterations = 1
    public var seed: UInt64 = 1
    public var epochs = 2
    public var batchSize = 32
    public var learningRate: Float = 1e-4
    /// DPO and KTO's beta.
    public var beta: Float = 0.1
    public var evalMaxNewTokens = 96
    /// Train a LoRA adapter instead of every weight (real models on a CPU).
    public var lora: LoRAConfig?

    public init(checkpoint: String, train: QuestionSource, test: QuestionSource, sampling: SamplingSettings) {
        self.checkpoint = checkpoint
        self.train = train
        self.test = test
        self.sampling = sampling
    }

    public struct Invalid: Error, CustomStringConvertible, Equatable, Sendable {
        public let setting: String
        public let reason: String
        public init(setting: String, reason: String) {
            self.setting = setting
            self.reason = reason
        }
        public var description: String { "invalid run spec: \(setting) \(reason)" }
    }

    public func validate() throws(Invalid) {
        func require(_ ok: Bool, _ setting: String, _ reason: String) throws(Invalid) {
            if !ok { throw Invalid(setting: setting, reason: reason) }
        }
        try require(sampling.n >= 2, "n", "must be at least 2 (entropy needs several samples), got \(sampling.n)")
        try require(sampling.n <= 64, "n", "must be at most 64, got \(sampling.n)")
        try require(sampling.temperature > 0 && sampling.temperature.isFinite, "temperature",
                    "must be above 0 for sampling (greedy samples are all equal), got \(sampling.temperature)")
        try require(sampling.topP > 0 && sampling.topP <= 1, "top-p", "must be in (0, 1], got \(sampling.topP)")
        try require(sampling.maxNewTokens > 0, "max-tokens", "must be positive, got \(sampling.maxNewTokens)")
        try require(iterations >= 1 && iterations <= 100, "iterations", "must be from 1 to 100, got \(iterations)")
        try require(epochs >= 1, "epochs", "must be at least 1, got \(epochs)")
        try require(batchSize >= 1, "batch-size", "must be at least 1, got \(batchSize)")
        try require(learningRate > 0 && learningRate < 1, "lr", "must be in (0, 1), got \(learningRate)")
        try require(beta > 0 && beta.isFinite, "beta", "must be above 0, got \(beta)")
        switch mapping {
        case let .power(a): try require(a.isFinite, "a", "must be a finite number, got \(a)")
        case let .linear(range): try require(range >= 0 && range.isFinite, "range", "must be a non-negative number, got \(range)")
        case .meanDivision: break
        }
        if let lora {
            try require(lora.rank >= 1 && lora.rank <= 1024, "lora-rank", "must be from 1 to 1024, got \(lora.rank)")
            try require(lora.alpha > 0 && lora.alpha.isFinite, "lora-alpha", "must be above 0, got \(lora.alpha)")
            try require(!lora.targets.isEmpty, "lora-targets", "must name at least one module")
        }
        if case let .task(_, _, count, _) = train { try require(count >= 1, "train count", "must be positive, got \(count)") }
        if case let .task(_, _, count, _) = test { try require(count >= 1, "test count", "must be positive, got \(count)") }
    }
}
