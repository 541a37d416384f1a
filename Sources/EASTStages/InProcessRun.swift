import EASTCore
import EASTEngine
import Foundation

/// What one self-training iteration did.
public struct IterationReport: Sendable {
    public var iteration: Int
    public var accuracyBefore: Double
    public var accuracyAfter: Double
    public var questions: Int
    public var kept: Int
    public var droppedAllRight: Int
    public var droppedAllWrong: Int
    /// min, 25%, median, 75%, max of the kept questions' weights.
    public var weightQuantiles: [Double]
    public var examples: Int
    public var steps: Int
    public var meanLoss: Double
    /// (entropy, weight) of each kept question, for plots.
    public var entropyAndWeight: [(Double, Double)]
    public var seconds: Double

    public var summary: String {
        let q = weightQuantiles.map { String(format: "%.3f", $0) }.joined(separator: " / ")
        return String(format: "iteration %d: accuracy %.1f%% -> %.1f%%; questions %d: kept %d, dropped all-right %d, all-wrong %d; ",
                      iteration, accuracyBefore * 100, accuracyAfter * 100, questions, kept, droppedAllRight, droppedAllWrong)
            + "weights min/q1/median/q3/max \(q); \(examples) examples, \(steps) steps, mean loss "
            + String(format: "%.4f; %.0f s", meanLoss, seconds)
    }
}

/// The whole loop in one process: sample -> cluster and weigh -> build
/// examples -> train -> evaluate, `iterations` times. The cluster runs the
/// same stage functions spread over workers.
public final class InProcessRun {
    public let spec: RunSpec
    public let policy: Policy
    private let trainQuestions: [Question]
    private let testQuestions: [Question]
    private let sampler: Sampler

    public init(spec: RunSpec) throws {
        try spec.validate()
        self.spec = spec
        policy = try Policy.load(from: URL(fileURLWithPath: spec.checkpoint), lora: spec.lora, seed: spec.seed)
        trainQuestions = try spec.train.load()
        testQuestions = try spec.test.load()
        sampler = Sampler(model: policy.model, maxRows: max(64, spec.sampling.n), maxSequenceLength: min(512, policy.model.config.maxSeqLen))
    }

    public func evaluate() -> Double {
        EvaluationStage.evaluate(policy, questions: testQuestions, maxNewTokens: spec.evalMaxNewTokens, sampler: sampler, batch: 32).accuracy
    }

    /// Runs every iteration; `progress` gets a line now and then and each report.
    public func run(progress: (String) -> Void) throws -> [IterationReport] {
        var reports: [IterationReport] = []
        var accuracy = evaluate()
        progress(String(format: "start: greedy test accuracy %.1f%% on %d questions", accuracy * 100, testQuestions.count))
        for iteration in 1...spec.iterations {
            let report = try runIteration(iteration, accuracyBefore: accuracy, progress: progress)
            accuracy = report.accuracyAfter
            progress(report.summary)
            reports.append(report)
        }
        return reports
    }

    private func runIteration(_ iteration: Int, accuracyBefore: Double, progress: (String) -> Void) throws -> IterationReport {
        let start = Date()
        // 1. Sample n responses per question, several questions per decode batch.
        var samples: [QuestionSamples] = []
        let perBatch = max(1, sampler.maxRows / spec.sampling.n)
        var index = 0
        while index < trainQuestions.count {
            let chunk = Array(trainQuestions[index..<min(index + perBatch, trainQuestions.count)])
            samples += SamplingStage.sample(policy, questions: chunk, settings: spec.sampling, runSeed: spec.seed, sampler: sampler)
            index += perBatch
        }
        progress("iteration \(iteration): sampled \(spec.sampling.n) x \(samples.count) questions")

        // 2. Cluster, weigh, pick examples.
        let stats = zip(trainQuestions, samples).map(WeighingStage.statistics)
        let weights = try WeighingStage.weights(stats, spec: spec)
        var items: [TrainingItem] = []
        for (i, question) in trainQuestions.enumerated() {
            guard let weight = weights[i] else { continue }
            items += WeighingStage.examples(question, samples[i], stats[i], weight: weight, spec: spec, version: policy.version)
                .map { TrainingItem(question: question.text, example: $0) }
        }

        // 3. Train.
        let batches = TrainingSession.batches(items, size: spec.batchSize, epochs: spec.epochs, seed: spec.seed &+ UInt64(iteration))
        let session = TrainingSession(policy: policy, spec: spec, totalSteps: batches.count)
        var lossSum = 0.0
        for batch in batches { lossSum += Double(session.step(batch).loss) }
        policy.version += 1

        // 4. Evaluate.
        let after = evaluate()
        return IterationReport(
            iteration: iteration, accuracyBefore: accuracyBefore, accuracyAfter: after, questions: stats.count,
            kept: stats.filter(\.kept).count, droppedAllRight: stats.filter(\.allCorrect).count,
            droppedAllWrong: stats.filter(\.allWrong).count, weightQuantiles: WeighingStage.distribution(weights),
            examples: items.count, steps: batches.count, meanLoss: batches.isEmpty ? 0 : lossSum / Double(batches.count),
            entropyAndWeight: zip(stats, weights).compactMap { s, w in w.map { (s.entropy, $0) } },
            seconds: Date().timeIntervalSince(start))
    }
}
