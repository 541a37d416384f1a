import EASTCore
import EASTEngine
import EASTStages
import EASTTransport
import Foundation

/// Samples `n` responses per job with the policy version the job names, the
/// run's sampling settings and seed. Any number of samplers compete for the
/// sampling queue. Jobs of several runs may interleave (an experiment's
/// runs share the samplers), so the last few policies stay loaded.
public final class SamplerWorker: Worker {
    public static let queue = Topology.sampleQueue
    /// Most recently used last.
    private var policies: [(run: String, version: Int, policy: Policy, sampler: Sampler)] = []
    static let loadedPolicies = 4

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
        if let i = policies.firstIndex(where: { $0.run == run && $0.version == version }) {
            let p = policies.remove(at: i)
            policies.append(p)
            return (p.policy, p.sampler)
        }
        let loaded = try env.store.loadPolicy(run: run, version: version)
        let sampler = Sampler(model: loaded.model, maxRows: 64, maxSequenceLength: min(512, loaded.model.config.maxSeqLen))
        // A run's older versions are never sampled again.
        policies.removeAll { $0.run == run }
        if policies.count >= Self.loadedPolicies { policies.removeFirst() }
        policies.append((run, version, loaded, sampler))
        env.log("loaded policy v\(version) of run \(run)")
        return (loaded, sampler)
    }
}
