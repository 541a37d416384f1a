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

    /// A setting as the report names it: `sft entropy a=1.0`.
    public static func name(_ s: ExperimentResults.Settings) -> String {
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
        let base = spec.base.settings
        var md = "# Experiment \(results.experiment)\n\n"
        md += "\(results.testQuestions) test questions (\(spec.test.task.rawValue), test seed \(spec.test.seed)), the same for every run; "
        md += "\(spec.seeds.count) seed(s) per setting (\(spec.seeds.map(String.init).joined(separator: ", "))), so every figure below rests on "
        md += "\(spec.seeds.count) x \(results.testQuestions) graded answers. Runs: \(spec.base.trainCount) train questions (\(spec.base.task.rawValue)), "
        md += "n = \(base.sampling.n) samples at temperature \(base.sampling.temperature), \(base.epochs) epoch(s) at batch \(base.batchSize), "
        md += "warmup \(base.warmupRatio) then \(base.schedule.rawValue) decay to \(base.minLearningRateRatio) of the peak; "
        md += "every setting of every run is in `results.json`, every run's per-question outcomes in `outcomes.json` "
        md += "(`east experiment --verify DIR` recomputes every figure from them).\n"
        md += selectionSection
        md += "\n## Results\n\n"
        md += "Accuracy: mean over seeds, 95% CI from a bootstrap over questions and seeds. Each difference to the baseline is paired by seed "
        md += "and question, with two 95% intervals: the bootstrap over questions and seeds, and Student's t over the per-seed differences "
        md += "(which counts seed-to-seed spread at its face value). The wider governs (*governs*), and so does its p-value (sign-flip over "
        md += "questions for the bootstrap, t test over seeds); Holm's correction runs within the primary comparisons, named in the spec "
        md += "before running, and separately within the exploratory ones. \(results.comparisons.filter(\.primary).count) primary and "
        md += "\(results.comparisons.filter { !$0.primary }.count) exploratory comparison(s).\n\n"
        md += "| setting | version | accuracy % [95% CI] | vs baseline, points | bootstrap CI | seed-level t CI | governs | p | Holm p | comparison |\n"
        md += "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
        func interval(_ ci: [Double]?) -> String { ci.map { String(format: "[%+.2f, %+.2f]", $0[0] * 100, $0[1] * 100) } ?? "-" }
        for loss in LossKind.allCases {
            let group = finalRows.filter { $0.setting.loss == loss }
            guard let best = group.map(\.accuracy.mean).max() else { continue }
            if let start = estimate(group[0].setting, version: 0) {
                md += "| default (start model) | v0 | \(pct(start.mean)) [\(pct(start.ci95[0])), \(pct(start.ci95[1]))] | | | | | | | |\n"
            }
            // Every version of a setting with several iterations, the last alone otherwise.
            let shown = results.settings.filter { $0.setting.loss == loss && $0.version >= 1 && ($0.setting.iterations > 1 || $0.version == $0.setting.iterations) }
            for row in shown {
                let e = row.accuracy
                var accuracy = "\(pct(e.mean)) [\(pct(e.ci95[0])), \(pct(e.ci95[1]))]"
                if e.mean == best, row.version == row.setting.iterations { accuracy = "**\(accuracy)**" }
                guard let entry = comparison(row.setting, version: row.version) else {
                    md += "| \(Self.name(row.setting)) | v\(row.version) | \(accuracy) | (baseline) | | | | | | |\n"
                    continue
                }
                let c = entry.comparison
                var cells = [Self.name(row.setting), "v\(row.version)", accuracy, String(format: "%+.2f", c.difference * 100)]
                cells += [interval(c.ci95), interval(c.seedLevel?.ci95), c.governing == .seeds ? "seed-level t" : "bootstrap"]
                cells += [String(format: "%.3f", c.governingPValue), String(format: "%.3f", entry.holmPValue), entry.primary ? "**primary**" : "exploratory"]
                md += "| " + cells.joined(separator: " | ") + " |\n"
            }
        }
        md += averagesOverA
        md += diagnosticsSection
        md += settingsSection
        return md
    }

    /// Per setting and iteration, over its seeds: the kept questions, the
    /// weights' effective sample size, the entropy's split-half reliability
    /// and the log-probability of the training responses at the first and
    /// last step (a preference loss that lowers both is collapsing).
    var diagnosticsSection: String {
        func mean(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.reduce(0, +) / Double(values.count) }
        func cell(_ x: Double?, _ format: String) -> String { x.map { String(format: format, $0) } ?? "-" }
        var md = "\n## Weights and training, per iteration (means over seeds)\n\n"
        md += "ESS: (sum w)^2 / (N sum w^2) of the kept questions' weights. Split-half r: the correlation, across kept questions, of the "
        md += "entropy from the first and from the second half of each question's samples (its reliability from all n samples is "
        md += "2r / (1 + r)). Log-probabilities: the policy's, summed over a response's tokens, of the preferred responses (SFT's "
        md += "targets, DPO's chosen, KTO's desirable) and the dispreferred ones, mean over the iteration's first and last tenth of the training steps.\n\n"
        md += "| setting | iteration | kept | ESS | split-half r | log-prob preferred, first -> last | dispreferred |\n"
        md += "| --- | --- | --- | --- | --- | --- | --- |\n"
        var any = false
        for s in spec.settings {
            let runs = results.runs.filter { ExperimentResults.describe(s, seed: $0.setting.seed) == $0.setting }
            for iteration in 0..<s.iterations {
                let d = runs.compactMap { $0.iterations.count > iteration ? $0.iterations[iteration] : nil }
                guard !d.isEmpty else { continue }
                any = true
                let chosen = d.map(\.chosenLogProb).filter { $0.count == 2 }
                let rejected = d.compactMap(\.rejectedLogProb).filter { $0.count == 2 }
                var cells = [Self.name(ExperimentResults.describe(s)), "\(iteration + 1)"]
                cells.append(cell(mean(d.map { Double($0.kept) }), "%.0f"))
                cells.append(cell(mean(d.compactMap(\.effectiveSampleSize)), "%.3f"))
                cells.append(cell(mean(d.compactMap(\.entropySplitHalf)), "%.2f"))
                cells.append(chosen.isEmpty ? "-" : "\(cell(mean(chosen.map { $0[0] }), "%.2f")) -> \(cell(mean(chosen.map { $0[1] }), "%.2f"))")
                cells.append(rejected.isEmpty ? "-" : "\(cell(mean(rejected.map { $0[0] }), "%.2f")) -> \(cell(mean(rejected.map { $0[1] }), "%.2f"))")
                md += "| " + cells.joined(separator: " | ") + " |\n"
            }
        }
        return any ? md : ""
    }

    /// Every setting of the runs, resolved (defaults included): the base's,
    /// then what the axes and selection change.
    var settingsSection: String {
        guard let data = try? JSONCoding.encode(spec.base), let base = try? JSON.parse(String(decoding: data, as: UTF8.self)),
              case let .object(pairs) = base else { return "" }
        var md = "\n## Settings\n\nEvery run's resolved settings (`results.json` holds each run's whole): the base below, with the loss, "
        md += "weighting, a and iterations of its setting, the learning rate and beta of its loss's selection (or the base's), and its seed. "
        md += "Train questions: \(spec.base.trainCount) of \(spec.base.task.rawValue), drawn by the seed.\n\n| setting | value |\n| --- | --- |\n"
        for (key, value) in pairs where !["task", "train_count"].contains(key) { md += "| \(key) | `\(value.text)` |\n" }
        return md
    }

    /// The grid, every validation accuracy and the choice.
    var selectionSection: String {
        guard let selection = results.selection else { return "" }
        var md = "\n## Selection on the validation split\n\n"
        md += "Before any run read the test set: each loss's vanilla setting at every grid point, one iteration, evaluated on "
        md += "\(selection.validationQuestions) validation questions (\(spec.selection!.validation.task.rawValue), validation split, seed "
        md += "\(spec.selection!.validation.seed); held out of the train questions and disjoint from the test set). The best mean "
        md += "validation accuracy wins (the first in grid order on a tie); every setting of the loss then runs with it.\n\n"
        md += "| loss | learning rate | beta | validation accuracy % per seed | mean % |\n| --- | --- | --- | --- | --- |\n"
        for p in selection.points {
            let chosen = selection.choices.contains { $0.loss == p.loss && $0.learningRate == p.learningRate && $0.beta == p.beta }
            let mean = chosen ? "**\(Self.pct(p.mean))** (chosen)" : Self.pct(p.mean)
            md += "| \(p.loss.rawValue) | \(p.learningRate) | \(p.beta) | \(p.seedAccuracy.map(Self.pct).joined(separator: ", ")) | \(mean) |\n"
        }
        return md
    }

    /// The paper's ablation averages each weighting over a in {0.5, 1, 1.5}:
    /// shown where a weighting ran at all three.
    var averagesOverA: String {
        let paperValues: [Double] = [0.5, 1, 1.5]
        var groups: [(key: String, rows: [ExperimentResults.SettingEntry])] = []
        for row in finalRows where row.setting.a.map(paperValues.contains) ?? false {
            var s = row.setting
            s.a = nil
            let key = Self.name(s)
            if let i = groups.firstIndex(where: { $0.key == key }) { groups[i].rows.append(row) } else { groups.append((key, [row])) }
        }
        groups = groups.filter { $0.rows.count == paperValues.count }
        guard !groups.isEmpty else { return "" }
        var md = "\nMean over a in {0.5, 1, 1.5} (the paper's ablation average; a plain mean of the three, with no interval of its own: "
        md += "see each a above):\n\n"
        md += "| weighting | mean accuracy % | mean difference, points |\n| --- | --- | --- |\n"
        for (key, rows) in groups {
            let accuracy = rows.map(\.accuracy.mean).reduce(0, +) / Double(rows.count)
            let diffs = rows.compactMap { comparison($0.setting, version: $0.version)?.difference }
            let diff = diffs.count == rows.count ? String(format: "%+.2f", diffs.reduce(0, +) / Double(diffs.count) * 100) : "-"
            md += "| \(key) | \(Self.pct(accuracy)) | \(diff) |\n"
        }
        return md
    }

    // MARK: Figures

    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]

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
        var plot = Plot(title: "difference to the baseline against a (paired, governing 95% CI)", x: "a (exponent of the mapping)", y: "difference (points)")
        plot.zeroLine = true
        for (i, (name, rows)) in lines.filter({ $0.value.count > 1 }).sorted(by: { $0.key < $1.key }).enumerated() {
            plot.series.append(.init(name, color: Self.colors[i % Self.colors.count], points: rows.sorted { $0.setting.a! < $1.setting.a! }.map { c in
                Plot.Point(x: c.setting.a!, y: c.difference * 100, low: c.comparison.governingCI95[0] * 100, high: c.comparison.governingCI95[1] * 100)
            }))
        }
        return plot.series.isEmpty ? nil : plot
    }

    /// Each multi-iteration setting against its baseline, version by version.
    var iterationsDifferences: Plot? {
        let multi = finalRows.filter { $0.setting.iterations > 1 }
        var plot = Plot(title: "difference to the baseline per iteration (paired, governing 95% CI)", x: "iteration (policy version)",
                        y: "difference (points)", integerX: true)
        plot.zeroLine = true
        for (i, row) in multi.enumerated() {
            let points = (1...row.setting.iterations).compactMap { v in
                comparison(row.setting, version: v).map { c in
                    let ci = c.comparison.governingCI95
                    return Plot.Point(x: Double(v), y: c.difference * 100, low: ci[0] * 100, high: ci[1] * 100)
                }
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
