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

/// Everything that defines a self-training run. The in-process runner and
/// the coordinator both start from one of these; `validate` refuses
/// impossible settings up front with a message naming the setting. On the
/// cluster it is stored in Redis when the run starts (`RunState.spec`), and
/// every worker reads it from there by run id: messages carry only the run,
/// iteration, policy version and the item.
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
            (self.setting, self.reason) = (setting, reason)
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

/// The spec as JSON (and YAML through the same keys): flat snake_case
/// settings, the two question sources as objects. Keys left out take the
/// defaults above, so a spec file names only what it changes.
extension RunSpec: Codable {
    enum CodingKeys: String, CodingKey {
        case checkpoint, train, test, n, temperature, topP = "top_p", maxTokens = "max_tokens", loss, weighting
        case mapping, a, range, iterations, seed, epochs, batchSize = "batch_size", lr, beta
        case evalMaxTokens = "eval_max_tokens", lora
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = SamplingSettings(n: 8, temperature: 0.8, topP: 1, maxNewTokens: 96)
        self.init(
            checkpoint: try c.decode(String.self, forKey: .checkpoint),
            train: try c.decode(QuestionSource.self, forKey: .train), test: try c.decode(QuestionSource.self, forKey: .test),
            sampling: SamplingSettings(
                n: try c.decodeIfPresent(Int.self, forKey: .n) ?? defaults.n,
                temperature: try c.decodeIfPresent(Float.self, forKey: .temperature) ?? defaults.temperature,
                topP: try c.decodeIfPresent(Float.self, forKey: .topP) ?? defaults.topP,
                maxNewTokens: try c.decodeIfPresent(Int.self, forKey: .maxTokens) ?? defaults.maxNewTokens))
        loss = try c.decodeIfPresent(LossKind.self, forKey: .loss) ?? loss
        weighting = try c.decodeIfPresent(RunWeighting.self, forKey: .weighting) ?? weighting
        let a = try c.decodeIfPresent(Double.self, forKey: .a) ?? 1
        let range = try c.decodeIfPresent(Double.self, forKey: .range) ?? 1
        switch try c.decodeIfPresent(String.self, forKey: .mapping) ?? "power" {
        case "power": mapping = .power(exponent: a)
        case "mean": mapping = .meanDivision
        case "linear": mapping = .linear(range: range)
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .mapping, in: c, debugDescription: "unknown mapping \"\(other)\" (power, mean or linear)")
        }
        iterations = try c.decodeIfPresent(Int.self, forKey: .iterations) ?? iterations
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? epochs
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
        learningRate = try c.decodeIfPresent(Float.self, forKey: .lr) ?? learningRate
        beta = try c.decodeIfPresent(Float.self, forKey: .beta) ?? beta
        evalMaxNewTokens = try c.decodeIfPresent(Int.self, forKey: .evalMaxTokens) ?? evalMaxNewTokens
        lora = try c.decodeIfPresent(LoRAConfig.self, forKey: .lora)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(checkpoint, forKey: .checkpoint)
        try c.encode(train, forKey: .train)
        try c.encode(test, forKey: .test)
        try c.encode(sampling.n, forKey: .n)
        try c.encode(sampling.temperature, forKey: .temperature)
        try c.encode(sampling.topP, forKey: .topP)
        try c.encode(sampling.maxNewTokens, forKey: .maxTokens)
        try c.encode(loss, forKey: .loss)
        try c.encode(weighting, forKey: .weighting)
        switch mapping {
        case let .power(a):
            try c.encode("power", forKey: .mapping)
            try c.encode(a, forKey: .a)
        case .meanDivision: try c.encode("mean", forKey: .mapping)
        case let .linear(range):
            try c.encode("linear", forKey: .mapping)
            try c.encode(range, forKey: .range)
        }
        try c.encode(iterations, forKey: .iterations)
        try c.encode(seed, forKey: .seed)
        try c.encode(epochs, forKey: .epochs)
        try c.encode(batchSize, forKey: .batchSize)
        try c.encode(learningRate, forKey: .lr)
        try c.encode(beta, forKey: .beta)
        try c.encode(evalMaxNewTokens, forKey: .evalMaxTokens)
        try c.encodeIfPresent(lora, forKey: .lora)
    }

    /// The settings in which `other` differs from this spec, as
    /// `name (this, other)`: what a resumed run or a changed experiment
    /// names when it refuses to go on.
    public func differences(from other: RunSpec) -> [String] {
        func flat(_ spec: RunSpec) -> [String: String] {
            guard let data = try? JSONCoding.encode(spec),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
            var out: [String: String] = [:]
            func walk(_ value: Any, _ name: String) {
                if let dict = value as? [String: Any] {
                    for (k, v) in dict { walk(v, name.isEmpty ? k : "\(name).\(k)") }
                } else {
                    out[name] = (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]))
                        .map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
                }
            }
            walk(object, "")
            return out
        }
        let mine = flat(self), theirs = flat(other)
        return Set(mine.keys).union(theirs.keys).sorted().compactMap { key in
            mine[key] == theirs[key] ? nil : "\(key) (\(mine[key] ?? "unset"), \(theirs[key] ?? "unset"))"
        }
    }
}
