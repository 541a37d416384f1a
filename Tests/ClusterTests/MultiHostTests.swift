import EASTCluster
import EASTCore
import EASTStages
import EASTTransport
import Foundation
import Testing

/// The cluster across six hosts (network namespaces on a bridge, see
/// `NetworkHosts`): RabbitMQ and Redis on one, the trainer on one, the
/// evaluator and the clusterer on one, a sampler on each of two, the
/// coordinator on one. Nothing is shared but the servers: policies and the
/// trainer's resume point travel through Redis, and every worker has a cache
/// folder of its own. Each run is the cluster tests' small one, and its
/// results must equal the in-process run's.
@Suite(.serialized, .enabled(if: NetworkHosts.whyUnavailable == nil, NetworkHosts.unavailableComment), .networkHosts)
struct MultiHostTests {
    var hosts: NetworkHosts { NetworkHosts.current! }

    /// A short heartbeat, so that the broker gives up on a silent host within seconds.
    static let heartbeat = "3"

    static func uniqueRun(_ tag: String) -> String { "hosts-\(tag)-\(UUID().uuidString.prefix(6))" }

    /// Questions per sampling job: small, so that both samplers take part in a 16-question run.
    static let questionsPerJob = 2

    /// Every worker on its host. Samplers hold two jobs each, so both take
    /// part in a 16-question run.
    func startWorkers(_ cluster: LocalCluster, trainer: [String] = []) throws {
        let common = ["--heartbeat", Self.heartbeat]
        try cluster.start(.trainer, name: "trainer", arguments: common + trainer, host: NetworkHosts.exec(on: .trainer))
        try cluster.start(.evaluator, name: "evaluator", arguments: common, host: NetworkHosts.exec(on: .evaluator))
        try cluster.start(.clusterer, name: "clusterer", arguments: common, host: NetworkHosts.exec(on: .evaluator))
        for (name, host) in [("sampler-1", NetworkHosts.Host.sampler1), ("sampler-2", .sampler2)] {
            try cluster.start(.sampler, name: name, arguments: common + ["--max-rows", "8", "--jobs-in-hand", "2"], host: NetworkHosts.exec(on: host))
        }
    }

    func startCoordinator(_ cluster: LocalCluster, run: String, extra: [String] = []) throws {
        try cluster.start(.coordinator, name: "coordinator-\(run)",
                          arguments: ["--run-id", run, "--report", cluster.logs.path, "--heartbeat", Self.heartbeat,
                                      "--questions-per-job", String(Self.questionsPerJob)] + ClusterHarness.smallRun + extra,
                          host: NetworkHosts.exec(on: .coordinator))
    }

    func state(_ run: String) throws -> RunState { RunState(redis: try RedisConnection(address: hosts.redis), run: run) }

    /// The logs of every process, for a failed expectation.
    func logs(_ cluster: LocalCluster, run: String) -> String {
        ["coordinator-\(run)", "trainer", "evaluator", "clusterer", "sampler-1", "sampler-2"]
            .map { "--- \($0):\n" + String(cluster.log($0).suffix(3000)) }.joined(separator: "\n")
    }

    @Test func runAcrossSixHostsEqualsTheInProcessRun() throws {
        let cluster = try hosts.cluster()
        defer { cluster.stop() }
        try startWorkers(cluster)
        let run = Self.uniqueRun("equal")
        try startCoordinator(cluster, run: run)
        let (status, output) = cluster.finishCoordinator(run: run, timeout: 300)
        try #require(status == 0, "\(output)\n\(logs(cluster, run: run))")

        let state = try state(run)
        #expect(try state.recordCount(iteration: 1) == 16)
        let samplers = try state.records(iteration: 1).values.compactMap(\.sampler)
        #expect(Set(samplers) == ["sampler-1", "sampler-2"])
        // Each worker fetched the policies into a cache folder of its own.
        for name in ["trainer", "evaluator", "sampler-1", "sampler-2"] {
            let cache = try #require(cluster.caches).appendingPathComponent(name)
            #expect(!((try? FileManager.default.contentsOfDirectory(atPath: cache.path)) ?? []).isEmpty, "\(name) has no cache")
        }
        try InProcessReference.expectSameResults(state)
    }

    /// A sampler host's cable pulled mid-iteration: the broker hears no
    /// heartbeat, closes its connection and gives its unacked jobs to the
    /// other sampler; every question is recorded once and the results are
    /// the in-process run's. Plugged back in, the sampler reconnects and
    /// takes jobs again (in the next run).
    @Test func samplerLinkDownMidIterationThenRejoins() throws {
        let cluster = try hosts.cluster()
        defer { cluster.stop() }
        try startWorkers(cluster)
        let broker = try AMQPConnection(endpoint: hosts.amqp[0])
        func consumers() throws -> Int { try broker.inspectQueue(Topology.sampleQueue).consumers }
        #expect(try ClusterHarness.waitFor(timeout: 60) { try consumers() == 2 })
        let run = Self.uniqueRun("linkdown")
        try startCoordinator(cluster, run: run, extra: ["--train-count", "48"])
        let state = try state(run)
        #expect(try ClusterHarness.waitFor(timeout: 120) { try state.recordCount(iteration: 1) >= 2 })
        try hosts.linkDown(.sampler1)
        let down = Date()
        let before = try state.recordCount(iteration: 1)
        let held = try hosts.unacked(on: .sampler1)
        #expect(held > 0, "sampler-1 held no unacked job when its link went down")
        // Until the broker gives up on sampler-1, its unacked jobs go to no one.
        var stalled = 0
        #expect(try ClusterHarness.waitFor(timeout: 30) {
            let count = try state.recordCount(iteration: 1)
            if try consumers() == 2 { stalled = count; return false }
            return true
        }, "the broker kept the silent sampler's connection")
        let noticed = Date().timeIntervalSince(down)
        // The run waits for them. (Not necessarily all their questions: a job
        // whose result reached the broker just before the cut, but not its
        // ack, is recorded and redelivered; its second record is ignored.)
        #expect(stalled < 48, "the run did not wait for sampler-1's jobs")
        print("sampler-1's link down at \(before)/48 records, holding \(held) unacked job(s) of \(Self.questionsPerJob) questions; "
              + "the broker closed its connection after \(String(format: "%.1f", noticed)) s, the run at \(stalled)/48 until then")
        try #require(before < 48, "the iteration ended before the link went down")
        try hosts.linkUp(.sampler1)
        let up = Date()
        #expect(try ClusterHarness.waitFor(timeout: 60) { try consumers() == 2 }, "sampler-1 did not reconnect")
        print("sampler-1 consuming again \(String(format: "%.1f", Date().timeIntervalSince(up))) s after its link came back")

        let (status, output) = cluster.finishCoordinator(run: run, timeout: 300)
        try #require(status == 0, "\(output)\n\(logs(cluster, run: run))")
        #expect(cluster.log("sampler-1").contains("reconnecting"))
        #expect(try state.recordCount(iteration: 1) == 48)
        let report = try #require(try state.reports().first)
        #expect(report.questions == 48 && report.kept + report.droppedAllRight + report.droppedAllWrong == 48)
        try InProcessReference.expectSameResults(state)

        // Back on the network, sampler-1 takes its share of the next run.
        let next = Self.uniqueRun("rejoined")
        try startCoordinator(cluster, run: next)
        let (nextStatus, nextOutput) = cluster.finishCoordinator(run: next, timeout: 300)
        try #require(nextStatus == 0, "\(nextOutput)\n\(logs(cluster, run: next))")
        let rejoined = try self.state(next).records(iteration: 1).values.filter { $0.sampler == "sampler-1" }.count
        #expect(rejoined > 0, "sampler-1 took no job after it came back")
        print("after rejoining, sampler-1 sampled \(rejoined) of the next run's 16 questions")
        try InProcessReference.expectSameResults(try self.state(next))
    }

    /// Redis SIGKILLed mid-sampling, again the moment the last record is in
    /// (while the coordinator weighs and publishes the training batches), and
    /// again mid-training, restarted on its AOF each time: the workers and
    /// the coordinator reconnect and the run completes with every record,
    /// report and accuracy equal to the in-process run's (none lost, none
    /// counted twice).
    @Test func redisRestartedMidRunLosesAndDoublesNothing() throws {
        let cluster = try hosts.cluster()
        defer { cluster.stop() }
        try startWorkers(cluster)
        let run = Self.uniqueRun("redis")
        // 96 questions, so that the first restart lands mid-sampling even on a loaded machine.
        try startCoordinator(cluster, run: run, extra: ["--train-count", "96"])
        let state = try state(run)
        #expect(try ClusterHarness.waitFor(timeout: 120) { try state.recordCount(iteration: 1) >= 2 })
        let sampled = try state.recordCount(iteration: 1)
        try hosts.restartRedis()
        print("Redis restarted at \(sampled)/96 records")
        #expect(try state.recordCount(iteration: 1) >= sampled, "records written before the restart are gone")

        #expect(try ClusterHarness.waitFor(timeout: 120, poll: 0.02) { try state.recordCount(iteration: 1) == 96 })
        let phase = try state.snapshot().phase
        try hosts.restartRedis()
        print("Redis restarted at 96/96 records, the run's phase \(phase.map(\.rawValue) ?? "-")")

        let midTraining = try ClusterHarness.waitFor(timeout: 120) {
            try state.trainer() != nil || state.snapshot().phase == .done
        }
        #expect(midTraining)
        if try state.snapshot().phase != .done {
            let batch = try state.trainer().map { String($0.batch) } ?? "-"
            try hosts.restartRedis()
            print("Redis restarted again, the trainer at batch \(batch)")
        }

        let (status, output) = cluster.finishCoordinator(run: run, timeout: 300)
        try #require(status == 0, "\(output)\n\(logs(cluster, run: run))")
        #expect(try state.recordCount(iteration: 1) == 96)
        #expect(try state.failures().deadLettered == 0)
        try InProcessReference.expectSameResults(state)
    }

    /// The trainer's host dies mid-epoch (kill -9 of its process); a
    /// standby trainer started on another host, with an empty cache of its
    /// own, takes the resume point from the network store and finishes the
    /// epoch: every batch trained once, and the run's reports (mean loss
    /// included), per-question results and accuracies equal the in-process
    /// run's, as if nothing had happened.
    @Test func trainerHostKilledMidEpochStandbyOnAnotherHostResumes() throws {
        let cluster = try hosts.cluster()
        defer { cluster.stop() }
        let saves = ["--checkpoint-every", "2"]
        try startWorkers(cluster, trainer: saves)
        let run = Self.uniqueRun("failover")
        try startCoordinator(cluster, run: run, extra: ["--batch-size", "1", "--seed", "7"])
        let state = try state(run)
        #expect(try ClusterHarness.waitFor(timeout: 300) { (try state.trainer()?.batch ?? -1) >= 2 })
        cluster.kill9("trainer")
        let standbyCache = try #require(cluster.caches).appendingPathComponent("trainer-standby")
        #expect(!FileManager.default.fileExists(atPath: standbyCache.path))
        try cluster.start(.trainer, name: "trainer-standby", arguments: ["--heartbeat", Self.heartbeat] + saves, host: NetworkHosts.exec(on: .coordinator))

        let (status, output) = cluster.finishCoordinator(run: run, timeout: 300)
        try #require(status == 0, "\(output)\n\(logs(cluster, run: run))\n--- trainer-standby:\n\(cluster.log("trainer-standby").suffix(3000))")
        #expect(cluster.log("trainer-standby").contains("resuming run \(run) iteration 1"), "\(cluster.log("trainer-standby"))")
        #expect(!((try? FileManager.default.contentsOfDirectory(atPath: standbyCache.path)) ?? []).isEmpty, "the standby fetched nothing into its cache")
        let batches = try state.trainingSteps().map(\.batch)
        let report = try #require(try state.reports().first)
        #expect(batches.count >= 4 && batches.count == report.steps && Set(batches).count == batches.count, "batches trained: \(batches)")
        try InProcessReference.expectSameResults(state)
    }
}

/// The in-process run of a spec (`InProcessRun`, the stage functions the
/// workers call), computed once per spec for all the tests that compare.
enum InProcessReference {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var outcomes: [(spec: RunSpec, outcome: RunOutcome)] = []

    static func outcome(_ spec: RunSpec) throws -> RunOutcome {
        lock.lock()
        defer { lock.unlock() }
        if let known = outcomes.first(where: { $0.spec == spec }) { return known.outcome }
        let outcome = try InProcessRun(spec: spec).run(id: "in-process") { _ in }
        outcomes.append((spec, outcome))
        return outcome
    }

    /// The cluster run's reports, accuracies and per-question results
    /// against the in-process run of its stored spec.
    static func expectSameResults(_ state: RunState, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let spec = try #require(try state.spec())
        let reference = try outcome(spec)
        #expect(try state.accuracies() == reference.accuracy, sourceLocation: sourceLocation)
        #expect(try state.evaluations() == reference.evaluations, sourceLocation: sourceLocation)
        let reports = try state.reports()
        #expect(reports.count == reference.iterations.count, sourceLocation: sourceLocation)
        for (got, want) in zip(reports, reference.iterations) {
            var (a, b) = (got, want)
            (a.training, b.training) = ([], [])
            #expect(a == b, "iteration \(got.iteration)", sourceLocation: sourceLocation)
            #expect(got.training.map(\.loss).elementsEqual(want.training.map(\.loss)) { abs($0 - $1) <= 1e-5 },
                    "iteration \(got.iteration) losses", sourceLocation: sourceLocation)
        }
    }
}
