import Foundation

/// Student's t distribution, for intervals over few seeds: with S per-seed
/// differences the mean's interval is mean +- t(S - 1) sd / sqrt(S), and t
/// is 12.71 at S = 2, 4.30 at S = 3, 2.78 at S = 5 (the normal's 1.96 only
/// as S grows): three seeds say little about the spread between seeds.
public enum StudentT {
    /// P(T <= t) for T with `df` degrees of freedom.
    public static func cdf(_ t: Double, degreesOfFreedom df: Double) -> Double {
        precondition(df > 0, "degrees of freedom must be positive")
        guard t.isFinite else { return t > 0 ? 1 : 0 }
        // The tail beyond |t| is half the regularized incomplete beta I_x(df/2, 1/2) at x = df / (df + t^2).
        let tail = 0.5 * regularizedIncompleteBeta(df / (df + t * t), df / 2, 0.5)
        return t >= 0 ? 1 - tail : tail
    }

    /// The t with P(T <= t) = p, by bisection on `cdf` (plain, and accurate to
    /// about 1e-12, like `Power.normalQuantile`).
    public static func quantile(_ p: Double, degreesOfFreedom df: Double) -> Double {
        precondition(p > 0 && p < 1, "p must be in (0, 1)")
        var low = -1e6, high = 1e6
        for _ in 0..<200 {
            let mid = (low + high) / 2
            if cdf(mid, degreesOfFreedom: df) < p { low = mid } else { high = mid }
        }
        return (low + high) / 2
    }

    /// I_x(a, b) by its continued fraction (Lentz's method), used on the side
    /// where it converges fast.
    static func regularizedIncompleteBeta(_ x: Double, _ a: Double, _ b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logGammas: Double = lgamma(a + b) - lgamma(a) - lgamma(b)
        let logPowers: Double = a * log(x) + b * log(1 - x)
        let logFront = logGammas + logPowers
        if x > (a + 1) / (a + b + 2) { return 1 - regularizedIncompleteBeta(1 - x, b, a) }
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var f = d
        for m in 1...500 {
            let m = Double(m)
            // Even step.
            let evenDenominator: Double = (a + 2 * m - 1) * (a + 2 * m)
            var numerator: Double = m * (b - m) * x / evenDenominator
            d = 1 + numerator * d
            if abs(d) < tiny { d = tiny }
            c = 1 + numerator / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            f *= d * c
            // Odd step.
            let oddDenominator: Double = (a + 2 * m) * (a + 2 * m + 1)
            numerator = -(a + m) * (a + b + m) * x / oddDenominator
            d = 1 + numerator * d
            if abs(d) < tiny { d = tiny }
            c = 1 + numerator / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            f *= delta
            if abs(delta - 1) < 1e-15 { break }
        }
        return exp(logFront) * f / a
    }
}

/// The seed-level view of a comparison: each seed's mean paired difference
/// is one observation, and the interval and test are Student's t over them.
/// It counts seed-to-seed spread at its face value, where the bootstrap over
/// questions and seeds under-covers with few seeds (88% at 3 seeds in a
/// simulation where seeds dominated); it does not count what all seeds share
/// (the particular test questions), which the bootstrap does.
public struct SeedLevelTest: Codable, Equatable, Sendable {
    public var mean: Double
    /// mean +- t(S - 1, 0.975) sd / sqrt(S).
    public var ci95: [Double]
    /// Two-sided one-sample t test of a mean of 0.
    public var pValue: Double
    public var seeds: Int

    enum CodingKeys: String, CodingKey { case mean, ci95, pValue = "p_value", seeds }

    /// nil for fewer than two seeds (no spread to measure).
    public init?(seedDifferences d: [Double]) {
        let s = d.count
        guard s >= 2 else { return nil }
        let mean = d.reduce(0, +) / Double(s)
        let sd = (d.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(s - 1)).squareRoot()
        let se = sd / Double(s).squareRoot()
        let df = Double(s - 1)
        let t = StudentT.quantile(0.975, degreesOfFreedom: df)
        self.mean = mean
        ci95 = [mean - t * se, mean + t * se]
        if se > 0 {
            pValue = min(1, 2 * StudentT.cdf(-abs(mean) / se, degreesOfFreedom: df))
        } else {
            pValue = mean == 0 ? 1 : 0
        }
        seeds = s
    }
}
