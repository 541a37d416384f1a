import EASTCore
import EASTEngine
import Foundation

/// The whole loop in one process: sample -> record and weigh -> train ->
/// evaluate, `iterations` times. The cluster calls the same stage functions
/// (`SamplingStage.sample`, `WeighingStage.record` and `weigh`,
/// `TrainingSession`, `EvaluationStage.evaluate`) on the same records; its
/// workers only move them.
public final class InProcessRun {
    public let spec: RunSpec
    public let policy: Policy
    private let trainQuestions: [Question]
    private let testQuestions: [Question]
    private let sampler: Sampler
    /// Where samples and greedy answers are reused from and kept (nil: none).
    private let store: SampleStore?

    public init(spec: RunSpec, store: SampleStore? = nil) throws {
        try spec.validate()
        self.spec = spec
        self.store = store
        policy = try Policy.load(from: URL(fileURLWithPath: spec.checkpoint), lora: spec.lora, seed: spec.seed)
        policy.adopt(spec)
        trainQuestions = try spec.train.load()
        testQuestions = try spec.test.load()
        sampler = policy.sampler(rows: max(64, spec.sampling.n))
    }

    public func evaluate() throws -> [QuestionResult] {
        try EvaluationStage.evaluate(policy, questions: testQuestions, maxNewTokens: spec.evalMaxNewTokens, sampler: sampler, batch: 32,
                                     store: store).questions
    }

    /// Runs every iteration; `progress` gets a line now and then and each iteration's summary.
    public func run(id: String, progress: (String) -> Void) throws -> RunOutcome {
        for (name, questions) in [("train", trainQuestions), ("test", testQuestions)] {
            let overlong = policy.overlong(questions).count
            if overlong > 0 {
                progress("\(overlong) \(name) question(s) have prompts longer than the window (\(policy.window) tokens): "
                         + "they are answered empty (wrong, never trained on)")
            }
        }
        var outcome = RunOutcome(run: id, spec: spec, iterations: [], evaluations: [policy.version: try evaluate()],
                                 prompt: policy.format.description)
        progress(String(format: "start: greedy test accuracy %.1f%% on %d questions", outcome.accuracy[policy.version]! * 100, testQuestions.count))
        for iteration in 1...spec.iterations {
            let start = Date()
            let before = policy.version
            let report = try runIteration(iteration, progress: progress)
            outcome.evaluations[policy.version] = try evaluate()
            outcome.iterations.append(report)
            progress(report.summary(accuracyBefore: outcome.accuracy[before], accuracyAfter: outcome.accuracy[policy.version])
                     + String(format: "; %.0f s", Date().timeIntervalSince(start)))
        }
        return outcome
    }

    private func runIteration(_ iteration: Int, progress: (String) -> Void) throws -> IterationReport {
        // 1. Sample n responses per question, through one continuous batch.
        let samples = try SamplingStage.sample(policy, questions: trainQuestions, settings: spec.sampling, runSeed: spec.seed,
                                               sampler: sampler, store: store)
        progress("iteration \(iteration): sampled \(spec.sampling.n) x \(samples.count) questions")

        // 2. Cluster and pick examples per question, then weigh them all.
        let records = zip(trainQuestions, samples).map { WeighingStage.record($0, $1, spec: spec, version: policy.version) }
        var (items, report) = try WeighingStage.weigh(Array(zip(trainQuestions, records)), spec: spec, iteration: iteration)

        // 3. Train.
        let batches = TrainingSession.batches(items, size: spec.batchSize, epochs: spec.epochs, seed: spec.seed &+ UInt64(iteration))
        let session = TrainingSession(policy: policy, spec: spec, totalSteps: batches.count)
        report.training = batches.map { session.step($0) }
        policy.version += 1
        return report
    }
}
