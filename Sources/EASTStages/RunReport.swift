import EASTCore
import Foundation

/// A run's record (`run.json`): its resolved settings (every hyperparameter,
/// defaults included), the prompt it used and its accuracy per policy
/// version. With `eval-v<k>.jsonl` and `iterations.json` beside it, enough to
/// say exactly how the run ran and what it measured.
public struct RunRecord: Codable, Equatable, Sendable {
    public var run: String
    public var settings: RunSpec
    /// The prompt format, system message included (`PromptFormat.description`).
    public var prompt: String
    /// Policy version -> greedy test accuracy.
    public var accuracy: [String: Double]

    public init(run: String, settings: RunSpec, prompt: String, accuracy: [String: Double]) {
        (self.run, self.settings, self.prompt, self.accuracy) = (run, settings, prompt, accuracy)
    }
}

/// The run report, written by the in-process run and the coordinator alike:
/// `run.json` (the `RunRecord`), `report.md` with the figures, SVG plots
/// (entropy histogram, weight vs entropy, accuracy per policy version, and
/// the log-probabilities of preferred and dispreferred responses during
/// training), `eval-v<k>.jsonl` with every test question's greedy result per
/// policy version, and `iterations.json` (the iteration reports, with every
/// question's entropy, accuracy and R, and every training step).
public enum RunReport {
    @discardableResult
    public static func write(_ outcome: RunOutcome, to folder: URL) throws -> URL {
        let spec = outcome.spec
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let last = outcome.iterations.last?.points ?? []
        try AtomicFile.write(Data(histogram(last.map(\.entropy)).utf8), to: folder.appendingPathComponent("entropy-histogram.svg"))
        try AtomicFile.write(Data(scatter(last).utf8), to: folder.appendingPathComponent("weight-vs-entropy.svg"))
        let versions = outcome.accuracy.keys.sorted()
        for (version, results) in outcome.evaluations {
            let lines = try results.map { try JSONCoding.string($0) + "\n" }.joined()
            try AtomicFile.write(Data(lines.utf8), to: folder.appendingPathComponent("eval-v\(version).jsonl"))
        }
        try AtomicFile.write(try JSONCoding.encode(outcome.iterations), to: folder.appendingPathComponent("iterations.json"))
        let accuracy = Dictionary(uniqueKeysWithValues: outcome.accuracy.map { (String($0.key), $0.value) })
        let record = RunRecord(run: outcome.run, settings: spec, prompt: outcome.prompt, accuracy: accuracy)
        try AtomicFile.write(try JSONCoding.encode(record, pretty: true), to: folder.appendingPathComponent("run.json"))
        var accuracyPlot = Plot(title: "greedy test accuracy per policy version", x: "policy version", y: "accuracy (%)", integerX: true)
        accuracyPlot.series = [.init("", color: "seagreen", points: versions.map { .init(x: Double($0), y: outcome.accuracy[$0]! * 100) })]
        try AtomicFile.write(Data(accuracyPlot.svg().utf8), to: folder.appendingPathComponent("accuracy.svg"))
        try AtomicFile.write(Data(logProbabilities(outcome.iterations).svg().utf8), to: folder.appendingPathComponent("log-probabilities.svg"))

        var md = "# EAST run \(outcome.run)\n\n"
        md += "Checkpoint `\(spec.checkpoint)`; train \(spec.train.description); test \(spec.test.description); "
        md += "n = \(spec.sampling.n), temperature \(spec.sampling.temperature); loss \(spec.loss.rawValue), weighting \(spec.weighting.rawValue), "
        md += "mapping \(spec.mapping); \(spec.iterations) iteration(s); seed \(spec.seed). "
        md += "Every setting is in `run.json`; the prompt: \(outcome.prompt).\n\n"
        md += "| policy version | greedy test accuracy |\n| --- | --- |\n"
        for v in versions { md += String(format: "| v%d | %.1f%% |\n", v, outcome.accuracy[v]! * 100) }
        md += "\n| iteration | kept | dropped all-right | dropped all-wrong | weight min / q1 / median / q3 / max | ESS | entropy split-half r "
        md += "| steps | mean loss | log-prob preferred, first -> last tenth of the steps | dispreferred |\n"
        md += "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
        for it in outcome.iterations { md += row(it) }
        md += "\n![entropy histogram](entropy-histogram.svg) ![weight vs entropy](weight-vs-entropy.svg) ![accuracy](accuracy.svg) "
        md += "![log-probabilities](log-probabilities.svg)\n"
        try AtomicFile.write(Data(md.utf8), to: folder.appendingPathComponent("report.md"))
        return folder
    }

    /// One iteration's row of the report's table.
    static func row(_ it: IterationReport) -> String {
        func number(_ x: Double?, _ format: String) -> String { x.map { String(format: format, $0) } ?? "-" }
        let quantiles = it.weightQuantiles.map { String(format: "%.3f", $0) }.joined(separator: " / ")
        let chosen = it.training.chosenFirstLast, rejected = it.training.rejectedFirstLast
        let preferred = "\(number(chosen?.first, "%.2f")) -> \(number(chosen?.last, "%.2f"))"
        let dispreferred = rejected.map { String(format: "%.2f -> %.2f", $0.first, $0.last) } ?? "-"
        var cells = ["\(it.iteration)", "\(it.kept)", "\(it.droppedAllRight)", "\(it.droppedAllWrong)", quantiles]
        cells += [number(it.effectiveSampleSize, "%.3f"), number(it.entropySplitHalf, "%.2f"), "\(it.steps)", number(it.meanLoss, "%.4f")]
        cells += [preferred, dispreferred]
        return "| " + cells.joined(separator: " | ") + " |\n"
    }

    /// A version's per-question results as `write` left them in `folder`.
    public static func evaluation(in folder: URL, version: Int) throws -> [QuestionResult] {
        let file = folder.appendingPathComponent("eval-v\(version).jsonl")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else {
            throw RunSpec.Invalid(setting: file.path, reason: "cannot be read")
        }
        return try text.split(separator: "\n").enumerated().map { i, line in
            try JSONCoding.decode(QuestionResult.self, from: String(line), what: "\(file.path):\(i + 1)")
        }
    }

    /// The policy versions `folder` has per-question results of.
    public static func evaluatedVersions(in folder: URL) -> Set<Int> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).compactMap { name -> Int? in
            guard name.hasPrefix("eval-v"), name.hasSuffix(".jsonl") else { return nil }
            return Int(name.dropFirst(6).dropLast(6))
        })
    }

    /// The iteration reports `write` left in `folder`.
    public static func iterations(in folder: URL) throws -> [IterationReport] {
        let file = folder.appendingPathComponent("iterations.json")
        guard let data = FileManager.default.contents(atPath: file.path) else { throw RunSpec.Invalid(setting: file.path, reason: "cannot be read") }
        return try JSONCoding.decode([IterationReport].self, from: data, what: file.path)
    }

    // MARK: Plots

    static func histogram(_ values: [Double], bins: Int = 12) -> String {
        let hi = max(values.max() ?? 1, 1e-9)
        var counts = [Int](repeating: 0, count: bins)
        for v in values { counts[min(bins - 1, Int(v / hi * Double(bins)))] += 1 }
        var plot = Plot(title: "entropy of the questions' answer clusters (last iteration)", x: "entropy H (nats)", y: "questions")
        plot.bars = counts.enumerated().map { i, c in (hi * Double(i) / Double(bins), hi * Double(i + 1) / Double(bins), Double(c)) }
        return plot.svg()
    }

    /// The mean log-probability of the batch's preferred (and dispreferred)
    /// responses at every training step, iterations one after another.
    static func logProbabilities(_ iterations: [IterationReport]) -> Plot {
        var plot = Plot(title: "log-probability of the training responses, per step", x: "training step", y: "mean log-probability")
        let steps = iterations.flatMap(\.training)
        plot.series = [.init("preferred (SFT target, chosen, desirable)", color: "seagreen",
                             points: steps.enumerated().compactMap { i, s in s.chosenLogProb.map { Plot.Point(x: Double(i + 1), y: $0) } })]
        let rejected = steps.enumerated().compactMap { i, s in s.rejectedLogProb.map { Plot.Point(x: Double(i + 1), y: $0) } }
        if !rejected.isEmpty { plot.series.append(.init("dispreferred (rejected, undesirable)", color: "firebrick", points: rejected)) }
        return plot
    }

    static func scatter(_ points: [QuestionPoint]) -> String {
        var plot = Plot(title: "weight against entropy (kept questions, last iteration)", x: "entropy H (nats)", y: "loss weight")
        plot.series = [.init("", color: "darkorange", points: points.compactMap { p in p.weight.map { .init(x: p.entropy, y: $0) } }, line: false)]
        return plot.svg()
    }
}
