import EASTCore
import Foundation

/// An experiment: a base run spec, axes whose every combination is one
/// setting, several seeds per setting, one fixed test set for every run (so
/// every comparison is paired question by question), the baseline each
/// setting is compared against, the comparisons named in advance (`primary`),
/// and optionally a selection of learning rate and beta per loss on a
/// validation split before any run reads the test set. YAML (through Yams, in
/// `east experiment`) or JSON, with these keys:
///
///     name: table1
///     base: {checkpoint: models/arith-easy, task: arith-easy, train_count: 2048, n: 128, epochs: 3, batch_size: 16}
///     test: {task: arith-easy, count: 2000, seed: 7}
///     seeds: [1, 2, 3]
///     axes: {loss: [sft, dpo, kto], weighting: [uniform, lww, lwp, entropy], a: [1.0]}
///     baseline: {weighting: uniform}
///     primary: [{loss: sft, weighting: entropy, a: 1.0}]
///     selection:
///       validation: {task: arith-easy, count: 1000, seed: 11}
///       seeds: [1]
///       grid: {sft: {learning_rate: [1e-5, 1e-4]}, dpo: {learning_rate: [1e-6, 1e-5], beta: [0.01, 0.1]}}
///
/// `base` takes every key of a run spec (`RunSpec`) but train, test and seed,
/// which the experiment sets; keys left out take `RunSpec.defaults`. Stored
/// (`experiment.json`, Redis) with every default resolved, so that a rerun
/// whose resolved settings differ, a changed default included, is refused.
/// Any key that means nothing is refused, naming it.
public struct ExperimentSpec: Equatable, Sendable {
    public var name: String
    public var base: Base
    public var test: TestSet
    public var seeds: [UInt64]
    public var axes: Axes
    /// What a setting's baseline changes in it (e.g. `weighting: uniform`).
    public var baseline: Settings.Partial
    /// The comparisons named before running: each matches settings (compared
    /// with their baselines at their final version). Every other comparison
    /// is exploratory, and the report says so.
    public var primary: [Settings.Partial]
    public var selection: Selection?

    public init(name: String, base: Base, test: TestSet, seeds: [UInt64], axes: Axes, baseline: Settings.Partial,
                primary: [Settings.Partial] = [], selection: Selection? = nil) {
        (self.name, self.base, self.test, self.seeds, self.axes, self.baseline, self.primary, self.selection) =
            (name, base, test, seeds, axes, baseline, primary, selection)
    }

    /// The settings every run starts from.
    public struct Base: Equatable, Sendable {
        public var task: ArithmeticTask
        public var trainCount: Int
        /// Every other setting of the runs (their train, test and seed are the experiment's).
        public var settings: RunSpec

        public init(task: ArithmeticTask, trainCount: Int, settings: RunSpec = .defaults) {
            (self.task, self.trainCount, self.settings) = (task, trainCount, settings)
        }
    }

    /// Questions of one split of the task, drawn by their own seed. An
    /// experiment's test set is the task's test split unless it says
    /// `split: validation` (a pilot, which must not read the test set).
    public struct TestSet: Codable, Equatable, Sendable {
        public var task: ArithmeticTask
        public var count: Int
        public var seed: UInt64
        public var split: ArithmeticTask.Split?

        public init(task: ArithmeticTask, count: Int, seed: UInt64, split: ArithmeticTask.Split? = nil) {
            (self.task, self.count, self.seed, self.split) = (task, count, seed, split)
        }

        enum CodingKeys: String, CodingKey, CaseIterable { case task, count, seed, split }

        public init(from decoder: Decoder) throws {
            try decoder.refuseUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(task: try c.decode(ArithmeticTask.self, forKey: .task), count: try c.decode(Int.self, forKey: .count),
                      seed: try c.decode(UInt64.self, forKey: .seed), split: try c.decodeIfPresent(ArithmeticTask.Split.self, forKey: .split))
        }

        func source(_ defaultSplit: ArithmeticTask.Split) -> QuestionSource { .task(task, split: split ?? defaultSplit, count: count, seed: seed) }
    }

    public struct Axes: Equatable, Sendable {
        public var loss: [LossKind]?
        public var weighting: [RunWeighting]?
        public var a: [Double]?
        public var mapping: [Settings.Mapping]?
        public var iterations: [Int]?

        public init(loss: [LossKind]? = nil, weighting: [RunWeighting]? = nil, a: [Double]? = nil, mapping: [Settings.Mapping]? = nil,
                    iterations: [Int]? = nil) {
            (self.loss, self.weighting, self.a, self.mapping, self.iterations) = (loss, weighting, a, mapping, iterations)
        }
    }

    /// Learning rate and beta chosen per loss on validation questions: the
    /// vanilla setting of each loss runs over the loss's grid (one iteration,
    /// evaluated on the validation questions only), the point with the best
    /// mean validation accuracy over the selection seeds wins (the first in
    /// grid order on a tie), and every setting of that loss runs with it. The
    /// EAST paper's protocol: the same values for vanilla, baselines and EAST.
    public struct Selection: Equatable, Sendable {
        /// From the task's validation split: held out of the train questions, disjoint from the test set.
        public var validation: TestSet
        /// The grid runs' seeds (default: the experiment's).
        public var seeds: [UInt64]?
        public var grid: [LossKind: Grid]

        public init(validation: TestSet, seeds: [UInt64]? = nil, grid: [LossKind: Grid]) {
            (self.validation, self.seeds, self.grid) = (validation, seeds, grid)
        }

        /// The values tried for one loss: every learning rate with every beta
        /// (beta left out: the base's, as for SFT, which has none).
        public struct Grid: Codable, Equatable, Sendable {
            public var learningRate: [Float]
            public var beta: [Float]?

            public init(learningRate: [Float], beta: [Float]? = nil) {
                (self.learningRate, self.beta) = (learningRate, beta)
            }

            enum CodingKeys: String, CodingKey, CaseIterable { case learningRate = "learning_rate", beta }

            public init(from decoder: Decoder) throws {
                try decoder.refuseUnknownKeys(CodingKeys.self)
                let c = try decoder.container(keyedBy: CodingKeys.self)
                self.init(learningRate: try c.decode([Float].self, forKey: .learningRate), beta: try c.decodeIfPresent([Float].self, forKey: .beta))
            }
        }
    }

    /// The values selection chose for one loss.
    public struct Choice: Codable, Equatable, Sendable {
        public var loss: LossKind
        public var learningRate: Float
        public var beta: Float

        public init(loss: LossKind, learningRate: Float, beta: Float) {
            (self.loss, self.learningRate, self.beta) = (loss, learningRate, beta)
        }

        enum CodingKeys: String, CodingKey { case loss, learningRate = "learning_rate", beta }
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
        public init(loss: LossKind, weighting: RunWeighting, a: Double?, mapping: Mapping?, iterations: Int) {
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

            public init(loss: LossKind? = nil, weighting: RunWeighting? = nil, a: Double? = nil, mapping: Mapping? = nil, iterations: Int? = nil) {
                (self.loss, self.weighting, self.a, self.mapping, self.iterations) = (loss, weighting, a, mapping, iterations)
            }

            enum CodingKeys: String, CodingKey, CaseIterable { case loss, weighting, a, mapping, iterations }

            public init(from decoder: Decoder) throws {
                try decoder.refuseUnknownKeys(CodingKeys.self)
                let c = try decoder.container(keyedBy: CodingKeys.self)
                self.init(loss: try c.decodeIfPresent(LossKind.self, forKey: .loss), weighting: try c.decodeIfPresent(RunWeighting.self, forKey: .weighting),
                          a: try c.decodeIfPresent(Double.self, forKey: .a), mapping: try c.decodeIfPresent(Mapping.self, forKey: .mapping),
                          iterations: try c.decodeIfPresent(Int.self, forKey: .iterations))
            }

            /// Whether `s` has every value given here.
            func matches(_ s: Settings) -> Bool {
                (loss ?? s.loss) == s.loss && (weighting ?? s.weighting) == s.weighting && (mapping ?? s.mapping) == s.mapping
                    && (iterations ?? s.iterations) == s.iterations && (a == nil || a == s.a)
            }
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
        for loss in axes.loss ?? [base.settings.loss] {
            for weighting in axes.weighting ?? [base.settings.weighting] {
                for a in axes.a ?? [1] {
                    for mapping in axes.mapping ?? [.power] {
                        for iterations in axes.iterations ?? [base.settings.iterations] {
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

    /// Whether the comparison of `s` with its baseline was named in advance.
    public func isPrimary(_ s: Settings) -> Bool { primary.contains { $0.matches(s) } }

    /// The runs, each loss at its chosen learning rate and beta (`choices`:
    /// what selection chose; needed when the spec has a selection).
    public func runs(choices: [Choice]) -> [Run] {
        settings.flatMap { s in
            seeds.map { seed in
                var spec = spec(s, seed: seed, test: test.source(.test))
                if let choice = choices.first(where: { $0.loss == s.loss }) {
                    (spec.learningRate, spec.beta) = (choice.learningRate, choice.beta)
                }
                return Run(id: "\(s.name)-s\(seed)", settings: s, seed: seed, spec: spec)
            }
        }
    }

    /// The runs of the selection grid: each loss's vanilla setting at every
    /// grid point and selection seed, one iteration, evaluated on the
    /// validation questions.
    public var selectionRuns: [Run] {
        guard let selection else { return [] }
        var out: [Run] = []
        for loss in LossKind.allCases where (axes.loss ?? [base.settings.loss]).contains(loss) {
            guard let grid = selection.grid[loss] else { continue }
            let s = Settings(loss: loss, weighting: .uniform, a: nil, mapping: nil, iterations: 1)
            for point in Self.points(grid, base: base.settings) {
                for seed in selection.seeds ?? seeds {
                    var spec = spec(s, seed: seed, test: selection.validation.source(.validation))
                    (spec.learningRate, spec.beta) = (point.learningRate, point.beta)
                    let id = "select-\(loss.rawValue)-lr\(point.learningRate)-beta\(point.beta)-s\(seed)"
                    out.append(Run(id: id, settings: s, seed: seed, spec: spec))
                }
            }
        }
        return out
    }

    /// A grid's points in order: every learning rate (outer) with every beta.
    static func points(_ grid: Selection.Grid, base: RunSpec) -> [(learningRate: Float, beta: Float)] {
        grid.learningRate.flatMap { lr in (grid.beta ?? [base.beta]).map { (lr, $0) } }
    }

    func spec(_ s: Settings, seed: UInt64, test: QuestionSource) -> RunSpec {
        var spec = base.settings
        spec.train = .task(base.task, split: .train, count: base.trainCount, seed: seed)
        spec.test = test
        spec.loss = s.loss
        spec.weighting = s.weighting
        switch s.mapping {
        case .mean?: spec.mapping = .meanDivision
        case .linear?: spec.mapping = .linear(range: 1)
        case .power?, nil: spec.mapping = .power(exponent: s.a ?? 1)
        }
        spec.iterations = s.iterations
        spec.seed = seed
        return spec
    }

    /// The top-level keys (and, inside `base`, the settings) whose values differ from `other`'s.
    public func differences(from other: ExperimentSpec) -> [String] {
        JSONCoding.differences((try? JSONCoding.encode(self)) ?? Data(), (try? JSONCoding.encode(other)) ?? Data())
    }

    /// The largest spec file read, and the deepest nesting of brackets in it.
    public static let maximumTextBytes = 1 << 20
    public static let maximumNesting = 64

    /// Checks a spec's text before a YAML parser sees it: the parser and the
    /// decoder recurse once per level of nesting (30,000 open brackets
    /// overflow the stack), and aliases (`*name`) would let a small file
    /// expand to any size. A spec needs neither.
    public static func checkText(_ text: String, what: String) throws {
        func refuse(_ reason: String) -> JSONCoding.DecodeError { JSONCoding.DecodeError(what: what, reason: reason) }
        guard text.utf8.count <= maximumTextBytes else { throw refuse("is \(text.utf8.count) bytes; a spec is at most \(maximumTextBytes)") }
        // Brackets and aliases count outside quoted strings and comments; a
        // quote or an alias starts only where a value can (after a space,
        // a line break, a bracket, a comma or a colon), as in YAML.
        let valueStart: Set<UInt8> = [0x20, 0x0A, 0x09, 0x5B, 0x7B, 0x2C, 0x3A], brackets: Set<UInt8> = [0x5B, 0x7B, 0x5D, 0x7D]
        var depth = 0, line = 1
        var quote: UInt8? = nil, escaped = false, comment = false, previous: UInt8 = 0x0A
        for byte in text.utf8 {
            defer { previous = byte }
            if byte == 0x0A { line += 1; comment = false }
            if comment { continue }
            if let open = quote {
                if escaped { escaped = false } else if byte == 0x5C && open == 0x22 { escaped = true } else if byte == open { quote = nil }
                continue
            }
            guard valueStart.contains(previous) || brackets.contains(byte) else { continue }
            switch byte {
            case 0x22, 0x27: quote = byte  // " '
            case 0x23: comment = true  // #
            case 0x5B, 0x7B:  // [ {
                depth += 1
                if depth > maximumNesting { throw refuse("line \(line): nested deeper than \(maximumNesting) brackets") }
            case 0x5D, 0x7D: depth = max(0, depth - 1)  // ] }
            case 0x2A: throw refuse("line \(line): YAML aliases (*name) are not supported in a spec")  // *
            default: break
            }
        }
    }

    /// Refuses what cannot run, naming the key.
    public func validate() throws {
        func require(_ ok: Bool, _ key: String, _ reason: String) throws {
            if !ok { throw RunSpec.Invalid(setting: "experiment \(name): \(key)", reason: reason) }
        }
        try SafeName.check(name, what: "experiment name")
        try require(!seeds.isEmpty && seeds.count <= 1000 && Set(seeds).count == seeds.count, "seeds", "must be 1 to 1000 distinct seeds")
        try require(base.trainCount >= 1 && base.trainCount <= ArithmeticTask.maxCount, "base.train_count",
                    "must be from 1 to \(ArithmeticTask.maxCount), got \(base.trainCount)")
        try require(test.count >= 1 && test.count <= ArithmeticTask.maxCount, "test.count",
                    "must be from 1 to \(ArithmeticTask.maxCount), got \(test.count)")
        for (key, count) in [("loss", axes.loss?.count), ("weighting", axes.weighting?.count), ("a", axes.a?.count),
                             ("mapping", axes.mapping?.count), ("iterations", axes.iterations?.count)] {
            try require(count != 0, "axes.\(key)", "must list at least one value")
        }
        let settings = self.settings
        try require(settings.count * seeds.count <= 10_000, "axes", "make \(settings.count) settings x \(seeds.count) seeds: at most 10,000 runs")
        for (i, p) in primary.enumerated() {
            let matched = settings.filter { p.matches($0) && baseline(of: $0) != $0 }
            try require(!matched.isEmpty, "primary[\(i)]", "matches no setting that has a baseline to compare with")
        }
        try require([nil, .test, .validation].contains(test.split), "test.split", "must be test or validation (a pilot)")
        try require(selection == nil || test.split != .validation, "test.split",
                    "a pilot on validation questions cannot also select on them: drop the selection or test on the test split")
        if let selection {
            try require(selection.validation.split == nil || selection.validation.split == .validation, "selection.validation.split",
                        "must be validation")
            try require(selection.validation.count >= 1 && selection.validation.count <= ArithmeticTask.maxCount, "selection.validation.count",
                        "must be from 1 to \(ArithmeticTask.maxCount), got \(selection.validation.count)")
            if let s = selection.seeds { try require(!s.isEmpty && Set(s).count == s.count, "selection.seeds", "must be distinct and at least one") }
            for (loss, grid) in selection.grid {
                try require(!grid.learningRate.isEmpty, "selection.grid.\(loss.rawValue).learning_rate", "must list at least one value")
                try require(grid.beta.map { !$0.isEmpty } ?? true, "selection.grid.\(loss.rawValue).beta", "must list at least one value")
            }
            try require(selectionRuns.count <= 10_000, "selection.grid", "makes \(selectionRuns.count) runs: at most 10,000")
        }
        for run in runs(choices: []) + selectionRuns {
            do { try run.spec.validate() } catch {
                throw RunSpec.Invalid(setting: "experiment \(name): run \(run.id): \(error.setting)", reason: error.reason)
            }
        }
    }

    /// Refuses an experiment whose validation questions could be among its
    /// train or test questions: each must belong to the task's validation
    /// split, which no train or test question belongs to (each question text
    /// has one split). Checked on the validation questions alone, so the
    /// test set is not read before selection has chosen.
    public func checkHeldOut() throws {
        guard let selection else { return }
        for q in try selection.validation.source(.validation).load() where ArithmeticTask.split(of: q.text) != .validation {
            throw RunSpec.Invalid(setting: "experiment \(name): selection.validation", reason: "holds a question of the \(ArithmeticTask.split(of: q.text).rawValue) split: \(q.text)")
        }
    }
}

// MARK: JSON and YAML

extension ExperimentSpec: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable { case name, base, test, seeds, axes, baseline, primary, selection }

    public init(from decoder: Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try c.decode(String.self, forKey: .name), base: try c.decode(Base.self, forKey: .base),
                  test: try c.decode(TestSet.self, forKey: .test), seeds: try c.decode([UInt64].self, forKey: .seeds),
                  axes: try c.decodeIfPresent(Axes.self, forKey: .axes) ?? Axes(),
                  baseline: try c.decodeIfPresent(Settings.Partial.self, forKey: .baseline) ?? Settings.Partial(weighting: .uniform),
                  primary: try c.decodeIfPresent([Settings.Partial].self, forKey: .primary) ?? [],
                  selection: try c.decodeIfPresent(Selection.self, forKey: .selection))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(base, forKey: .base)
        try c.encode(test, forKey: .test)
        try c.encode(seeds, forKey: .seeds)
        try c.encode(axes, forKey: .axes)
        try c.encode(baseline, forKey: .baseline)
        try c.encode(primary, forKey: .primary)
        try c.encodeIfPresent(selection, forKey: .selection)
    }
}

extension ExperimentSpec.Base: Codable {
    /// The run spec's keys an experiment's base may not set.
    static let runKeysLeftOut: Set<RunSpec.CodingKeys> = [.train, .test, .seed]
    static var keys: [String] { ["task", "train_count"] + RunSpec.CodingKeys.allCases.filter { !runKeysLeftOut.contains($0) }.map(\.stringValue) }

    enum CodingKeys: String, CodingKey { case task, trainCount = "train_count" }

    public init(from decoder: Decoder) throws {
        try decoder.refuseUnknownKeys(Self.keys)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard case let .task(task, _, count, _) = RunSpec.defaults.train else { preconditionFailure("the default train questions are the task's") }
        var settings = RunSpec.defaults
        try settings.lay(try decoder.container(keyedBy: RunSpec.CodingKeys.self))
        self.init(task: try c.decodeIfPresent(ArithmeticTask.self, forKey: .task) ?? task,
                  trainCount: try c.decodeIfPresent(Int.self, forKey: .trainCount) ?? count, settings: settings)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(task, forKey: .task)
        try c.encode(trainCount, forKey: .trainCount)
        var settings = encoder.container(keyedBy: RunSpec.CodingKeys.self)
        try self.settings.encodeSettings(into: &settings, skipping: Self.runKeysLeftOut)
    }
}

extension ExperimentSpec.Axes: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable { case loss, weighting, a, mapping, iterations }

    public init(from decoder: Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(loss: try c.decodeIfPresent([LossKind].self, forKey: .loss), weighting: try c.decodeIfPresent([RunWeighting].self, forKey: .weighting),
                  a: try c.decodeIfPresent([Double].self, forKey: .a), mapping: try c.decodeIfPresent([ExperimentSpec.Settings.Mapping].self, forKey: .mapping),
                  iterations: try c.decodeIfPresent([Int].self, forKey: .iterations))
    }
}

extension ExperimentSpec.Selection: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable { case validation, seeds, grid }

    public init(from decoder: Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let grid = try c.nestedContainer(keyedBy: AnyCodingKey.self, forKey: .grid)
        var byLoss: [LossKind: Grid] = [:]
        for key in grid.allKeys {
            guard let loss = LossKind(rawValue: key.stringValue) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: grid, debugDescription: "not a loss (sft, dpo or kto)")
            }
            byLoss[loss] = try grid.decode(Grid.self, forKey: key)
        }
        self.init(validation: try c.decode(ExperimentSpec.TestSet.self, forKey: .validation),
                  seeds: try c.decodeIfPresent([UInt64].self, forKey: .seeds), grid: byLoss)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(validation, forKey: .validation)
        try c.encodeIfPresent(seeds, forKey: .seeds)
        var grid = c.nestedContainer(keyedBy: AnyCodingKey.self, forKey: .grid)
        for loss in LossKind.allCases { if let g = self.grid[loss] { try grid.encode(g, forKey: AnyCodingKey(stringValue: loss.rawValue)) } }
    }
}
