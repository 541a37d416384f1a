import EASTCore
import EASTEngine
import EASTStages
import EASTTransport
import Foundation

/// On every checkpoint-ready event, greedy-decodes the run's test questions
/// with that policy version and records the accuracy in Redis (once).
public final class EvaluatorWorker {
    let env: WorkerEnvironment

    public init(environment: WorkerEnvironment) {
        env = environment
    }

    public func run(shutdown: ShutdownSignal) throws {
        try consumeLoop(queue: Topology.checkpointQueue, type: CheckpointReady.type, prefetch: 1, shutdown: shutdown, environment: env) { envelope, _, redis in
            let event = try CheckpointReady(envelope.body)
            let state = RunState(redis: redis, run: envelope.run)
            if try state.accuracies()[event.version] != nil { return }  // already measured
            let settings = try state.evaluationSettings()
            let policy = try Policy.load(from: URL(fileURLWithPath: event.path), version: event.version)
            let sampler = Sampler(model: policy.model, maxRows: 32, maxSequenceLength: min(512, policy.model.config.maxSeqLen))
            let start = Date()
            let result = EvaluationStage.evaluate(policy, questions: settings.questions, maxNewTokens: settings.maxNewTokens, sampler: sampler, batch: 32)
            try state.recordAccuracy(version: event.version, result.accuracy)
            env.log(String(format: "policy v%d: greedy accuracy %.1f%% (%d/%d) in %.0f s", event.version, result.accuracy * 100,
                           result.correct, result.total, Date().timeIntervalSince(start)))
        }
    }
}

extension RunState {
    /// The coordinator stores the test questions with the run, so evaluators
    /// need nothing but the run id.
    public func storeEvaluationSettings(questions: [Question], maxNewTokens: Int) throws {
        let json = JSON.object([
            ("max_new_tokens", .number(Double(maxNewTokens))),
            ("questions", .array(questions.map { .object([("id", .string($0.id)), ("question", .string($0.text)), ("gold", .string($0.gold))]) })),
        ])
        try redis.command(["SET", key("test"), json.text])
    }

    public func evaluationSettings() throws -> (questions: [Question], maxNewTokens: Int) {
        guard let text = try redis.command(["GET", key("test")]).string else {
            throw MessageError("run \(run) has no test questions in Redis")
        }
        let json = try JSON.parse(text)
        let questions = (json["questions"]?.arrayValue ?? []).compactMap { q -> Question? in
            guard let id = q["id"]?.stringValue, let text = q["question"]?.stringValue, let gold = q["gold"]?.stringValue else { return nil }
            return Question(id: id, text: text, gold: gold)
        }
        return (questions, json["max_new_tokens"]?.intValue ?? 96)
    }
}
