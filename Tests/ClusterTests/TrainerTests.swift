@testable import EASTCluster
import EASTCore
import EASTEngine
import EASTStages
@testable import EASTTransport
import Foundation
import Testing

/// The one trainer serving several runs at once (an experiment's runs on
/// the cluster). (Part of the serialized cluster suite.)
extension ClusterTests {
    /// Batches of two runs interleaved in the train queue, as concurrent
    /// coordinators publish them, train each run exactly as if it were
    /// alone: the same losses and the same policy bits. Saving every 3
    /// batches makes the trainer save both runs while both hold unsaved
    /// batches (the broker sends no more until it acks). Policies go
    /// through a shared folder here (`--policy-store shared:/path`, the
    /// option for clusters that have one).
    @Test func interleavedRunsTrainAsIfAlone() throws {
        let shared = ClusterHarness.temporaryFolder("shared-policies")
        let cluster = try ClusterHarness.cluster(policies: .shared(shared.path))
        defer { cluster.stop() }
        let broker = try ClusterHarness.broker()
        try Topology.standard.declare(on: broker)
        try broker.purgeQueue(Topology.trainQueue)
        let redis = try RedisConnection(address: ClusterHarness.redis)
        let store = ClusterHarness.policyStore(.shared(shared.path))

        let fixture = try TrainingFixture(questionSeed: 1)
        let batches = fixture.batches
        #expect(batches.count == 4)
        let (alone, a, b) = (Self.uniqueRun("alone"), Self.uniqueRun("interleaved-a"), Self.uniqueRun("interleaved-b"))
        try fixture.start([alone, a, b], redis: redis, store: store)
        func publish(_ run: String, _ i: Int) throws { try fixture.publish(run, i, on: broker) }
        for i in batches.indices { try publish(alone, i) }
        for i in batches.indices { try publish(a, i); try publish(b, i) }

        try cluster.start(.trainer, name: "trainer", arguments: ["--checkpoint-every", "3"])
        #expect(try ClusterHarness.waitFor(timeout: 300) {
            try [alone, a, b].allSatisfy { try RunState(redis: redis, run: $0).checkpoint(version: 1) != nil }
        }, "\(cluster.log("trainer"))")
        let reference = try RunState(redis: redis, run: alone).trainingSteps().map(\.step)
        #expect(reference.count == 4)
        // The same policy bits: the same manifest (content-addressed), and the same parameters loaded back.
        let manifest = { (run: String, version: Int) in try RunState(redis: redis, run: run).checkpoint(version: version) }
        for run in [a, b] {
            #expect(try RunState(redis: redis, run: run).trainingSteps().map(\.step.loss) == reference.map(\.loss), "\(cluster.log("trainer"))")
            #expect(try manifest(run, 1) == manifest(alone, 1))
        }
        #expect(try manifest(alone, 1) != manifest(alone, 0))
        let trained = try store.loadPolicy(run: a, version: 1)
        #expect(trained.model.parameters.array == (try store.loadPolicy(run: alone, version: 1)).model.parameters.array)
        // The blobs are files in the shared folder; nothing of them in Redis.
        let trainedManifest = try #require(try manifest(a, 1))
        #expect(FileManager.default.fileExists(atPath: shared.appendingPathComponent("blobs").appendingPathComponent(trainedManifest).path))
        #expect(try !RedisBlobStore(redis: redis).exists(trainedManifest))
    }

    /// A worker failing on a message while it holds earlier ones deferred
    /// (the trainer between saves) gets them all back in the order they first
    /// came: the held ones, the failed one, then those the broker sent ahead
    /// (prefetch). Returned the other way round
    /// (as before), a trainer restarting from its save would train the failed
    /// batch before the earlier ones: another model, silently. Nothing is
    /// acked or nacked twice (a second nack of one delivery tag closes the
    /// channel: the deliveries' connection generation would change).
    @Test func aFailureReturnsTheHeldMessagesBeforeTheFailedOne() throws {
        let broker = try ClusterHarness.broker()
        try Topology.standard.declare(on: broker)
        try broker.purgeQueue(Topology.trainQueue)
        let run = Self.uniqueRun("order")
        for i in 0..<6 {
            try broker.publish(exchange: Topology.jobsExchange, routingKey: "train",
                               body: TrainBatch(iteration: 1, version: 0, index: i, count: 6, items: [Self.anItem]).envelope(run: run))
        }
        let worker = HoldingWorker(holdThenFailAt: 3)
        let env = WorkerEnvironment(name: "order-test", role: "trainer", amqp: ClusterHarness.amqp, redis: ClusterHarness.redis,
                                    policies: .init(cache: ClusterHarness.temporaryFolder("order-cache")), log: { _ in })
        let stop = StopFlag()
        worker.stop = stop
        try WorkerLoop.run(worker, environment: env, stop: stop)
        #expect(worker.arrivals == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5])
        #expect(Set(worker.generations).count == 1, "the channel was closed: \(worker.generations)")
        #expect(try RunState(redis: RedisConnection(address: ClusterHarness.redis), run: run).failures().requeued == 1)
    }

    /// A second copy of a run's batches (a coordinator that published them
    /// again) trains nothing twice, and batches out of order fail the run
    /// loudly instead of training another model.
    @Test func duplicateBatchesTrainOnceAndOutOfOrderOnesFail() throws {
        let cluster = try ClusterHarness.cluster()
        defer { cluster.stop() }
        let broker = try ClusterHarness.broker()
        try Topology.standard.declare(on: broker)
        try broker.purgeQueue(Topology.trainQueue)
        let redis = try RedisConnection(address: ClusterHarness.redis)
        let store = ClusterHarness.policyStore()
        // Questions no other test trains on: policies are content-addressed, and
        // interleavedRunsTrainAsIfAlone's (shared folder) must not be in Redis.
        let fixture = try TrainingFixture(questionSeed: 3)
        let batches = fixture.batches
        let (once, twice, shuffled) = (Self.uniqueRun("once"), Self.uniqueRun("twice"), Self.uniqueRun("shuffled"))
        try fixture.start([once, twice, shuffled], redis: redis, store: store)
        func publish(_ run: String, _ i: Int) throws { try fixture.publish(run, i, on: broker) }
        for i in batches.indices { try publish(once, i) }
        // Copies while the originals are unsaved (0 after 1) and after a save (1 after 3).
        for i in [0, 1, 0, 2, 3, 1, 2, 3] { try publish(twice, i) }
        for i in [0, 2, 1, 3] { try publish(shuffled, i) }

        try cluster.start(.trainer, name: "trainer", arguments: ["--checkpoint-every", "3"])
        let state = { (run: String) in RunState(redis: redis, run: run) }
        #expect(try ClusterHarness.waitFor(timeout: 300) {
            try state(once).checkpoint(version: 1) != nil && state(twice).checkpoint(version: 1) != nil && state(shuffled).failures().deadLettered > 0
        }, "\(cluster.log("trainer"))")
        #expect(try state(twice).trainingSteps().map(\.step.loss) == state(once).trainingSteps().map(\.step.loss))
        #expect(try state(twice).checkpoint(version: 1) == state(once).checkpoint(version: 1))
        #expect(try state(twice).failures() == RunState.Failures(deadLettered: 0, requeued: 0, last: nil))
        #expect(try state(shuffled).checkpoint(version: 1) == nil)
        // The first refusal is batch 2's ("arrived before batch 1"); its
        // retries also spend batch 0's tries, so the last may name another.
        let refused = try state(shuffled).failures()
        #expect(refused.last?.contains("of iteration 1 of run \(shuffled) arrived before batch") == true, "\(refused)")
        #expect(cluster.log("trainer").contains("batch 2 of iteration 1 of run \(shuffled) arrived before batch 1"))
        cluster.stop()
        // The shuffled run's rest and the new versions' events (no evaluator here): no later test must get them.
        for queue in [Topology.trainQueue, Topology.checkpointQueue, Topology.deadLetterQueue] { try broker.purgeQueue(queue) }
    }

    /// After a broker reconnect the broker has requeued the trainer's
    /// unsaved batches, and their copies arrive on the new connection: the
    /// trainer steps them again from its save and holds them (acks of the
    /// old connection's tags do nothing). Acking them as duplicates of the
    /// old ones, as before, lost them to any later failure. (The trainer's
    /// handler driven directly, so the renewed connection is exact.)
    @Test func aRenewedConnectionRestartsTheTrainerFromItsSaves() throws {
        let redis = try RedisConnection(address: ClusterHarness.redis)
        let store = ClusterHarness.policyStore()
        let fixture = try TrainingFixture(questionSeed: 4)
        let run = Self.uniqueRun("renewed")
        try fixture.start([run], redis: redis, store: store)
        let env = WorkerEnvironment(name: "renewed-test", role: "trainer", amqp: ClusterHarness.amqp, redis: ClusterHarness.redis,
                                    policies: .init(cache: ClusterHarness.temporaryFolder("renewed-cache")), log: { _ in })
        let client = try env.connectBroker(prefetch: 1)
        defer { client.close() }
        let trainer = TrainerWorker(environment: env, checkpointEvery: 8)
        let specs = SpecCache()
        func handle(_ index: Int, generation: Int) throws -> Bool {  // whether the trainer holds it (deferred)
            let delivery = AMQPDelivery(body: [], deliveryTag: UInt64(10 * generation + index), redelivered: generation > 1,
                                        exchange: Topology.jobsExchange, routingKey: "train", generation: generation)
            let work = Work(run: run, delivery: delivery, client: client, redis: redis, environment: env, specs: specs)
            if case .deferred = try trainer.handle(fixture.batch(index), work) { return true }
            return false
        }
        #expect(try handle(0, generation: 1) && handle(1, generation: 1))
        #expect(trainer.stopNote == "2 unsaved batch(es) returned to the queue")
        // The connection is renewed; the broker sends batch 0 again.
        #expect(try handle(0, generation: 2), "acked as a copy: lost if the trainer then fails")
        #expect(trainer.stopNote == "1 unsaved batch(es) returned to the queue")
        #expect(try handle(1, generation: 2))
        #expect(try RunState(redis: redis, run: run).trainingSteps().count == 2)
    }

    static let anItem = TrainingItem(question: "q", example: .sft(questionID: "q", response: "#### 1", weight: 1))
}

/// What the tests that feed the trainer directly train on: eight questions
/// of the embedded task as SFT examples, in four batches of two. Each seed
/// gives other questions: policies are content-addressed, so tests that must
/// not share trained bytes take different seeds.
struct TrainingFixture {
    let spec: RunSpec
    let questions: [Question]
    let batches: [[TrainingItem]]

    init(questionSeed: UInt64) throws {
        var spec = RunSpec(checkpoint: ClusterHarness.backbone, train: .task(.easy, split: .train, count: 8, seed: questionSeed),
                           test: .task(.easy, split: .test, count: 4, seed: 7), sampling: SamplingSettings(n: 4, temperature: 1, topP: 1, maxNewTokens: 32))
        spec.batchSize = 2
        self.spec = spec
        questions = try spec.train.load()
        let items = questions.map { q in TrainingItem(question: q.id, example: .sft(questionID: q.id, response: "So the answer is \(q.gold).\n#### \(q.gold)", weight: 1)) }
        batches = TrainingSession.batches(items, size: 2, epochs: 1, seed: 1)
    }

    /// Starts each run on it: the spec in Redis, the backbone as v0 in `store`.
    func start(_ runs: [String], redis: RedisConnection, store: PolicyStore) throws {
        let start = try Policy.load(from: URL(fileURLWithPath: ClusterHarness.backbone), lora: spec.lora, seed: spec.seed)
        for run in runs {
            try RunState(redis: redis, run: run).start(spec: spec, questions: questions.count, test: [], prompt: start.format.description)
            try store.publish(start, run: run, version: 0)
        }
    }

    func batch(_ index: Int) -> TrainBatch {
        TrainBatch(iteration: 1, version: 0, index: index, count: batches.count, items: batches[index])
    }

    func publish(_ run: String, _ index: Int, on broker: AMQPConnection) throws {
        try broker.publish(exchange: Topology.jobsExchange, routingKey: "train", body: batch(index).envelope(run: run))
    }
}

/// Defers every message (as the trainer does between saves) and fails once,
/// on its `holdThenFailAt`-th; acks what it holds when it has seen every
/// message of the test's six, then stops the loop.
final class HoldingWorker: Worker {
    static let queue = Topology.trainQueue
    var prefetch: Int { 8 }
    var keepsOrder: Bool { true }
    let failAt: Int
    var held: [AMQPDelivery] = []
    var arrivals: [Int] = []
    var generations: [Int] = []
    var failed = false
    var stop: StopFlag?

    init(holdThenFailAt: Int) { failAt = holdThenFailAt }

    func handle(_ batch: TrainBatch, _ work: Work) throws -> Disposition {
        arrivals.append(batch.index)
        generations.append(work.delivery.generation)
        if batch.index == failAt, !failed {
            failed = true
            Thread.sleep(forTimeInterval: 0.5)  // so that the broker's next two (prefetch) wait in the client
            throw TrainerWorker.TrainerError("failing batch \(batch.index) once")
        }
        held.append(work.delivery)
        if batch.index == batch.count - 1 {
            for d in held { try work.client.ack(d) }
            held.removeAll()
            stop?.request()
        }
        return .deferred
    }

    func abandon(_ client: AMQPClient) throws -> [AMQPDelivery] {
        defer { held.removeAll() }
        for d in held { try client.nack(d, requeue: true) }
        return held
    }
}
