import EASTCluster
import EASTCore
import EASTTransport
import Foundation
import Testing

/// Failure drills on the highly available set (`NetworkHosts`' "ha" host:
/// three clustered RabbitMQ nodes, a Redis primary and replica, three
/// sentinels), with the workers and the coordinator on their hosts as in the
/// other multi-host tests. Each run must complete with every question
/// recorded once, every batch trained once, and the in-process run's
/// reports, losses, accuracies and per-question results. The drills share
/// the suite's hosts (one boot of the set); each leaves the set whole again
/// (`scripts/servers.sh start --ha` brings back what it killed).
extension MultiHostTests {
    func haState(_ run: String) throws -> RunState { RunState(redis: try RedisConnection(address: hosts.haRedis), run: run) }

    /// The drills' common end: the run finished, nothing lost, nothing doubled, nothing different.
    func expectCompleteAndEqual(_ cluster: LocalCluster, run: String, questions: Int, state: RunState) throws {
        let (status, output) = cluster.finishCoordinator(run: run, timeout: 400)
        try #require(status == 0, "\(output)\n\(logs(cluster, run: run))")
        #expect(try state.recordCount(iteration: 1) == questions)
        #expect(try state.failures().deadLettered == 0)
        let report = try #require(try state.reports().first)
        #expect(report.questions == questions && report.kept + report.droppedAllRight + report.droppedAllWrong == questions)
        let batches = try state.trainingSteps().map(\.batch)
        #expect(batches.count == report.steps && Set(batches).count == batches.count, "batches trained: \(batches)")
        try InProcessReference.expectSameResults(state)
    }

    /// The broker node port of the set's node `n`.
    func brokerNode(_ n: Int) -> String { hosts.haAMQP[n - 1].hostAndPort }

    /// The worker entries `east status` shows, by name.
    func registry() throws -> [String: WorkerRegistry.Entry] {
        Dictionary(try WorkerRegistry.alive(try RedisConnection(address: hosts.haRedis)).map { ($0.name, $0) }, uniquingKeysWith: { $1 })
    }

    static let workerNames = ["trainer", "evaluator", "clusterer", "sampler-1", "sampler-2"]

    /// SIGKILL of the Redis primary; waits until the sentinels name the
    /// replica, then brings the old primary back (as a replica of the new
    /// one); seconds until the promotion.
    func killRedisPrimary() throws -> (killed: Endpoint, promoted: Endpoint, seconds: Double) {
        let primary = try RedisConnection(address: hosts.haRedis).endpoint
        let node = primary.port - hosts.haRedisBasePort + 1
        try hosts.killServer("redis-\(node)")
        let killed = Date()
        var promoted: Endpoint?
        _ = ClusterHarness.waitFor(timeout: 60, poll: 0.1) {
            promoted = (try? RedisConnection(address: hosts.haRedis, timeout: 2))?.endpoint
            return promoted != nil && promoted != primary
        }
        let seconds = Date().timeIntervalSince(killed)
        try hosts.restartHighlyAvailableSet()
        return (primary, try #require(promoted.flatMap { $0 == primary ? nil : $0 }, "the sentinels promoted no replica"), seconds)
    }

    /// Every queue has a replica on each node, so that losing any one node
    /// leaves each queue a majority (with two replicas it would have none).
    func requireThreeReplicas() throws {
        let queues = try hosts.queueNodes()
        try #require(queues.count == Topology.standard.queues.count && queues.values.allSatisfy { $0.members == [1, 2, 3] }, "\(queues)")
    }

    /// (a) The broker node that leads the queues dies (SIGKILL) mid-sampling.
    /// Every worker starts on the first node of its list; those on the dead
    /// node reconnect to the next, consumers resume, unconfirmed publishes
    /// are sent again, and the quorum queues elect a leader among the two
    /// nodes left. The node is brought back mid-run and rejoins.
    @Test func brokerNodeLeadingTheQueuesKilledMidSampling() throws {
        let cluster = try hosts.cluster(highlyAvailable: true)
        defer { cluster.stop() }
        try startWorkers(cluster)
        let leader = try #require(try hosts.leader(of: Topology.sampleQueue), "no leader for \(Topology.sampleQueue)")
        try requireThreeReplicas()
        // `east status`: every worker on the first node, writing to the primary.
        #expect(try ClusterHarness.waitFor(timeout: 30) {
            let entries = try registry()
            return Self.workerNames.allSatisfy { entries[$0]?.broker == brokerNode(1) && entries[$0]?.redis != nil }
        }, "\((try? registry()) ?? [:])")
        let run = Self.uniqueRun("leader")
        try startCoordinator(cluster, run: run, extra: ["--train-count", "96"])
        let state = try haState(run)
        #expect(try ClusterHarness.waitFor(timeout: 120, poll: 0.05) { try state.recordCount(iteration: 1) >= 2 })
        try hosts.killServer("rabbit-\(leader)")
        let killed = Date()
        let at = try state.recordCount(iteration: 1)
        #expect(try ClusterHarness.waitFor(timeout: 120) { try state.recordCount(iteration: 1) > at }, "no record after the leader died")
        let resumed = Date().timeIntervalSince(killed)
        let newLeader = try hosts.leader(of: Topology.sampleQueue)
        print("killed rabbit-\(leader), the leader of \(Topology.sampleQueue), at \(at)/96 records; the next record \(String(format: "%.1f", resumed)) s later; "
              + "leader now rabbit-\(newLeader.map(String.init) ?? "?")")
        #expect(newLeader != nil && newLeader != leader)
        if leader == 1 {
            // The workers left the dead node for another, and `east status` says so.
            #expect(try ClusterHarness.waitFor(timeout: 30) {
                let entries = try registry()
                return Self.workerNames.allSatisfy { entries[$0]?.broker != nil && entries[$0]?.broker != brokerNode(1) }
            }, "\((try? registry()) ?? [:])")
            for name in Self.workerNames { #expect(cluster.log(name).contains("reconnecting to"), "\(name) did not move to another node") }
        }
        try hosts.restartHighlyAvailableSet()
        try expectCompleteAndEqual(cluster, run: run, questions: 96, state: state)
    }

    /// (b) The Redis primary dies (SIGKILL) mid-training; the sentinels
    /// promote the replica, the workers find it through them, and the old
    /// primary comes back as its replica. Every acknowledged record, loss and
    /// resume point waited for the replica, so none is lost.
    @Test func redisPrimaryKilledMidTrainingSentinelPromotesTheReplica() throws {
        let cluster = try hosts.cluster(highlyAvailable: true)
        defer { cluster.stop() }
        try startWorkers(cluster, trainer: ["--checkpoint-every", "2"])
        let run = Self.uniqueRun("sentinel")
        try startCoordinator(cluster, run: run, extra: ["--batch-size", "1", "--seed", "7"])
        let state = try haState(run)
        #expect(try ClusterHarness.waitFor(timeout: 300) { (try state.trainer()?.batch ?? -1) >= 1 })
        let batch = try state.trainer().map { String($0.batch) } ?? "-"
        let failover = try killRedisPrimary()
        print("killed the Redis primary \(failover.killed.hostAndPort) at the trainer's batch \(batch); "
              + "\(failover.promoted.hostAndPort) promoted after \(String(format: "%.1f", failover.seconds)) s")
        try expectCompleteAndEqual(cluster, run: run, questions: 16, state: state)
        // The workers write to the new primary, and `east status` says so.
        #expect(try ClusterHarness.waitFor(timeout: 15) {
            let entries = try registry()
            return Self.workerNames.allSatisfy { entries[$0]?.redis == failover.promoted.hostAndPort }
        }, "\((try? registry()) ?? [:])")
        let status = try ClusterStatus.read(amqp: hosts.haAMQP, redis: hosts.haRedis)
        for name in Self.workerNames {
            #expect(status.text.split(separator: "\n").contains { $0.hasPrefix(name + " ") && $0.hasSuffix(" " + failover.promoted.hostAndPort) },
                    "\(status.text)")
        }
    }

    /// Recorded writes wait for the replica: with the replica gone, a write
    /// fails after the wait with an error naming the primary (without WAIT
    /// it would succeed on the primary alone, and a failover could lose it);
    /// with the replica back, writes succeed again.
    @Test func recordedWritesWaitForAReplica() throws {
        let redis = try RedisConnection(address: hosts.haRedis, replicaWait: 2)
        let key = "east:test:wait-\(UUID().uuidString.prefix(6))"
        #expect(try redis.writeReplicated([["SET", key, "1"]]) == [.status("OK")])
        let replica = redis.endpoint.port == hosts.haRedisBasePort ? 2 : 1
        try hosts.killServer("redis-\(replica)")
        let error = try #require(throws: RedisError.self) { try redis.writeReplicated([["SET", key, "2"]]) }
        #expect(error.description.contains("no replica acknowledged") && error.description.contains(redis.endpoint.hostAndPort), "\(error)")
        #expect(!error.connectionLost)
        try hosts.restartHighlyAvailableSet()
        #expect(ClusterHarness.waitFor(timeout: 30) { (try? redis.writeReplicated([["SET", key, "3"]])) != nil })
        _ = try? redis.command(["DEL", key])
    }

    /// (c) All in one run: the queues' leader node killed and a sampler's
    /// link cut for longer than the heartbeat, mid-sampling; the Redis
    /// primary killed mid-training, while the broker node is still down
    /// (the set is made whole again only then).
    @Test func leaderNodeAndRedisPrimaryKilledAndASamplerCutOffInOneRun() throws {
        let cluster = try hosts.cluster(highlyAvailable: true)
        defer { cluster.stop() }
        try startWorkers(cluster, trainer: ["--checkpoint-every", "2"])
        let leader = try #require(try hosts.leader(of: Topology.sampleQueue))
        try requireThreeReplicas()
        let run = Self.uniqueRun("all")
        try startCoordinator(cluster, run: run, extra: ["--train-count", "96", "--batch-size", "1"])
        let state = try haState(run)
        #expect(try ClusterHarness.waitFor(timeout: 120, poll: 0.05) { try state.recordCount(iteration: 1) >= 2 })
        try hosts.killServer("rabbit-\(leader)")
        let at = try state.recordCount(iteration: 1)
        try hosts.linkDown(.sampler1)
        // Longer than the heartbeat (3 s): the broker gives up on the silent sampler.
        Thread.sleep(forTimeInterval: 3 * Double(Self.heartbeat)!)
        try hosts.linkUp(.sampler1)
        print("killed rabbit-\(leader) at \(at)/96 records and cut sampler-1 off for \(3 * Int(Self.heartbeat)!) s")

        #expect(try ClusterHarness.waitFor(timeout: 300, poll: 0.05) {
            try state.trainer() != nil || state.snapshot().phase == .done
        })
        let phase = try state.snapshot().phase
        #expect(phase != .done, "the run ended before the Redis primary could be killed mid-training")
        let batch = try state.trainer().map { String($0.batch) } ?? "-"
        // Brings back the Redis node, then the broker node.
        let failover = try killRedisPrimary()
        print("killed the Redis primary \(failover.killed.hostAndPort) at the trainer's batch \(batch) (phase \(phase.map(\.rawValue) ?? "-")); "
              + "\(failover.promoted.hostAndPort) promoted after \(String(format: "%.1f", failover.seconds)) s")
        try expectCompleteAndEqual(cluster, run: run, questions: 96, state: state)
        #expect(cluster.log("sampler-1").contains("reconnecting"))
    }
}
