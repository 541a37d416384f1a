import Foundation
@testable import EASTCore
import Testing

@Suite struct ClusteringTests {
    @Test func entropyAccuracyAndDominantWrongByHand() {
        // 4 responses: two say 5 (gold), one says 6, one has no answer.
        let stats = AnswerClustering.statistics(
            responses: ["so \\boxed{5}", "#### 5.0", "the answer is 6", "no idea"], gold: "5")
        #expect(stats.n == 4)
        #expect(stats.clusters.map(\.count) == [2, 1, 1])
        #expect(stats.clusters.map(\.correct) == [true, false, false])
        #expect(stats.clusters.map(\.answer) == ["5", "6", nil])
        let expected = -(0.5 * log(0.5) + 0.25 * log(0.25) + 0.25 * log(0.25))
        #expect(abs(stats.entropy - expected) < 1e-12)
        #expect(stats.accuracy == 0.5)
        #expect(stats.dominantIncorrect == 0.25)
        #expect(stats.kept)
    }

    @Test func allRightAndAllWrongAreDropped() {
        let right = AnswerClustering.statistics(answers: ["3", "3.0", "6/2"], gold: "3")
        #expect(right.allCorrect && !right.kept)
        #expect(right.entropy == 0)
        let wrong = AnswerClustering.statistics(answers: ["4", nil, "5"], gold: "3")
        #expect(wrong.allWrong && !wrong.kept)
        #expect(abs(wrong.entropy - log(3)) < 1e-12)
    }

    @Test func noAnswerClusterIsNeverCorrectAndNotARejectionAnswer() {
        let stats = AnswerClustering.statistics(answers: [nil, nil, "7"], gold: "7")
        #expect(stats.kept)
        #expect(stats.dominantIncorrect == 0)
        #expect(stats.dominantIncorrectCluster == nil)
    }
}

@Suite struct WeightMappingTests {
    @Test func powerMappingByHand() throws {
        // s = [1, 2, 3], a = 1: w = s * 3 / 6 = [0.5, 1, 1.5]
        let w = try Weights.map([1, 2, 3], with: .power(exponent: 1))
        #expect(zip(w, [0.5, 1, 1.5]).allSatisfy { abs($0 - $1) < 1e-12 })
        // a = 2: s^2 = [1, 4, 9], sum 14: w = [3/14, 12/14, 27/14]
        let w2 = try Weights.map([1, 2, 3], with: .power(exponent: 2))
        #expect(zip(w2, [3.0 / 14, 12.0 / 14, 27.0 / 14]).allSatisfy { abs($0 - $1) < 1e-12 })
    }

    @Test func signOfExponentDecidesWhoGetsMore() throws {
        let s = [0.2, 0.9, 1.5]
        let up = try Weights.map(s, with: .power(exponent: 1))
        let down = try Weights.map(s, with: .power(exponent: -1))
        #expect(up[2] > up[1] && up[1] > up[0])
        #expect(down[0] > down[1] && down[1] > down[2])
        let flat = try Weights.map(s, with: .power(exponent: 0))
        #expect(flat.allSatisfy { abs($0 - 1) < 1e-12 })
    }

    @Test func meanDivisionByHand() throws {
        let w = try Weights.map([1, 3], with: .meanDivision)
        #expect(abs(w[0] - 0.5) < 1e-12 && abs(w[1] - 1.5) < 1e-12)
    }

    @Test func linearMappingByHandAndItsBound() throws {
        // s = [0, 1, 5]: mean 2, range 5. With R = 1: a = 0.2, b = 0.6.
        let w = try Weights.map([0, 1, 5], with: .linear(range: 1))
        #expect(zip(w, [0.6, 0.8, 1.6]).allSatisfy { abs($0 - $1) < 1e-12 })
        // Bound (max-min)/(mean-min) = 5/2: R = 2.5 gives a zero weight, R = 2.6 is refused.
        let edge = try Weights.map([0, 1, 5], with: .linear(range: 2.5))
        #expect(abs(edge[0]) < 1e-12)
        #expect(throws: WeightError.linearRangeTooLarge(range: 2.6, bound: 2.5)) {
            try Weights.map([0, 1, 5], with: .linear(range: 2.6))
        }
    }

    @Test func degenerateCases() throws {
        for mapping in [WeightMapping.power(exponent: 3), .meanDivision, .linear(range: 100)] {
            #expect(try Weights.map([0.7, 0.7, 0.7], with: mapping) == [1, 1, 1])
        }
        #expect(throws: WeightError.noKeptQuestions) { try Weights.map([], with: .meanDivision) }
        #expect(throws: WeightError.self) { try Weights.map([0, 1], with: .power(exponent: -1)) }
        #expect(throws: WeightError.self) { try Weights.map([1, .nan], with: .meanDivision) }
    }

    @Test func weightsAverageExactlyOne() throws {
        var rng = SeededGenerator(seed: 11)
        for mapping in [WeightMapping.power(exponent: 1.7), .power(exponent: -0.6), .meanDivision, .linear(range: 0.8)] {
            let scores = (0..<997).map { _ in 0.01 + 2 * rng.nextUnitDouble() }
            let w = try Weights.map(scores, with: mapping)
            let mean = w.reduce(0, +) / Double(w.count)
            #expect(abs(mean - 1) < 1e-9, "\(mapping): mean \(mean)")
        }
    }

    @Test func assignLeavesDroppedQuestionsWithoutWeight() throws {
        let stats = [
            AnswerClustering.statistics(answers: ["1", "2"], gold: "1"),
            AnswerClustering.statistics(answers: ["1", "1"], gold: "1"),
            AnswerClustering.statistics(answers: ["1", "2", "3", "1"], gold: "1"),
        ]
        let w = try Weights.assign(stats, strategy: .entropy, mapping: .power(exponent: 1))
        #expect(w[1] == nil)
        let h0 = log(2.0), h2 = -(0.5 * log(0.5) + 2 * 0.25 * log(0.25))
        #expect(abs(w[0]! - 2 * h0 / (h0 + h2)) < 1e-12)
        #expect(abs(w[2]! - 2 * h2 / (h0 + h2)) < 1e-12)
        #expect(throws: WeightError.noKeptQuestions) {
            try Weights.assign([stats[1]], strategy: .entropy, mapping: .power(exponent: 1))
        }
        #expect(try Weights.assign(stats, strategy: .uniform, mapping: .power(exponent: 5)) == [1, nil, 1])
    }
}

@Suite struct ExampleSelectionTests {
    let responses = ["a \\boxed{1}", "b \\boxed{2}", "c \\boxed{1}", "d \\boxed{2}", "e \\boxed{3}", "f nothing"]
    var stats: QuestionStatistics { AnswerClustering.statistics(responses: responses, gold: "1") }

    @Test func sameSeedSameExamples() {
        for loss in LossKind.allCases {
            let a = ExampleSelection.examples(for: "q1", responses: responses, stats: stats, weight: 1.2, loss: loss, seed: 5)
            let b = ExampleSelection.examples(for: "q1", responses: responses, stats: stats, weight: 1.2, loss: loss, seed: 5)
            #expect(a == b)
            #expect(a.allSatisfy { $0.weight == 1.2 && $0.questionID == "q1" })
        }
    }

    @Test func examplesComeFromTheRightClusters() {
        var chosenSeen = Set<String>()
        for seed in 0..<40 as Range<UInt64> {
            let sft = ExampleSelection.examples(for: "q", responses: responses, stats: stats, weight: 1, loss: .sft, seed: seed)
            guard case let .sft(_, response, _) = sft.first else { Issue.record("no SFT example"); return }
            #expect(response.hasSuffix("\\boxed{1}"))
            chosenSeen.insert(response)
            let dpo = ExampleSelection.examples(for: "q", responses: responses, stats: stats, weight: 1, loss: .dpo, seed: seed)
            guard case let .dpo(_, chosen, rejected, _) = dpo.first else { Issue.record("no DPO pair"); return }
            #expect(chosen.hasSuffix("\\boxed{1}"))
            #expect(rejected.hasSuffix("\\boxed{2}"))  // the most common wrong answer
            let kto = ExampleSelection.examples(for: "q", responses: responses, stats: stats, weight: 1, loss: .kto, seed: seed)
            #expect(kto.count == 2)
            if case let .kto(_, bad, false, _) = kto[1] { #expect(!bad.hasSuffix("\\boxed{1}")) } else { Issue.record("no undesirable") }
        }
        #expect(chosenSeen.count == 2, "both correct responses should be picked for some seed")
    }

    @Test func droppedQuestionsGiveNoExamples() {
        let right = AnswerClustering.statistics(responses: ["\\boxed{1}"], gold: "1")
        #expect(ExampleSelection.examples(for: "q", responses: ["\\boxed{1}"], stats: right, weight: 1, loss: .sft, seed: 1).isEmpty)
    }
}

/// Clustering by answer stays near-linear in the distinct answers and gives
/// the clusters the plain pairwise rule gives.
@Suite struct ClusteringScaleTests {
    /// The rule, written plainly: each answer joins the first equivalent cluster.
    static func pairwise(_ answers: [String?], gold: String) -> [[Int]] {
        var clusters: [(answer: String, members: [Int])] = []
        var none: [Int] = []
        for (i, a) in answers.enumerated() {
            guard let a else { none.append(i); continue }
            let n = AnswerNormalizer.normalize(a)
            if let k = clusters.firstIndex(where: { AnswerEquivalence.equivalentNormalized($0.answer, n) }) {
                clusters[k].members.append(i)
            } else {
                clusters.append((n, [i]))
            }
        }
        return clusters.map(\.members) + (none.isEmpty ? [] : [none])
    }

    @Test func sameClustersAsThePairwiseRule() {
        let vocabulary = ["5", "5.0", "05", "5.000001", "5.0000001", "28%", "0.28", "28", "\\frac{1}{2}", "0.5", "50%", "1/2", "x = 5",
                          "x=0.5", "Five", "five", "FIVE", "(1, 2)", "(2, 1)", "\\{1, 2\\}", "\\{2, 1\\}", "1, 2", "x + 1", "1 + x",
                          "2x+2", "y = 2x", "2x - y = 0", "\\sqrt{2}", "1.41421356", "1.414214", "-3", "-3.0", "3", "[1, 2)", "1 < x \\le 2",
                          "", "$$", "\\text{yes}", "yes", "100", "1", "0.01", "1%", "10000", "9999.9999999", "1e3", "1000"]
        var g = SeededGenerator(seed: 7)
        for round in 0..<200 {
            let answers: [String?] = (0..<40).map { _ in
                g.nextIndex(below: 12) == 0 ? nil : vocabulary[g.nextIndex(below: vocabulary.count)]
            }
            let gold = vocabulary[round % vocabulary.count]
            let stats = AnswerClustering.statistics(answers: answers, gold: gold)
            #expect(stats.clusters.map(\.members) == Self.pairwise(answers, gold: gold), "round \(round): \(answers)")
        }
    }

    /// 20,000 distinct numbers and 20,000 distinct texts: pairwise, about 4e8
    /// comparisons each (hours); indexed, a fraction of a second in a release build.
    @Test(.timeLimit(.minutes(2))) func manyDistinctAnswersStayFast() {
        let numbers = (0..<20_000).map { "\($0 * 7 + 3)" }
        let stats = AnswerClustering.statistics(answers: numbers + ["3"], gold: "3")
        #expect(stats.clusters.count == 20_000 && stats.clusters[0].members == [0, 20_000] && stats.clusters[0].correct)
        let texts = (0..<20_000).map { "the \($0)th word" }
        #expect(AnswerClustering.statistics(answers: texts + ["the 7th word"], gold: "y").clusters[7].members == [7, 20_000])
    }
}
