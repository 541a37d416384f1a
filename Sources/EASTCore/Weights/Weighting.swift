import Foundation

/// Which per-question score becomes the loss weight.
public enum WeightingStrategy: String, CaseIterable, Codable, Sendable {
    /// EAST: the entropy of the answer clusters.
    case entropy
    /// Ablation: `1 - accuracy`.
    case accuracy
    /// Ablation: the share of the most common wrong answer.
    case rejection
    /// Vanilla self-training: every kept question weighs 1.
    case uniform

    public func score(_ stats: QuestionStatistics) -> Double {
        score(entropy: stats.entropy, accuracy: stats.accuracy, dominantIncorrect: stats.dominantIncorrect)
    }

    /// The score from the three statistics (as stored by the clusterer).
    public func score(entropy: Double, accuracy: Double, dominantIncorrect: Double) -> Double {
        switch self {
        case .entropy: return entropy
        case .accuracy: return 1 - accuracy
        case .rejection: return dominantIncorrect
        case .uniform: return 1
        }
    }
}

/// How scores become weights with mean 1.
public enum WeightMapping: Equatable, Sendable {
    /// EAST (eq. 6): `f(s) = s^a * N / sum_i s_i^a`. `a > 0` favours high
    /// scores (uncertain questions), `a < 0` favours low ones.
    case power(exponent: Double)
    /// `f(s) = s / mean(s)`.
    case meanDivision
    /// `f(s) = a s + b` with `a = range / (max - min)`, `b = 1 - a mean`:
    /// weights spread over `range` around a mean of 1.
    case linear(range: Double)
}

public enum WeightError: Error, CustomStringConvertible, Equatable, Sendable {
    case noKeptQuestions
    case linearRangeTooLarge(range: Double, bound: Double)
    case invalidScore(index: Int, score: Double, reason: String)
    case invalidParameter(String)

    public var description: String {
        switch self {
        case .noKeptQuestions:
            return "no question had both right and wrong answers, so there is nothing to weight (N = 0)"
        case let .linearRangeTooLarge(range, bound):
            return "linear mapping range \(range) is too large: weights would go negative; the range must be at most (max-min)/(mean-min) = \(bound)"
        case let .invalidScore(index, score, reason):
            return "score \(score) of question #\(index) is invalid: \(reason)"
        case let .invalidParameter(reason):
            return reason
        }
    }
}

public enum Weights {
    /// Maps the scores of the N kept questions to weights averaging 1.
    public static func map(_ scores: [Double], with mapping: WeightMapping) throws(WeightError) -> [Double] {
        let n = Double(scores.count)
        guard !scores.isEmpty else { throw .noKeptQuestions }
        for (i, s) in scores.enumerated() where !s.isFinite || s < 0 {
            throw .invalidScore(index: i, score: s, reason: "scores must be finite and non-negative")
        }
        // All-equal scores carry no preference: every question weighs 1.
        if scores.allSatisfy({ $0 == scores[0] }) { return scores.map { _ in 1 } }

        switch mapping {
        case let .power(a):
            guard a.isFinite else { throw .invalidParameter("the exponent a must be a finite number, got \(a)") }
            if a < 0, let zero = scores.firstIndex(of: 0) {
                throw .invalidScore(index: zero, score: 0, reason: "a negative exponent (a = \(a)) needs scores above 0")
            }
            let powered = scores.map { pow($0, a) }
            let sum = powered.reduce(0, +)
            guard sum > 0, sum.isFinite else {
                throw .invalidParameter("sum of s^a is \(sum) for a = \(a); choose a smaller |a|")
            }
            return normalizedMean(powered.map { $0 * n / sum })
        case .meanDivision:
            let mean = scores.reduce(0, +) / n
            return normalizedMean(scores.map { $0 / mean })
        case let .linear(range):
            guard range.isFinite, range >= 0 else { throw .invalidParameter("the linear range must be a non-negative number, got \(range)") }
            let lo = scores.min()!, hi = scores.max()!
            let mean = scores.reduce(0, +) / n
            let bound = (hi - lo) / (mean - lo)
            guard range <= bound * (1 + 1e-12) else { throw .linearRangeTooLarge(range: range, bound: bound) }
            let a = range / (hi - lo)
            let b = 1 - a * mean
            return normalizedMean(scores.map { max(0, a * $0 + b) })
        }
    }

    /// Divides out rounding so the mean is 1 to machine precision.
    private static func normalizedMean(_ w: [Double]) -> [Double] {
        let mean = w.reduce(0, +) / Double(w.count)
        return w.map { $0 / mean }
    }

    /// Weights for every question: nil where the question is not kept.
    public static func assign(
        _ stats: [QuestionStatistics], strategy: WeightingStrategy, mapping: WeightMapping
    ) throws(WeightError) -> [Double?] {
        try assign(scores: stats.map(strategy.score), kept: stats.map(\.kept), strategy: strategy, mapping: mapping)
    }

    /// The same from each question's score and whether it is kept.
    public static func assign(
        scores: [Double], kept: [Bool], strategy: WeightingStrategy, mapping: WeightMapping
    ) throws(WeightError) -> [Double?] {
        let keptIndices = kept.indices.filter { kept[$0] }
        guard !keptIndices.isEmpty else { throw .noKeptQuestions }
        let weights: [Double]
        if strategy == .uniform {
            weights = keptIndices.map { _ in 1 }
        } else {
            do {
                weights = try map(keptIndices.map { scores[$0] }, with: mapping)
            } catch {
                guard case let .invalidScore(index, score, reason) = error else { throw error }
                throw .invalidScore(index: keptIndices[index], score: score, reason: reason)
            }
        }
        var out = [Double?](repeating: nil, count: scores.count)
        for (k, i) in keptIndices.enumerated() { out[i] = weights[k] }
        return out
    }
}
