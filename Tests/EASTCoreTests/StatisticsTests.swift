import Foundation
@testable import EASTCore
import Testing

private let T = true
private let F = false

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
