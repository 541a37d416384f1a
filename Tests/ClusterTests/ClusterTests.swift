import EASTCluster
import EASTCore
import EASTTransport
import Foundation
import Testing

/// The cluster end to end on real RabbitMQ and Redis, with the real worker
/// executables and the committed backbone. Serialized: the tests share the
/// standard queues.
@Suite(.serialized) struct ClusterTests {
    static func uniqueRun(_ tag: String) -> String { "test-\(tag)-\(UUID().uuidString.prefix(6))" }

    @Test func smallRunEndToEndWithAMalformedMessage() throws {
        let cluster = try ClusterHarness.cluster()
        defer { cluster.stop() }
        let broker = try ClusterHarness.broker()
        try Topology.standard.declare(on: broker)
        try broker.purgeQueue(Topology.deadLetterQueue)
        try broker.purgeQueue(Topology.sampleQueue)  // nothing left over from an earlier run
        // A broken message in the sampling queue must be dead-lettered, not block the run.
        try broker.publish(exchange: Topology.jobsExchange, routingKey: "sample", body: Array("{not json".utf8))

        try cluster.startWorkers(samplers: 2)
        let run = Self.uniqueRun("e2e")
        // Eight jobs of two questions, so that both samplers get some.
        let (status, output) = try cluster.runCoordinator(run: run, extra: ["--questions-per-job", "2"])
        #expect(status == 0, "\(output)\nsampler: \(cluster.log("sampler-1"))\ntrainer: \(cluster.log("trainer"))")

        let state = try ClusterHarness.state(run)
        #expect(try state.recordCount(iteration: 1) == 16)  // every question exactly once
        let accuracy = try state.accuracies()
        #expect(accuracy[0] != nil && accuracy[1] != nil)
        let evaluations = try state.evaluations()
        #expect(evaluations[1]?.count == 16)
        #expect(accuracy[1] == Double(evaluations[1]?.filter(\.correct).count ?? -1) / 16)
        #expect(FileManager.default.fileExists(atPath: cluster.logs.appendingPathComponent(run).appendingPathComponent("eval-v1.jsonl").path))
        #expect(try state.snapshot().phase == .done)
        #expect(FileManager.default.fileExists(atPath: cluster.logs.appendingPathComponent(run).appendingPathComponent("report.md").path))
        #expect(output.contains("| v1 |"))
        #expect(try broker.inspectQueue(Topology.deadLetterQueue).messages == 1)
        // Both samplers took part (competing consumers).
        let samplers = try state.records(iteration: 1).values.compactMap(\.sampler)
        #expect(Set(samplers) == ["sampler-1", "sampler-2"])
    }

    @Test func badRunSpecIsAClearError() throws {
        let cluster = try ClusterHarness.cluster()
        let bad = Self.uniqueRun("bad")
        try cluster.startCoordinator(run: bad, extra: ["--n", "1"])
        let (status, output) = cluster.finishCoordinator(run: bad, timeout: 60)
        #expect(status == 1)
        #expect(output.contains("invalid run spec: n must be at least 2"))
        let missing = Self.uniqueRun("bad")
        try cluster.startCoordinator(run: missing, extra: ["--checkpoint", "/nonexistent/model"])
        let (s2, o2) = cluster.finishCoordinator(run: missing, timeout: 60)
        #expect(s2 == 1)
        #expect(o2.contains("/nonexistent/model"))
    }

    @Test func samplerKilledMidIterationStillCountsEveryQuestionOnce() throws {
        let cluster = try ClusterHarness.cluster()
        defer { cluster.stop() }
        try cluster.startWorkers(samplers: 2)
        let run = Self.uniqueRun("killsampler")
        // Jobs of three questions: the killed sampler holds some half-decoded.
        try cluster.startCoordinator(run: run, extra: ["--questions-per-job", "3"])
        let state = try ClusterHarness.state(run)
        #expect(try ClusterHarness.waitFor(timeout: 300) { try state.recordCount(iteration: 1) >= 2 })
        cluster.kill9("sampler-1")  // its jobs in hand go back to the queue
        let (status, output) = cluster.finishCoordinator(run: run)
        #expect(status == 0, "\(output)")
        #expect(try state.recordCount(iteration: 1) == 16)
    }

    /// kill -9 of the trainer mid-epoch: a standby trainer with an empty
    /// cache of its own (another host: nothing shared but the servers)
    /// resumes from the last save in the network store, and every batch's
    /// loss equals the uninterrupted run's.
    @Test func trainerKilledMidEpochResumesWithTheSameLossCurve() throws {
        let cluster = try ClusterHarness.cluster()
        defer { cluster.stop() }
        for (role, name) in [(Role.evaluator, "evaluator"), (.clusterer, "clusterer"), (.sampler, "sampler-1"), (.sampler, "sampler-2")] {
            try cluster.start(role, name: name)
        }
        let trainerArguments = ["--checkpoint-every", "2"]
        try cluster.start(.trainer, name: "trainer-1", arguments: trainerArguments)
        let options = ["--batch-size", "1", "--seed", "7"]

        let reference = Self.uniqueRun("reference")
        var (status, output) = try cluster.runCoordinator(run: reference, extra: options)
        #expect(status == 0, "\(output)")

        let run = Self.uniqueRun("killtrainer")
        try cluster.startCoordinator(run: run, extra: options)
        let state = try ClusterHarness.state(run)
        #expect(try ClusterHarness.waitFor(timeout: 300) { (try state.trainer()?.batch ?? -1) >= 2 })
        cluster.kill9("trainer-1")
        let emptyCache = ClusterHarness.temporaryFolder("standby-cache")
        #expect(!FileManager.default.fileExists(atPath: emptyCache.path))
        try cluster.start(.trainer, name: "trainer-2", arguments: trainerArguments + ["--cache-dir", emptyCache.path])
        (status, output) = cluster.finishCoordinator(run: run)
        #expect(status == 0, "\(output)")
        #expect(cluster.log("trainer-2").contains("resuming run \(run) iteration 1"), "\(cluster.log("trainer-2"))")
        #expect(cluster.log("trainer-2").contains("cache \(emptyCache.path)"))

        let expected = try ClusterHarness.state(reference).trainingSteps()
        let resumed = try state.trainingSteps()
        #expect(expected.count >= 4)
        #expect(resumed.map(\.batch) == expected.map(\.batch))
        for (a, b) in zip(resumed, expected) {
            #expect(abs(a.step.loss - b.step.loss) <= 1e-6 * max(1, abs(b.step.loss)), "batch \(a.batch): \(a.step.loss) vs \(b.step.loss)")
        }
    }
}

extension ClusterTests {
    /// The broker restarts mid-run: every connection drops, the workers and
    /// the coordinator reconnect, redeclare and go on; the run completes with
    /// every question counted once.
    @Test func brokerRestartMidRun() throws {
        let cluster = try ClusterHarness.cluster()
        defer { cluster.stop() }
        try cluster.startWorkers(samplers: 2)
        let run = Self.uniqueRun("brokerrestart")
        try cluster.startCoordinator(run: run, extra: ["--train-count", "48"])
        let state = try ClusterHarness.state(run)
        #expect(try ClusterHarness.waitFor(timeout: 300) { try state.recordCount(iteration: 1) >= 4 })
        let restart = Process()
        restart.executableURL = URL(fileURLWithPath: "/bin/bash")
        restart.arguments = [ClusterHarness.root.appendingPathComponent("scripts/servers.sh").path, "restart-broker"]
        try restart.run()
        restart.waitUntilExit()
        #expect(restart.terminationStatus == 0)
        let (status, output) = cluster.finishCoordinator(run: run)
        #expect(status == 0, "\(output)\nsampler: \(cluster.log("sampler-1"))")
        #expect(try state.recordCount(iteration: 1) == 48)
        #expect(cluster.log("sampler-1").contains("reconnecting"))
        #expect(try state.accuracies()[1] != nil)
    }
}
