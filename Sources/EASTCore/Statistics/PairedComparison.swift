import Foundation

/// A setting against its baseline on the same questions and seeds.
/// Differences are fractions (0.01 is one point), setting minus baseline.
public struct Comparison: Codable, Equatable, Sendable {
    /// Mean over seeds and questions of `correct(setting) - correct(baseline)`.
    public var difference: Double
    /// Paired bootstrap 95% interval (questions and seeds), `[low, high]`.
    public var ci95: [Double]
    /// Two-sided p-value of the paired sign-flip test, `(k + 1) / (R + 1)`.
    public var pValue: Double
    /// Each seed's mean difference, in the order the runs were given.
    public var seedDifferences: [Double]
    /// Share of (seed, question) pairs where exactly one of the two was right:
    /// the measured input for `Power` when planning the next experiment.
    public var discordantShare: Double
    /// Variance of one seed's mean difference beyond question and run noise
    /// (0 with one seed): with `discordantShare`, the input for `Power`. Few
    /// seeds make it a rough estimate.
    public var seedVariance: Double
    /// With one seed the interval and p-value cover question noise only.
    public var seeds: Int
    public var questions: Int
    public var resamples: Int
    public var permutations: Int
    /// Student's t over the per-seed differences (nil with one seed).
    public var seedLevel: SeedLevelTest?
    /// Which interval governs: the wider of the bootstrap's and the seed
    /// level's (with one seed, the bootstrap's, covering question noise only).
    public var governing: Governing

    public enum Governing: String, Codable, Sendable {
        /// The bootstrap over questions and seeds, with the sign-flip p-value.
        case bootstrap
        /// Student's t over the seeds' differences.
        case seeds
    }

    /// The governing interval and its p-value.
    public var governingCI95: [Double] { governing == .seeds ? seedLevel!.ci95 : ci95 }
    public var governingPValue: Double { governing == .seeds ? seedLevel!.pValue : pValue }

    enum CodingKeys: String, CodingKey {
        case difference, ci95, pValue = "p_value", seedDifferences = "seed_differences", discordantShare = "discordant_share"
        case seedVariance = "seed_variance", seeds, questions, resamples, permutations, seedLevel = "seed_level", governing
    }
}

public enum PairedComparison {
    /// Compares `setting` with `baseline`: `runs[seed][question]` is whether
    /// that run got that question right. Run s of the setting pairs with run s
    /// of the baseline (same seed), and question i with question i.
    ///
    /// The interval is `Bootstrap`'s (questions and seeds resampled) on the
    /// paired differences; the p-value is `signFlipPValue`'s. Both draw from
    /// streams of `seed`, so a report is reproducible from it. Beside them,
    /// Student's t over the per-seed differences; the wider interval governs.
    public static func compare(
        setting: [[Bool]], baseline: [[Bool]],
        resamples: Int = 2000, permutations: Int = 10_000, seed: UInt64
    ) throws(StatisticsError) -> Comparison {
        let differences = try RunMatrix(setting: setting, minus: baseline)
        var bootstrapGenerator = SeededGenerator(seed: seed, stream: 1)
        let ci = try Bootstrap.interval(of: differences, resamples: resamples, generator: &bootstrapGenerator)
        var permutationGenerator = SeededGenerator(seed: seed, stream: 2)
        let p = try signFlipPValue(differences, permutations: permutations, generator: &permutationGenerator)
        let discordant = differences.values.reduce(0) { $0 + ($1 == 0 ? 0 : 1) }
        let seedLevel = SeedLevelTest(seedDifferences: differences.seedMeans)
        let wider = seedLevel.map { $0.ci95[1] - $0.ci95[0] > ci[1] - ci[0] } ?? false
        return Comparison(
            difference: differences.mean, ci95: ci, pValue: p,
            seedDifferences: differences.seedMeans,
            discordantShare: Double(discordant) / Double(differences.values.count),
            seedVariance: Bootstrap.seedVariance(of: differences),
            seeds: differences.seeds, questions: differences.questions,
            resamples: resamples, permutations: permutations, seedLevel: seedLevel, governing: wider ? .seeds : .bootstrap)
    }

    /// Two-sided p-value for "no difference" by random sign flips.
    ///
    /// The unit flipped is a question: under the null, swapping which side
    /// got which result on question i (on all seeds at once) changes nothing,
    /// so question i's summed difference D_i is as likely to be -D_i. The
    /// p-value is the share of flipped totals whose size reaches the observed
    /// one, counting the observed: (k + 1) / (R + 1). Flipping seeds instead
    /// would give only 2^S patterns (8 for 3 seeds), too few for any small p.
    /// So the p-value counts question and run noise; a seed-wide swing shows
    /// only in the interval, which can therefore be the stricter of the two.
    ///
    /// Questions with the same |D_i| are interchangeable, so a flip only needs
    /// how many of each size come out positive: a Binomial(m, 1/2) count,
    /// drawn as the popcount of m random bits. No per-question work per flip.
    static func signFlipPValue(_ differences: RunMatrix, permutations: Int, generator: inout SeededGenerator) throws(StatisticsError) -> Double {
        guard permutations >= 1 else { throw .invalidParameter("permutations must be at least 1, got \(permutations)") }
        let s = differences.seeds
        // countOfSize[v]: questions whose summed difference has size v (1...S).
        var countOfSize = [Int](repeating: 0, count: s + 1)
        var observed = 0
        for sum in differences.questionSums {
            countOfSize[abs(sum)] += 1
            observed += sum
        }
        var reached = 0
        for _ in 0..<permutations {
            var total = 0
            for size in 1...s where countOfSize[size] > 0 {
                let m = countOfSize[size]
                let positive = randomHalfBinomial(m, generator: &generator)
                total += size * (2 * positive - m)
            }
            if abs(total) >= abs(observed) { reached += 1 }
        }
        return Double(reached + 1) / Double(permutations + 1)
    }

    /// A Binomial(m, 1/2) draw: the number of set bits among m random bits.
    static func randomHalfBinomial(_ m: Int, generator: inout SeededGenerator) -> Int {
        var count = 0
        var left = m
        while left >= 64 {
            count += generator.next().nonzeroBitCount
            left -= 64
        }
        if left > 0 { count += (generator.next() >> UInt64(64 - left)).nonzeroBitCount }
        return count
    }

    /// Exact two-sided McNemar test (binomial sign test) for one seed:
    /// `settingOnly` questions only the setting got right, `baselineOnly` the
    /// reverse. Under the null each discordant question goes either way with
    /// probability 1/2, so p = P(|2X - m| >= |b - c|) for X ~ Binomial(m, 1/2),
    /// m = b + c. This is what the sign-flip test estimates for one seed.
    public static func exactMcNemarPValue(settingOnly b: Int, baselineOnly c: Int) throws(StatisticsError) -> Double {
        guard b >= 0, c >= 0 else { throw .invalidParameter("discordant counts must be non-negative, got \(b) and \(c)") }
        let m = b + c
        let low = min(b, c)
        if 2 * low == m { return 1 }
        // P(X <= low), each term C(m, k) / 2^m in logs so large m cannot overflow.
        var tail = 0.0
        for k in 0...low {
            let logTerm = lgamma(Double(m + 1)) - lgamma(Double(k + 1)) - lgamma(Double(m - k + 1)) - Double(m) * log(2.0)
            tail += exp(logTerm)
        }
        return min(1, 2 * tail)
    }
}
