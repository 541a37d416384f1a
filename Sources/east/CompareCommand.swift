import ArgumentParser
import EASTCommandLine
import EASTCore
import EASTStages
import Foundation

/// `east compare`: does a setting beat its baseline, by how much, with what
/// confidence? Reads the per-question results (`eval-v<k>.jsonl`) of run
/// folders written by `east selftrain --inprocess` or the coordinator, pairs
/// the i-th setting run with the i-th baseline run (same seed) and every
/// question with itself, and prints both accuracies with 95% CIs, the paired
/// difference with its bootstrap CI and sign-flip p-value, and the smallest
/// difference these counts can detect (see EASTCore/Statistics).
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Paired comparison of runs evaluated on the same test questions.",
        discussion: "Example: east compare --baseline runs/vanilla-s1 runs/vanilla-s2 --setting runs/east-s1 runs/east-s2 --version 1")

    @Option(parsing: .upToNextOption, help: "Run folders of the baseline, one per seed.") var baseline: [String]
    @Option(parsing: .upToNextOption, help: "Run folders of the setting, in the same seed order.") var setting: [String]
    @Option(help: "Policy version compared (default: the highest one every run has).") var version: Int?
    @Option(help: "Bootstrap resamples.") var resamples = 2000
    @Option(help: "Seed of the resampling.") var seed: UInt64 = 1
    @Flag(help: "Print JSON.") var json = false

    /// Run folders that cannot be compared: bad input, exit code 1.
    struct Mismatch: Error, CustomStringConvertible {
        let reason: String
        var description: String { reason }
    }

    struct Output: Encodable {
        var version: Int
        var baseline: AccuracyEstimate
        var setting: AccuracyEstimate
        var comparison: Comparison
        /// nil when no question was answered differently (nothing to scale it by).
        var minimumDetectableDifference: Double?

        enum CodingKeys: String, CodingKey {
            case version, baseline, setting, comparison, minimumDetectableDifference = "minimum_detectable_difference"
        }
    }

    func validate() throws {
        guard resamples >= 100, resamples <= 1_000_000 else { throw ValidationError("--resamples must be from 100 to 1000000, got \(resamples)") }
    }

    func run() throws {
        try failing {
            guard !baseline.isEmpty, baseline.count == setting.count else {
                throw ValidationError("give as many --setting runs as --baseline runs (one per seed), got \(setting.count) and \(baseline.count)")
            }
            let folders = baseline + setting
            let urls = folders.map { URL(fileURLWithPath: $0) }
            let common = urls.map(RunReport.evaluatedVersions).reduce(RunReport.evaluatedVersions(in: urls[0])) { $0.intersection($1) }
            guard let chosen = version ?? common.max() else {
                throw Mismatch(reason: "no policy version has an eval-v<k>.jsonl in every run folder")
            }
            // Pairs by question: the same ids, in the same order, of the same questions (their content hashes).
            let reference = try RunReport.evaluation(in: urls[0], version: chosen)
            func runs(_ dirs: [String]) throws -> [[Bool]] {
                try dirs.map { dir in
                    let results = try RunReport.evaluation(in: URL(fileURLWithPath: dir), version: chosen)
                    guard results.map(\.id) == reference.map(\.id), results.map(\.question) == reference.map(\.question) else {
                        let pairs = Array(zip(results, reference))
                        let differing = pairs.firstIndex { (a: QuestionResult, b: QuestionResult) -> Bool in a.id != b.id || a.question != b.question }
                        let first = differing.map { "line \($0 + 1)" } ?? "the count"
                        throw Mismatch(reason: "\(dir)/eval-v\(chosen).jsonl holds other test questions than \(folders[0]) (from \(first) on): "
                                       + "runs compare only on the same questions; give them one --test-seed (or one --test-file)")
                    }
                    return results.map(\.correct)
                }
            }
            let (b, s) = (try runs(baseline), try runs(setting))
            let comparison = try PairedComparison.compare(setting: s, baseline: b, resamples: resamples, seed: seed)
            let out = Output(
                version: chosen, baseline: try Bootstrap.accuracy(of: b, resamples: resamples, seed: seed),
                setting: try Bootstrap.accuracy(of: s, resamples: resamples, seed: seed), comparison: comparison,
                minimumDetectableDifference: comparison.discordantShare == 0 ? nil : try Power.governingMinimumDetectableDifference(
                    questions: reference.count, seeds: b.count, discordantShare: comparison.discordantShare, seedVariance: comparison.seedVariance))
            if json { return try printJSON(out) }
            func percent(_ e: AccuracyEstimate) -> String {
                String(format: "%.2f%% [%.2f, %.2f]", e.mean * 100, e.ci95[0] * 100, e.ci95[1] * 100)
            }
            say("policy v\(chosen); \(reference.count) test questions x \(b.count) seed(s)" + (b.count == 1 ? " (the CIs cover question noise only)" : ""))
            say("baseline accuracy  " + percent(out.baseline))
            say("setting accuracy   " + percent(out.setting))
            say(String(format: "setting - baseline %+.2f points; %.1f%% of question pairs discordant", comparison.difference * 100,
                       comparison.discordantShare * 100))
            say(String(format: "  bootstrap over questions and seeds: 95%% CI [%+.2f, %+.2f], p = %.4f (sign flips over questions)",
                       comparison.ci95[0] * 100, comparison.ci95[1] * 100, comparison.pValue))
            if let seeds = comparison.seedLevel {
                say(String(format: "  Student's t over the %d seeds' differences: 95%% CI [%+.2f, %+.2f], p = %.4f",
                           seeds.seeds, seeds.ci95[0] * 100, seeds.ci95[1] * 100, seeds.pValue))
            }
            say("  governs: the " + (comparison.governing == .seeds ? "seed-level t interval" : "bootstrap interval") + " (the wider)")
            if let mde = out.minimumDetectableDifference {
                say(String(format: "smallest difference these counts detect at 80%% power: %.2f points", mde * 100))
            } else {
                say("no question was answered differently: the runs agree on every question")
            }
        }
    }
}
