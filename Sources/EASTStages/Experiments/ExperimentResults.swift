import EASTCore
import Foundation

/// What an experiment measured: every run's accuracy per policy version, each
/// setting's accuracy over seeds with its CI, and every setting against its
/// baseline, paired by seed and question (EASTCore/Statistics). Written as
/// `results.json` (fractions, not percent), `results.csv` and `report.md`.
public struct ExperimentResults: Codable, Sendable {
    public struct RunEntry: Codable, Sendable {
        public var run: String
        public var settings: Settings
        public var accuracy: [String: Double]
    }

    /// A run's settings as results.json names them: the setting and its seed.
    public struct Settings: Codable, Sendable {
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
        public var seeds: Int
        public var questions: Int
        public var difference: Double
        public var ci95: [Double]
        public var pValue: Double
        enum CodingKeys: String, CodingKey {
            case setting, baseline, version, seeds, questions, difference, ci95, pValue = "p_value"
        }
    }

    public var experiment: String
    public var testQuestions: Int
    public var runs: [RunEntry]
    public var settings: [SettingEntry]
    public var comparisons: [ComparisonEntry]

    enum CodingKeys: String, CodingKey {
        case experiment, testQuestions = "test_questions", runs, settings, comparisons
    }

    static func describe(_ s: ExperimentSpec.Settings, seed: UInt64? = nil) -> Settings {
        Settings(loss: s.loss, weighting: s.weighting, a: s.a, mapping: s.mapping, seed: seed, iterations: s.iterations)
    }

    /// From the runs' evaluations (`evaluations(run.id)`: version -> one result
    /// per test question). Every run must be done.
    public static func compute(
        _ spec: ExperimentSpec, evaluations: (String) throws -> [Int: [QuestionResult]], resamples: Int = 2000
    ) throws -> ExperimentResults {
        var byRun: [String: [Int: [QuestionResult]]] = [:]
        for run in spec.runs { byRun[run.id] = try evaluations(run.id) }
        let ids = byRun[spec.runs[0].id]?[0]?.map(\.id) ?? []
        for (run, versions) in byRun {
            for (version, results) in versions where results.map(\.id) != ids {
                throw RunSpec.Invalid(setting: "run \(run)", reason: "v\(version) was evaluated on other test questions than the experiment's")
            }
        }
        func matrix(_ s: ExperimentSpec.Settings, _ version: Int) -> [[Bool]] {
            spec.seeds.map { seed in byRun["\(s.name)-s\(seed)"]?[version]?.map(\.correct) ?? [] }
        }
        var results = ExperimentResults(experiment: spec.name, testQuestions: ids.count, runs: [], settings: [], comparisons: [])
        for run in spec.runs {
            let accuracy = (byRun[run.id] ?? [:]).mapValues { r in Double(r.filter(\.correct).count) / Double(max(1, r.count)) }
            results.runs.append(RunEntry(run: run.id, settings: describe(run.settings, seed: run.seed),
                                         accuracy: Dictionary(uniqueKeysWithValues: accuracy.map { (String($0.key), $0.value) })))
        }
        for (index, s) in spec.settings.enumerated() {
            for version in 0...s.iterations {
                let estimate = try Bootstrap.accuracy(of: matrix(s, version), resamples: resamples, seed: UInt64(index))
                results.settings.append(SettingEntry(setting: describe(s), version: version, accuracy: estimate))
                let b = spec.baseline(of: s)
                guard b != s, version >= 1 else { continue }
                let c = try PairedComparison.compare(setting: matrix(s, version), baseline: matrix(b, version), resamples: resamples, seed: UInt64(index))
                results.comparisons.append(ComparisonEntry(
                    setting: describe(s), baseline: describe(b), version: version, seeds: c.seeds, questions: c.questions,
                    difference: c.difference, ci95: c.ci95, pValue: c.pValue))
            }
        }
        return results
    }

    /// One row per run and version.
    public var csv: String {
        var out = "run,loss,weighting,a,mapping,seed,iterations,version,accuracy\n"
        for r in runs {
            for (version, accuracy) in r.accuracy.sorted(by: { Int($0.key)! < Int($1.key)! }) {
                let s = r.settings
                out += "\(r.run),\(s.loss.rawValue),\(s.weighting.rawValue),\(s.a.map { "\($0)" } ?? ""),\(s.mapping?.rawValue ?? ""),"
                    + "\(s.seed.map(String.init) ?? ""),\(s.iterations),\(version),\(accuracy)\n"
            }
        }
        return out
    }

    /// Table 1's layout: per loss, the baseline row then its variants, the
    /// last version's accuracy with its CI and the paired difference to the
    /// baseline; the best accuracy per loss in bold.
    public func markdown(_ spec: ExperimentSpec) -> String {
        func pct(_ x: Double) -> String { String(format: "%.2f", x * 100) }
        let last = { (s: Settings) in s.iterations }
        var md = "# Experiment \(experiment)\n\n"
        md += "\(testQuestions) test questions (\(spec.test.task.rawValue), test seed \(spec.test.seed)), the same for every run; "
        md += "\(spec.seeds.count) seed(s) per setting (\(spec.seeds.map(String.init).joined(separator: ", "))); "
        md += "\(comparisons.count) comparison(s). Accuracy: mean over seeds, 95% CI from a bootstrap over questions and seeds. "
        md += "Difference: paired by seed and question, 95% bootstrap CI, two-sided sign-flip p-value (not corrected for the number of comparisons).\n\n"
        md += "| setting | version | accuracy % [95% CI] | vs baseline, points [95% CI] | p |\n| --- | --- | --- | --- | --- |\n"
        let rows = settings.filter { $0.version == last($0.setting) }
        for loss in LossKind.allCases {
            let group = rows.filter { $0.setting.loss == loss }
            guard let best = group.map(\.accuracy.mean).max() else { continue }
            for row in group {
                let s = row.setting
                var name = "\(s.loss.rawValue) \(s.weighting.rawValue)"
                if let a = s.a { name += " a=\(a)" }
                if let m = s.mapping, m != .power { name += " \(m.rawValue)" }
                if s.iterations > 1 { name += " T=\(s.iterations)" }
                let e = row.accuracy
                var accuracy = "\(pct(e.mean)) [\(pct(e.ci95[0])), \(pct(e.ci95[1]))]"
                if e.mean == best { accuracy = "**\(accuracy)**" }
                let c = comparisons.first { $0.setting.loss == s.loss && $0.setting.weighting == s.weighting && $0.setting.a == s.a
                    && $0.setting.mapping == s.mapping && $0.setting.iterations == s.iterations && $0.version == row.version }
                let diff = c.map { String(format: "%+.2f [%+.2f, %+.2f]", $0.difference * 100, $0.ci95[0] * 100, $0.ci95[1] * 100) } ?? "(baseline)"
                md += "| \(name) | v\(row.version) | \(accuracy) | \(diff) | \(c.map { String(format: "%.3f", $0.pValue) } ?? "") |\n"
            }
        }
        return md
    }
}
