import EASTCore
import EASTEngine
import EASTStages
import EASTTransport
import Foundation

/// On every checkpoint-ready event, greedy-decodes the run's test questions
/// (stored in Redis with the run) with that policy version and records the
/// accuracy and every question's result in Redis (once).
public final class EvaluatorWorker: Worker {
    public static let queue = Topology.checkpointQueue

    public init() {}

    public func handle(_ event: CheckpointReady, _ work: Work) throws -> Disposition {
        let state = work.state
        if try state.accuracies()[event.version] != nil { return .done }  // already measured
        let spec = try work.spec()
        let questions = try state.testQuestions()
        let policy = try Policy.load(from: URL(fileURLWithPath: event.path), version: event.version)
        let sampler = Sampler(model: policy.model, maxRows: 32, maxSequenceLength: min(512, policy.model.config.maxSeqLen))
        let start = Date()
        let result = EvaluationStage.evaluate(policy, questions: questions, maxNewTokens: spec.evalMaxNewTokens, sampler: sampler, batch: 32)
        try state.recordEvaluation(version: event.version, result)
        work.environment.log(String(format: "run %@ policy v%d: greedy accuracy %.1f%% (%d/%d) in %.0f s", work.run, event.version, result.accuracy * 100,
                       result.correct, result.total, Date().timeIntervalSince(start)))
        return .done
    }
}
