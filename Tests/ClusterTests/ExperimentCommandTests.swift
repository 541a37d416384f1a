import EASTCluster
import EASTCore
import EASTStages
import EASTTransport
import Foundation
import Testing

/// `east experiment` end to end: a tiny experiment (3 settings x 2 seeds;
/// LW(P) makes the samples' log-probs matter, not only their answers; a
/// learning rate chosen from two on validation questions first) in process,
/// with and without sample reuse, and on the cluster gives the same results
/// file, which `--verify` recomputes from the outcomes (and refuses once an
/// outcome is changed); killed with SIGKILL mid-way (and a worker with it) and
/// rerun, it finishes with the same file again; a changed spec is refused by
/// name. (Part of the serialized cluster suite: its runs share the workers.)
extension ClusterTests {
    static func tinyExperiment(name: String, seeds: String = "[1, 2]") -> String {
        """
        name: \(name)
        base: {checkpoint: \(ClusterHarness.backbone), task: arith-easy, train_count: 16, n: 4, temperature: 1.0, max_tokens: 64, batch_size: 4, epochs: 1}
        test: {task: arith-easy, count: 16, seed: 7}
        seeds: \(seeds)
        axes: {weighting: [entropy, lwp]}
        baseline: {weighting: uniform}
        primary: [{weighting: entropy}]
        selection: {validation: {task: arith-easy, count: 12, seed: 11}, seeds: [1], grid: {sft: {learning_rate: [0.00001, 0.001]}}}
        """
    }

    /// results.json without the experiment's name, which differs between the cluster runs.
    static func results(_ dir: URL) throws -> String {
        var results = try JSONCoding.decode(ExperimentResults.self, from: try Data(contentsOf: dir.appendingPathComponent("results.json")),
                                            what: "results.json")
        results.experiment = ""
        return try JSONCoding.string(results)
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
        let cache = dir.appendingPathComponent("samples").path
        try experiment("inprocess", ["--inprocess", "--sample-cache", cache])
        let output = finish("inprocess")
        #expect(output.contains("6 runs after 2 selection runs, 16 test questions"), "\(output)")
        #expect(output.contains("detectable difference at 80% power"), "\(output)")
        #expect(output.contains("selection chose: sft learning rate"), "\(output)")
        #expect(output.contains("\(name) (inprocess, runs): 6/6 runs done"), "\(output)")
        let reference = try Self.results(dir.appendingPathComponent("inprocess"))
        let decoded = try JSONCoding.decode(ExperimentResults.self, from: Data(reference.utf8), what: "results")
        #expect(decoded.runs.count == 6 && decoded.comparisons.count == 2 && decoded.comparisons.filter(\.primary).count == 1)
        #expect(decoded.selection?.points.count == 2 && decoded.selection?.choices.count == 1)
        // Every run ran at the chosen learning rate; the selection runs were evaluated on the validation questions only.
        let chosen = try #require(decoded.selection?.choices.first?.learningRate)
        #expect(decoded.runs.allSatisfy { $0.settings.learningRate == chosen && $0.settings.sampling.n == 4 })
        let outcomes = try JSONCoding.decode(ExperimentOutcomes.self, from: try Data(contentsOf: dir.appendingPathComponent("inprocess/outcomes.json")),
                                             what: "outcomes.json")
        #expect(outcomes.validationQuestions.count == 12 && Set(outcomes.validationQuestions).isDisjoint(with: outcomes.testQuestions))
        let report = try String(contentsOf: dir.appendingPathComponent("inprocess/report.md"), encoding: .utf8)
        #expect(report.contains("| default (start model) | v0 |") && report.contains("| sft entropy a=1.0 | v1 |"), "\(report)")
        #expect(report.contains("## Selection on the validation split") && report.contains("(chosen)"), "\(report)")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("inprocess/fig5-questions.svg").path))

        // The samples were reused: the same results with every sample drawn again.
        try experiment("inprocess-fresh", ["--inprocess", "--no-sample-reuse"])
        _ = finish("inprocess-fresh")
        #expect(try Self.results(dir.appendingPathComponent("inprocess-fresh")) == reference)

        // --verify recomputes every figure from the outcomes, and notices a changed one.
        try cluster.start(executable: "east", name: "verify", arguments: ["experiment", "--verify", dir.appendingPathComponent("inprocess").path])
        #expect(cluster.wait("verify", timeout: 120) == 0, "\(cluster.log("verify"))")
        #expect(cluster.log("verify").contains("verified"))
        let tampered = dir.appendingPathComponent("inprocess-tampered")
        try FileManager.default.copyItem(at: dir.appendingPathComponent("inprocess"), to: tampered)
        var changed = outcomes
        let run = "sft-entropy-a1.0-T1-s1"
        let flipped = changed.runs[run]!["1"]!.enumerated().map { $0.offset == 0 ? ($0.element == "1" ? "0" : "1") : String($0.element) }.joined()
        changed.runs[run]!["1"] = flipped
        try JSONCoding.encode(changed).write(to: tampered.appendingPathComponent("outcomes.json"))
        try cluster.start(executable: "east", name: "verify-tampered", arguments: ["experiment", "--verify", tampered.path])
        #expect(cluster.wait("verify-tampered", timeout: 120) == 1)
        #expect(cluster.log("verify-tampered").contains("does not match what its outcomes give"), "\(cluster.log("verify-tampered"))")

        // In process, SIGKILL once a run is done; the rerun finishes the rest.
        try experiment("inprocess-killed", ["--inprocess", "--sample-cache", cache])
        let killed = dir.appendingPathComponent("inprocess-killed")
        #expect(ClusterHarness.waitFor(timeout: 300) { Self.doneRuns(killed) >= 1 })
        cluster.kill9("inprocess-killed")
        #expect(Self.doneRuns(killed) < 6, "killed too late to test resuming")
        Thread.sleep(forTimeInterval: 1.5)  // the orphaned runs notice and exit
        try experiment("inprocess-killed", ["--inprocess", "--sample-cache", cache])
        _ = finish("inprocess-killed")
        #expect(try Self.results(killed) == reference)

        // The same name with another spec is refused, naming the key.
        try Self.tinyExperiment(name: name, seeds: "[1, 3]").write(to: specFile, atomically: true, encoding: .utf8)
        try experiment("inprocess", ["--inprocess"])
        #expect(cluster.wait("inprocess", timeout: 60) == 1)
        #expect(cluster.log("inprocess").contains("with other resolved settings (it differs in seeds"), "\(cluster.log("inprocess"))")
        try Self.tinyExperiment(name: name).write(to: specFile, atomically: true, encoding: .utf8)

        // On the cluster: the same numbers.
        try cluster.startWorkers(samplers: 2)
        try experiment("cluster", [])
        let clusterOutput = finish("cluster")
        #expect(try Self.results(dir.appendingPathComponent("cluster")) == reference, "\(clusterOutput)")
        let status = try ClusterStatus.read(amqp: ClusterHarness.amqp, redis: ClusterHarness.redis)
        #expect(status.text.contains("\(name) (cluster, runs): 6/6 runs done"), "\(status.text)")
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
        let state = try ClusterHarness.state("\(renamed).select-sft-lr1e-05-beta0.1-s1")
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
