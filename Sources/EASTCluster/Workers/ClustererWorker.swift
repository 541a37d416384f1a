import EASTCore
import EASTStages
import EASTTransport

/// Turns each question's responses (one result holds a job's questions) into its `QuestionRecord` (clusters by
/// final answer, entropy, accuracy, R, the chosen examples) with the same
/// stage function the in-process run calls, and records it in Redis once (a
/// redelivered result changes nothing).
public final class ClustererWorker: Worker {
    public static let queue = Topology.clusterQueue
    /// Records are quick: keep a few results in hand.
    public var prefetch: Int { 16 }

    public init() {}

    public func handle(_ result: SampleResult, _ work: Work) throws -> Disposition {
        let state = work.state
        let current = try state.snapshot().version
        let job = result.job
        guard job.version == current else {
            return .stale("samples of policy v\(job.version) for \(job.label), the run is at v\(current)")
        }
        let spec = try work.spec()
        // Each record is written once (HSETNX): a result redelivered after a partial write completes it.
        let records = zip(job.questions, result.samples).map { question, samples in
            WeighingStage.record(question, samples, spec: spec, version: job.version, sampler: result.sampler)
        }
        try state.record(iteration: job.iteration, records)
        return .done
    }
}
