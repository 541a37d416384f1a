import EASTCore
import EASTEngine
import EASTStages
import EASTTransport
import Foundation

/// Samples `n` responses per job with the policy version the job names, the
/// run's sampling settings and seed. Any number of samplers compete for the
/// sampling queue.
///
/// Continuous batching: a sampler holds up to `jobsInHand` jobs (its
/// prefetch) and decodes every admitted job's rows in one batch
/// (`SamplingBatch`); when a job's last sample is done its result is
/// published and only then is the job acked, and the next held job takes
/// its rows. Killed with jobs in hand, it loses none: the broker redelivers
/// the unacked ones, and a redelivered job gives the same samples (its seed
/// is the job's own). Jobs of one policy version share a batch; a job of
/// another (another run, or the next iteration) waits until the batch has
/// drained, then the sampler switches. The last few policies stay loaded.
public final class SamplerWorker: Worker {
    public static let queue = Topology.sampleQueue
    public let jobsInHand: Int
    public var prefetch: Int { jobsInHand }
    let environment: WorkerEnvironment
    let maxRows: Int
    /// Where the policies come from (the network store, into this sampler's cache).
    let store: PolicyStore

    /// A job in hand: its delivery, run and settings.
    private struct Held {
        let delivery: AMQPDelivery
        let run: String
        let job: SampleJob
        let settings: SamplingSettings
        let seed: UInt64
    }
    private var waiting: [Held] = []
    private var admitted: [Int: Held] = [:]
    private var nextTag = 0
    /// The batch of the policy being sampled.
    private var batch: (run: String, version: Int, batch: SamplingBatch)?
    /// Most recently used last.
    private var policies: [(run: String, version: Int, batch: SamplingBatch)] = []
    static let loadedPolicies = 4

    /// `maxRows` samples decode together (64: eight jobs at n = 8); `jobsInHand`
    /// (default twice what fits at n = 8) keeps a job ready for every freed slot.
    public init(environment: WorkerEnvironment, maxRows: Int = 64, jobsInHand: Int? = nil) {
        self.environment = environment
        self.maxRows = maxRows
        store = environment.openPolicyStore()
        self.jobsInHand = max(1, jobsInHand ?? 2 * maxRows / 8)
    }

    public var canTake: Bool { waiting.count + admitted.count < jobsInHand }
    public var isBusy: Bool { !waiting.isEmpty || !admitted.isEmpty }
    public var stopNote: String? { isBusy ? "\(waiting.count + admitted.count) job(s) in hand returned to the queue" : nil }

    public func handle(_ job: SampleJob, _ work: Work) throws -> Disposition {
        // Staleness bound: samples of an older policy than the run's current one are not used.
        let current = try work.state.snapshot().version
        guard job.version >= current else { return .stale("sampling job of policy v\(job.version) < v\(current) for \(job.question.id)") }
        let spec = try work.spec()
        waiting.append(Held(delivery: work.delivery, run: work.run, job: job, settings: spec.sampling, seed: spec.seed))
        do {
            try admit()
        } catch {
            // The loop requeues this message itself (and the others through `abandon`).
            waiting.removeAll { $0.delivery.deliveryTag == work.delivery.deliveryTag }
            throw error
        }
        return .deferred
    }

    /// One decode step; publishes the results of the jobs it finished (one
    /// confirmed batch), then acks those jobs, in one request to the
    /// connection thread; then admits waiting jobs.
    public func advance(_ client: AMQPClient) throws {
        if let current = batch?.batch, !current.isIdle {
            let finished = current.step().map { tag, samples in (held: admitted.removeValue(forKey: tag)!, samples: samples) }
            if !finished.isEmpty {
                let messages = finished.map { f in
                    (exchange: Topology.jobsExchange, routingKey: "cluster",
                     body: SampleResult(job: f.held.job, samples: f.samples, sampler: environment.name).envelope(run: f.held.run))
                }
                let deliveries = finished.map(\.held.delivery)
                // Not waited for: the next step decodes while the connection
                // thread publishes; if the publish fails the jobs stay unacked
                // and the broker redelivers them (on a lost connection) or
                // they are requeued here.
                client.submit { connection in
                    do {
                        try connection.publish(messages)
                    } catch let error as AMQPError where error.connectionLost {
                        throw error
                    } catch {
                        for d in deliveries { try connection.nack(d, requeue: true) }
                        throw error
                    }
                    for d in deliveries { try connection.ack(d) }
                }
            }
        }
        try admit()
    }

    /// Moves waiting jobs into the batch while their policy is the batch's and rows are free.
    private func admit() throws {
        while let next = waiting.first {
            if batch == nil || (batch!.batch.isIdle && (batch!.run, batch!.version) != (next.run, next.job.version)) {
                batch = try load(run: next.run, version: next.job.version)
            }
            guard let current = batch, (current.run, current.version) == (next.run, next.job.version) else { return }
            let tag = nextTag
            guard current.batch.offer(next.job.question, tag: tag, settings: next.settings, runSeed: next.seed) else { return }
            nextTag += 1
            admitted[tag] = waiting.removeFirst()
        }
    }

    /// After a failure: every job in hand goes back to the queue.
    public func abandon(_ client: AMQPClient) throws {
        batch?.batch.cancel()
        let held = waiting + admitted.values
        waiting.removeAll()
        admitted.removeAll()
        for h in held { try client.nack(h.delivery, requeue: true) }
    }

    private func load(run: String, version: Int) throws -> (run: String, version: Int, batch: SamplingBatch) {
        if let i = policies.firstIndex(where: { $0.run == run && $0.version == version }) {
            let p = policies.remove(at: i)
            policies.append(p)
            return p
        }
        let loaded = try store.loadPolicy(run: run, version: version)
        let sampler = Sampler(model: loaded.model, maxRows: maxRows, maxSequenceLength: min(512, loaded.model.config.maxSeqLen))
        // A run's older versions are never sampled again.
        policies.removeAll { $0.run == run }
        if policies.count >= Self.loadedPolicies { policies.removeFirst() }
        let entry = (run, version, SamplingBatch(policy: loaded, sampler: sampler))
        policies.append(entry)
        environment.log("loaded policy v\(version) of run \(run)")
        return entry
    }
}
