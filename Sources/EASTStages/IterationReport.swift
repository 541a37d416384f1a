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
    public var sampledTokens: Int?
    /// Every question's entropy, accuracy, R and weight, in question order.
    public var points: [QuestionPoint]
    /// Training: optimizer steps and their mean loss (nil until trained).
    public var steps: Int?
    public var meanLoss: Double?

    public func summary(accuracyBefore: Double?, accuracyAfter: Double?) -> String {
        let q = weightQuantiles.map { String(format: "%.3f", $0) }.joined(separator: " / ")
        let accuracy = [accuracyBefore, accuracyAfter].map { $0.map { String(format: "%.1f%%", $0 * 100) } ?? "-" }
        return "iteration \(iteration): accuracy \(accuracy[0]) -> \(accuracy[1]); questions \(questions): kept \(kept), "
            + "dropped all-right \(droppedAllRight), all-wrong \(droppedAllWrong); weights min/q1/median/q3/max \(q); "
            + "\(examples) examples, \(steps.map(String.init) ?? "-") steps, mean loss " + (meanLoss.map { String(format: "%.4f", $0) } ?? "-")
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

    public init(run: String, spec: RunSpec, iterations: [IterationReport], evaluations: [Int: [QuestionResult]]) {
        (self.run, self.spec, self.iterations, self.evaluations) = (run, spec, iterations, evaluations)
    }

    /// Policy version -> greedy test accuracy.
    public var accuracy: [Int: Double] {
        evaluations.mapValues { r in r.isEmpty ? 0 : Double(r.filter(\.correct).count) / Double(r.count) }
    }
}
