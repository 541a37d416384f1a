import EASTCore
import EASTEngine
import Foundation

/// How a run weights its training examples: a question-level score mapped to
/// weights (EAST and its ablations), or a token-level baseline computed from
/// the policy during training (LW(P), LW(W)), or nothing (vanilla).
public enum RunWeighting: String, CaseIterable, Codable, Sendable {
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

/// Everything that defines a self-training run, and the one home of every
/// run setting's default (`RunSpec.defaults`): the command-line options, their
/// help text and experiment specs all start from it. The in-process runner and
/// the coordinator both start from one of these; `validate` refuses
/// impossible settings up front with a message naming the setting. On the
/// cluster it is stored in Redis when the run starts (`RunState.spec`), and
/// every worker reads it from there by run id: messages carry only the run,
/// iteration, policy version and the item.
///
/// Encoded, it is the run's resolved settings: every key, defaults included,
/// so that a run's record says exactly how it ran and a changed default shows
/// as a changed setting.
public struct RunSpec: Equatable, Sendable {
    public var checkpoint: String
    public var train: QuestionSource
    public var test: QuestionSource
    public var sampling: SamplingSettings
    public var loss: LossKind
    public var weighting: RunWeighting
    public var mapping: WeightMapping
    public var iterations: Int
    public var seed: UInt64
    /// Training: passes over each iteration's examples, examples per optimizer step.
    public var epochs: Int
    public var batchSize: Int
    /// The schedule: linear warmup over `warmupRatio` of an iteration's steps
    /// (rounded up, as Hugging Face's trainer does) to `learningRate`, then
    /// `schedule` decay to `learningRate * minLearningRateRatio`.
    public var learningRate: Float
    public var warmupRatio: Double
    public var schedule: LearningRateSchedule.Decay
    public var minLearningRateRatio: Float
    /// DPO and KTO's beta.
    public var beta: Float
    /// Which wrong response a KTO question contributes as its undesirable example.
    public var ktoUndesirable: ExampleSelection.Undesirable
    public var optimizer: AdamW.Settings
    /// Gradients are clipped to this global norm (0: no clipping).
    public var maxGradientNorm: Float
    public var evalMaxNewTokens: Int
    /// The system message of chat models' prompts (plain-prompt models have none).
    public var systemPrompt: String
    /// Train a LoRA adapter instead of every weight (real models on a CPU).
    public var lora: LoRAConfig?
    /// The answer grader's version (`Grader.version`): recorded so that
    /// results graded differently never mix; a spec naming another is refused.
    public var grader: String

    public init(checkpoint: String, train: QuestionSource, test: QuestionSource, sampling: SamplingSettings) {
        self = Self.defaults
        (self.checkpoint, self.train, self.test, self.sampling) = (checkpoint, train, test, sampling)
    }

    private init(
        checkpoint: String, train: QuestionSource, test: QuestionSource, sampling: SamplingSettings, loss: LossKind,
        weighting: RunWeighting, mapping: WeightMapping, iterations: Int, seed: UInt64, epochs: Int, batchSize: Int,
        learningRate: Float, warmupRatio: Double, schedule: LearningRateSchedule.Decay, minLearningRateRatio: Float, beta: Float,
        ktoUndesirable: ExampleSelection.Undesirable, optimizer: AdamW.Settings, maxGradientNorm: Float, evalMaxNewTokens: Int,
        systemPrompt: String, lora: LoRAConfig?, grader: String
    ) {
        (self.checkpoint, self.train, self.test, self.sampling, self.loss, self.weighting, self.mapping) =
            (checkpoint, train, test, sampling, loss, weighting, mapping)
        (self.iterations, self.seed, self.epochs, self.batchSize, self.learningRate, self.warmupRatio, self.schedule) =
            (iterations, seed, epochs, batchSize, learningRate, warmupRatio, schedule)
        (self.minLearningRateRatio, self.beta, self.ktoUndesirable, self.optimizer, self.maxGradientNorm) =
            (minLearningRateRatio, beta, ktoUndesirable, optimizer, maxGradientNorm)
        (self.evalMaxNewTokens, self.systemPrompt, self.lora, self.grader) = (evalMaxNewTokens, systemPrompt, lora, grader)
    }

    /// Every setting's default, in one place.
    public static let defaults = RunSpec(
        checkpoint: "models/arith-easy",
        train: .task(.easy, split: .train, count: 2048, seed: 1), test: .task(.easy, split: .test, count: 500, seed: 1),
        sampling: SamplingSettings(n: 8, temperature: 0.8, topP: 1, maxNewTokens: 96),
        loss: .sft, weighting: .entropy, mapping: .power(exponent: 1), iterations: 1, seed: 1,
        epochs: 2, batchSize: 32, learningRate: 1e-4, warmupRatio: 0.1, schedule: .cosine, minLearningRateRatio: 0.1,
        beta: 0.1, ktoUndesirable: .dominant, optimizer: AdamW.Settings(), maxGradientNorm: 1, evalMaxNewTokens: 96,
        systemPrompt: PromptFormat.paperSystem, lora: nil, grader: Grader.version)

    /// A LoRA adapter's settings when only the rank is given.
    public static let defaultLoRA = LoRAConfig(rank: 16, alpha: 32, targets: LoRATarget.allCases)

    /// The EAST paper's training recipe (its 1B runs): 3 epochs at batch 16,
    /// warmup over 10% of the steps, then linear decay to 0. Learning rate and
    /// beta are chosen per loss on a validation split.
    public static func paperRecipe(_ spec: RunSpec) -> RunSpec {
        var spec = spec
        (spec.epochs, spec.batchSize, spec.warmupRatio, spec.schedule, spec.minLearningRateRatio) = (3, 16, 0.1, .linear, 0)
        return spec
    }

    /// Bounds of the settings that size work or memory.
    public static let maxSamples = 1024
    public static let maxNewTokensBound = 4096

    public struct Invalid: Error, CustomStringConvertible, Equatable, Sendable {
        public let setting: String
        public let reason: String
        public init(setting: String, reason: String) {
            (self.setting, self.reason) = (setting, reason)
        }
        public var description: String { "invalid run spec: \(setting) \(reason)" }
    }

    public func validate() throws(Invalid) {
        func require(_ ok: Bool, _ setting: String, _ reason: String) throws(Invalid) {
            if !ok { throw Invalid(setting: setting, reason: reason) }
        }
        try require(sampling.n >= 2, "n", "must be at least 2 (entropy needs several samples), got \(sampling.n)")
        try require(sampling.n <= Self.maxSamples, "n", "must be at most \(Self.maxSamples), got \(sampling.n)")
        try require(sampling.temperature > 0 && sampling.temperature.isFinite, "temperature",
                    "must be above 0 for sampling (greedy samples are all equal), got \(sampling.temperature)")
        try require(sampling.topP > 0 && sampling.topP <= 1, "top_p", "must be in (0, 1], got \(sampling.topP)")
        try require(sampling.maxNewTokens > 0 && sampling.maxNewTokens <= Self.maxNewTokensBound, "max_tokens",
                    "must be from 1 to \(Self.maxNewTokensBound), got \(sampling.maxNewTokens)")
        try require(evalMaxNewTokens > 0 && evalMaxNewTokens <= Self.maxNewTokensBound, "eval_max_tokens",
                    "must be from 1 to \(Self.maxNewTokensBound), got \(evalMaxNewTokens)")
        try require(iterations >= 1 && iterations <= 100, "iterations", "must be from 1 to 100, got \(iterations)")
        try require(epochs >= 1 && epochs <= 1000, "epochs", "must be from 1 to 1000, got \(epochs)")
        try require(batchSize >= 1 && batchSize <= 65536, "batch_size", "must be from 1 to 65536, got \(batchSize)")
        try require(learningRate > 0 && learningRate < 1, "learning_rate", "must be in (0, 1), got \(learningRate)")
        try require(warmupRatio >= 0 && warmupRatio <= 1, "warmup_ratio", "must be in [0, 1], got \(warmupRatio)")
        try require(minLearningRateRatio >= 0 && minLearningRateRatio <= 1, "min_lr_ratio", "must be in [0, 1], got \(minLearningRateRatio)")
        try require(beta > 0 && beta.isFinite, "beta", "must be above 0, got \(beta)")
        try require(optimizer.beta1 >= 0 && optimizer.beta1 < 1, "adam_beta1", "must be in [0, 1), got \(optimizer.beta1)")
        try require(optimizer.beta2 >= 0 && optimizer.beta2 < 1, "adam_beta2", "must be in [0, 1), got \(optimizer.beta2)")
        try require(optimizer.eps > 0 && optimizer.eps.isFinite, "adam_epsilon", "must be above 0, got \(optimizer.eps)")
        try require(optimizer.weightDecay >= 0 && optimizer.weightDecay < 1, "weight_decay", "must be in [0, 1), got \(optimizer.weightDecay)")
        try require(maxGradientNorm >= 0 && maxGradientNorm.isFinite, "max_grad_norm", "must be 0 (off) or above, got \(maxGradientNorm)")
        try require(grader == Grader.version, "grader", "is \"\(grader)\", but this build grades with version \"\(Grader.version)\"")
        switch mapping {
        case let .power(a): try require(a.isFinite && abs(a) <= 100, "a", "must be a finite number from -100 to 100, got \(a)")
        case let .linear(range): try require(range >= 0 && range.isFinite, "range", "must be a non-negative number, got \(range)")
        case .meanDivision: break
        }
        if let lora {
            try require(lora.rank >= 1 && lora.rank <= 1024, "lora.rank", "must be from 1 to 1024, got \(lora.rank)")
            try require(lora.alpha > 0 && lora.alpha.isFinite, "lora.alpha", "must be above 0, got \(lora.alpha)")
            try require(!lora.targets.isEmpty, "lora.targets", "must name at least one module")
        }
        try train.validate(setting: "train")
        try test.validate(setting: "test")
    }

    /// The learning-rate schedule of an iteration of `totalSteps` optimizer steps.
    public func learningRateSchedule(totalSteps: Int) -> LearningRateSchedule {
        let steps = max(1, totalSteps)
        let warmup = Int((warmupRatio * Double(steps)).rounded(.up))
        return LearningRateSchedule(peak: learningRate, warmupSteps: min(warmup, steps), totalSteps: steps, decay: schedule,
                                    minRatio: minLearningRateRatio)
    }
}

/// The spec as JSON (and YAML through the same keys): flat snake_case
/// settings, the two question sources and the LoRA adapter as objects. Keys
/// left out take `RunSpec.defaults`, so a spec file names only what it
/// changes; a key that is not a setting is refused, naming it.
extension RunSpec: Codable {
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case checkpoint, train, test, n, temperature, topP = "top_p", maxTokens = "max_tokens", evalMaxTokens = "eval_max_tokens"
        case loss, weighting, mapping, a, range, iterations, seed
        case epochs, batchSize = "batch_size", learningRate = "learning_rate", warmupRatio = "warmup_ratio", schedule
        case minLearningRateRatio = "min_lr_ratio", beta, ktoUndesirable = "kto_undesirable"
        case adamBeta1 = "adam_beta1", adamBeta2 = "adam_beta2", adamEpsilon = "adam_epsilon", weightDecay = "weight_decay"
        case maxGradientNorm = "max_grad_norm", systemPrompt = "system_prompt", lora, grader
    }

    public init(from decoder: Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        self = .defaults
        try lay(decoder.container(keyedBy: CodingKeys.self))
    }

    /// Lays the settings `c` holds over this spec (the others keep their values).
    public mutating func lay(_ c: KeyedDecodingContainer<CodingKeys>) throws {
        func value<T: Decodable>(_ key: CodingKeys, _ current: T) throws -> T { try c.decodeIfPresent(T.self, forKey: key) ?? current }
        checkpoint = try value(.checkpoint, checkpoint)
        train = try value(.train, train)
        test = try value(.test, test)
        sampling = SamplingSettings(n: try value(.n, sampling.n), temperature: try value(.temperature, sampling.temperature),
                                    topP: try value(.topP, sampling.topP), maxNewTokens: try value(.maxTokens, sampling.maxNewTokens))
        evalMaxNewTokens = try value(.evalMaxTokens, evalMaxNewTokens)
        loss = try value(.loss, loss)
        weighting = try value(.weighting, weighting)
        let a = try c.decodeIfPresent(Double.self, forKey: .a)
        let range = try c.decodeIfPresent(Double.self, forKey: .range)
        switch try c.decodeIfPresent(String.self, forKey: .mapping) {
        case "power"?: mapping = .power(exponent: a ?? 1)
        case "mean"?: mapping = .meanDivision
        case "linear"?: mapping = .linear(range: range ?? 1)
        case let other?:
            throw DecodingError.dataCorruptedError(forKey: .mapping, in: c, debugDescription: "unknown mapping \"\(other)\" (power, mean or linear)")
        case nil:
            if let a, case .power = mapping { mapping = .power(exponent: a) }
            if let range, case .linear = mapping { mapping = .linear(range: range) }
        }
        iterations = try value(.iterations, iterations)
        seed = try value(.seed, seed)
        epochs = try value(.epochs, epochs)
        batchSize = try value(.batchSize, batchSize)
        learningRate = try value(.learningRate, learningRate)
        warmupRatio = try value(.warmupRatio, warmupRatio)
        schedule = try value(.schedule, schedule)
        minLearningRateRatio = try value(.minLearningRateRatio, minLearningRateRatio)
        beta = try value(.beta, beta)
        ktoUndesirable = try value(.ktoUndesirable, ktoUndesirable)
        optimizer = AdamW.Settings(
            beta1: try value(.adamBeta1, optimizer.beta1), beta2: try value(.adamBeta2, optimizer.beta2),
            eps: try value(.adamEpsilon, optimizer.eps), weightDecay: try value(.weightDecay, optimizer.weightDecay))
        maxGradientNorm = try value(.maxGradientNorm, maxGradientNorm)
        systemPrompt = try value(.systemPrompt, systemPrompt)
        if c.contains(.lora) { lora = try c.decode(LoRAConfig?.self, forKey: .lora) }
        grader = try value(.grader, grader)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try encodeSettings(into: &c, skipping: [])
    }

    /// Writes every setting but `skipped` (an experiment's base leaves out what its runs decide).
    public func encodeSettings(into c: inout KeyedEncodingContainer<CodingKeys>, skipping skipped: Set<CodingKeys>) throws {
        func put<T: Encodable>(_ key: CodingKeys, _ value: T) throws { if !skipped.contains(key) { try c.encode(value, forKey: key) } }
        try put(.checkpoint, checkpoint)
        try put(.train, train)
        try put(.test, test)
        try put(.n, sampling.n)
        try put(.temperature, sampling.temperature)
        try put(.topP, sampling.topP)
        try put(.maxTokens, sampling.maxNewTokens)
        try put(.evalMaxTokens, evalMaxNewTokens)
        try put(.loss, loss)
        try put(.weighting, weighting)
        switch mapping {
        case let .power(a):
            try put(.mapping, "power")
            try put(.a, a)
        case .meanDivision: try put(.mapping, "mean")
        case let .linear(range):
            try put(.mapping, "linear")
            try put(.range, range)
        }
        try put(.iterations, iterations)
        try put(.seed, seed)
        try put(.epochs, epochs)
        try put(.batchSize, batchSize)
        try put(.learningRate, learningRate)
        try put(.warmupRatio, warmupRatio)
        try put(.schedule, schedule)
        try put(.minLearningRateRatio, minLearningRateRatio)
        try put(.beta, beta)
        try put(.ktoUndesirable, ktoUndesirable)
        try put(.adamBeta1, optimizer.beta1)
        try put(.adamBeta2, optimizer.beta2)
        try put(.adamEpsilon, optimizer.eps)
        try put(.weightDecay, optimizer.weightDecay)
        try put(.maxGradientNorm, maxGradientNorm)
        try put(.systemPrompt, systemPrompt)
        if !skipped.contains(.lora) {
            if let lora { try c.encode(lora, forKey: .lora) } else { try c.encodeNil(forKey: .lora) }
        }
        try put(.grader, grader)
    }

    /// The settings in which `other` differs from this spec, as
    /// `name (this, other)`: what a resumed run or a changed experiment
    /// names when it refuses to go on.
    public func differences(from other: RunSpec) -> [String] {
        JSONCoding.differences((try? JSONCoding.encode(self)) ?? Data(), (try? JSONCoding.encode(other)) ?? Data())
    }
}
