import EASTCore
@testable import EASTStages
import Foundation
import Testing

/// Experiment specs: their settings, baselines and runs, and the results computed from runs' evaluations.
@Suite struct ExperimentTests {
    @Test func table1HasThePapersRowsAndOneTestSet() throws {
        let spec = try #require(ExperimentSpec.preset("table1"))
        // 3 losses x (vanilla, LW(W), LW(P), EAST), each at 3 seeds.
        #expect(spec.settings.count == 12)
        #expect(spec.runs.count == 36)
        #expect(Set(spec.runs.map(\.id)).count == 36)
        #expect(Set(spec.runs.map(\.spec.test.description)).count == 1)  // every run on the same test questions
        #expect(Set(spec.runs.map(\.spec.train.description)).count == 3)  // the seed draws the train questions
        let east = try #require(spec.settings.first { $0.loss == .dpo && $0.weighting == .entropy })
        #expect(spec.baseline(of: east) == spec.settings.first { $0.loss == .dpo && $0.weighting == .uniform })
        // a is left out where it does not apply: vanilla is one setting whatever a.
        #expect(spec.settings.filter { $0.weighting == .uniform }.allSatisfy { $0.a == nil && $0.mapping == nil })
        try spec.validate()
    }

    @Test func aSweepNeedsOneVanillaSetting() throws {
        let spec = try #require(ExperimentSpec.preset("a-sweep"))
        #expect(spec.settings.count == 17)
        #expect(spec.settings.first == spec.baseline(of: spec.settings[1]))
        let a = try #require(spec.runs.first { $0.settings.a == -1.25 })
        #expect(a.spec.mapping == .power(exponent: -1.25) && a.spec.weighting == .entropy)
    }

    @Test func resultsPairSeedsAndQuestions() throws {
        var spec = try #require(ExperimentSpec.preset("iterations"))
        spec.seeds = [1, 2]
        spec.axes.iterations = [1]
        // Four questions. Vanilla gets q0 q1 in both seeds; EAST gets q0 q1 q2 at seed 1, q0 at seed 2:
        // differences +1/4 and -1/4, mean 0; at v0 both equal the start.
        func results(_ correct: [Bool]) -> [QuestionResult] {
            correct.enumerated().map { QuestionResult(id: "q\($0.offset)", correct: $0.element, extracted: nil) }
        }
        let start = results([true, false, false, false])
        let table: [String: [Bool]] = [
            "sft-uniform-T1-s1": [true, true, false, false], "sft-uniform-T1-s2": [true, true, false, false],
            "sft-entropy-a1.0-T1-s1": [true, true, true, false], "sft-entropy-a1.0-T1-s2": [true, false, false, false],
        ]
        let computed = try ExperimentResults.compute(spec, evaluations: { id in [0: start, 1: results(table[id]!)] }, resamples: 200)
        #expect(computed.testQuestions == 4)
        #expect(computed.runs.count == 4)
        #expect(computed.runs.first { $0.run == "sft-entropy-a1.0-T1-s1" }?.accuracy == ["0": 0.25, "1": 0.75])
        let comparison = try #require(computed.comparisons.first)
        #expect(computed.comparisons.count == 1 && comparison.version == 1 && comparison.seeds == 2)
        #expect(abs(comparison.difference) < 1e-12)
        #expect(computed.csv.split(separator: "\n").count == 1 + 4 * 2)
        let report = ExperimentReport(spec: spec, results: computed, points: nil).markdown
        #expect(report.contains("| sft entropy a=1.0 | v1 |"))
        #expect(report.contains("| default (start model) | v0 | 25.00"))

        // Three iterations: every version in the table, and Fig. 4 with its paired companion.
        var three = spec
        three.axes.iterations = [3]
        let versions = { (id: String) in [0: start, 1: results(table[id.replacingOccurrences(of: "T3", with: "T1")]!), 2: start, 3: start] }
        let computedThree = try ExperimentResults.compute(three, evaluations: versions, resamples: 200)
        let figures = ExperimentReport(spec: three, results: computedThree, points: nil).figures.map(\.file)
        #expect(figures == ["fig4-iterations.svg", "fig4-iterations-differences.svg"])
        let markdown = ExperimentReport(spec: three, results: computedThree, points: nil).markdown
        #expect(markdown.contains("| sft entropy a=1.0 T=3 | v2 |") && markdown.contains("| sft uniform T=3 | v3 |"))

        // Runs on other questions cannot be paired.
        #expect(throws: RunSpec.Invalid.self) {
            try ExperimentResults.compute(spec, evaluations: { id in
                [0: start, 1: id.hasSuffix("s2") ? [QuestionResult(id: "x", correct: true, extracted: nil)] : results(table[id]!)]
            }, resamples: 200)
        }
    }

    @Test func impossibleSpecsNameTheirKey() throws {
        var spec = try #require(ExperimentSpec.preset("ablation"))
        spec.seeds = [1, 1]
        #expect { try spec.validate() } throws: { "\($0)".contains("seeds") }
        spec.seeds = [1]
        spec.axes.a = []
        #expect { try spec.validate() } throws: { "\($0)".contains("axes") }
    }
}
