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
}
