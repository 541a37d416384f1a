import EASTCore
import Foundation

/// `DIR/report.md` of an experiment, laid out like the paper: Table 1 (per
/// loss, the start model, the baseline and its variants, accuracy with CI and
/// the paired difference), the mean over `a` of each weighting (the paper's
/// ablation averages), and the figures that the experiment's axes allow:
/// Fig. 3 (accuracy against a), Fig. 4 (accuracy against iteration) and
/// Fig. 5 (the first iteration's questions as (H, 1 - A), coloured by R).
public struct ExperimentReport {
    public let spec: ExperimentSpec
    public let results: ExperimentResults
    /// The first iteration's questions of one run (Fig. 5), when available.
    public let points: (run: String, points: [QuestionPoint])?

    public init(spec: ExperimentSpec, results: ExperimentResults, points: (run: String, points: [QuestionPoint])?) {
        (self.spec, self.results, self.points) = (spec, results, points)
    }

    /// Writes `report.md` and its SVG figures into `folder`; returns the Markdown.
    @discardableResult
    public func write(to folder: URL) throws -> String {
        var md = markdown
        for (file, title, plot) in figures {
            try AtomicFile.write(Data(plot.svg().utf8), to: folder.appendingPathComponent(file))
            md += "\n\(title)\n\n![\(title)](\(file))\n"
        }
        try AtomicFile.write(Data(md.utf8), to: folder.appendingPathComponent("report.md"))
        return md
    }

    typealias Settings = ExperimentResults.Settings

    static func pct(_ x: Double) -> String { String(format: "%.2f", x * 100) }

    static func name(_ s: Settings) -> String {
        var name = "\(s.loss.rawValue) \(s.weighting.rawValue)"
        if let a = s.a { name += " a=\(a)" }
        if let m = s.mapping, m != .power { name += " \(m.rawValue)" }
        if s.iterations > 1 { name += " T=\(s.iterations)" }
        return name
    }

    // A setting's entries carry no seed (they are over all seeds), so settings compare whole.
    func comparison(_ s: Settings, version: Int) -> ExperimentResults.ComparisonEntry? {
        results.comparisons.first { $0.setting == s && $0.version == version }
    }

    func estimate(_ s: Settings, version: Int) -> AccuracyEstimate? {
        results.settings.first { $0.setting == s && $0.version == version }?.accuracy
    }

    /// The final version of every setting, grouped by loss.
    var finalRows: [ExperimentResults.SettingEntry] { results.settings.filter { $0.version == $0.setting.iterations } }

    public var markdown: String {
        let pct = Self.pct
        var md = "# Experiment \(results.experiment)\n\n"
        md += "\(results.testQuestions) test questions (\(spec.test.task.rawValue), test seed \(spec.test.seed)), the same for every run; "
        md += "\(spec.seeds.count) seed(s) per setting (\(spec.seeds.map(String.init).joined(separator: ", "))), so every figure below rests on "
        md += "\(spec.seeds.count) x \(results.testQuestions) graded answers; \(results.comparisons.count) comparison(s). "
        md += "Accuracy: mean over seeds, 95% CI from a bootstrap over questions and seeds. "
        md += "Difference: paired by seed and question, 95% bootstrap CI (questions and seeds), two-sided sign-flip p-value "
        md += "(questions flipped, so it counts question noise only; not corrected for the number of comparisons).\n\n"
        md += "| setting | version | accuracy % [95% CI] | vs baseline, points [95% CI] | p |\n| --- | --- | --- | --- | --- |\n"
        for loss in LossKind.allCases {
            let group = finalRows.filter { $0.setting.loss == loss }
            guard let best = group.map(\.accuracy.mean).max() else { continue }
            if let start = estimate(group[0].setting, version: 0) {
                md += "| default (start model) | v0 | \(pct(start.mean)) [\(pct(start.ci95[0])), \(pct(start.ci95[1]))] | | |\n"
            }
            // Every version of a setting with several iterations, the last alone otherwise.
            let shown = results.settings.filter { $0.setting.loss == loss && $0.version >= 1 && ($0.setting.iterations > 1 || $0.version == $0.setting.iterations) }
            for row in shown {
                let e = row.accuracy
                var accuracy = "\(pct(e.mean)) [\(pct(e.ci95[0])), \(pct(e.ci95[1]))]"
                if e.mean == best, row.version == row.setting.iterations { accuracy = "**\(accuracy)**" }
                let c = comparison(row.setting, version: row.version)
                let diff = c.map { String(format: "%+.2f [%+.2f, %+.2f]", $0.difference * 100, $0.ci95[0] * 100, $0.ci95[1] * 100) } ?? "(baseline)"
                md += "| \(Self.name(row.setting)) | v\(row.version) | \(accuracy) | \(diff) | \(c.map { String(format: "%.3f", $0.pValue) } ?? "") |\n"
            }
        }
        md += averagesOverA
        return md
    }

    /// Each weighting's mean over its `a` values (the paper's ablation
    /// averages them), where a weighting was run at several.
    var averagesOverA: String {
        var groups: [(key: String, rows: [ExperimentResults.SettingEntry])] = []
        for row in finalRows where row.setting.a != nil {
            var s = row.setting
            s.a = nil
            let key = Self.name(s)
            if let i = groups.firstIndex(where: { $0.key == key }) { groups[i].rows.append(row) } else { groups.append((key, [row])) }
        }
        groups = groups.filter { $0.rows.count > 1 }
        guard !groups.isEmpty else { return "" }
        var md = "\nMean over a (the paper's ablation averages; the CIs are those of each a above):\n\n"
        md += "| weighting | a values | mean accuracy % | mean difference, points |\n| --- | --- | --- | --- |\n"
        for (key, rows) in groups {
            let accuracy = rows.map(\.accuracy.mean).reduce(0, +) / Double(rows.count)
            let diffs = rows.compactMap { comparison($0.setting, version: $0.version)?.difference }
            let diff = diffs.count == rows.count ? String(format: "%+.2f", diffs.reduce(0, +) / Double(diffs.count) * 100) : "-"
            md += "| \(key) | \(rows.compactMap(\.setting.a).map { "\($0)" }.joined(separator: ", ")) | \(Self.pct(accuracy)) | \(diff) |\n"
        }
        return md
    }

    // MARK: Figures

    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]

    var figures: [(file: String, title: String, plot: Plot)] {
        var out: [(String, String, Plot)] = []
        if let fig3 = aSweep { out.append(("fig3-a-sweep.svg", "Fig. 3: accuracy against a", fig3)) }
        if let fig3 = aSweepDifferences {
            out.append(("fig3-a-sweep-differences.svg", "Fig. 3, paired: the difference to the baseline against a", fig3))
        }
        if let fig4 = iterationsFigure { out.append(("fig4-iterations.svg", "Fig. 4: accuracy against iteration", fig4)) }
        if let fig4 = iterationsDifferences {
            out.append(("fig4-iterations-differences.svg", "Fig. 4, paired: the difference to the baseline per iteration", fig4))
        }
        if let fig5 = questionsFigure { out.append(("fig5-questions.svg", "Fig. 5: the first iteration's questions", fig5)) }
        return out
    }

    /// Accuracy against a for every weighting run at several a, the baseline's CI as a band.
    var aSweep: Plot? {
        var lines: [String: [ExperimentResults.SettingEntry]] = [:]
        for row in finalRows where row.setting.a != nil {
            var s = row.setting
            s.a = nil
            lines[Self.name(s), default: []].append(row)
        }
        let swept = lines.filter { $0.value.count > 1 }.sorted { $0.key < $1.key }
        guard !swept.isEmpty else { return nil }
        var plot = Plot(title: "greedy test accuracy against a (\(spec.seeds.count) seeds, 95% CI)", x: "a (exponent of the mapping)", y: "accuracy (%)")
        for (i, (name, rows)) in swept.enumerated() {
            let points = rows.sorted { $0.setting.a! < $1.setting.a! }.map { r in
                Plot.Point(x: r.setting.a!, y: r.accuracy.mean * 100, low: r.accuracy.ci95[0] * 100, high: r.accuracy.ci95[1] * 100)
            }
            plot.series.append(.init(name, color: Self.colors[i % Self.colors.count], points: points))
            if let first = rows.first, let b = baseline(of: first.setting), let e = estimate(b, version: first.version) {
                let band = Plot.Band("\(Self.name(b)) (95% CI)", low: e.ci95[0] * 100, high: e.ci95[1] * 100, color: "gray")
                if !plot.bands.contains(where: { $0.name == band.name }) { plot.bands.append(band) }
            }
        }
        return plot
    }

    /// The same sweep as paired differences to the baseline, which the
    /// accuracies' own (much wider) intervals hide.
    var aSweepDifferences: Plot? {
        guard aSweep != nil else { return nil }
        var lines: [String: [ExperimentResults.ComparisonEntry]] = [:]
        for c in results.comparisons where c.setting.a != nil && c.version == c.setting.iterations {
            var s = c.setting
            s.a = nil
            lines["\(Self.name(s)) - \(Self.name(c.baseline))", default: []].append(c)
        }
        var plot = Plot(title: "difference to the baseline against a (paired 95% CI)", x: "a (exponent of the mapping)", y: "difference (points)")
        plot.zeroLine = true
        for (i, (name, rows)) in lines.filter({ $0.value.count > 1 }).sorted(by: { $0.key < $1.key }).enumerated() {
            plot.series.append(.init(name, color: Self.colors[i % Self.colors.count], points: rows.sorted { $0.setting.a! < $1.setting.a! }.map { c in
                Plot.Point(x: c.setting.a!, y: c.difference * 100, low: c.ci95[0] * 100, high: c.ci95[1] * 100)
            }))
        }
        return plot.series.isEmpty ? nil : plot
    }

    /// Each multi-iteration setting against its baseline, version by version.
    var iterationsDifferences: Plot? {
        let multi = finalRows.filter { $0.setting.iterations > 1 }
        var plot = Plot(title: "difference to the baseline per iteration (paired 95% CI)", x: "iteration (policy version)",
                        y: "difference (points)", integerX: true)
        plot.zeroLine = true
        for (i, row) in multi.enumerated() {
            let points = (1...row.setting.iterations).compactMap { v in
                comparison(row.setting, version: v).map { Plot.Point(x: Double(v), y: $0.difference * 100, low: $0.ci95[0] * 100, high: $0.ci95[1] * 100) }
            }
            guard !points.isEmpty, let b = baseline(of: row.setting) else { continue }
            plot.series.append(.init("\(Self.name(row.setting)) - \(Self.name(b))", color: Self.colors[(i + 1) % Self.colors.count], points: points))
        }
        return plot.series.isEmpty ? nil : plot
    }

    func baseline(of s: Settings) -> Settings? { comparison(s, version: s.iterations)?.baseline }

    /// Accuracy against policy version for the settings with several iterations.
    var iterationsFigure: Plot? {
        let multi = finalRows.filter { $0.setting.iterations > 1 }
        guard !multi.isEmpty else { return nil }
        var plot = Plot(title: "greedy test accuracy per iteration (\(spec.seeds.count) seeds, 95% CI)", x: "iteration (policy version)",
                        y: "accuracy (%)", integerX: true)
        for (i, row) in multi.enumerated() {
            let points = (0...row.setting.iterations).compactMap { v in
                estimate(row.setting, version: v).map { Plot.Point(x: Double(v), y: $0.mean * 100, low: $0.ci95[0] * 100, high: $0.ci95[1] * 100) }
            }
            plot.series.append(.init(Self.name(row.setting), color: Self.colors[i % Self.colors.count], points: points))
        }
        return plot
    }

    /// The first iteration's questions of one run as (H, 1 - A), coloured by R.
    var questionsFigure: Plot? {
        guard let (run, points) = points, !points.isEmpty else { return nil }
        var plot = Plot(title: "questions of \(run), iteration 1", x: "entropy H of the answer clusters (nats)", y: "1 - A (share of wrong samples)")
        plot.series = [.init("", color: "black", points: points.map { .init(x: $0.entropy, y: 1 - $0.accuracy, shade: $0.dominantIncorrect) }, line: false)]
        plot.shadeTitle = "R (largest wrong cluster)"
        plot.yRange = (0, 1)
        return plot
    }
}
