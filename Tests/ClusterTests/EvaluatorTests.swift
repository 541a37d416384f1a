import EASTCluster
import EASTCore
import EASTTransport
import Foundation
import Testing

/// Sharded evaluation. (Part of the serialized cluster suite.)
extension ClusterTests {
    /// Two evaluator replicas split every policy version's test set (16
    /// questions in shards of 3: 6 shards) and record the same per-question
    /// results and accuracy as one evaluator taking it whole.
    @Test func twoEvaluatorsSplitATestSetAndAgreeWithOne() throws {
        let one = try ClusterHarness.cluster()
        try one.startWorkers(samplers: 2, arguments: [.evaluator: ["--eval-shard-size", "16"]])
        let reference = Self.uniqueRun("one-evaluator")
        let (status, output) = try one.runCoordinator(run: reference)
        #expect(status == 0, "\(output)")
        one.stop()

        let two = try ClusterHarness.cluster()
        defer { two.stop() }
        try two.startWorkers(samplers: 2, evaluators: 2, arguments: [.evaluator: ["--eval-shard-size", "3"]])
        let run = Self.uniqueRun("two-evaluators")
        let (status2, output2) = try two.runCoordinator(run: run)
        #expect(status2 == 0, "\(output2)")
        let (a, b) = (try ClusterHarness.state(reference), try ClusterHarness.state(run))
        #expect(try b.evaluations() == a.evaluations())
        #expect(try b.accuracies() == a.accuracies())
        #expect(try b.evaluations()[1]?.count == 16)
        for name in ["evaluator", "evaluator-2"] {
            #expect(two.log(name).contains("run \(run) v"), "\(name): \(two.log(name))")  // both took shards
        }
        #expect(one.log("evaluator").contains("evaluated shard 1 of 1"))
    }
}
