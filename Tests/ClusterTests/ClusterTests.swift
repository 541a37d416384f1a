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
        let cluster = try ClusterHarness()
        defer { cluster.stopAll() }
        let broker = try ClusterHarness.amqp()
        try Topology.standard.declare(on: broker)
        try broker.purgeQueue(Topology.deadLetterQueue)
        // A broken message in the sampling queue must be dead-lettered, not block the run.
        try broker.publish(exchange: Topology.jobsExchange, routingKey: "sample", body: Array("{not json".utf8))

        for (role, name) in [("evaluator", "evaluator"), ("trainer", "trainer"), ("clusterer", "clusterer"), ("sampler", "sampler-1"), ("sampler", "sampler-2")] {
            try cluster.start(role, name: name)
        }
        let run = Self.uniqueRun("e2e")
        let (coordinator, pipe) = try cluster.startCoordinator(run: run)
        let (status, output) = ClusterHarness.finish(coordinator, pipe, timeout: 600)
        #expect(status == 0, "\(output)\nsampler: \(cluster.log("sampler-1"))\ntrainer: \(cluster.log("trainer"))")

        let state = try ClusterHarness.state(run)
        #expect(try state.statisticsCount(iteration: 1) == 16)  // every question exactly once
        let accuracy = try state.accuracies()
        #expect(accuracy[0] != nil && accuracy[1] != nil)
        #expect(try state.snapshot().phase == .done)
        #expect(FileManager.default.fileExists(atPath: cluster.logs.appendingPathComponent(run).appendingPathComponent("report.md").path))
        #expect(output.contains("| v1 |"))
        #expect(try broker.inspectQueue(Topology.deadLetterQueue).messages == 1)
        // Both samplers took part (competing consumers).
        let samplers = try state.statistics(iteration: 1).values.compactMap { $0["sampler"]?.stringValue }
        #expect(Set(samplers) == ["sampler-1", "sampler-2"])
    }

    @Test func badRunSpecIsAClearError() throws {
        let cluster = try ClusterHarness()
        let (coordinator, pipe) = try cluster.startCoordinator(run: Self.uniqueRun("bad"), extra: ["--n", "1"])
        let (status, output) = ClusterHarness.finish(coordinator, pipe, timeout: 60)
        #expect(status == 1)
        #expect(output.contains("invalid run spec: n must be at least 2"))
        let (c2, p2) = try cluster.startCoordinator(run: Self.uniqueRun("bad"), extra: ["--checkpoint", "/nonexistent/model"])
        let (s2, o2) = ClusterHarness.finish(c2, p2, timeout: 60)
        #expect(s2 == 1)
        #expect(o2.contains("/nonexistent/model"))
    }

    @Test func samplerKilledMidIterationStillCountsEveryQuestionOnce() throws {
        let cluster = try ClusterHarness()
        defer { cluster.stopAll() }
        for (role, name) in [("evaluator", "evaluator"), ("trainer", "trainer"), ("clusterer", "clusterer"), ("sampler", "sampler-a"), ("sampler", "sampler-b")] {
            try cluster.start(role, name: name)
        }
        let run = Self.uniqueRun("killsampler")
        let (coordinator, pipe) = try cluster.startCoordinator(run: run)
        let state = try ClusterHarness.state(run)
        #expect(try ClusterHarness.waitFor(timeout: 300) { try state.statisticsCount(iteration: 1) >= 2 })
        cluster.kill9("sampler-a")  // its job in hand goes back to the queue
        let (status, output) = ClusterHarness.finish(coordinator, pipe, timeout: 600)
        #expect(status == 0, "\(output)")
        #expect(try state.statisticsCount(iteration: 1) == 16)
    }

    /// kill -9 of the trainer mid-epoch: a new trainer resumes from the last
    /// save, and every batch's loss equals the uninterrupted run's.
    @Test func trainerKilledMidEpochResumesWithTheSameLossCurve() throws {
        let cluster = try ClusterHarness()
        defer { cluster.stopAll() }
        for (role, name) in [("evaluator", "evaluator"), ("clusterer", "clusterer"), ("sampler", "sampler-1"), ("sampler", "sampler-2")] {
            try cluster.start(role, name: name)
        }
        let trainerArguments = ["--checkpoint-every", "2"]
        try cluster.start("trainer", name: "trainer-1", arguments: trainerArguments)
        let options = ["--batch-size", "1", "--seed", "7"]

        let reference = Self.uniqueRun("reference")
        var (coordinator, pipe) = try cluster.startCoordinator(run: reference, extra: options)
        var (status, output) = ClusterHarness.finish(coordinator, pipe, timeout: 600)
        #expect(status == 0, "\(output)")

        let run = Self.uniqueRun("killtrainer")
        (coordinator, pipe) = try cluster.startCoordinator(run: run, extra: options)
        let state = try ClusterHarness.state(run)
        #expect(try ClusterHarness.waitFor(timeout: 300) { (try state.trainer()["batch"].flatMap { Int($0) } ?? -1) >= 2 })
        cluster.kill9("trainer-1")
        try cluster.start("trainer", name: "trainer-2", arguments: trainerArguments)
        (status, output) = ClusterHarness.finish(coordinator, pipe, timeout: 600)
        #expect(status == 0, "\(output)")
        #expect(cluster.log("trainer-2").contains("resuming iteration 1"))

        let expected = try ClusterHarness.state(reference).losses()
        let resumed = try state.losses()
        #expect(expected.count >= 4)
        #expect(resumed.map(\.batch) == expected.map(\.batch))
        for (a, b) in zip(resumed, expected) {
            #expect(abs(a.loss - b.loss) <= 1e-6 * max(1, abs(b.loss)), "batch \(a.batch): \(a.loss) vs \(b.loss)")
        }
    }
}

extension ClusterTests {
    /// The broker restarts mid-run: every connection drops, the workers and
    /// the coordinator reconnect, redeclare and go on; the run completes with
    /// every question counted once.
    @Test func brokerRestartMidRun() throws {
        let cluster = try ClusterHarness()
        defer { cluster.stopAll() }
        for (role, name) in [("evaluator", "evaluator"), ("trainer", "trainer"), ("clusterer", "clusterer"), ("sampler", "sampler-1"), ("sampler", "sampler-2")] {
            try cluster.start(role, name: name)
        }
        let run = Self.uniqueRun("brokerrestart")
        let (coordinator, pipe) = try cluster.startCoordinator(run: run, extra: ["--train-count", "48"])
        let state = try ClusterHarness.state(run)
        #expect(try ClusterHarness.waitFor(timeout: 300) { try state.statisticsCount(iteration: 1) >= 4 })
        let restart = Process()
        restart.executableURL = URL(fileURLWithPath: "/bin/bash")
        restart.arguments = [ClusterHarness.root.appendingPathComponent("scripts/servers.sh").path, "restart-broker"]
        try restart.run()
        restart.waitUntilExit()
        #expect(restart.terminationStatus == 0)
        let (status, output) = ClusterHarness.finish(coordinator, pipe, timeout: 600)
        #expect(status == 0, "\(output)\nsampler: \(cluster.log("sampler-1"))")
        #expect(try state.statisticsCount(iteration: 1) == 48)
        #expect(cluster.log("sampler-1").contains("reconnecting"))
        #expect(try state.accuracies()[1] != nil)
    }
}
