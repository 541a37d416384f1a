import EASTCore
import EASTStages
import EASTTransport

/// Groups each question's responses by final answer, computes entropy,
/// accuracy and the dominant wrong share, picks the training examples, and
/// records them in Redis once (a redelivered result changes nothing).
public final class ClustererWorker {
    let env: WorkerEnvironment

    public init(environment: WorkerEnvironment) {
        env = environment
    }

    public func run(shutdown: ShutdownSignal) throws {
        try consumeLoop(queue: Topology.clusterQueue, type: SampleResult.type, prefetch: 16, shutdown: shutdown, environment: env) { envelope, _, redis in
            let result = try SampleResult(envelope.body)
            let state = RunState(redis: redis, run: envelope.run)
            guard result.version == (try state.snapshot().version) else {
                env.log("dropping samples of policy v\(result.version) for \(result.question.id): not the current policy")
                return
            }
            let record = Self.record(result)
            try state.recordStatistics(iteration: result.iteration, questionID: result.question.id, record)
        }
    }

    /// What Redis keeps per question: the statistics and the chosen examples
    /// (weight 1 here; the coordinator assigns weights once all N are in).
    static func record(_ result: SampleResult) -> JSON {
        let stats = AnswerClustering.statistics(responses: result.responses, gold: result.question.gold)
        let examples = ExampleSelection.examples(
            for: result.question.id, responses: result.responses, stats: stats, weight: 1, loss: result.loss,
            seed: result.seed &+ UInt64(result.version))
        return .object([
            ("question", .string(result.question.text)),
            ("n", .number(Double(stats.n))),
            ("clusters", .number(Double(stats.clusters.count))),
            ("entropy", .number(stats.entropy)),
            ("accuracy", .number(stats.accuracy)),
            ("dominant_incorrect", .number(stats.dominantIncorrect)),
            ("kept", .bool(stats.kept)),
            ("all_correct", .bool(stats.allCorrect)),
            ("examples", .array(examples.map(\.json))),
            ("sampler", .string(result.sampler)),
        ])
    }
}
