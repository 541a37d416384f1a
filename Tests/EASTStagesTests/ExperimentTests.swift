import EASTCore
@testable import EASTStages
import Foundation
import Testing

/// Experiment specs: their settings, baselines, selection and runs, and the results computed from per-question outcomes.
@Suite struct ExperimentTests {
    @Test func table1HasThePapersRowsOneTestSetAndItsProtocol() throws {
        let spec = try #require(ExperimentSpec.preset("table1"))
        // 3 losses x (vanilla, LW(W), LW(P), EAST), each at every seed.
        #expect(spec.settings.count == 12)
        #expect(spec.seeds == Array(1...8) && spec.test.count == 3000)  // the registered size
        let runs = spec.runs(choices: [])
        #expect(runs.count == 12 * spec.seeds.count)
        #expect(Set(runs.map(\.id)).count == runs.count)
        #expect(Set(runs.map(\.spec.test.description)).count == 1)  // every run on the same test questions
        #expect(Set(runs.map(\.spec.train.description)).count == spec.seeds.count)  // the seed draws the train questions
        let east = try #require(spec.settings.first { $0.loss == .dpo && $0.weighting == .entropy })
        #expect(spec.baseline(of: east) == spec.settings.first { $0.loss == .dpo && $0.weighting == .uniform })
        // a is left out where it does not apply: vanilla is one setting whatever a.
        #expect(spec.settings.filter { $0.weighting == .uniform }.allSatisfy { $0.a == nil && $0.mapping == nil })
        // The paper's protocol.
        let s = runs[0].spec
        #expect(s.sampling.n == 128 && s.epochs == 3 && s.batchSize == 16 && s.warmupRatio == 0.1 && s.schedule == .linear && s.minLearningRateRatio == 0)
        // Selection: every grid point of every loss at every selection seed, vanilla, on the validation split.
        #expect(spec.selectionRuns.count == (6 + 21 + 21) * 2)
        #expect(spec.selectionRuns.allSatisfy { $0.settings.weighting == .uniform && $0.settings.iterations == 1 })
        #expect(Set(spec.selectionRuns.map(\.spec.test.description)) == ["arith-easy validation x1000 (seed 11)"])
        // EAST against vanilla is primary for each loss; the baselines' comparisons are exploratory.
        #expect(spec.settings.filter(spec.isPrimary).map { "\($0.loss.rawValue)-\($0.weighting.rawValue)" } == ["sft-entropy", "dpo-entropy", "kto-entropy"])
        try spec.validate()
    }

    @Test func aSweepNeedsOneVanillaSetting() throws {
        let spec = try #require(ExperimentSpec.preset("a-sweep"))
        #expect(spec.settings.count == 17)
        #expect(spec.settings.first == spec.baseline(of: spec.settings[1]))
        let a = try #require(spec.runs(choices: []).first { $0.settings.a == -1.25 })
        #expect(a.spec.mapping == .power(exponent: -1.25) && a.spec.weighting == .entropy)
        #expect(spec.selectionRuns.count == 6 * 2)  // SFT's grid only
    }

    /// A small spec with a selection grid, for the results below.
    static func smallSpec(seeds: [UInt64] = [1, 2]) -> ExperimentSpec {
        ExperimentSpec(
            name: "small", base: .init(task: .easy, trainCount: 8), test: .init(task: .easy, count: 4, seed: 7), seeds: seeds,
            axes: .init(loss: [.sft], weighting: [.entropy]), baseline: .init(weighting: .uniform),
            primary: [.init(weighting: .entropy)],
            selection: .init(validation: .init(task: .easy, count: 3, seed: 11), seeds: [1], grid: [.sft: .init(learningRate: [1e-5, 1e-4, 1e-3])]))
    }

    @Test func selectionChoosesTheBestMeanValidationAccuracyFirstOnATie() throws {
        let spec = Self.smallSpec()
        let ids = spec.selectionRuns.map(\.id)
        #expect(ids == ["select-sft-lr1e-05-beta0.1-s1", "select-sft-lr0.0001-beta0.1-s1", "select-sft-lr0.001-beta0.1-s1"])
        // lr 1e-4 and 1e-3 tie at 2 of 3 right: the first wins.
        let outcomes = ExperimentOutcomes(testQuestions: [], validationQuestions: ["v0", "v1", "v2"], runs: [:], selectionRuns: [
            ids[0]: ["0": "100", "1": "100"], ids[1]: ["0": "100", "1": "110"], ids[2]: ["0": "100", "1": "011"],
        ])
        let selection = try #require(try SelectionResults.compute(spec, outcomes: outcomes))
        #expect(selection.choices == [.init(loss: .sft, learningRate: 1e-4, beta: 0.1)])
        let means: [Double] = [1.0 / 3, 2.0 / 3, 2.0 / 3]
        #expect(selection.points.map(\.mean) == means)
        // The figure: one line through the three learning rates, the means in percent.
        let figure = selection.figure
        #expect(figure.series.map(\.name) == ["sft"])
        #expect(zip(figure.series[0].points.map(\.x), [-5.0, -4, -3]).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(zip(figure.series[0].points.map(\.y), means.map { $0 * 100 }).allSatisfy { abs($0 - $1) < 1e-9 })
        // The runs take the choice.
        #expect(spec.runs(choices: selection.choices).allSatisfy { $0.spec.learningRate == 1e-4 })
        // A run missing or on another number of questions is an error naming it.
        var broken = outcomes
        broken.selectionRuns[ids[2]] = ["0": "10", "1": "01"]
        #expect { try SelectionResults.compute(spec, outcomes: broken) } throws: { "\($0)".contains(ids[2]) }
    }

    /// A KTO batch may hold only undesirable examples: its step has no
    /// preferred log-probability, and first -> last skips it instead of
    /// reading 0. With 20 or more steps, each end is the mean of a tenth of them.
    @Test func logProbabilitiesSkipStepsWithoutSuchResponses() {
        let steps = [TrainingStep(loss: 1, learningRate: 1, chosenLogProb: -5.9, rejectedLogProb: -4.8),
                     TrainingStep(loss: 1, learningRate: 1, chosenLogProb: -5.0, rejectedLogProb: nil),
                     TrainingStep(loss: 1, learningRate: 1, chosenLogProb: nil, rejectedLogProb: -6.4)]
        #expect(steps.chosenFirstLast.map { [$0.first, $0.last] } == [-5.9, -5.0])
        #expect(steps.rejectedFirstLast.map { [$0.first, $0.last] } == [-4.8, -6.4])
        let long = (0..<20).map { TrainingStep(loss: 1, learningRate: 1, chosenLogProb: -Double($0), rejectedLogProb: nil) }
        #expect(long.chosenFirstLast.map { [$0.first, $0.last] } == [-0.5, -18.5])
        #expect([TrainingStep(loss: 1, learningRate: 1, chosenLogProb: -1, rejectedLogProb: nil)].rejectedFirstLast == nil)
    }

    @Test func resultsPairSeedsAndQuestionsAndHolmRunsWithinEachFamily() throws {
        var spec = Self.smallSpec()
        spec.selection = nil
        // Four questions. Vanilla gets q0 q1 in both seeds; EAST gets q0 q1 q2 at seed 1, q0 at seed 2:
        // differences +1/4 and -1/4, mean 0; at v0 both equal the start.
        let outcomes = ExperimentOutcomes(testQuestions: ["q0", "q1", "q2", "q3"], validationQuestions: [], runs: [
            "sft-uniform-T1-s1": ["0": "1000", "1": "1100"], "sft-uniform-T1-s2": ["0": "1000", "1": "1100"],
            "sft-entropy-a1.0-T1-s1": ["0": "1000", "1": "1110"], "sft-entropy-a1.0-T1-s2": ["0": "1000", "1": "1000"],
        ], selectionRuns: [:])
        let computed = try ExperimentResults.compute(spec, outcomes: outcomes, resamples: 200)
        #expect(computed.testQuestions == 4)
        #expect(computed.runs.count == 4)
        #expect(computed.runs.first { $0.run == "sft-entropy-a1.0-T1-s1" }?.accuracy == ["0": 0.25, "1": 0.75])
        #expect(computed.runs.allSatisfy { $0.settings.learningRate == RunSpec.defaults.learningRate })
        let entry = try #require(computed.comparisons.first)
        #expect(computed.comparisons.count == 1 && entry.version == 1 && entry.comparison.seeds == 2 && entry.primary)
        #expect(abs(entry.difference) < 1e-12)
        // Seed differences +0.25 and -0.25: t(1) = 12.706 times sd 0.354 / sqrt(2) = 0.25, so +-3.18.
        let seedLevel = try #require(entry.comparison.seedLevel)
        #expect(abs(seedLevel.ci95[1] - 12.7062 * 0.25) < 1e-3 && seedLevel.pValue == 1)
        #expect(entry.comparison.governing == .seeds && entry.holmPValue == 1)
        #expect(computed.csv.split(separator: "\n").count == 1 + 4 * 2)
        let report = ExperimentReport(spec: spec, results: computed, points: nil).markdown
        #expect(report.contains("| sft entropy a=1.0 | v1 |") && report.contains("**primary**"))
        #expect(report.contains("| default (start model) | v0 | 25.00"))

        // Runs on other questions (here, another count) cannot be paired.
        var other = outcomes
        other.runs["sft-entropy-a1.0-T1-s2"]!["1"] = "10"
        #expect { try ExperimentResults.compute(spec, outcomes: other, resamples: 200) } throws: { "\($0)".contains("sft-entropy-a1.0-T1-s2") }
    }

    @Test func holmAdjustsWithinTheFamily() throws {
        var spec = Self.smallSpec(seeds: [1])
        spec.selection = nil
        spec.axes.weighting = [.entropy, .accuracy, .rejection]
        let questions = (0..<40).map { "q\($0)" }
        func line(_ right: Int) -> String { String(repeating: "1", count: right) + String(repeating: "0", count: 40 - right) }
        let outcomes = ExperimentOutcomes(testQuestions: questions, validationQuestions: [], runs: [
            "sft-uniform-T1-s1": ["0": line(10), "1": line(10)], "sft-entropy-a1.0-T1-s1": ["0": line(10), "1": line(20)],
            "sft-accuracy-a1.0-T1-s1": ["0": line(10), "1": line(16)], "sft-rejection-a1.0-T1-s1": ["0": line(10), "1": line(14)],
        ], selectionRuns: [:])
        let computed = try ExperimentResults.compute(spec, outcomes: outcomes, resamples: 200)
        let primary = computed.comparisons.filter(\.primary), exploratory = computed.comparisons.filter { !$0.primary }
        #expect(primary.count == 1 && exploratory.count == 2)
        // A family of one is not corrected; the exploratory pair is corrected between themselves only.
        #expect(primary[0].holmPValue == primary[0].comparison.governingPValue)
        let adjusted = try Holm.adjust(exploratory.map(\.comparison.governingPValue))
        #expect(exploratory.map(\.holmPValue) == adjusted && adjusted != exploratory.map(\.comparison.governingPValue))
    }

    @Test func specKeysAreSettingsOrRefusedByName() throws {
        let yaml = """
        {"name": "x", "base": {"task": "arith-easy", "train_count": 8, "learning_rate": 0.5, "n": 4}, "test": {"task": "arith-easy", "count": 4, "seed": 7}, "seeds": [1]}
        """
        let spec = try JSONCoding.decode(ExperimentSpec.self, from: yaml, what: "spec")
        #expect(spec.runs(choices: []).allSatisfy { $0.spec.learningRate == 0.5 && $0.spec.sampling.n == 4 })
        // Stored with every default resolved, and read back the same.
        let stored = try JSONCoding.encode(spec)
        let text = String(decoding: stored, as: UTF8.self)
        #expect(text.contains("\"warmup_ratio\":0.1") && text.contains("\"batch_size\":32") && text.contains("\"grader\":\"\(Grader.version)\""))
        #expect(try JSONCoding.decode(ExperimentSpec.self, from: stored, what: "stored") == spec)
        // A changed default shows as a changed setting.
        var changed = spec
        changed.base.settings.epochs = 3
        #expect(spec.differences(from: changed) == ["base.epochs (2, 3)"])
        // Keys that mean nothing are refused, naming them and the near miss.
        for (bad, named) in [("\"lr\": 0.5", "\"lr\""), ("\"learning_rat\": 0.5", "did you mean \"learning_rate\""), ("\"seed\": 3", "\"seed\"")] {
            let text = yaml.replacingOccurrences(of: "\"learning_rate\": 0.5", with: bad)
            #expect { try JSONCoding.decode(ExperimentSpec.self, from: text, what: "spec") } throws: { "\($0)".contains(named) }
        }
        #expect { try JSONCoding.decode(ExperimentSpec.self, from: yaml.replacingOccurrences(of: "\"seeds\"", with: "\"seed\""), what: "spec") }
            throws: { "\($0)".contains("did you mean \"seeds\"") }
    }

    @Test func impossibleSpecsNameTheirKey() throws {
        var spec = try #require(ExperimentSpec.preset("ablation"))
        spec.seeds = [1, 1]
        #expect { try spec.validate() } throws: { "\($0)".contains("seeds") }
        spec.seeds = [1]
        spec.axes.a = []
        #expect { try spec.validate() } throws: { "\($0)".contains("axes") }
        spec.axes.a = [1]
        spec.primary = [.init(loss: .kto)]
        #expect { try spec.validate() } throws: { "\($0)".contains("primary[0]") }
    }

    @Test func validationQuestionsAreHeldOutOfTrainAndTest() throws {
        let spec = try #require(ExperimentSpec.preset("table1"))
        try spec.checkHeldOut()
        let validation = Set(try QuestionSource.task(.easy, split: .validation, count: 1000, seed: 11).load().map(\.text))
        #expect(validation.count == 1000)
        #expect(try QuestionSource.task(.easy, split: .train, count: 2048, seed: 1).load().allSatisfy { !validation.contains($0.text) })
    }
}
