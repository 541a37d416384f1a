import EASTCore
import EASTEngine
import EASTStages
import EASTTransport
import Foundation

/// On every checkpoint-ready event, splits the run's test set into shards
/// of `shardSize` questions and publishes one `EvalShard` job per shard, so
/// that any number of evaluator replicas share a version's evaluation.
public final class EvaluationSplitter: Worker {
    public static let queue = Topology.checkpointQueue
    public let shardSize: Int
    /// It only publishes: its waiting is not the evaluator's idle time.
    public var countsUtilisation: Bool { false }

    public init(shardSize: Int = 128) {
        self.shardSize = max(1, shardSize)
    }

    public func handle(_ event: CheckpointReady, _ work: Work) throws -> Disposition {
        let state = work.state
        if try state.accuracies()[event.version] != nil { return .done }  // already measured
        let count = try state.testQuestions().count
        guard count > 0 else {  // nothing to measure (only tests make such runs); a shard of 0 questions would be dead-lettered
            work.environment.log("run \(work.run) v\(event.version): no test questions, nothing to evaluate")
            return .done
        }
        let shards = (count + shardSize - 1) / shardSize
        let per = (count + shards - 1) / shards
        let jobs = (0..<shards).map { i in
            (exchange: Topology.jobsExchange, routingKey: "eval",
             body: EvalShard(version: event.version, manifest: event.manifest, shard: i, shards: shards, start: i * per,
                             count: min(per, count - i * per)).envelope(run: work.run))
        }
        try work.client.publish(jobs)
        return .done
    }
}

/// Greedy-decodes one shard of a run's test questions (stored in Redis
/// with the run) with the shard's policy version and records its results;
/// the evaluator that records a version's last shard assembles the
/// accuracy and every question's result (exactly once under redelivery:
/// shards are recorded with HSETNX, and assembling is idempotent).
public final class EvaluatorWorker: Worker {
    public static let queue = Topology.evalQueue
    private var policy: (run: String, version: Int, policy: Policy, sampler: Sampler)?
    let policies: PolicyStore

    public init(environment: WorkerEnvironment) { policies = environment.openPolicyStore() }

    public func handle(_ shard: EvalShard, _ work: Work) throws -> Disposition {
        let state = work.state
        if try state.accuracies()[shard.version] != nil { return .done }  // already measured
        var results: [QuestionResult]?
        if try !state.hasEvaluationShard(version: shard.version, shard: shard.shard) {
            let spec = try work.spec()
            let questions = try state.testQuestions()
            guard shard.start + shard.count <= questions.count else {
                throw MessageError("evaluation shard \(shard.shard) reaches question \(shard.start + shard.count) of \(questions.count)")
            }
            let (policy, sampler) = try load(run: work.run, version: shard.version, manifest: shard.manifest, spec: spec)
            results = try EvaluationStage.evaluate(policy, questions: Array(questions[shard.start..<(shard.start + shard.count)]),
                                                   maxNewTokens: spec.evalMaxNewTokens, sampler: sampler, batch: 32,
                                                   store: work.environment.reuseSamples ? RedisSampleStore(redis: work.redis) : nil).questions
            work.environment.log("run \(work.run) v\(shard.version): evaluated shard \(shard.shard + 1) of \(shard.shards) (\(shard.count) questions)")
        }
        if let result = try state.recordEvaluationShard(version: shard.version, shard: shard.shard, shards: shard.shards, results) {
            work.environment.metrics.gauge("accuracy", [("run", work.run), ("version", String(shard.version))]).record(result.accuracy)
            work.environment.log(String(format: "run %@ policy v%d: greedy accuracy %.1f%% (%d/%d, %d shards)", work.run, shard.version,
                                        result.accuracy * 100, result.correct, result.total, shard.shards))
        }
        return .done
    }

    /// The shard's policy, from this evaluator's cache or the store (a
    /// manifest other than the version's recorded one is refused).
    private func load(run: String, version: Int, manifest: String, spec: RunSpec) throws -> (Policy, Sampler) {
        if let p = policy, p.run == run, p.version == version { return (p.policy, p.sampler) }
        let loaded = try policies.loadPolicy(run: run, version: version, manifest: manifest)
        loaded.adopt(spec)
        let sampler = loaded.sampler(rows: 32)
        policy = (run, version, loaded, sampler)
        return (loaded, sampler)
    }
}
