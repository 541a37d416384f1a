import EASTCluster
import EASTCore
import EASTTransport
import Foundation
import Testing

/// `east experiment` end to end: a tiny experiment (3 settings x 2 seeds;
/// LW(P) makes the samples' log-probs matter, not only their answers)
/// in process and on the cluster gives the same results file; killed with
/// SIGKILL mid-way (and a worker with it) and rerun, it finishes with the
/// same file again; a changed spec is refused by name. (Part of the
/// serialized cluster suite: its runs share the workers.)
extension ClusterTests {
    static func tinyExperiment(name: String, seeds: String = "[1, 2]") -> String {
        """
        name: \(name)
        base: {checkpoint: \(ClusterHarness.backbone), task: arith-easy, train_count: 16, n: 4, temperature: 1.0, max_tokens: 64, batch_size: 4, epochs: 1}
        test: {task: arith-easy, count: 16, seed: 7}
        seeds: \(seeds)
        axes: {weighting: [entropy, lwp]}
        baseline: {weighting: uniform}
        """
    }

    /// results.json without the experiment's name, which differs between the cluster runs.
    static func results(_ dir: URL) throws -> NSDictionary {
        let data = try Data(contentsOf: dir.appendingPathComponent("results.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return object.filter { $0.key != "experiment" } as NSDictionary
    }

    static func doneRuns(_ dir: URL) -> Int {
        let runs = dir.appendingPathComponent("runs")
        return ((try? FileManager.default.contentsOfDirectory(atPath: runs.path)) ?? []).filter {
            FileManager.default.fileExists(atPath: runs.appendingPathComponent($0).appendingPathComponent("report.md").path)
        }.count
    }

    @Test func experimentInBothModesAndAfterKillsGivesTheSameResults() throws {
        let cluster = try ClusterHarness.cluster()
        defer { cluster.stop() }
        let dir = cluster.logs.appendingPathComponent("experiments")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let name = "tiny-\(UUID().uuidString.prefix(6))"
        let specFile = dir.appendingPathComponent("tiny.yaml")
        try Self.tinyExperiment(name: name).write(to: specFile, atomically: true, encoding: .utf8)
        func experiment(_ label: String, _ arguments: [String]) throws {
            try cluster.start(executable: "east", name: label, arguments: ["experiment", "--spec", specFile.path, "--parallel", "2",
                                                                         "--out", dir.appendingPathComponent(label).path, "--resamples", "500"] + arguments)
        }
        func finish(_ label: String) -> String {
            let status = cluster.wait(label, timeout: 900)
            let log = cluster.log(label)
            #expect(status == 0, "\(label): \(log)")
            return log
        }

        // In process: the reference.
        try experiment("inprocess", ["--inprocess"])
        let output = finish("inprocess")
        #expect(output.contains("6 runs, 16 test questions; detectable difference at 80% power"), "\(output)")
        #expect(output.contains("\(name) (inprocess): 6/6 runs done"), "\(output)")
        let reference = try Self.results(dir.appendingPathComponent("inprocess"))
        #expect((reference["runs"] as? [Any])?.count == 6)
        #expect((reference["comparisons"] as? [Any])?.count == 2)
        let report = try String(contentsOf: dir.appendingPathComponent("inprocess/report.md"), encoding: .utf8)
        #expect(report.contains("| default (start model) | v0 |") && report.contains("| sft entropy a=1.0 | v1 |"), "\(report)")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("inprocess/fig5-questions.svg").path))

        // In process, SIGKILL once a run is done; the rerun finishes the rest.
        try experiment("inprocess-killed", ["--inprocess"])
        let killed = dir.appendingPathComponent("inprocess-killed")
        #expect(ClusterHarness.waitFor(timeout: 300) { Self.doneRuns(killed) >= 1 })
        cluster.kill9("inprocess-killed")
        #expect(Self.doneRuns(killed) < 6, "killed too late to test resuming")
        Thread.sleep(forTimeInterval: 1.5)  // the orphaned runs notice and exit
        try experiment("inprocess-killed", ["--inprocess"])
        _ = finish("inprocess-killed")
        #expect(try Self.results(killed) == reference)

        // The same name with another spec is refused, naming the key.
        try Self.tinyExperiment(name: name, seeds: "[1, 3]").write(to: specFile, atomically: true, encoding: .utf8)
        try experiment("inprocess", ["--inprocess"])
        #expect(cluster.wait("inprocess", timeout: 60) == 1)
        #expect(cluster.log("inprocess").contains("with another spec (it differs in seeds)"), "\(cluster.log("inprocess"))")
        try Self.tinyExperiment(name: name).write(to: specFile, atomically: true, encoding: .utf8)

        // On the cluster: the same numbers.
        try cluster.startWorkers(samplers: 2)
        try experiment("cluster", [])
        let clusterOutput = finish("cluster")
        #expect(try Self.results(dir.appendingPathComponent("cluster")) == reference, "\(clusterOutput)")
        let status = try ClusterStatus.read(amqp: ClusterHarness.amqp, redis: ClusterHarness.redis)
        #expect(status.text.contains("\(name) (cluster): 6/6 runs done"), "\(status.text)")
        // Every worker reports how busy it is; the samplers did work.
        #expect(Set(status.workers.map(\.role)) == ["sampler", "clusterer", "trainer", "evaluator"], "\(status.text)")
        // (Workers of earlier tests may still be listed for up to 30 s: look at this test's.)
        let samplers = status.workers.filter { ["sampler-1", "sampler-2"].contains($0.name) }
        #expect(samplers.count == 2 && samplers.allSatisfy { $0.utilisation.busySeconds > 0 }, "\(status.text)")
        #expect(status.text.contains("utilisation (busy share of the last minute):\nclusterer   1 x"), "\(status.text)")

        // On the cluster, SIGKILL of the command and of the trainer mid-way: the rerun resumes the runs from Redis.
        let renamed = "\(name)-k"
        try Self.tinyExperiment(name: renamed).write(to: specFile, atomically: true, encoding: .utf8)
        try experiment("cluster-killed", [])
        let state = try ClusterHarness.state("\(renamed).sft-uniform-T1-s1")
        #expect(try ClusterHarness.waitFor(timeout: 300) { try state.snapshot().phase != nil })
        cluster.kill9("cluster-killed")
        #expect(try state.snapshot().phase != .done, "killed too late to test resuming")
        cluster.kill9("trainer")
        try cluster.start(.trainer, name: "trainer")
        try experiment("cluster-killed", [])
        _ = finish("cluster-killed")
        #expect(try Self.results(dir.appendingPathComponent("cluster-killed")) == reference)
    }
}
