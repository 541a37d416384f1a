/// A setting's accuracy over its seeds, with a 95% interval that counts both
/// the finite test set and the seeds. Fractions, not percent.
public struct AccuracyEstimate: Codable, Equatable, Sendable {
    /// Mean accuracy over all seeds and questions.
    public var mean: Double
    /// Percentile bootstrap 95% interval, `[low, high]`.
    public var ci95: [Double]
    /// Each seed's accuracy, in the order the runs were given.
    public var seedMeans: [Double]
    /// With one seed the interval covers question noise only.
    public var seeds: Int
    public var questions: Int
    public var resamples: Int

    enum CodingKeys: String, CodingKey { case mean, ci95, seedMeans = "seed_means", seeds, questions, resamples }
}

/// The bootstrap behind every interval here, for results crossed by
/// question and seed (question i is the same question in every run).
///
/// One resample draws n questions with replacement and takes each drawn
/// question with all its seeds (questions are clusters across seeds): that
/// carries question noise and run-to-run noise. Seeds also vary as a whole
/// (one training run is luckier overall), so the resample also draws S seeds
/// with replacement and adds the mean of their effects.
///
/// Redrawing raw seed means would count run noise twice: a seed's mean holds
/// run noise / n, which the question draws already carry. (That crossed
/// "pigeonhole" bootstrap covered 98-99% for a nominal 95% in our
/// simulations.) So a seed's effect is its deviation from the grand mean,
/// scaled down to the seed variance left once run noise is taken out
/// (two-way analysis of variance without replication).
///
/// With one seed the interval covers question noise only. With few seeds
/// (3) the seed part is rough: where seeds dominate, expect a little under 95%.
public enum Bootstrap {
    /// Accuracy of a setting: `runs[seed][question]` is whether that run got
    /// that question right. Needs one run per seed, all on the same questions.
    public static func accuracy(of runs: [[Bool]], resamples: Int = 2000, seed: UInt64) throws(StatisticsError) -> AccuracyEstimate {
        let matrix = try RunMatrix(runs: runs, role: "runs")
        var generator = SeededGenerator(seed: seed, stream: 0)
        let ci = try interval(of: matrix, resamples: resamples, generator: &generator)
        return AccuracyEstimate(
            mean: matrix.mean, ci95: ci, seedMeans: matrix.seedMeans,
            seeds: matrix.seeds, questions: matrix.questions, resamples: resamples)
    }

    /// The percentile 95% interval of the mean of `matrix`.
    ///
    /// Cost is resamples x (questions + seeds) and no allocation inside the
    /// loop: a question's values are summed over seeds once, up front, and a
    /// resample's question total is an integer sum, divided once at the end.
    static func interval(of matrix: RunMatrix, resamples: Int, generator: inout SeededGenerator) throws(StatisticsError) -> [Double] {
        guard resamples >= 1 else { throw .invalidParameter("resamples must be at least 1, got \(resamples)") }
        let n = matrix.questions
        let s = matrix.seeds
        let questionSums = matrix.questionSums
        let effects = seedEffects(of: matrix)
        var means = [Double](repeating: 0, count: resamples)
        for r in 0..<resamples {
            var total = 0
            for _ in 0..<n { total += questionSums[generator.nextIndex(below: n)] }
            var mean = Double(total) / Double(n * s)
            if s > 1 {
                var effect = 0.0
                for _ in 0..<s { effect += effects[generator.nextIndex(below: s)] }
                mean += effect / Double(s)
            }
            means[r] = mean
        }
        means.sort()
        return [quantile(ofSorted: means, 0.025), quantile(ofSorted: means, 0.975)]
    }

    /// Each seed's effect: its mean minus the grand mean, scaled so that
    /// their mean square is `seedVariance(of:)`. Drawing S of them with
    /// replacement then gives their mean a variance of seedVariance / S, the
    /// seeds' share of the total.
    static func seedEffects(of matrix: RunMatrix) -> [Double] {
        let s = matrix.seeds
        guard s > 1 else { return [0] }
        let grand = matrix.mean
        let deviations = matrix.seedMeans.map { $0 - grand }
        let squares = deviations.reduce(0) { $0 + $1 * $1 }
        guard squares > 0 else { return deviations.map { _ in 0 } }
        let scale = (seedVariance(of: matrix) * Double(s) / squares).squareRoot()
        return deviations.map { $0 * scale }
    }

    /// How much a seed's mean varies beyond question and run noise (0 for
    /// one seed, and when run noise explains all the spread).
    ///
    /// The spread of seed means, sum (m_s - m)^2 / (S - 1), estimates
    /// seedVariance + residual / n, where the residual is what is left of a
    /// value once its question's and its seed's means are taken out.
    static func seedVariance(of matrix: RunMatrix) -> Double {
        let n = matrix.questions
        let s = matrix.seeds
        guard s > 1 else { return 0 }
        let grand = matrix.mean
        let seedMeans = matrix.seedMeans
        let questionSums = matrix.questionSums
        var residualSquares = 0.0
        for q in 0..<n {
            let questionMean = Double(questionSums[q]) / Double(s)
            for k in 0..<s {
                let residual = Double(matrix.values[q * s + k]) - questionMean - seedMeans[k] + grand
                residualSquares += residual * residual
            }
        }
        // One question leaves no degrees of freedom to tell run noise from seeds.
        let residualVariance = n > 1 ? residualSquares / Double((n - 1) * (s - 1)) : 0
        let spread = seedMeans.reduce(0) { $0 + ($1 - grand) * ($1 - grand) } / Double(s - 1)
        return max(0, spread - residualVariance / Double(n))
    }

    /// The q-quantile of sorted values, interpolating linearly between the
    /// two nearest ranks (the common "type 7" definition).
    static func quantile(ofSorted sorted: [Double], _ q: Double) -> Double {
        let position = q * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        let fraction = position - Double(lower)
        return sorted[lower] + fraction * (sorted[upper] - sorted[lower])
    }
}

extension SeededGenerator {
    /// A uniform index in `0..<bound`: the high word of a 64 x 64-bit product
    /// (Lemire's method without the rejection step; its bias, under
    /// bound / 2^64, is far below anything a resample can show). Much
    /// cheaper than `Int.random(in:using:)` in a debug build.
    mutating func nextIndex(below bound: Int) -> Int {
        Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }
}
