import EASTCluster
import EASTCore
import EASTTransport
import Foundation
import Testing

/// The coordinator's own failures: killed and restarted, interrupted, and
/// facing a run that cannot progress. (Part of the serialized cluster suite.)
extension ClusterTests {
    /// kill -9 of the coordinator mid-training; restarted with only its run
    /// id, it resumes from the spec in Redis and ends with the accuracies of
    /// an uninterrupted run and a report of every iteration. Settings that
    /// differ from the stored ones are refused, by name.
    @Test func coordinatorKilledMidTrainingResumesFromTheStoredSpec() throws {
        let cluster = try ClusterHarness.cluster()
        defer { cluster.stop() }
        try cluster.startWorkers(samplers: 2)
        // Not the defaults: a restart that fell back to them would show.
        let settings = ClusterHarness.smallRun + ["--train-count", "24", "--seed", "5", "--iterations", "2", "--batch-size", "2"]

        let reference = Self.uniqueRun("uninterrupted")
        let (referenceStatus, referenceOutput) = try cluster.runCoordinator(run: reference, settings: settings)
        #expect(referenceStatus == 0, "\(referenceOutput)")

        let run = Self.uniqueRun("killcoordinator")
        try cluster.startCoordinator(run: run, settings: settings)
        let state = try ClusterHarness.state(run)
        #expect(try ClusterHarness.waitFor(timeout: 300) { try state.snapshot().phase == .training })
        cluster.kill9("coordinator-\(run)")

        try cluster.startCoordinator(run: run, settings: ["--train-count", "99"])
        let (refused, refusal) = cluster.finishCoordinator(run: run, timeout: 60)
        #expect(refused == 1)
        #expect(refusal.contains("was started with other settings: train.count (24, 99)"), "\(refusal)")

        try cluster.startCoordinator(run: run, settings: [])
        let (status, output) = cluster.finishCoordinator(run: run)
        #expect(status == 0, "\(output)")
        #expect(output.contains("resuming run \(run)"))
        #expect(try state.accuracies() == ClusterHarness.state(reference).accuracies())
        #expect(try state.accuracies().keys.sorted() == [0, 1, 2])
        #expect(try state.evaluations() == ClusterHarness.state(reference).evaluations())  // question by question
        #expect(try state.reports().map(\.iteration) == [1, 2])
        #expect(try state.reports() == ClusterHarness.state(reference).reports())
        let report = try String(contentsOf: cluster.logs.appendingPathComponent(run).appendingPathComponent("report.md"), encoding: .utf8)
        #expect(report.contains("| 1 | ") && report.contains("| 2 | ") && report.contains("| v2 |"), "\(report)")
    }

    /// SIGTERM says what it interrupted; the run stays resumable.
    @Test func coordinatorInterruptedSaysWhatItWasDoing() throws {
        let cluster = try ClusterHarness.cluster()
        defer { cluster.stop() }
        let run = Self.uniqueRun("interrupted")
        // No workers: it waits in sampling.
        try cluster.startCoordinator(run: run, extra: ["--max-queued-jobs", "5", "--questions-per-job", "2"])
        #expect(ClusterHarness.waitFor(timeout: 60) { cluster.log("coordinator-\(run)").contains("sampling 16 questions") })
        // Backpressure: no more than 5 of the run's jobs (of 2 questions) in the queue while none is recorded.
        Thread.sleep(forTimeInterval: 1)
        let broker = try ClusterHarness.broker()
        #expect(try broker.inspectQueue(Topology.sampleQueue).messages == 5)
        try broker.consume(Topology.sampleQueue)
        let first = try #require(try broker.nextDelivery(timeout: 5))
        #expect(try Envelope<SampleJob>(bytes: first.body, expecting: SampleJob.type).body.questions.count == 2)
        broker.close()  // unacked: back to the queue
        cluster.processes["coordinator-\(run)"]?.terminate()
        let (status, output) = cluster.finishCoordinator(run: run, timeout: 30)
        #expect(status == 1)
        #expect(output.contains("interrupted run \(run) while sampling iteration 1 (0/16 questions recorded)"), "\(output)")
        #expect(try ClusterHarness.state(run).snapshot().phase == .sampling)
        // Its jobs would wait for the next test's samplers: clear them.
        try ClusterHarness.broker().purgeQueue(Topology.sampleQueue)
    }

    /// Samplers that cannot load the run's policy (they look in an empty
    /// shared folder, not where the coordinator put it): the coordinator
    /// fails the run with the workers' reason instead of waiting forever.
    @Test func aRunThatCannotProgressFailsLoudly() throws {
        let cluster = try ClusterHarness.cluster()
        defer { cluster.stop() }
        let empty = ClusterHarness.temporaryFolder("empty-store").path
        try cluster.start(.sampler, name: "sampler-nostore", arguments: ["--policy-store", "shared:\(empty)"])
        let run = Self.uniqueRun("noprogress")
        try cluster.startCoordinator(run: run)
        let (status, output) = cluster.finishCoordinator(run: run, timeout: 300)
        #expect(status == 1)
        #expect(output.contains("run \(run) failed:") && output.contains("sampler-nostore:") && output.contains("is not in the shared folder \(empty)"), "\(output)")
        #expect(try ClusterHarness.state(run).snapshot().phase == .failed)
        try ClusterHarness.broker().purgeQueue(Topology.sampleQueue)
    }
}
