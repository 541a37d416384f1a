import EASTCore
import EASTEngine
import EASTStages
import EASTTransport
import Foundation

/// Samples `n` responses per job with the policy version the job names, the
/// run's sampling settings and seed. Any number of samplers compete for the
/// sampling queue.
public final class SamplerWorker: Worker {
    public static let queue = Topology.sampleQueue
    private var policy: (run: String, version: Int, policy: Policy, sampler: Sampler)?

    public init() {}

    public func handle(_ job: SampleJob, _ work: Work) throws -> Disposition {
        // Staleness bound: samples of an older policy than the run's current one are not used.
        let current = try work.state.snapshot().version
        guard job.version >= current else { return .stale("sampling job of policy v\(job.version) < v\(current) for \(job.question.id)") }
        let spec = try work.spec()
        let (policy, sampler) = try load(run: work.run, version: job.version, work.environment)
        let samples = SamplingStage.sample(policy, question: job.question, settings: spec.sampling, runSeed: spec.seed, sampler: sampler)
        try work.publish(SampleResult(job: job, samples: samples, sampler: work.environment.name), routingKey: "cluster")
        return .done
    }

    private func load(run: String, version: Int, _ env: WorkerEnvironment) throws -> (Policy, Sampler) {
        if let p = policy, p.run == run, p.version == version { return (p.policy, p.sampler) }
        let loaded = try env.store.loadPolicy(run: run, version: version)
        let sampler = Sampler(model: loaded.model, maxRows: 64, maxSequenceLength: min(512, loaded.model.config.maxSeqLen))
        policy = (run, version, loaded, sampler)
        env.log("loaded policy v\(version) of run \(run)")
        return (loaded, sampler)
    }
}
