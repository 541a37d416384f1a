import EASTCore
import Foundation

/// An experiment: a base run spec, axes whose every combination is one
/// setting, several seeds per setting, one fixed test set for every run (so
/// every comparison is paired question by question), and the baseline each
/// setting is compared against. YAML (through Yams, in `east experiment`) or
/// JSON, with these keys:
///
///     name: table1
///     base: {checkpoint: models/arith-easy, task: arith-easy, train_count: 2048, n: 8, temperature: 0.8, epochs: 2}
///     test: {task: arith-easy, count: 2000, seed: 7}
///     seeds: [1, 2, 3]
///     axes: {loss: [sft, dpo, kto], weighting: [uniform, lww, lwp, entropy], a: [1.0]}
///     baseline: {weighting: uniform}
public struct ExperimentSpec: Codable, Equatable, Sendable {
    public var name: String
    public var base: Base
    public var test: TestSet
    public var seeds: [UInt64]
    public var axes: Axes
    /// What a setting's baseline changes in it (e.g. `weighting: uniform`).
    public var baseline: Settings.Partial

    public struct Base: Codable, Equatable, Sendable {
        public var checkpoint: String
        public var task: ArithmeticTask
        public var trainCount: Int
        public var n: Int?
        public var temperature: Float?
        public var topP: Float?
        public var maxTokens: Int?
        public var epochs: Int?
        public var batchSize: Int?
        public var lr: Float?
        public var beta: Float?

        enum CodingKeys: String, CodingKey {
            case checkpoint, task, trainCount = "train_count", n, temperature, topP = "top_p", maxTokens = "max_tokens"
            case epochs, batchSize = "batch_size", lr, beta
        }
    }

    public struct TestSet: Codable, Equatable, Sendable {
        public var task: ArithmeticTask
        public var count: Int
        public var seed: UInt64
    }

    public struct Axes: Codable, Equatable, Sendable {
        public var loss: [LossKind]?
        public var weighting: [RunWeighting]?
        public var a: [Double]?
        public var mapping: [Settings.Mapping]?
        public var iterations: [Int]?
    }

    /// What distinguishes one setting from another (the seed aside).
    public struct Settings: Codable, Hashable, Sendable {
        public enum Mapping: String, Codable, Sendable { case power, mean, linear }
        public var loss: LossKind
        public var weighting: RunWeighting
        /// Only where it matters: a score weighting with the power mapping.
        public var a: Double?
        /// Only for the score weightings (entropy, accuracy, rejection).
        public var mapping: Mapping?
        public var iterations: Int

        /// The same setting with what does not apply to it left out, so that
        /// e.g. vanilla at a = 1 and at a = 2 are one setting.
        init(loss: LossKind, weighting: RunWeighting, a: Double?, mapping: Mapping?, iterations: Int) {
            let scored = [.entropy, .accuracy, .rejection].contains(weighting)
            let m = scored ? (mapping ?? .power) : nil
            (self.loss, self.weighting, self.mapping, self.iterations) = (loss, weighting, m, iterations)
            self.a = m == .power ? (a ?? 1) : nil
        }

        public struct Partial: Codable, Equatable, Sendable {
            public var loss: LossKind?
            public var weighting: RunWeighting?
            public var a: Double?
            public var mapping: Mapping?
            public var iterations: Int?
        }

        func applying(_ p: Partial) -> Settings {
            Settings(loss: p.loss ?? loss, weighting: p.weighting ?? weighting, a: p.a ?? a, mapping: p.mapping ?? mapping,
                     iterations: p.iterations ?? iterations)
        }

        /// A readable, file-safe name: `sft-entropy-a1.0-T1`.
        public var name: String {
            var parts = [loss.rawValue, weighting.rawValue]
            if let a { parts.append("a\(a)") }
            if let mapping, mapping != .power { parts.append(mapping.rawValue) }
            parts.append("T\(iterations)")
            return parts.joined(separator: "-")
        }
    }

    /// One run: a setting at one seed.
    public struct Run: Sendable {
        public var id: String
        public var settings: Settings
        public var seed: UInt64
        public var spec: RunSpec
    }

    /// Every setting: the axes' combinations, then the baselines they need, without repeats.
    public var settings: [Settings] {
        var out: [Settings] = []
        for loss in axes.loss ?? [.sft] {
            for weighting in axes.weighting ?? [.entropy] {
                for a in axes.a ?? [1] {
                    for mapping in axes.mapping ?? [.power] {
                        for iterations in axes.iterations ?? [1] {
                            let s = Settings(loss: loss, weighting: weighting, a: a, mapping: mapping, iterations: iterations)
                            for t in [baseline(of: s), s] where !out.contains(t) { out.append(t) }
                        }
                    }
                }
            }
        }
        return out
    }

    public func baseline(of s: Settings) -> Settings { s.applying(baseline) }

    public var runs: [Run] {
        settings.flatMap { s in seeds.map { seed in Run(id: "\(s.name)-s\(seed)", settings: s, seed: seed, spec: spec(s, seed: seed)) } }
    }

    func spec(_ s: Settings, seed: UInt64) -> RunSpec {
        var spec = RunSpec(
            checkpoint: base.checkpoint, train: .task(base.task, split: .train, count: base.trainCount, seed: seed),
            test: .task(test.task, split: .test, count: test.count, seed: test.seed),
            sampling: SamplingSettings(n: base.n ?? 8, temperature: base.temperature ?? 0.8, topP: base.topP ?? 1, maxNewTokens: base.maxTokens ?? 96))
        spec.loss = s.loss
        spec.weighting = s.weighting
        switch s.mapping {
        case .mean?: spec.mapping = .meanDivision
        case .linear?: spec.mapping = .linear(range: 1)
        case .power?, nil: spec.mapping = .power(exponent: s.a ?? 1)
        }
        spec.iterations = s.iterations
        spec.seed = seed
        if let epochs = base.epochs { spec.epochs = epochs }
        if let batchSize = base.batchSize { spec.batchSize = batchSize }
        if let lr = base.lr { spec.learningRate = lr }
        if let beta = base.beta { spec.beta = beta }
        spec.evalMaxNewTokens = base.maxTokens ?? spec.evalMaxNewTokens
        return spec
    }

    /// The top-level keys whose JSON differs from `other`'s (to name them when a changed spec is refused).
    public func differences(from other: ExperimentSpec) -> [String] {
        func keys(_ spec: ExperimentSpec) -> [String: Data] {
            let object = (try? JSONSerialization.jsonObject(with: JSONCoding.encode(spec))) as? [String: Any] ?? [:]
            return object.compactMapValues { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .fragmentsAllowed]) }
        }
        let (mine, theirs) = (keys(self), keys(other))
        return Set(mine.keys).union(theirs.keys).sorted().filter { mine[$0] != theirs[$0] }
    }

    /// Refuses what cannot run, naming the key.
    public func validate() throws {
        func require(_ ok: Bool, _ key: String, _ reason: String) throws {
            if !ok { throw RunSpec.Invalid(setting: "experiment \(name): \(key)", reason: reason) }
        }
        try require(!name.isEmpty && name.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }, "name",
                    "must be letters, digits, - _ or ., got \"\(name)\"")
        try require(!seeds.isEmpty && Set(seeds).count == seeds.count, "seeds", "must be distinct and at least one")
        try require(test.count >= 1, "test.count", "must be positive, got \(test.count)")
        for axis in [axes.loss?.count, axes.weighting?.count, axes.a?.count, axes.mapping?.count, axes.iterations?.count] {
            try require(axis != 0, "axes", "an axis must list at least one value")
        }
        for run in runs { try run.spec.validate() }
    }
}
