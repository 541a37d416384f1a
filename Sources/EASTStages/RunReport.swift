import EASTCore
import Foundation

/// The run report, written by the in-process run and the coordinator alike:
/// `report.md` with the figures, three SVG plots (entropy histogram, weight
/// vs entropy, accuracy per policy version), and `eval-v<k>.jsonl` with every
/// test question's greedy result per policy version.
public enum RunReport {
    @discardableResult
    public static func write(_ outcome: RunOutcome, to folder: URL) throws -> URL {
        let spec = outcome.spec
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let last = outcome.iterations.last?.points ?? []
        try AtomicFile.write(Data(histogram(last.map(\.entropy)).utf8), to: folder.appendingPathComponent("entropy-histogram.svg"))
        try AtomicFile.write(Data(scatter(last.compactMap { p in p.weight.map { (p.entropy, $0) } }).utf8),
                             to: folder.appendingPathComponent("weight-vs-entropy.svg"))
        let versions = outcome.accuracy.keys.sorted()
        for (version, results) in outcome.evaluations {
            let lines = try results.map { try JSONCoding.string($0) + "\n" }.joined()
            try AtomicFile.write(Data(lines.utf8), to: folder.appendingPathComponent("eval-v\(version).jsonl"))
        }
        try AtomicFile.write(Data(line(versions.map { (Double($0), outcome.accuracy[$0]! * 100) }).utf8),
                             to: folder.appendingPathComponent("accuracy.svg"))
        var md = "# EAST run \(outcome.run)\n\n"
        md += "Checkpoint `\(spec.checkpoint)`; train \(spec.train.description); test \(spec.test.description); "
        md += "n = \(spec.sampling.n), temperature \(spec.sampling.temperature); loss \(spec.loss.rawValue), weighting \(spec.weighting.rawValue), "
        md += "mapping \(spec.mapping); \(spec.iterations) iteration(s); seed \(spec.seed).\n\n"
        md += "| policy version | greedy test accuracy |\n| --- | --- |\n"
        for v in versions { md += String(format: "| v%d | %.1f%% |\n", v, outcome.accuracy[v]! * 100) }
        md += "\n| iteration | kept | dropped all-right | dropped all-wrong | weight min / q1 / median / q3 / max | steps | mean loss |\n"
        md += "| --- | --- | --- | --- | --- | --- | --- |\n"
        for it in outcome.iterations {
            md += "| \(it.iteration) | \(it.kept) | \(it.droppedAllRight) | \(it.droppedAllWrong) | "
                + it.weightQuantiles.map { String(format: "%.3f", $0) }.joined(separator: " / ")
                + " | \(it.steps.map(String.init) ?? "-") | " + (it.meanLoss.map { String(format: "%.4f", $0) } ?? "-") + " |\n"
        }
        md += "\n![entropy histogram](entropy-histogram.svg) ![weight vs entropy](weight-vs-entropy.svg) ![accuracy](accuracy.svg)\n"
        try AtomicFile.write(Data(md.utf8), to: folder.appendingPathComponent("report.md"))
        return folder
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

    // MARK: Plots (plain SVG, 400 x 260, axes with min/max labels)

    static let width = 400.0, height = 260.0, margin = 40.0

    static func frame(_ title: String, _ body: String, x: (Double, Double), y: (Double, Double)) -> String {
        let f = { (v: Double) in String(format: "%.2f", v) }
        return """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="16" text-anchor="middle" font-size="13">\(title)</text>
        <line x1="\(margin)" y1="\(height - margin)" x2="\(width - 10)" y2="\(height - margin)" stroke="black"/>
        <line x1="\(margin)" y1="\(height - margin)" x2="\(margin)" y2="24" stroke="black"/>
        <text x="\(margin)" y="\(height - margin + 14)" text-anchor="middle">\(f(x.0))</text>
        <text x="\(width - 10)" y="\(height - margin + 14)" text-anchor="end">\(f(x.1))</text>
        <text x="\(margin - 4)" y="\(height - margin)" text-anchor="end">\(f(y.0))</text>
        <text x="\(margin - 4)" y="30" text-anchor="end">\(f(y.1))</text>
        \(body)
        </svg>
        """
    }

    static func project(_ v: Double, _ range: (Double, Double), _ lo: Double, _ hi: Double) -> Double {
        let span = range.1 - range.0
        return lo + (span == 0 ? 0.5 : (v - range.0) / span) * (hi - lo)
    }

    static func histogram(_ values: [Double], bins: Int = 12) -> String {
        let hi = max(values.max() ?? 1, 1e-9)
        var counts = [Int](repeating: 0, count: bins)
        for v in values { counts[min(bins - 1, Int(v / hi * Double(bins)))] += 1 }
        let top = Double(counts.max() ?? 1)
        let barWidth = (width - 10 - margin) / Double(bins)
        let bars = counts.enumerated().map { i, c -> String in
            let h = top == 0 ? 0 : Double(c) / top * (height - margin - 30)
            return "<rect x=\"\(margin + Double(i) * barWidth + 1)\" y=\(String(format: "\"%.1f\"", height - margin - h)) width=\"\(barWidth - 2)\" height=\(String(format: "\"%.1f\"", h)) fill=\"steelblue\"/>"
        }.joined(separator: "\n")
        return frame("entropy of the questions' answer clusters", bars, x: (0, hi), y: (0, top))
    }

    static func scatter(_ points: [(Double, Double)]) -> String {
        let xr = (points.map(\.0).min() ?? 0, points.map(\.0).max() ?? 1)
        let yr = (points.map(\.1).min() ?? 0, points.map(\.1).max() ?? 1)
        let dots = points.map { p in
            String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"darkorange\"/>",
                   project(p.0, xr, margin, width - 10), project(p.1, yr, height - margin, 30))
        }.joined(separator: "\n")
        return frame("weight vs entropy (kept questions)", dots, x: xr, y: yr)
    }

    static func line(_ points: [(Double, Double)]) -> String {
        let xr = (points.map(\.0).min() ?? 0, points.map(\.0).max() ?? 1)
        let yr = (min(points.map(\.1).min() ?? 0, 0), max(points.map(\.1).max() ?? 100, 1))
        let path = points.map { p in String(format: "%.1f,%.1f", project(p.0, xr, margin, width - 10), project(p.1, yr, height - margin, 30)) }
        let body = "<polyline fill=\"none\" stroke=\"seagreen\" stroke-width=\"2\" points=\"\(path.joined(separator: " "))\"/>"
            + path.map { "<circle cx=\"\($0.split(separator: ",")[0])\" cy=\"\($0.split(separator: ",")[1])\" r=\"3\" fill=\"seagreen\"/>" }.joined()
        return frame("greedy test accuracy (%) per policy version", body, x: xr, y: yr)
    }
}
