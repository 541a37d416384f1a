import EASTEngine
import Foundation
import Testing

/// Each loss against a value worked out by hand on fixed numbers, its
/// gradient against finite differences, and per-example weighting.
@Suite struct LossTests {
    /// seq 0: prompt [1], completion [2, 3]; seq 1: prompt [1, 4], completion [5].
    /// T = 2; seq 0 has loss at both positions, seq 1 only at position 1.
    static let batch = TokenBatch(sequences: [(prompt: [1], completion: [2, 3]), (prompt: [1, 4], completion: [5])],
                                  padId: 0)

    /// log-softmax of a fixed logits row of 4 entries: the target has logit `a`, the rest 0.
    static func logp(targetLogit a: Double) -> Float { Float(a - log(exp(a) + 3)) }

    static let out = TokenLogProbs(
        logProbs: [logp(targetLogit: 2), logp(targetLogit: -1), logp(targetLogit: 0.5), logp(targetLogit: 1)],
        logSumSquaredProbs: [-1.0, -0.5, -2.0, -0.7])

    @Test func sftByHand() {
        let r = SFTLoss.compute(Self.out, Self.batch, weights: [1, 3])
        let lp = Self.out.logProbs.map(Double.init)
        // example 0: mean over 2 tokens; example 1: its one completion token; average of 2 examples
        let example0: Double = -(lp[0] + lp[1]) / 2
        let example1: Double = -lp[3]
        let expected: Double = 0.5 * (1 * example0 + 3 * example1)
        #expect(abs(Double(r.loss) - expected) < 1e-6)
        #expect(r.dLogProbs == [-0.25, -0.25, 0, -1.5])
    }

    @Test func dpoByHand() {
        // one pair: rows 0 = chosen, 1 = rejected; both with one completion token
        let batch = TokenBatch(sequences: [(prompt: [1], completion: [2]), (prompt: [1], completion: [3])], padId: 0)
        let out = TokenLogProbs(logProbs: [-3, -5], logSumSquaredProbs: [0, 0])
        let r = DPOLoss.compute(out, batch, referenceSums: [-4, -4], weights: [2], beta: 0.5)
        // margin = (-3 + 4) - (-5 + 4) = 2; z = 1; -log sigmoid(1) = log(1 + e^-1) = 0.313261687...
        #expect(abs(r.loss - 2 * 0.31326168751) < 1e-6)
        // dL/dlp_c = -w * beta * (1 - sigmoid(1)) = -2 * 0.5 * 0.268941421
        #expect(abs(r.dLogProbs[0] + 0.26894142137) < 1e-6)
        #expect(abs(r.dLogProbs[1] - 0.26894142137) < 1e-6)
    }

    @Test func ktoByHand() {
        let batch = TokenBatch(sequences: [(prompt: [1], completion: [2]), (prompt: [1], completion: [3])], padId: 0)
        let out = TokenLogProbs(logProbs: [-2, -4], logSumSquaredProbs: [0, 0])
        let z0 = KTOLoss.klEstimate(policySums: [-5, -6], referenceSums: [-5.5, -6.1])
        #expect(abs(z0 - 0.3) < 1e-6)
        #expect(KTOLoss.klEstimate(policySums: [-6], referenceSums: [-5]) == 0)  // clamped at 0
        let settings = KTOLoss.Settings(beta: 1, desirableWeight: 1, undesirableWeight: 1.5)
        let r = KTOLoss.compute(out, batch, referenceSums: [-3, -3], desirable: [true, false],
                                weights: [1, 1], klEstimate: z0, settings: settings)
        // r0 = 1 (desirable): 1 - sigmoid(1 - 0.3); r1 = -1 (undesirable): 1.5 * (1 - sigmoid(0.3 + 1))
        func sigma(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
        let expected = ((1 - sigma(0.7)) + 1.5 * (1 - sigma(1.3))) / 2
        #expect(abs(Double(r.loss) - expected) < 1e-6)
        #expect(r.dLogProbs[0] < 0 && r.dLogProbs[1] > 0)  // raise the desirable, lower the undesirable
    }

    @Test func gradientsMatchFiniteDifferences() {
        let b = Self.batch
        let base = Self.out.logProbs
        func check(_ label: String, _ f: (TokenLogProbs) -> LossResult) {
            let analytic = f(Self.out).dLogProbs
            checkGradient(label, values: base, analytic: analytic, eps: 1e-2, relative: 1e-2, absolute: 1e-4) {
                Double(f(TokenLogProbs(logProbs: $0, logSumSquaredProbs: Self.out.logSumSquaredProbs)).loss)
            }
        }
        check("sft") { SFTLoss.compute($0, b, weights: [0.7, 1.3]) }
        check("dpo") { DPOLoss.compute($0, b, referenceSums: [-2, -1], weights: [1.5], beta: 0.3) }
        check("kto") {
            KTOLoss.compute($0, b, referenceSums: [-2, -1], desirable: [false, true], weights: [1, 2],
                            klEstimate: 0.2, settings: .init(beta: 0.5, desirableWeight: 1, undesirableWeight: 1.2))
        }
    }

    @Test func doublingAnExamplesWeightDoublesItsGradient() {
        let b = Self.batch
        func rows(_ d: [Float]) -> ([Float], [Float]) { (Array(d[0..<2]), Array(d[2..<4])) }
        // SFT and KTO: example 0's weight 1 -> 2
        let sft1 = rows(SFTLoss.compute(Self.out, b, weights: [1, 1]).dLogProbs)
        let sft2 = rows(SFTLoss.compute(Self.out, b, weights: [2, 1]).dLogProbs)
        #expect(sft2.0 == sft1.0.map { 2 * $0 } && sft2.1 == sft1.1)
        let settings = KTOLoss.Settings(beta: 0.5)
        let kto1 = rows(KTOLoss.compute(Self.out, b, referenceSums: [-2, -1], desirable: [true, false],
                                        weights: [1, 1], klEstimate: 0.1, settings: settings).dLogProbs)
        let kto2 = rows(KTOLoss.compute(Self.out, b, referenceSums: [-2, -1], desirable: [true, false],
                                        weights: [2, 1], klEstimate: 0.1, settings: settings).dLogProbs)
        #expect(kto2.0 == kto1.0.map { 2 * $0 } && kto2.1 == kto1.1)
        // DPO: two pairs (rows 0,1 chosen; 2,3 rejected); pair 0's weight 1 -> 2
        let pairs = TokenBatch(sequences: [([1], [2]), ([1], [3]), ([1], [4]), ([1], [5])], padId: 0)
        let out = TokenLogProbs(logProbs: [-1, -2, -3, -1.5], logSumSquaredProbs: [0, 0, 0, 0])
        let d1 = DPOLoss.compute(out, pairs, referenceSums: [-2, -2, -2, -2], weights: [1, 1], beta: 0.1).dLogProbs
        let d2 = DPOLoss.compute(out, pairs, referenceSums: [-2, -2, -2, -2], weights: [2, 1], beta: 0.1).dLogProbs
        #expect(d2[0] == 2 * d1[0] && d2[2] == 2 * d1[2])
        #expect(d2[1] == d1[1] && d2[3] == d1[3])
    }

    @Test func tokenLevelBaselineWeights() {
        let lp = Self.out.logProbs.map(Double.init), sq = Self.out.logSumSquaredProbs.map(Double.init)
        // LW(P): perplexities exp(-mean log p), divided by their mean
        let ppl = [exp(-(lp[0] + lp[1]) / 2), exp(-lp[3])]
        let meanPPL = (ppl[0] + ppl[1]) / 2
        let w = ExampleWeights.perplexity(Self.out, Self.batch)
        #expect(abs(Double(w[0]) - ppl[0] / meanPPL) < 1e-5 && abs(Double(w[1]) - ppl[1] / meanPPL) < 1e-5)
        // LW(W): exp(mean_t (log p - log sum p^2))
        let wpo = ExampleWeights.wpo(Self.out, Self.batch)
        #expect(abs(Double(wpo[0]) - exp(((lp[0] - sq[0]) + (lp[1] - sq[1])) / 2)) < 1e-5)
        #expect(abs(Double(wpo[1]) - exp(lp[3] - sq[3])) < 1e-5)
        #expect(ExampleWeights.pairProduct([2, 3, 5, 7]) == [10, 21])
    }
}
