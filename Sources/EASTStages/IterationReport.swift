import EASTCore
import Foundation

/// What one self-training iteration did, the same record for the in-process
/// run and the cluster (whose coordinator stores it in Redis, so a resumed
/// run still reports every iteration).
public struct IterationReport: Codable, Equatable, Sendable {
    public var iteration: Int
    public var questions: Int
    public var kept: Int
    public var droppedAllRight: Int
    public var droppedAllWrong: Int
    /// min, 25%, median, 75%, max of the kept questions' weights.
    public var weightQuantiles: [Double]
    public var examples: Int
    /// New tokens sampled in the iteration (all questions, all n responses).
    public var sampledTokens: Int
    /// (sum w)^2 / (N sum w^2) over the kept questions' weights (nil: none kept).
    public var effectiveSampleSize: Double?
    /// The correlation, across kept questions, of the entropy computed from
    /// the first and the second half of each question's samples (nil: too few
    /// questions, or no spread); `Reliability.spearmanBrown` of it is the
    /// reliability of the entropy from all n samples.
    public var entropySplitHalf: Double?
    /// Every question's entropy, accuracy, R and weight, in question order.
    public var points: [QuestionPoint]
    /// Every optimizer step, in order (empty until trained).
    public var training: [TrainingStep] = []

    enum CodingKeys: String, CodingKey {
        case iteration, questions, kept, droppedAllRight = "dropped_all_right", droppedAllWrong = "dropped_all_wrong"
        case weightQuantiles = "weight_quantiles", examples, sampledTokens = "sampled_tokens"
        case effectiveSampleSize = "effective_sample_size", entropySplitHalf = "entropy_split_half", points, training
    }

    public var steps: Int { training.count }
    public var meanLoss: Double? { training.isEmpty ? nil : training.map(\.loss).reduce(0, +) / Double(training.count) }

    public func summary(accuracyBefore: Double?, accuracyAfter: Double?) -> String {
        let q = weightQuantiles.map { String(format: "%.3f", $0) }.joined(separator: " / ")
        let accuracy = [accuracyBefore, accuracyAfter].map { $0.map { String(format: "%.1f%%", $0 * 100) } ?? "-" }
        var line = "iteration \(iteration): accuracy \(accuracy[0]) -> \(accuracy[1]); questions \(questions): kept \(kept), "
            + "dropped all-right \(droppedAllRight), all-wrong \(droppedAllWrong); weights min/q1/median/q3/max \(q)"
        if let effectiveSampleSize { line += String(format: " (ESS %.3f)", effectiveSampleSize) }
        if let r = entropySplitHalf { line += String(format: "; entropy split-half r %.2f", r) }
        line += "; \(examples) examples, \(steps) steps, mean loss " + (meanLoss.map { String(format: "%.4f", $0) } ?? "-")
        if let chosen = training.chosenFirstLast {
            line += String(format: "; log-prob of preferred responses %.2f -> %.2f", chosen.first, chosen.last)
            if let rejected = training.rejectedFirstLast { line += String(format: ", of dispreferred %.2f -> %.2f", rejected.first, rejected.last) }
        }
        return line
    }
}

/// A finished run: its spec, every iteration's report, and every policy
/// version's greedy answers on the test set (v0 is the start).
public struct RunOutcome: Sendable {
    public var run: String
    public var spec: RunSpec
    public var iterations: [IterationReport]
    /// Policy version -> one result per test question, in test-set order.
    public var evaluations: [Int: [QuestionResult]]
    /// The prompt format the run used (`PromptFormat.description`).
    public var prompt: String

    public init(run: String, spec: RunSpec, iterations: [IterationReport], evaluations: [Int: [QuestionResult]], prompt: String) {
        (self.run, self.spec, self.iterations, self.evaluations, self.prompt) = (run, spec, iterations, evaluations, prompt)
    }

    /// Policy version -> greedy test accuracy.
    public var accuracy: [Int: Double] {
        evaluations.mapValues { r in r.isEmpty ? 0 : Double(r.filter(\.correct).count) / Double(r.count) }
    }
}
