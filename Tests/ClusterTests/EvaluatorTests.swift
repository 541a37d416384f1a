import EASTCluster
import EASTCore
import EASTStages
import EASTTransport
import Foundation
import Testing

/// Sharded evaluation and jobs of several questions. (Part of the serialized cluster suite.)
extension ClusterTests {
    /// Two evaluator replicas split every policy version's test set (16
    /// questions in shards of 3: 6 shards) and record the same per-question
    /// results and accuracy as one evaluator taking it whole. The same two
    /// runs show that grouping questions into jobs (1 per job, then 3: five
    /// jobs of 3 and one of 1) changes no question's samples. One pair of
    /// runs checks both, to keep the suite short.
    @Test func twoEvaluatorsAndThreeQuestionJobsAgreeWithOneEvaluatorAndOneQuestionJobs() throws {
        let one = try ClusterHarness.cluster()
        try one.startWorkers(samplers: 2, arguments: [.evaluator: ["--eval-shard-size", "16"]])
        let reference = Self.uniqueRun("one-evaluator")
        let (status, output) = try one.runCoordinator(run: reference, extra: ["--questions-per-job", "1"])
        #expect(status == 0, "\(output)")
        one.stop()

        let two = try ClusterHarness.cluster()
        defer { two.stop() }
        try two.startWorkers(samplers: 2, evaluators: 2, arguments: [.evaluator: ["--eval-shard-size", "3"]])
        let run = Self.uniqueRun("two-evaluators")
        let (status2, output2) = try two.runCoordinator(run: run, extra: ["--questions-per-job", "3"])
        #expect(status2 == 0, "\(output2)")
        let (a, b) = (try ClusterHarness.state(reference), try ClusterHarness.state(run))
        func samples(_ state: RunState) throws -> [String: QuestionRecord] {
            try state.records(iteration: 1).mapValues { var r = $0; r.sampler = nil; return r }  // who sampled differs
        }
        #expect(try samples(b).count == 16)
        #expect(try samples(b) == samples(a))
        #expect(try b.evaluations() == a.evaluations())
        #expect(try b.accuracies() == a.accuracies())
        #expect(try b.evaluations()[1]?.count == 16)
        for name in ["evaluator", "evaluator-2"] {
            #expect(two.log(name).contains("run \(run) v"), "\(name): \(two.log(name))")  // both took shards
        }
        #expect(one.log("evaluator").contains("evaluated shard 1 of 1"))
    }
}
