import EASTCore
import EASTEngine
import Foundation

/// Every run's per-question outcomes (`outcomes.json`): the one input of
/// every figure in `results.json`, so anyone can recompute them
/// (`east experiment --verify DIR`). A run's version is a string with one
/// character per question, in question order: "1" right, "0" wrong.
public struct ExperimentOutcomes: Codable, Equatable, Sendable {
    /// The test questions' ids, in order.
    public var testQuestions: [String]
    /// The validation questions' ids (empty without selection).
    public var validationQuestions: [String]
    /// Run id -> policy version -> outcomes on the test questions.
    public var runs: [String: [String: String]]
    /// Selection run id -> policy version -> outcomes on the validation questions.
    public var selectionRuns: [String: [String: String]]
    /// Run id -> what each of its iterations recorded beside the outcomes.
    public var diagnostics: [String: [IterationDiagnostics]]

    public init(testQuestions: [String], validationQuestions: [String], runs: [String: [String: String]],
                selectionRuns: [String: [String: String]], diagnostics: [String: [IterationDiagnostics]] = [:]) {
        (self.testQuestions, self.validationQuestions, self.runs, self.selectionRuns, self.diagnostics) =
            (testQuestions, validationQuestions, runs, selectionRuns, diagnostics)
    }

    enum CodingKeys: String, CodingKey {
        case testQuestions = "test_questions", validationQuestions = "validation_questions", runs, selectionRuns = "selection_runs"
        case diagnostics
    }

    static func encode(_ results: [QuestionResult]) -> String { String(results.map { $0.correct ? "1" : "0" }) }

    /// A run's outcomes at one version, checked against the question count.
    static func decode(_ text: String?, run: String, version: Int, questions: Int) throws -> [Bool] {
        guard let text else { throw RunSpec.Invalid(setting: "outcomes of \(run)", reason: "have no version \(version)") }
        guard text.count == questions, text.allSatisfy({ $0 == "0" || $0 == "1" }) else {
            throw RunSpec.Invalid(setting: "outcomes of \(run) v\(version)", reason: "must be \(questions) characters 0 or 1, got \(text.count) characters")
        }
        return text.map { $0 == "1" }
    }
}

/// What one iteration of a run recorded about its weights and its training:
/// how many questions were kept, the weights' effective sample size, the
/// entropy's split-half reliability, and the log-probability of the preferred
/// and dispreferred responses over the first and the last tenth of the training steps.
public struct IterationDiagnostics: Codable, Equatable, Sendable {
    public var kept: Int
    public var effectiveSampleSize: Double?
    public var entropySplitHalf: Double?
    public var chosenLogProb: [Double]
    public var rejectedLogProb: [Double]?

    enum CodingKeys: String, CodingKey {
        case kept, effectiveSampleSize = "effective_sample_size", entropySplitHalf = "entropy_split_half"
        case chosenLogProb = "chosen_log_prob_first_last", rejectedLogProb = "rejected_log_prob_first_last"
    }

    public init(_ report: IterationReport) {
        kept = report.kept
        effectiveSampleSize = report.effectiveSampleSize
        entropySplitHalf = report.entropySplitHalf
        chosenLogProb = report.training.chosenFirstLast.map { [$0.first, $0.last] } ?? []
        rejectedLogProb = report.training.rejectedFirstLast.map { [$0.first, $0.last] }
    }
}

/// What selection measured and chose: every grid point's validation
/// accuracy per seed, and each loss's choice (`selection.json`, and in
/// `results.json`).
public struct SelectionResults: Codable, Equatable, Sendable {
    public struct Point: Codable, Equatable, Sendable {
        public var loss: LossKind
        public var learningRate: Float
        public var beta: Float
        /// Validation accuracy of each selection seed's run, in seed order.
        public var seedAccuracy: [Double]
        public var mean: Double

        enum CodingKeys: String, CodingKey { case loss, learningRate = "learning_rate", beta, seedAccuracy = "seed_accuracy", mean }
    }

    public var validationQuestions: Int
    public var points: [Point]
    public var choices: [ExperimentSpec.Choice]

    enum CodingKeys: String, CodingKey { case validationQuestions = "validation_questions", points, choices }

    /// From the selection runs' outcomes on the validation questions: per
    /// loss, the grid point with the best mean accuracy (the first in grid
    /// order on a tie).
    public static func compute(_ spec: ExperimentSpec, outcomes: ExperimentOutcomes) throws -> SelectionResults? {
        guard let selection = spec.selectionRuns.isEmpty ? nil : spec.selection else { return nil }
        let n = outcomes.validationQuestions.count
        var points: [Point] = []
        var choices: [ExperimentSpec.Choice] = []
        for loss in LossKind.allCases {
            guard let grid = selection.grid[loss], spec.selectionRuns.contains(where: { $0.settings.loss == loss }) else { continue }
            for point in ExperimentSpec.points(grid, base: spec.base.settings) {
                let runs = spec.selectionRuns.filter { $0.settings.loss == loss && $0.spec.learningRate == point.learningRate && $0.spec.beta == point.beta }
                let accuracy = try runs.map { run in
                    let correct = try ExperimentOutcomes.decode(outcomes.selectionRuns[run.id]?["1"], run: run.id, version: 1, questions: n)
                    return Double(correct.filter { $0 }.count) / Double(max(1, n))
                }
                points.append(Point(loss: loss, learningRate: point.learningRate, beta: point.beta, seedAccuracy: accuracy,
                                    mean: accuracy.reduce(0, +) / Double(max(1, accuracy.count))))
            }
            let best = points.filter { $0.loss == loss }.reduce(nil as Point?) { best, p in best.map { p.mean > $0.mean ? p : $0 } ?? p }!
            choices.append(.init(loss: loss, learningRate: best.learningRate, beta: best.beta))
        }
        return SelectionResults(validationQuestions: n, points: points, choices: choices)
    }

    /// `selection.svg`: mean validation accuracy against the learning rate
    /// (log scale), a line per loss and beta, so a best value at the grid's
    /// edge, or a beta that does not matter, shows at a glance.
    public var figure: Plot {
        var plot = Plot(title: "Selection: validation accuracy (\(validationQuestions) questions)", x: "log10 learning rate", y: "accuracy %")
        var lines: [(name: String, points: [Point])] = []
        for point in points {
            let name = point.loss == .sft ? "sft" : "\(point.loss.rawValue) beta \(point.beta)"
            if let i = lines.firstIndex(where: { $0.name == name }) { lines[i].points.append(point) } else { lines.append((name, [point])) }
        }
        for (i, line) in lines.enumerated() {
            plot.series.append(.init(line.name, color: ExperimentReport.colors[i % ExperimentReport.colors.count], points: line.points.sorted { $0.learningRate < $1.learningRate }.map {
                Plot.Point(x: log10(Double($0.learningRate)), y: $0.mean * 100,
                           low: ($0.seedAccuracy.min() ?? $0.mean) * 100, high: ($0.seedAccuracy.max() ?? $0.mean) * 100)
            }))
        }
        return plot
    }
}

/// What an experiment measured: every run's resolved settings and accuracy
/// per policy version, each setting's accuracy over seeds with its CI, and
/// every setting against its baseline, paired by seed and question
/// (EASTCore/Statistics), with the interval that governs and Holm's
/// correction within the primary and within the exploratory comparisons.
/// Computed from `ExperimentOutcomes` alone; written as `results.json`
/// (fractions, not percent), `results.csv` and `report.md`.
public struct ExperimentResults: Codable, Sendable {
    public struct RunEntry: Codable, Sendable {
        public var run: String
        public var setting: Settings
        /// The run's resolved settings: every hyperparameter, defaults included.
        public var settings: RunSpec
        public var accuracy: [String: Double]
        public var iterations: [IterationDiagnostics]
    }

    /// A setting as results.json names it (with the seed, for a run).
    public struct Settings: Codable, Equatable, Sendable {
        public var loss: LossKind
        public var weighting: RunWeighting
        public var a: Double?
        public var mapping: ExperimentSpec.Settings.Mapping?
        public var seed: UInt64?
        public var iterations: Int
    }

    public struct SettingEntry: Codable, Sendable {
        public var setting: Settings
        public var version: Int
        public var accuracy: AccuracyEstimate
    }

    public struct ComparisonEntry: Codable, Sendable {
        public var setting: Settings
        public var baseline: Settings
        public var version: Int
        /// Named in the spec before running; otherwise exploratory.
        public var primary: Bool
        /// The governing p-value after Holm's correction within its family
        /// (the primary comparisons, or the exploratory ones).
        public var holmPValue: Double
        public var comparison: Comparison

        enum CodingKeys: String, CodingKey { case setting, baseline, version, primary, holmPValue = "holm_p_value", comparison }

        public var difference: Double { comparison.difference }
    }

    public var experiment: String
    public var testQuestions: Int
    public var resamples: Int
    public var selection: SelectionResults?
    public var runs: [RunEntry]
    public var settings: [SettingEntry]
    public var comparisons: [ComparisonEntry]

    enum CodingKeys: String, CodingKey {
        case experiment, testQuestions = "test_questions", resamples, selection, runs, settings, comparisons
    }

    static func describe(_ s: ExperimentSpec.Settings, seed: UInt64? = nil) -> Settings {
        Settings(loss: s.loss, weighting: s.weighting, a: s.a, mapping: s.mapping, seed: seed, iterations: s.iterations)
    }

    /// Every figure, from the outcomes alone.
    public static func compute(_ spec: ExperimentSpec, outcomes: ExperimentOutcomes, resamples: Int = 2000) throws -> ExperimentResults {
        let selection = try SelectionResults.compute(spec, outcomes: outcomes)
        let runs = spec.runs(choices: selection?.choices ?? [])
        let n = outcomes.testQuestions.count
        guard n > 0 else { throw RunSpec.Invalid(setting: "experiment \(spec.name)", reason: "has no test questions in its outcomes") }
        var byRun: [String: [Int: [Bool]]] = [:]
        for run in runs {
            byRun[run.id] = try Dictionary(uniqueKeysWithValues: (0...run.settings.iterations).map { v in
                (v, try ExperimentOutcomes.decode(outcomes.runs[run.id]?[String(v)], run: run.id, version: v, questions: n))
            })
        }
        func matrix(_ s: ExperimentSpec.Settings, _ version: Int) -> [[Bool]] {
            spec.seeds.map { seed in byRun["\(s.name)-s\(seed)"]?[version] ?? [] }
        }
        var results = ExperimentResults(experiment: spec.name, testQuestions: n, resamples: resamples, selection: selection,
                                        runs: [], settings: [], comparisons: [])
        for run in runs {
            let accuracy = byRun[run.id]!.map { (String($0.key), Double($0.value.filter { $0 }.count) / Double(n)) }
            results.runs.append(RunEntry(run: run.id, setting: describe(run.settings, seed: run.seed), settings: run.spec,
                                         accuracy: Dictionary(uniqueKeysWithValues: accuracy), iterations: outcomes.diagnostics[run.id] ?? []))
        }
        for (index, s) in spec.settings.enumerated() {
            for version in 0...s.iterations {
                let estimate = try Bootstrap.accuracy(of: matrix(s, version), resamples: resamples, seed: UInt64(index))
                results.settings.append(SettingEntry(setting: describe(s), version: version, accuracy: estimate))
                let b = spec.baseline(of: s)
                guard b != s, version >= 1 else { continue }
                let c = try PairedComparison.compare(setting: matrix(s, version), baseline: matrix(b, version), resamples: resamples, seed: UInt64(index))
                results.comparisons.append(ComparisonEntry(
                    setting: describe(s), baseline: describe(b), version: version,
                    primary: version == s.iterations && spec.isPrimary(s), holmPValue: c.governingPValue, comparison: c))
            }
        }
        // Holm within each family.
        for family in [true, false] {
            let members = results.comparisons.indices.filter { results.comparisons[$0].primary == family }
            let adjusted = try Holm.adjust(members.map { results.comparisons[$0].comparison.governingPValue })
            for (i, p) in zip(members, adjusted) { results.comparisons[i].holmPValue = p }
        }
        return results
    }

    /// One row per run and version.
    public var csv: String {
        var out = "run,loss,weighting,a,mapping,seed,iterations,learning_rate,beta,version,accuracy\n"
        for r in runs {
            for (version, accuracy) in r.accuracy.sorted(by: { Int($0.key)! < Int($1.key)! }) {
                let s = r.setting
                out += "\(r.run),\(s.loss.rawValue),\(s.weighting.rawValue),\(s.a.map { "\($0)" } ?? ""),\(s.mapping?.rawValue ?? ""),"
                    + "\(s.seed.map(String.init) ?? ""),\(s.iterations),\(r.settings.learningRate),\(r.settings.beta),\(version),\(accuracy)\n"
            }
        }
        return out
    }
}
