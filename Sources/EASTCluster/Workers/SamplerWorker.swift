import EASTCore
import EASTEngine
import EASTStages
import EASTTransport
import Foundation

/// Samples `n` responses per job with the policy version the job names.
/// Any number of samplers compete for the sampling queue.
public final class SamplerWorker {
    let env: WorkerEnvironment
    private var policy: (run: String, version: Int, policy: Policy, sampler: Sampler)?

    public init(environment: WorkerEnvironment) {
        env = environment
    }

    public func run(shutdown: ShutdownSignal) throws {
        try consumeLoop(queue: Topology.sampleQueue, type: SampleJob.type, prefetch: 1, shutdown: shutdown, environment: env) { envelope, client, redis in
            let job = try SampleJob(envelope.body)
            // Staleness bound: samples of an older policy than the run's current one are not used.
            let current = try RunState(redis: redis, run: envelope.run).snapshot().version
            guard job.version >= current else {
                env.log("dropping a stale job (policy v\(job.version) < v\(current)) for \(job.question.id)")
                return
            }
            let (policy, sampler) = try load(run: envelope.run, version: job.version)
            let samples = SamplingStage.sample(policy, question: job.question, settings: job.settings, runSeed: job.seed, sampler: sampler)
            let result = SampleResult(job: job, responses: samples.responses, sampler: env.name)
            try client.publish(exchange: Topology.jobsExchange, routingKey: "cluster",
                               body: Envelope(type: SampleResult.type, run: envelope.run, body: result.body).bytes)
        }
    }

    private func load(run: String, version: Int) throws -> (Policy, Sampler) {
        if let p = policy, p.run == run, p.version == version { return (p.policy, p.sampler) }
        let loaded = try env.store.loadPolicy(run: run, version: version)
        let sampler = Sampler(model: loaded.model, maxRows: 64, maxSequenceLength: min(512, loaded.model.config.maxSeqLen))
        policy = (run, version, loaded, sampler)
        env.log("loaded policy v\(version) of run \(run)")
        return (loaded, sampler)
    }
}
