import EASTCore
import EASTEngine
import EASTStages
import EASTTransport
import Foundation

/// Samples `n` responses for each question of a job with the policy version
/// the job names, the run's sampling settings and seed. Any number of
/// samplers compete for the sampling queue.
///
/// Continuous batching: a sampler holds up to `jobsInHand` jobs (its
/// prefetch) and decodes every admitted question's rows in one batch
/// (`SamplingBatch`); questions join one by one as rows free up, and when the
/// last question of a job is done the job's result is published and only
/// then is the job acked. Killed with jobs in hand, it loses none: the broker redelivers
/// the unacked ones, and a redelivered job gives the same samples (its seed
/// is the job's own). Jobs of one policy version share a batch; a job of
/// another (another run, or the next iteration) waits until the batch has
/// drained, then the sampler switches. The last few policies stay loaded.
public final class SamplerWorker: Worker {
    public static let queue = Topology.sampleQueue
    /// Jobs held at once: `--jobs-in-hand` when given, else enough for twice
    /// `maxRows` rows (16 jobs of one question at n = 8 and 64 rows, 2 of 8
    /// questions), sized from the first job of each shape. Fewer would leave
    /// rows idle while a job's last question finishes; more would let one
    /// sampler hoard the end of an iteration while another waits.
    public private(set) var jobsInHand: Int
    private let fixedJobsInHand: Int?
    public var prefetch: Int { jobsInHand }
    let environment: WorkerEnvironment
    let maxRows: Int
    /// Where the policies come from (the network store, into this sampler's cache).
    let store: PolicyStore
    /// Where samples are reused from and kept (see `RedisSampleStore`), on the loop's Redis connection.
    private var sampleStore: RedisSampleStore?

    /// A job in hand: its delivery, run and spec, and its questions' samples so far.
    private final class Held {
        let delivery: AMQPDelivery
        let run: String
        let job: SampleJob
        let spec: RunSpec
        /// Questions `0 ..< offered` are in the batch, done, or were found in the sample store.
        var offered = 0
        var samples: [QuestionSamples?]
        /// The questions' content addresses in the sample store (nil: no reuse).
        var keys: [String]?

        init(delivery: AMQPDelivery, run: String, job: SampleJob, spec: RunSpec) {
            (self.delivery, self.run, self.job, self.spec) = (delivery, run, job, spec)
            samples = Array(repeating: nil, count: job.questions.count)
        }

        var isComplete: Bool { !samples.contains(nil) }
    }
    /// Jobs in arrival order, until their result is handed to the connection thread.
    private var held: [Held] = []
    /// Batch tag -> the job and the index of the question decoding under it.
    private var decoding: [Int: (job: Held, index: Int)] = [:]
    private var nextTag = 0
    /// A loaded policy's batch, and its content address once asked for.
    private final class Loaded {
        let run: String
        let version: Int
        let batch: SamplingBatch
        lazy var fingerprint: String = batch.policy.fingerprint()
        init(run: String, version: Int, batch: SamplingBatch) { (self.run, self.version, self.batch) = (run, version, batch) }
    }
    /// The batch of the policy being sampled.
    private var batch: Loaded?
    /// Most recently used last.
    private var policies: [Loaded] = []
    static let loadedPolicies = 4

    /// `maxRows` samples decode together (64: eight questions at n = 8).
    public init(environment: WorkerEnvironment, maxRows: Int = 64, jobsInHand: Int? = nil) {
        self.environment = environment
        self.maxRows = maxRows
        fixedJobsInHand = jobsInHand.map { max(1, $0) }
        self.jobsInHand = fixedJobsInHand ?? Self.jobsFilling(rows: 2 * maxRows, n: 8, questionsPerJob: 1)
        store = environment.openPolicyStore()
    }

    static func jobsFilling(rows: Int, n: Int, questionsPerJob: Int) -> Int {
        let rowsPerJob = max(1, n * questionsPerJob)
        return max(1, (rows + rowsPerJob - 1) / rowsPerJob)
    }

    public var canTake: Bool { held.count < jobsInHand }
    public var isBusy: Bool { !held.isEmpty }
    public var runsInHand: Set<String> { Set(held.map(\.run)) }
    public var stopNote: String? { isBusy ? "\(held.count) job(s) in hand returned to the queue" : nil }

    public func handle(_ job: SampleJob, _ work: Work) throws -> Disposition {
        // Staleness bound: samples of an older policy than the run's current one are not used.
        let current = try work.state.snapshot().version
        guard job.version >= current else { return .stale("sampling job of policy v\(job.version) < v\(current) for \(job.label)") }
        let spec = try work.spec()
        if fixedJobsInHand == nil {
            let wanted = Self.jobsFilling(rows: 2 * maxRows, n: spec.sampling.n, questionsPerJob: job.questions.count)
            if wanted != jobsInHand {
                jobsInHand = wanted
                try work.client.setPrefetch(wanted)
                environment.log("holding \(wanted) job(s) of \(job.questions.count) question(s) at n = \(spec.sampling.n)")
            }
        }
        let entry = Held(delivery: work.delivery, run: work.run, job: job, spec: spec)
        held.append(entry)
        do {
            if environment.reuseSamples {
                // Questions whose samples the store holds (another run sampled this policy) need no decoding.
                let fingerprint = try load(run: work.run, version: job.version).fingerprint
                let keys = job.questions.map { SamplingStage.key($0, policy: fingerprint, version: job.version, settings: spec.sampling, runSeed: spec.seed) }
                entry.keys = keys
                let samples = sampleStore ?? RedisSampleStore(redis: work.redis)
                sampleStore = samples
                entry.samples = try samples.load(keys)
            }
            try admit()
        } catch {
            // The loop requeues this message itself (and the others through `abandon`).
            held.removeAll { $0.delivery.deliveryTag == work.delivery.deliveryTag }
            throw error
        }
        return .deferred
    }

    /// One decode step; publishes the results of the jobs it finished (one
    /// confirmed batch), then acks those jobs, in one request to the
    /// connection thread; then admits waiting jobs.
    public func advance(_ client: AMQPClient) throws {
        var drawn: [(key: String, samples: QuestionSamples)] = []
        if let current = batch?.batch, !current.isIdle {
            for (tag, samples) in current.step() {
                let (job, index) = decoding.removeValue(forKey: tag)!
                job.samples[index] = samples
                if let keys = job.keys { drawn.append((keys[index], samples)) }
            }
        }
        // Kept before the results go out: a run waiting on them finds them for its next job.
        if !drawn.isEmpty { try sampleStore?.save(drawn) }
        let finished = held.filter(\.isComplete)
        if !finished.isEmpty {
            held.removeAll(where: \.isComplete)
            let messages = finished.map { f in
                (exchange: Topology.jobsExchange, routingKey: "cluster",
                 body: SampleResult(job: f.job, samples: f.samples.map { $0! }, sampler: environment.name).envelope(run: f.run))
            }
            let deliveries = finished.map(\.delivery)
            // Not waited for: the next step decodes while the connection
            // thread publishes; if the publish fails the jobs stay unacked
            // and the broker redelivers them (on a lost connection, which a
            // publish the broker keeps refusing counts as) or they are
            // requeued here.
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
        try admit()
    }

    /// Moves questions of held jobs, in order, into the batch while their
    /// policy is the batch's and rows are free.
    private func admit() throws {
        for job in held { while job.offered < job.samples.count, job.samples[job.offered] != nil { job.offered += 1 } }
        while let next = held.first(where: { $0.offered < $0.job.questions.count }) {
            if batch == nil || (batch!.batch.isIdle && (batch!.run, batch!.version) != (next.run, next.job.version)) {
                batch = try load(run: next.run, version: next.job.version)
            }
            guard let current = batch, (current.run, current.version) == (next.run, next.job.version) else { return }
            let tag = nextTag
            guard current.batch.offer(next.job.questions[next.offered], tag: tag, settings: next.spec.sampling, runSeed: next.spec.seed) else { return }
            nextTag += 1
            decoding[tag] = (next, next.offered)
            next.offered += 1
            while next.offered < next.samples.count, next.samples[next.offered] != nil { next.offered += 1 }
        }
    }

    /// After a failure: every job in hand goes back to the queue.
    public func abandon(_ client: AMQPClient) throws -> [AMQPDelivery] {
        batch?.batch.cancel()
        let deliveries = held.map(\.delivery)
        held.removeAll()
        decoding.removeAll()
        for d in deliveries { try client.nack(d, requeue: true) }
        return deliveries
    }

    private func load(run: String, version: Int) throws -> Loaded {
        if let i = policies.firstIndex(where: { $0.run == run && $0.version == version }) {
            let p = policies.remove(at: i)
            policies.append(p)
            return p
        }
        let loaded = try store.loadPolicy(run: run, version: version)
        loaded.adopt(try specs(run))
        let sampler = loaded.sampler(rows: max(maxRows, try specs(run).sampling.n))
        // A run's older versions are never sampled again.
        policies.removeAll { $0.run == run }
        if policies.count >= Self.loadedPolicies { policies.removeFirst() }
        let entry = Loaded(run: run, version: version, batch: SamplingBatch(policy: loaded, sampler: sampler))
        policies.append(entry)
        environment.log("loaded policy v\(version) of run \(run)")
        return entry
    }

    /// The spec of a run with a job in hand.
    private func specs(_ run: String) throws -> RunSpec {
        guard let spec = held.first(where: { $0.run == run })?.spec else { throw MessageError("no job of run \(run) in hand", run: run) }
        return spec
    }
}
