@testable import EASTCluster
import EASTCore
import EASTStages
import EASTTransport
import Foundation
import Testing

/// Policies through the network store, end to end: workers with private
/// caches, retention, and messages that name paths or wrong hashes. (Part
/// of the serialized cluster suite.)
extension ClusterTests {
    /// Two samplers, each with an empty cache of its own, complete a
    /// two-iteration run; with `--keep-versions 1` the run ends keeping only
    /// its last version: the older manifests are gone from Redis.
    @Test func samplersWithPrivateCachesCompleteARunAndRetentionDeletesOldVersions() throws {
        let cluster = try ClusterHarness.cluster()
        defer { cluster.stop() }
        let retention = ["--keep-versions", "1", "--retention-grace", "2"]
        try cluster.startWorkers(samplers: 2, arguments: [.trainer: retention])
        let run = Self.uniqueRun("privatecaches")
        // A seed no other test uses: v1 and v2 are then this run's own bytes (content addressing
        // shares identical saves between runs, and another run's would keep them).
        try cluster.startCoordinator(run: run, extra: ["--iterations", "2", "--seed", "9173"] + retention)
        let state = try ClusterHarness.state(run)
        var seen: [Int: String] = [:]
        while cluster.processes["coordinator-\(run)"]?.isRunning == true {
            seen.merge(try state.checkpoints()) { a, _ in a }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let (status, output) = cluster.finishCoordinator(run: run)
        #expect(status == 0, "\(output)\nsampler-1: \(cluster.log("sampler-1"))\ntrainer: \(cluster.log("trainer"))")
        #expect(try state.recordCount(iteration: 1) == 16 && state.recordCount(iteration: 2) == 16)
        let samplers = try state.records(iteration: 1).values.compactMap(\.sampler) + state.records(iteration: 2).values.compactMap(\.sampler)
        #expect(Set(samplers) == ["sampler-1", "sampler-2"])
        let caches = try #require(cluster.caches)
        for name in ["sampler-1", "sampler-2"] {
            #expect(cluster.log(name).contains("policy store redis, cache \(caches.appendingPathComponent(name).path)"))
            #expect(cluster.log(name).contains("loaded policy v"))
        }

        #expect(Set(seen.keys) == [0, 1, 2], "\(seen)")
        #expect(try state.checkpoints() == [2: try #require(seen[2])])
        // Blobs used within the grace wait for the next sweep (any worker's, after its next save).
        Thread.sleep(forTimeInterval: 2.2)
        ClusterHarness.policyStore(retention: .init(keepVersions: 1, grace: 2)).sweep()
        let redis = try RedisConnection(address: ClusterHarness.redis)
        let blobs = RedisBlobStore(redis: redis)
        #expect(try !RunState.recordedManifests(redis).contains(try #require(seen[1])))
        #expect(try !blobs.exists(try #require(seen[1])))
        // v0 is the backbone, byte for byte the v0 of every other run: it stays exactly while another run records it.
        #expect(try blobs.exists(try #require(seen[0])) == RunState.recordedManifests(redis).contains(try #require(seen[0])))
        #expect(try blobs.exists(try #require(seen[2])))
        #expect(try state.trainerState() == nil)  // a finished run needs no resume point
        #expect(try state.accuracies().keys.sorted() == [0, 1, 2])
    }

    /// A LoRA run whose base (a checkpoint folder) is moved away from its
    /// path once the coordinator has published v0: samplers, trainer and
    /// evaluator, each with an empty cache, fetch the base from the store
    /// (the adapter's manifest names the base's), and the run gives the
    /// in-process run's results (computed with the base back in place).
    /// Before, every worker read the path in `base.json` and the trainer
    /// failed. The retired versions' base stays while a kept save names it.
    @Test func anAdapterRunFetchesItsBaseFromTheStore() throws {
        let cluster = try ClusterHarness.cluster()
        defer { cluster.stop() }
        let base = ClusterHarness.temporaryFolder("lora-base"), away = ClusterHarness.temporaryFolder("lora-base-away")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: ClusterHarness.backbone), to: base)
        try cluster.startWorkers(samplers: 1)
        let run = Self.uniqueRun("lorabase")
        var settings = ClusterHarness.smallRun
        settings[settings.firstIndex(of: ClusterHarness.backbone)!] = base.path
        try cluster.startCoordinator(run: run, settings: settings, extra: ["--lora-rank", "4", "--seed", "9175"])
        let state = try ClusterHarness.state(run)
        #expect(try ClusterHarness.waitFor(timeout: 120, poll: 0.02) { try state.checkpoint(version: 0) != nil })
        try FileManager.default.moveItem(at: base, to: away)
        let (status, output) = cluster.finishCoordinator(run: run)
        try #require(status == 0, "\(output)\ntrainer: \(cluster.log("trainer").suffix(3000))\nsampler-1: \(cluster.log("sampler-1").suffix(2000))")
        #expect(try state.accuracies().keys.sorted() == [0, 1])
        let redis = try RedisConnection(address: ClusterHarness.redis)
        let store = ClusterHarness.policyStore()
        let v1 = try #require(try state.checkpoint(version: 1))
        let baseManifest = try #require(try store.manifest(v1)?.base)
        #expect(try RedisBlobStore(redis: redis).exists(baseManifest))
        try FileManager.default.moveItem(at: away, to: base)
        try InProcessReference.expectSameResults(state)
    }

    /// `east cluster up` hands its worker options on: with `--keep-versions
    /// 1` the trainer and the coordinator of a two-iteration run keep only
    /// its last version (the workers' default, 2, would keep v1 too).
    @Test func clusterUpHandsItsRetentionOptionsToTheWorkers() throws {
        let cluster = try ClusterHarness.cluster()
        defer { cluster.stop() }
        let run = Self.uniqueRun("clusterup")
        let logs = ClusterHarness.temporaryFolder("clusterup-logs")
        try cluster.start(executable: "east", name: "up", arguments: [
            "cluster", "up", "--samplers", "1", "--keep-versions", "1", "--retention-grace", "0", "--logs", logs.path, "--",
            "--run-id", run, "--iterations", "2", "--seed", "9174"] + ClusterHarness.smallRun)
        let status = cluster.wait("up", timeout: 600)
        let trainerLog = (try? String(contentsOf: logs.appendingPathComponent("trainer.log"), encoding: .utf8)) ?? ""
        try #require(status == 0, "\(cluster.log("up"))\ntrainer: \(trainerLog.suffix(3000))")
        #expect(try ClusterHarness.state(run).checkpoints().keys.sorted() == [2])
    }

    /// A checkpoint event naming a path, and shards whose manifest is a
    /// path or not the version's, are dead-lettered with a line saying
    /// why; a correct event is evaluated by an evaluator whose cache starts empty.
    @Test func messagesNamingAPathOrABadHashAreDeadLettered() throws {
        let cluster = try ClusterHarness.cluster()
        defer { cluster.stop() }
        let broker = try ClusterHarness.broker()
        try Topology.standard.declare(on: broker)
        for queue in [Topology.deadLetterQueue, Topology.checkpointQueue, Topology.evalQueue] { try broker.purgeQueue(queue) }
        let run = Self.uniqueRun("badpolicy")
        let spec = RunSpec(checkpoint: ClusterHarness.backbone, train: .task(.easy, split: .train, count: 4, seed: 1),
                           test: .task(.easy, split: .test, count: 4, seed: 7), sampling: SamplingSettings(n: 4, temperature: 1, topP: 1, maxNewTokens: 32))
        let state = try ClusterHarness.state(run)
        try state.start(spec: spec, questions: 4, test: try spec.test.load(), prompt: "plain")
        let manifest = try ClusterHarness.policyStore().publish(try Policy.load(from: URL(fileURLWithPath: ClusterHarness.backbone)), run: run, version: 0)
        try cluster.start(.evaluator, name: "evaluator")

        let legacy = #"{"schema":1,"type":"checkpoint_ready","run":"\#(run)","body":{"version":0,"path":"/srv/east-store/policy-v0"}}"#
        try broker.publish(exchange: Topology.eventsExchange, routingKey: "checkpoint.ready", body: Array(legacy.utf8))
        let wrong = SHA256.hex("not the policy")
        for bad in [wrong, "../../policy-v0"] {
            try broker.publish(exchange: Topology.jobsExchange, routingKey: "eval",
                               body: EvalShard(version: 0, manifest: bad, shard: 0, shards: 1, start: 0, count: 4).envelope(run: run))
        }
        #expect(try ClusterHarness.waitFor(timeout: 120) { try broker.inspectQueue(Topology.deadLetterQueue).messages == 3 },
                "\(cluster.log("evaluator"))")
        let log = cluster.log("evaluator")
        #expect(log.contains("names a path (/srv/east-store/policy-v0); policies travel as a version and a manifest sha256, never a path"), "\(log)")
        #expect(log.contains("names manifest \(wrong) for policy v0 of run \(run), whose manifest is \(manifest): refused"), "\(log)")
        #expect(log.contains(#"field "manifest" names a path (../../policy-v0)"#), "\(log)")
        #expect(try state.failures().deadLettered == 3)
        #expect(try state.accuracies().isEmpty)

        try broker.publish(exchange: Topology.eventsExchange, routingKey: "checkpoint.ready",
                           body: CheckpointReady(version: 0, manifest: manifest).envelope(run: run))
        #expect(try ClusterHarness.waitFor(timeout: 300) { try state.accuracies()[0] != nil }, "\(cluster.log("evaluator"))")
        #expect(FileManager.default.fileExists(atPath: try #require(cluster.caches).appendingPathComponent("evaluator").appendingPathComponent(manifest).path))
        try broker.purgeQueue(Topology.deadLetterQueue)
    }
}
