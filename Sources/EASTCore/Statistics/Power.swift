import Foundation

/// How small a difference an experiment can see, before running it.
///
/// The paired difference on n questions and S seeds has standard error
///
///     SE = sqrt(discordantShare / (n S) + seedVariance / S)
///
/// because d = correct(setting) - correct(baseline) is -1, 0 or +1, so
/// var(d) is about the share of discordant questions (exactly so when the
/// true difference is 0). `seedVariance` is what a seed's mean difference
/// varies beyond question and run noise; at 0 (the default) the MDE is a
/// lower bound. A pilot comparison measures both: `Comparison.discordantShare`
/// and `Comparison.seedVariance`.
///
/// At two-sided level alpha and the given power,
///
///     MDE = (z(1 - alpha/2) + z(power)) * SE
///
/// which is (1.96 + 0.84) SE at 5% and 80%. Worked example (the notes):
/// 15% discordant, n = 5,000, S = 3: SE = sqrt(0.15 / 15,000) = 0.0032,
/// MDE = 2.80 x 0.0032 = 0.0089, about 0.9 points.
public enum Power {
    /// The smallest true difference (a fraction) found significant with
    /// probability `power`.
    public static func minimumDetectableDifference(
        questions: Int, seeds: Int, discordantShare: Double, seedVariance: Double = 0,
        alpha: Double = 0.05, power: Double = 0.8
    ) throws(StatisticsError) -> Double {
        guard questions >= 1 else { throw .invalidParameter("questions must be at least 1, got \(questions)") }
        let z = try zSum(seeds: seeds, discordantShare: discordantShare, seedVariance: seedVariance, alpha: alpha, power: power)
        let s = Double(seeds)
        return z * (discordantShare / (Double(questions) * s) + seedVariance / s).squareRoot()
    }

    /// The MDE of the interval that governs a comparison (the wider of the
    /// bootstrap's and the seed level's, see `Comparison.governing`): at S >= 2
    /// seeds, the seed-level t test's,
    ///
    ///     MDE = (t(S - 1, 1 - alpha/2) + t(S - 1, power)) * sqrt((share / n + seedVariance) / S)
    ///
    /// (the usual approximation of a one-sample t test's power), if that is the
    /// larger; with one seed, the bootstrap's (question noise only).
    public static func governingMinimumDetectableDifference(
        questions: Int, seeds: Int, discordantShare: Double, seedVariance: Double = 0,
        alpha: Double = 0.05, power: Double = 0.8
    ) throws(StatisticsError) -> Double {
        let normal = try minimumDetectableDifference(questions: questions, seeds: seeds, discordantShare: discordantShare,
                                                     seedVariance: seedVariance, alpha: alpha, power: power)
        guard seeds >= 2 else { return normal }
        let df = Double(seeds - 1)
        let t = StudentT.quantile(1 - alpha / 2, degreesOfFreedom: df) + StudentT.quantile(power, degreesOfFreedom: df)
        return max(normal, t * ((discordantShare / Double(questions) + seedVariance) / Double(seeds)).squareRoot())
    }

    /// The fewest test questions for which the MDE is at most `target`, or
    /// nil when no question count can reach it with this many seeds (seed
    /// noise alone is too large: add seeds instead).
    public static func questionsNeeded(
        forDifference target: Double, seeds: Int, discordantShare: Double, seedVariance: Double = 0,
        alpha: Double = 0.05, power: Double = 0.8
    ) throws(StatisticsError) -> Int? {
        guard target > 0, target.isFinite else { throw .invalidParameter("the target difference must be above 0, got \(target)") }
        let z = try zSum(seeds: seeds, discordantShare: discordantShare, seedVariance: seedVariance, alpha: alpha, power: power)
        let s = Double(seeds)
        // Solve z^2 (share / (n S) + seedVariance / S) <= target^2 for n.
        let room = target * target / (z * z) - seedVariance / s
        guard room > 0 else { return nil }
        var n = Int((discordantShare / (s * room)).rounded(.up))
        n = max(n, 1)
        // Guard against the last bit of rounding: the answer must reach the target.
        while try minimumDetectableDifference(questions: n, seeds: seeds, discordantShare: discordantShare,
                                              seedVariance: seedVariance, alpha: alpha, power: power) > target {
            n += 1
        }
        return n
    }

    /// The fewest test questions (up to `limit`) for which the governing MDE
    /// is at most `target`, or nil when none reaches it (the seeds' spread
    /// alone is too wide): by bisection, as the MDE falls with the questions.
    public static func governingQuestionsNeeded(
        forDifference target: Double, seeds: Int, discordantShare: Double, seedVariance: Double = 0, limit: Int = 10_000_000
    ) throws(StatisticsError) -> Int? {
        func mde(_ n: Int) throws(StatisticsError) -> Double {
            try governingMinimumDetectableDifference(questions: n, seeds: seeds, discordantShare: discordantShare, seedVariance: seedVariance)
        }
        guard try mde(limit) <= target else { return nil }
        var (low, high) = (1, limit)
        while low < high {
            let mid = (low + high) / 2
            if try mde(mid) <= target { high = mid } else { low = mid + 1 }
        }
        return low
    }

    /// The discordant share to assume from the baseline's accuracy p alone,
    /// if both settings sit near p and their per-question results correlate
    /// by `correlation`: 2 p (1 - p) (1 - correlation). Correlation 0
    /// (independent errors) is the pessimistic bound; Miller (2024) reports
    /// 0.3-0.7 between models. Prefer `Comparison.discordantShare` from a pilot.
    public static func discordantShare(baselineAccuracy p: Double, correlation: Double = 0) throws(StatisticsError) -> Double {
        guard p >= 0, p <= 1 else { throw .invalidParameter("the baseline accuracy must be in [0, 1], got \(p)") }
        guard correlation >= -1, correlation <= 1 else { throw .invalidParameter("the correlation must be in [-1, 1], got \(correlation)") }
        return 2 * p * (1 - p) * (1 - correlation)
    }

    /// z(1 - alpha/2) + z(power), after checking the shared parameters.
    private static func zSum(seeds: Int, discordantShare: Double, seedVariance: Double, alpha: Double, power: Double) throws(StatisticsError) -> Double {
        guard seeds >= 1 else { throw .invalidParameter("seeds must be at least 1, got \(seeds)") }
        guard discordantShare > 0, discordantShare <= 1 else {
            throw .invalidParameter("the discordant share must be in (0, 1], got \(discordantShare)")
        }
        guard seedVariance >= 0, seedVariance.isFinite else { throw .invalidParameter("the seed variance must be finite and at least 0, got \(seedVariance)") }
        guard alpha > 0, alpha < 1 else { throw .invalidParameter("alpha must be in (0, 1), got \(alpha)") }
        guard power > 0, power < 1 else { throw .invalidParameter("power must be in (0, 1), got \(power)") }
        return normalQuantile(1 - alpha / 2) + normalQuantile(power)
    }

    /// The standard normal quantile by bisection on the CDF: slow next to a
    /// rational approximation, but plain, and accurate to about 1e-12 here.
    static func normalQuantile(_ p: Double) -> Double {
        var low = -40.0
        var high = 40.0
        for _ in 0..<100 {
            let mid = (low + high) / 2
            if 0.5 * erfc(-mid / 2.0.squareRoot()) < p { low = mid } else { high = mid }
        }
        return (low + high) / 2
    }
}
