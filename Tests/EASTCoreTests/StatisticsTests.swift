import Foundation
@testable import EASTCore
import Testing

private let T = true
private let F = false

@Suite struct PairedComparisonTests {
    // Seed 0, ten questions:
    //   setting   T T F T T F T F T T   (7 right)
    //   baseline  T F F T F T T F F T   (5 right)
    //   d         0 + 0 0 + - 0 0 + 0   sum +2, mean 0.2; b = 3, c = 1
    // Seed 1:
    //   setting   T T T T F F F F T T
    //   baseline  T T T F F F F T T T
    //   d         0 0 0 + 0 0 0 - 0 0   sum 0, mean 0.0; b = 1, c = 1
    // Both seeds: (2 + 0) / 20 = 0.1; discordant 6 of 20 = 0.3.
    static let setting0: [Bool] = [T, T, F, T, T, F, T, F, T, T]
    static let baseline0: [Bool] = [T, F, F, T, F, T, T, F, F, T]
    static let setting1: [Bool] = [T, T, T, T, F, F, F, F, T, T]
    static let baseline1: [Bool] = [T, T, T, F, F, F, F, T, T, T]

    @Test func pairedDifferenceByHand() throws {
        let one = try PairedComparison.compare(setting: [Self.setting0], baseline: [Self.baseline0], seed: 1)
        #expect(abs(one.difference - 0.2) < 1e-12)
        #expect(abs(one.discordantShare - 0.4) < 1e-12)
        #expect(one.seeds == 1 && one.questions == 10)
        #expect(one.ci95[0] <= 0.2 && 0.2 <= one.ci95[1])

        let two = try PairedComparison.compare(
            setting: [Self.setting0, Self.setting1], baseline: [Self.baseline0, Self.baseline1], seed: 1)
        #expect(abs(two.difference - 0.1) < 1e-12)
        #expect(zip(two.seedDifferences, [0.2, 0.0]).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(abs(two.discordantShare - 0.3) < 1e-12)
        // Residuals (d - question mean - seed mean + 0.1) square to 2.8 over
        // 9 degrees of freedom; residual / n = 0.031 exceeds the spread of seed
        // means, (0.1^2 + 0.1^2) / 1 = 0.02, so no seed variance is left.
        #expect(two.seedVariance == 0)
        #expect(two.seeds == 2 && two.questions == 10)
        #expect(two.resamples == 2000 && two.permutations == 10_000)
    }

    @Test func symmetricDiscordanceGivesPOfOne() throws {
        // Three questions only the setting got, three only the baseline got:
        // every sign flip's |total| reaches the observed 0, so k = R and p = 1.
        let setting: [Bool] = [T, T, T, F, F, F, T, F]
        let baseline: [Bool] = [F, F, F, T, T, T, T, F]
        let c = try PairedComparison.compare(setting: [setting], baseline: [baseline], seed: 3)
        #expect(c.difference == 0)
        #expect(c.pValue == 1)
        #expect(try PairedComparison.exactMcNemarPValue(settingOnly: 3, baselineOnly: 3) == 1)
    }

    @Test func signFlipMatchesExactMcNemarForOneSeed() throws {
        // b = 5, c = 1 among 20 questions: X ~ Binomial(6, 1/2), observed
        // |b - c| = 4, p = P(X in {0, 1, 5, 6}) = (1 + 6 + 6 + 1) / 64 = 0.21875.
        var setting = [Bool](repeating: T, count: 20)
        var baseline = [Bool](repeating: T, count: 20)
        for i in 0..<5 { baseline[i] = F }
        setting[5] = F
        #expect(abs(try PairedComparison.exactMcNemarPValue(settingOnly: 5, baselineOnly: 1) - 14.0 / 64) < 1e-12)
        let c = try PairedComparison.compare(setting: [setting], baseline: [baseline], permutations: 20_000, seed: 5)
        // Monte Carlo standard error sqrt(0.22 x 0.78 / 20,000) = 0.003.
        #expect(abs(c.pValue - 14.0 / 64) < 0.012)
        // And the hand case above: b = 3, c = 1, p = P(X in {0, 1, 3, 4}) = 10/16.
        #expect(abs(try PairedComparison.exactMcNemarPValue(settingOnly: 3, baselineOnly: 1) - 10.0 / 16) < 1e-12)
        #expect(try PairedComparison.exactMcNemarPValue(settingOnly: 0, baselineOnly: 0) == 1)
    }

    @Test func signFlipMatchesFullEnumerationWithSeveralSeeds() throws {
        // Two seeds; per-question summed differences D = [+2, +2, -1, +1, 0, 0]:
        // observed total 4. Enumerate all 2^4 sign patterns of the nonzero D.
        let setting: [[Bool]] = [[T, T, F, T, T, F], [T, T, F, F, F, T]]
        let baseline: [[Bool]] = [[F, F, F, F, T, F], [F, F, T, F, F, T]]
        let d = [2, 2, -1, 1]
        var reached = 0
        for pattern in 0..<16 {
            var total = 0
            for (i, v) in d.enumerated() { total += (pattern >> i) & 1 == 1 ? v : -v }
            if abs(total) >= 4 { reached += 1 }
        }
        let exact = Double(reached) / 16  // patterns with |total| >= 4: 6 of 16
        #expect(reached == 6)
        let c = try PairedComparison.compare(setting: setting, baseline: baseline, permutations: 20_000, seed: 9)
        #expect(abs(c.difference - 4.0 / 12) < 1e-12)
        #expect(abs(c.pValue - exact) < 0.012)
    }

    @Test func intervalMatchesTheNormalFormulaAtFullSize() throws {
        // 5,000 questions, 3 identical seeds: 400 only the setting got, 300
        // only the baseline. Mean d = 100 / 5,000 = 0.02, var(d) = 0.14 - 0.02^2
        // = 0.1396, SE = sqrt(0.1396 / 5,000) = 0.005284, so the interval is
        // about 0.02 +- 1.96 x 0.005284 = [0.00964, 0.03036]. Identical seeds
        // add no seed variance. Also the runtime case: 2,000 x 5,000 x 3.
        var setting = [Bool](repeating: F, count: 5000)
        var baseline = [Bool](repeating: F, count: 5000)
        for i in 0..<400 { setting[i] = T }
        for i in 400..<700 { baseline[i] = T }
        for i in 700..<3000 { setting[i] = T; baseline[i] = T }
        let c = try PairedComparison.compare(
            setting: [setting, setting, setting], baseline: [baseline, baseline, baseline], seed: 2024)
        #expect(abs(c.difference - 0.02) < 1e-12)
        #expect(abs(c.ci95[0] - 0.00964) < 0.0012)
        #expect(abs(c.ci95[1] - 0.03036) < 0.0012)
        #expect(c.pValue < 0.001)
        #expect(c.seeds == 3 && c.questions == 5000)
    }

    @Test func bootstrapIntervalCoversTheTrueDifferenceAtAboutTheNominalRate() throws {
        // 200 synthetic experiments with a known truth. Each draws a test set
        // of 100 questions (difficulty, and the setting's gain on that
        // question, mean 0.05) and 3 seeds (each shifting the setting by up to
        // +-2 points); then every answer is a coin with that question's
        // probability. The true difference over questions and seeds is 0.05,
        // the baseline's true accuracy 0.5. Both rates came out 0.95; the
        // crossed bootstrap that redraws raw seed means gave 0.99 here.
        let experiments = 200
        let n = 100
        let seeds = 3
        var g = SeededGenerator(seed: 13)
        var differenceCovered = 0
        var accuracyCovered = 0
        for experiment in 0..<experiments {
            var difficulty = [Double]()
            var gain = [Double]()
            for _ in 0..<n {
                difficulty.append(0.2 + 0.6 * g.nextUnitDouble())
                gain.append(-0.05 + 0.2 * g.nextUnitDouble())
            }
            var setting = [[Bool]]()
            var baseline = [[Bool]]()
            for _ in 0..<seeds {
                let shift = -0.02 + 0.04 * g.nextUnitDouble()
                var a = [Bool]()
                var b = [Bool]()
                for q in 0..<n {
                    a.append(g.nextUnitDouble() < difficulty[q] + gain[q] + shift)
                    b.append(g.nextUnitDouble() < difficulty[q])
                }
                setting.append(a)
                baseline.append(b)
            }
            let c = try PairedComparison.compare(
                setting: setting, baseline: baseline, permutations: 1, seed: UInt64(experiment))
            if c.ci95[0] <= 0.05 && 0.05 <= c.ci95[1] { differenceCovered += 1 }
            let accuracy = try Bootstrap.accuracy(of: baseline, resamples: 500, seed: UInt64(experiment))
            if accuracy.ci95[0] <= 0.5 && 0.5 <= accuracy.ci95[1] { accuracyCovered += 1 }
        }
        let differenceRate = Double(differenceCovered) / Double(experiments)
        let accuracyRate = Double(accuracyCovered) / Double(experiments)
        #expect(differenceRate >= 0.90 && differenceRate <= 0.99, "difference coverage \(differenceRate)")
        #expect(accuracyRate >= 0.90 && accuracyRate <= 0.99, "accuracy coverage \(accuracyRate)")
    }

    @Test func sameSeedSameResult() throws {
        let setting = [Self.setting0, Self.setting1]
        let baseline = [Self.baseline0, Self.baseline1]
        let a = try PairedComparison.compare(setting: setting, baseline: baseline, seed: 42)
        let b = try PairedComparison.compare(setting: setting, baseline: baseline, seed: 42)
        #expect(a == b)
        let other = try PairedComparison.compare(setting: setting, baseline: baseline, seed: 43)
        #expect(other.pValue != a.pValue)
        let x = try Bootstrap.accuracy(of: setting, seed: 42)
        #expect(x == (try Bootstrap.accuracy(of: setting, seed: 42)))
    }

    @Test func resultsRoundTripThroughJSON() throws {
        let c = try PairedComparison.compare(setting: [Self.setting0], baseline: [Self.baseline0], seed: 1)
        let decoded = try JSONDecoder().decode(Comparison.self, from: JSONEncoder().encode(c))
        #expect(decoded == c)
        let a = try Bootstrap.accuracy(of: [Self.setting0], seed: 1)
        #expect(try JSONDecoder().decode(AccuracyEstimate.self, from: JSONEncoder().encode(a)) == a)
    }

    @Test func badInputsThrowNamingTheProblem() {
        #expect(throws: StatisticsError.noRuns(role: "setting")) {
            try PairedComparison.compare(setting: [], baseline: [[T]], seed: 0)
        }
        #expect(throws: StatisticsError.noRuns(role: "baseline")) {
            try PairedComparison.compare(setting: [[T]], baseline: [], seed: 0)
        }
        #expect(throws: StatisticsError.noQuestions(role: "setting")) {
            try PairedComparison.compare(setting: [[]], baseline: [[]], seed: 0)
        }
        #expect(throws: StatisticsError.questionCountMismatch(role: "setting", seedIndex: 1, expected: 2, found: 1)) {
            try PairedComparison.compare(setting: [[T, F], [T]], baseline: [[T, F], [T, F]], seed: 0)
        }
        #expect(throws: StatisticsError.questionCountMismatch(role: "baseline", seedIndex: 0, expected: 2, found: 3)) {
            try PairedComparison.compare(setting: [[T, F]], baseline: [[T, F, F]], seed: 0)
        }
        #expect(throws: StatisticsError.seedCountMismatch(setting: 2, baseline: 1)) {
            try PairedComparison.compare(setting: [[T], [F]], baseline: [[T]], seed: 0)
        }
        #expect(throws: StatisticsError.self) {
            try PairedComparison.compare(setting: [[T]], baseline: [[F]], resamples: 0, seed: 0)
        }
        #expect(throws: StatisticsError.self) {
            try PairedComparison.compare(setting: [[T]], baseline: [[F]], permutations: 0, seed: 0)
        }
        #expect(throws: StatisticsError.noRuns(role: "runs")) { try Bootstrap.accuracy(of: [], seed: 0) }
        #expect(StatisticsError.seedCountMismatch(setting: 3, baseline: 2).description.contains("3 seeds"))
    }
}

@Suite struct AccuracyEstimateTests {
    @Test func accuracyByHand() throws {
        // Seed 0: 2 of 4 right, seed 1: 1 of 4: mean 3/8.
        let a = try Bootstrap.accuracy(of: [[T, T, F, F], [T, F, F, F]], seed: 7)
        #expect(abs(a.mean - 0.375) < 1e-12)
        #expect(a.seedMeans == [0.5, 0.25])
        #expect(a.seeds == 2 && a.questions == 4 && a.resamples == 2000)
        #expect(a.ci95[0] >= 0 && a.ci95[0] <= a.mean && a.mean <= a.ci95[1] && a.ci95[1] <= 1)
    }

    @Test func seedEffectsLeaveOutRunNoiseByHand() throws {
        // seed 0: T T T F (0.75), seed 1: T F F F (0.25), grand mean 0.5.
        // Every residual y - questionMean - seedMean + 0.5 is +-0.25, so the
        // residual variance is 8 x 0.0625 / ((4 - 1)(2 - 1)) = 1/6. Spread of
        // seed means: 2 x 0.25^2 / 1 = 0.125; seed variance 0.125 - (1/6) / 4
        // = 1/12; scale sqrt((1/12) x 2 / 0.125) = sqrt(4/3): effects
        // +-0.25 sqrt(4/3) = +-0.288675.
        let matrix = try RunMatrix(runs: [[T, T, T, F], [T, F, F, F]], role: "runs")
        #expect(abs(Bootstrap.seedVariance(of: matrix) - 1.0 / 12) < 1e-12)
        let effects = Bootstrap.seedEffects(of: matrix)
        #expect(abs(effects[0] - 0.25 * (4.0 / 3).squareRoot()) < 1e-12)
        #expect(abs(effects[1] + 0.25 * (4.0 / 3).squareRoot()) < 1e-12)
        // Equal seed means: no seed effect at all; one seed: none either.
        #expect(Bootstrap.seedEffects(of: try RunMatrix(runs: [[T, F], [F, T]], role: "runs")) == [0, 0])
        #expect(Bootstrap.seedEffects(of: try RunMatrix(runs: [[T, F]], role: "runs")) == [0])
    }

    @Test func oneSeedIntervalMatchesTheBinomialFormula() throws {
        // 900 of 2,000 right: 0.45 +- 1.96 sqrt(0.45 x 0.55 / 2,000) = 0.45 +- 0.0218.
        let run = (0..<2000).map { $0 < 900 }
        let a = try Bootstrap.accuracy(of: [run], seed: 11)
        #expect(abs(a.ci95[0] - 0.4282) < 0.003)
        #expect(abs(a.ci95[1] - 0.4718) < 0.003)
    }
}

@Suite struct PowerTests {
    @Test func normalQuantiles() {
        #expect(abs(Power.normalQuantile(0.975) - 1.959964) < 1e-6)
        #expect(abs(Power.normalQuantile(0.8) - 0.841621) < 1e-6)
        #expect(abs(Power.normalQuantile(0.5)) < 1e-9)
    }

    @Test func notesWorkedExample() throws {
        // 15% discordant, n = 5,000, S = 3: SE = sqrt(0.15 / 15,000) = 0.003162,
        // MDE = (1.959964 + 0.841621) x 0.003162 = 0.008859, about 0.9 points.
        let mde = try Power.minimumDetectableDifference(questions: 5000, seeds: 3, discordantShare: 0.15)
        #expect(abs(mde - 0.008859) < 2e-6)
        #expect((mde * 1000).rounded() / 10 == 0.9)
        // Seed noise of its own only raises it.
        let noisy = try Power.minimumDetectableDifference(questions: 5000, seeds: 3, discordantShare: 0.15, seedVariance: 1e-5)
        #expect(noisy > mde)
    }

    @Test func questionsNeededForOnePoint() throws {
        // n = 2.801585^2 x 0.15 / (3 x 0.01^2) = 3,924.4, so 3,925 questions.
        let n = try #require(try Power.questionsNeeded(forDifference: 0.01, seeds: 3, discordantShare: 0.15))
        #expect(n == 3925)
        #expect(try Power.minimumDetectableDifference(questions: n, seeds: 3, discordantShare: 0.15) <= 0.01)
        #expect(try Power.minimumDetectableDifference(questions: n - 1, seeds: 3, discordantShare: 0.15) > 0.01)
        // Seed noise alone above the target: no test set is big enough.
        #expect(try Power.questionsNeeded(forDifference: 0.01, seeds: 3, discordantShare: 0.15, seedVariance: 1e-4) == nil)
    }

    @Test func discordantShareFromTheBaselineAccuracy() throws {
        // 2 p (1 - p) (1 - rho): p = 0.45 -> 0.495 if independent, 0.2475 at rho = 0.5.
        #expect(abs(try Power.discordantShare(baselineAccuracy: 0.45) - 0.495) < 1e-12)
        #expect(abs(try Power.discordantShare(baselineAccuracy: 0.45, correlation: 0.5) - 0.2475) < 1e-12)
        #expect(throws: StatisticsError.self) { try Power.discordantShare(baselineAccuracy: 1.5) }
        #expect(throws: StatisticsError.self) {
            try Power.minimumDetectableDifference(questions: 0, seeds: 3, discordantShare: 0.15)
        }
        #expect(throws: StatisticsError.self) {
            try Power.minimumDetectableDifference(questions: 100, seeds: 0, discordantShare: 0.15)
        }
        #expect(throws: StatisticsError.self) {
            try Power.questionsNeeded(forDifference: 0, seeds: 3, discordantShare: 0.15)
        }
    }
}

@Suite struct HolmTests {
    @Test func holmByHand() throws {
        // Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06,
        // 0.04 x 1 = 0.04 -> kept non-decreasing: 0.06.
        let adjusted = try Holm.adjust([0.01, 0.04, 0.03, 0.005])
        #expect(zip(adjusted, [0.03, 0.06, 0.06, 0.02]).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(try Holm.adjust([0.5, 0.9]) == [1, 1])
        #expect(try Holm.adjust([]) == [])
        #expect(throws: StatisticsError.self) { try Holm.adjust([0.1, .nan]) }
    }
}

/// Student's t, the seed-level interval and the interval that governs.
@Suite struct FewSeedsTests {
    @Test func studentTByHand() {
        // df = 1 is Cauchy: P(T <= 1) = 3/4. df = 2 has a closed form: P(T <= t) = 1/2 + t / (2 sqrt(2 + t^2)).
        #expect(abs(StudentT.cdf(1, degreesOfFreedom: 1) - 0.75) < 1e-12)
        for t in [-3.0, -0.5, 0, 0.7, 4.303] {
            #expect(abs(StudentT.cdf(t, degreesOfFreedom: 2) - (0.5 + t / (2 * (2 + t * t).squareRoot()))) < 1e-12)
        }
        // Table values: t(0.975) for 1, 2, 4, 9 degrees of freedom; t(0.8) for 2; and the normal's 1.96 for many.
        for (df, p, t) in [(1.0, 0.975, 12.7062), (2, 0.975, 4.3027), (4, 0.975, 2.7764), (9, 0.975, 2.2622), (2, 0.8, 1.0607), (1e6, 0.975, 1.96)] {
            #expect(abs(StudentT.quantile(p, degreesOfFreedom: df) - t) < 1e-4, "t(\(p), \(df))")
        }
    }

    @Test func seedLevelIntervalByHand() throws {
        // The DPO seeds of the embedded default's first Table 1: +0.35, +2.0, +3.85 points.
        // mean 2.0667, sd 1.7502, se 1.0105; t(2) = 4.3027: [-2.28, +6.41]; t = 2.0452, p = 0.177.
        let test = try #require(SeedLevelTest(seedDifferences: [0.0035, 0.02, 0.0385]))
        #expect(abs(test.mean - 0.020667) < 1e-6)
        #expect(abs(test.ci95[0] + 0.02281) < 1e-4 && abs(test.ci95[1] - 0.06414) < 1e-4)
        #expect(abs(test.pValue - 0.1774) < 1e-3)
        #expect(SeedLevelTest(seedDifferences: [0.01]) == nil)
    }

    /// Seeded simulations of experiments whose true difference is 0: 2,000
    /// questions, 3 seeds, a tenth of the answers discordant, and each seed
    /// shifting the difference by a normal amount with sd 1.75 points (seeds
    /// dominate) or 0.25 points (questions dominate). The interval that
    /// governs (the wider) covers 0 at least 93% of the time in both; the
    /// bootstrap alone under-covers where seeds dominate.
    @Test(arguments: [1.75, 0.25])
    func governingIntervalCoversWithFewSeeds(seedSD: Double) throws {
        let experiments = seedSD == 1.75 ? 1000 : 300, questions = 2000, seeds = 3, discordant = 0.10
        var g = SeededGenerator(seed: seedSD == 1.75 ? 175 : 25)
        func normal() -> Double {  // Box-Muller
            let u = max(1e-12, g.nextUnitDouble()), v = g.nextUnitDouble()
            return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
        var governing = 0, bootstrap = 0
        for experiment in 0..<experiments {
            var setting = [[Bool]](), baseline = [[Bool]]()
            for _ in 0..<seeds {
                let shift = normal() * seedSD / 100
                let up = min(1, max(0, 0.5 + shift / (2 * discordant)))
                var a = [Bool](), b = [Bool]()
                for _ in 0..<questions {
                    let base = g.nextUnitDouble() < 0.45
                    if g.nextUnitDouble() < discordant {
                        let better = g.nextUnitDouble() < up
                        a.append(better); b.append(!better)
                    } else {
                        a.append(base); b.append(base)
                    }
                }
                setting.append(a)
                baseline.append(b)
            }
            let c = try PairedComparison.compare(setting: setting, baseline: baseline, resamples: 200, permutations: 1, seed: UInt64(experiment))
            if c.governingCI95[0] <= 0 && 0 <= c.governingCI95[1] { governing += 1 }
            if c.ci95[0] <= 0 && 0 <= c.ci95[1] { bootstrap += 1 }
        }
        let rate = Double(governing) / Double(experiments)
        print(String(format: "seed sd %.2f points: governing interval covers %.1f%%, bootstrap alone %.1f%%", seedSD, rate * 100,
                     Double(bootstrap) / Double(experiments) * 100))
        #expect(rate >= 0.93, "governing coverage \(rate)")
        if seedSD == 1.75 { #expect(Double(bootstrap) / Double(experiments) < rate, "the bootstrap alone should under-cover here") }
    }

    @Test func governingDetectableDifferenceUsesTheSeedsT() throws {
        // 5% discordant, 2,000 questions, 3 seeds, no seed spread: the normal MDE is 2.80 x sqrt(0.05 / 6000) = 0.256 points;
        // the seed level's is (4.303 + 1.061) x sqrt(0.05 / 2000 / 3) = 0.490 points, which governs.
        let mde = try Power.governingMinimumDetectableDifference(questions: 2000, seeds: 3, discordantShare: 0.05)
        #expect(abs(mde - 5.364 * (0.05 / 6000).squareRoot()) < 1e-4)
        let one = try Power.governingMinimumDetectableDifference(questions: 2000, seeds: 1, discordantShare: 0.05)
        #expect(abs(one - (try Power.minimumDetectableDifference(questions: 2000, seeds: 1, discordantShare: 0.05))) < 1e-12)
    }

    @Test func effectiveSampleSizeAndSplitHalfReliabilityByHand() throws {
        // Equal weights: 1. Weights 0.5, 1.5: (2)^2 / (2 x 2.5) = 0.8.
        #expect(Reliability.effectiveSampleSize([1, 1, 1]) == 1)
        #expect(abs(Reliability.effectiveSampleSize([0.5, 1.5])! - 0.8) < 1e-12)
        #expect(Reliability.effectiveSampleSize([]) == nil)
        // x = 1, 2, 3 against y = 1, 3, 2: r = 0.5; Spearman-Brown 2 x 0.5 / 1.5 = 2/3.
        #expect(abs(Reliability.correlation([1, 2, 3], [1, 3, 2])! - 0.5) < 1e-12)
        #expect(abs(Reliability.spearmanBrown(0.5) - 2.0 / 3) < 1e-12)
        #expect(Reliability.correlation([1, 1, 1], [1, 2, 3]) == nil)
    }
}
