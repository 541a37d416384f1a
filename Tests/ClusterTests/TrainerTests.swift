@testable import EASTCluster
import EASTCore
import EASTEngine
import EASTStages
import EASTTransport
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
        let redis = try RedisConnection(endpoint: ClusterHarness.redis)
        let store = ClusterHarness.policyStore(.shared(shared.path))

        var spec = RunSpec(checkpoint: ClusterHarness.backbone, train: .task(.easy, split: .train, count: 8, seed: 1),
                           test: .task(.easy, split: .test, count: 4, seed: 7), sampling: SamplingSettings(n: 4, temperature: 1, topP: 1, maxNewTokens: 32))
        spec.batchSize = 2
        let questions = try spec.train.load()
        let items = questions.map { q in TrainingItem(question: q.id, example: .sft(questionID: q.id, response: "So the answer is \(q.gold).\n#### \(q.gold)", weight: 1)) }
        let batches = TrainingSession.batches(items, size: 2, epochs: 1, seed: 1)
        #expect(batches.count == 4)
        let start = try Policy.load(from: URL(fileURLWithPath: ClusterHarness.backbone), lora: spec.lora, seed: spec.seed)
        let (alone, a, b) = (Self.uniqueRun("alone"), Self.uniqueRun("interleaved-a"), Self.uniqueRun("interleaved-b"))
        for run in [alone, a, b] {
            try RunState(redis: redis, run: run).start(spec: spec, questions: questions.count, test: [])
            try store.publish(start, run: run, version: 0)
        }
        func publish(_ run: String, _ i: Int) throws {
            try broker.publish(exchange: Topology.jobsExchange, routingKey: "train",
                               body: TrainBatch(iteration: 1, version: 0, index: i, count: batches.count, items: batches[i]).envelope(run: run))
        }
        for i in batches.indices { try publish(alone, i) }
        for i in batches.indices { try publish(a, i); try publish(b, i) }

        try cluster.start(.trainer, name: "trainer", arguments: ["--checkpoint-every", "3"])
        #expect(try ClusterHarness.waitFor(timeout: 300) {
            try [alone, a, b].allSatisfy { try RunState(redis: redis, run: $0).checkpoint(version: 1) != nil }
        }, "\(cluster.log("trainer"))")
        let reference = try RunState(redis: redis, run: alone).losses()
        #expect(reference.count == 4)
        // The same policy bits: the same manifest (content-addressed), and the same parameters loaded back.
        let manifest = { (run: String, version: Int) in try RunState(redis: redis, run: run).checkpoint(version: version) }
        for run in [a, b] {
            #expect(try RunState(redis: redis, run: run).losses().map(\.loss) == reference.map(\.loss), "\(cluster.log("trainer"))")
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
}
