import EASTCore
import EASTEngine
@testable import EASTStages
import Foundation
import Testing

/// The stage functions on a tiny model (seconds in a debug build).
@Suite struct StagesTests {
    static func tinyPolicy(seed: UInt64 = 3) throws -> Policy {
        var s = PretrainingStage.Settings()
        (s.dim, s.layers, s.heads, s.kvHeads, s.hiddenDim, s.seed) = (32, 1, 2, 1, 64, seed)
        return try PretrainingStage.initialPolicy(s)
    }

    static let questions = try! QuestionSource.task(.easy, split: .train, count: 6, seed: 1).load()

    @Test func samplingIsRepeatableAndSeededPerQuestion() throws {
        let policy = try Self.tinyPolicy()
        let sampler = Sampler(model: policy.model, maxRows: 32, maxSequenceLength: 128)
        let settings = SamplingSettings(n: 4, temperature: 1, maxNewTokens: 12)
        let all = SamplingStage.sample(policy, questions: Self.questions, settings: settings, runSeed: 9, sampler: sampler)
        #expect(all.map(\.questionID) == Self.questions.map(\.id))
        #expect(all.allSatisfy { $0.responses.count == 4 })
        // One question alone gives what it got inside the batch: any sampler replica agrees.
        let alone = SamplingStage.sample(policy, question: Self.questions[2], settings: settings, runSeed: 9, sampler: sampler)
        #expect(alone == all[2])
        let otherSeed = SamplingStage.sample(policy, question: Self.questions[2], settings: settings, runSeed: 10, sampler: sampler)
        #expect(otherSeed.responses != alone.responses)
    }

    @Test func promptFormatRoundTrips() throws {
        let policy = try Self.tinyPolicy()
        let completion = policy.format.completion("Mia starts with 3 apples.\n#### 3", tokenizer: policy.tokenizer)
        #expect(completion.last == policy.tokenizer.eosId)
        #expect(policy.format.response(completion, tokenizer: policy.tokenizer) == "Mia starts with 3 apples.\n#### 3")
    }

    /// Training on weighted SFT examples makes them more likely; a zero
    /// weight leaves its example out of the gradient entirely.
    @Test(arguments: [LossKind.sft, .dpo, .kto])
    func aFewStepsLowerTheLoss(loss: LossKind) throws {
        let policy = try Self.tinyPolicy()
        var spec = RunSpec(checkpoint: "", train: .task(.easy, split: .train, count: 1, seed: 1),
                           test: .task(.easy, split: .test, count: 1, seed: 1), sampling: SamplingSettings(n: 2, temperature: 1, maxNewTokens: 8))
        spec.loss = loss
        spec.learningRate = 1e-2
        spec.beta = 1
        let q = Self.questions[0]
        let good = "#### \(q.gold)", bad = "#### 0"
        let examples: [TrainingExample]
        switch loss {
        case .sft: examples = [.sft(questionID: q.id, response: good, weight: 1)]
        case .dpo: examples = [.dpo(questionID: q.id, chosen: good, rejected: bad, weight: 1)]
        // KTO needs both kinds in a batch: with one example its KL baseline z0
        // tracks the example's own reward and the loss stays at 0.5.
        case .kto: examples = [.kto(questionID: q.id, response: good, desirable: true, weight: 1),
                               .kto(questionID: q.id, response: bad, desirable: false, weight: 1)]
        }
        let batch = examples.map { TrainingItem(question: q.text, example: $0) }
        let session = TrainingSession(policy: policy, spec: spec, totalSteps: 20)
        let first = session.step(batch).loss
        var last = first
        for _ in 0..<15 { last = session.step(batch).loss }
        #expect(last < first * 0.8, "\(loss): \(first) -> \(last)")
    }

    @Test func batchesCoverEveryItemOncePerEpoch() {
        let items = (0..<10).map { TrainingItem(question: "q\($0)", example: .sft(questionID: "\($0)", response: "r", weight: 1)) }
        let batches = TrainingSession.batches(items, size: 4, epochs: 2, seed: 1)
        #expect(batches.map(\.count) == [4, 4, 2, 4, 4, 2])
        #expect(Set(batches.prefix(3).joined().map(\.question)) == Set(items.map(\.question)))
        #expect(batches == TrainingSession.batches(items, size: 4, epochs: 2, seed: 1))
    }

    @Test func runSpecRefusesImpossibleSettings() {
        let base = RunSpec(checkpoint: "x", train: .task(.easy, split: .train, count: 4, seed: 1),
                           test: .task(.easy, split: .test, count: 4, seed: 1), sampling: SamplingSettings(n: 8, temperature: 0.8, maxNewTokens: 64))
        #expect(throws: Never.self) { try base.validate() }
        var s = base; s.sampling.n = 1
        #expect(throws: RunSpec.Invalid.self) { try s.validate() }
        s = base; s.sampling.temperature = 0
        #expect { try s.validate() } throws: { ($0 as? RunSpec.Invalid)?.setting == "temperature" }
        s = base; s.iterations = 0
        #expect { try s.validate() } throws: { ($0 as? RunSpec.Invalid)?.setting == "iterations" }
        s = base; s.mapping = .power(exponent: .infinity)
        #expect { try s.validate() } throws: { ($0 as? RunSpec.Invalid)?.setting == "a" }
    }

    @Test func inProcessRunCompletesAnIteration() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("east-stages-\(UUID().uuidString)")
        try Self.tinyPolicy().save(to: dir)
        var spec = RunSpec(checkpoint: dir.path, train: .task(.easy, split: .train, count: 8, seed: 1),
                           test: .task(.easy, split: .test, count: 4, seed: 1), sampling: SamplingSettings(n: 4, temperature: 1.5, maxNewTokens: 10))
        spec.weighting = .uniform
        let run = try InProcessRun(spec: spec)
        var lines: [String] = []
        do {
            let outcome = try run.run(id: "test") { lines.append($0) }
            let reports = outcome.iterations
            #expect(reports.count == 1)
            #expect(reports[0].kept + reports[0].droppedAllRight + reports[0].droppedAllWrong == 8)
            #expect(reports[0].points.count == 8)
            #expect(outcome.accuracy.keys.sorted() == [0, 1])
            #expect(run.policy.version == 1)
            // Both paths write the same report.
            let folder = try RunReport.write(outcome, to: dir.appendingPathComponent("report"))
            let markdown = try String(contentsOf: folder.appendingPathComponent("report.md"), encoding: .utf8)
            #expect(markdown.contains("| v1 |") && markdown.contains("| 1 | \(reports[0].kept) |"))
            // Every test question's greedy result, per version, as the paired statistics need them.
            #expect(outcome.evaluations[1]?.map(\.id) == (try spec.test.load()).map(\.id))
            let lines = try String(contentsOf: folder.appendingPathComponent("eval-v1.jsonl"), encoding: .utf8).split(separator: "\n")
            #expect(try lines.map { try JSONCoding.decode(QuestionResult.self, from: String($0), what: "eval") } == outcome.evaluations[1])
        } catch let error as WeightError {
            // A random model rarely gets any answer right: then no question is
            // mixed and the run must say so clearly.
            #expect(error == .noKeptQuestions)
        }
        #expect(lines.first?.hasPrefix("start: greedy test accuracy") == true)
    }

    /// The spec is the run's one definition in Redis: it must come back equal,
    /// every setting included, and name the settings in which two differ.
    @Test func runSpecRoundTripsThroughJSONAndNamesDifferences() throws {
        var spec = RunSpec(checkpoint: "models/x", train: .task(.hard, split: .train, count: 384, seed: 7),
                           test: .file(path: "test.jsonl", limit: 50), sampling: SamplingSettings(n: 6, temperature: 0.7, topP: 0.9, maxNewTokens: 40))
        spec.loss = .kto
        spec.weighting = .lww
        spec.mapping = .linear(range: 0.5)
        (spec.iterations, spec.seed, spec.epochs, spec.batchSize) = (3, 7, 1, 8)
        (spec.learningRate, spec.beta, spec.evalMaxNewTokens) = (3e-4, 0.2, 64)
        spec.lora = LoRAConfig(rank: 8, alpha: 16, targets: [.q, .v])
        let text = try JSONCoding.string(spec)
        #expect(try JSONCoding.decode(RunSpec.self, from: text, what: "spec") == spec)
        #expect(text.contains(#""batch_size":8"#) && text.contains(#""mapping":"linear""#))

        var other = spec
        other.train = .task(.hard, split: .train, count: 2048, seed: 7)
        other.sampling.n = 8
        #expect(spec.differences(from: other) == ["n (6, 8)", "train.count (384, 2048)"])
        #expect(spec.differences(from: spec).isEmpty)

        // A partial spec takes the defaults; a bad field is named.
        let partial = try JSONCoding.decode(RunSpec.self, from: #"{"checkpoint": "m", "train": {"task": "arith-easy", "split": "train", "count": 4, "seed": 1}, "test": {"file": "t.jsonl"}}"#, what: "spec")
        #expect(partial.sampling.n == 8 && partial.mapping == .power(exponent: 1) && partial.iterations == 1)
        #expect { try JSONCoding.decode(RunSpec.self, from: #"{"checkpoint": "m", "train": {"file": "a"}, "test": {"file": "b"}, "n": "eight"}"#, what: "spec.json") }
            throws: { "\($0)" == "spec.json: field \"n\" must be an integer" }
    }
}
