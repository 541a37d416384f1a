import EASTCore
import EASTStages
import EASTTransport

/// A message of the cluster, one type per queue, carried in an `Envelope`.
/// Messages hold only the run's iteration, policy version and the item:
/// every setting comes from the run's spec in Redis (`RunState.spec`). Only
/// this module makes them, so their memberwise initializers suffice.
public protocol ClusterMessage: Codable, Sendable {
    static var type: String { get }
    /// Checks what Codable cannot (ranges, emptiness); a failure dead-letters.
    func validate() throws(MessageError)
}

extension ClusterMessage {
    public func validate() throws(MessageError) {}

    public func envelope(run: String) -> [UInt8] { Envelope(type: Self.type, run: run, body: self).bytes }
}

/// coordinator -> samplers: sample the job's questions with the named policy
/// version. A job carries one or more questions (the coordinator's
/// `--questions-per-job`); each question's samples are the same bits however
/// questions are grouped into jobs (its seed is its own).
public struct SampleJob: ClusterMessage, Equatable {
    public static let type = "sample_job"
    public var iteration: Int
    public var version: Int
    public var questions: [Question]

    public func validate() throws(MessageError) {
        guard !questions.isEmpty else { throw MessageError("field \"questions\" is empty") }
        guard Set(questions.map(\.id)).count == questions.count else { throw MessageError("field \"questions\" names a question twice") }
    }

    /// For log lines: the first question's id, and how many follow.
    public var label: String {
        questions.count == 1 ? questions[0].id : "\(questions[0].id) and \(questions.count - 1) more"
    }
}

/// samplers -> clusterer: the n responses of each of one job's questions.
public struct SampleResult: ClusterMessage, Equatable {
    public static let type = "sample_result"
    /// The job answered: its iteration, policy version and questions.
    public var job: SampleJob
    /// One entry per question of the job, in the job's order.
    public var samples: [QuestionSamples]
    public var sampler: String

    public func validate() throws(MessageError) {
        try job.validate()
        guard samples.map(\.questionID) == job.questions.map(\.id) else {
            throw MessageError("field \"samples\" answers questions \(samples.map(\.questionID)), the job asked \(job.questions.map(\.id))")
        }
        for (i, s) in samples.enumerated() where s.responses.isEmpty {
            throw MessageError("field \"samples[\(i)].responses\" is empty")
        }
    }
}

/// coordinator -> trainer: one weighted batch of an iteration's training.
public struct TrainBatch: ClusterMessage, Equatable {
    public static let type = "train_batch"
    public var iteration: Int
    /// The policy version training starts from; the result is version + 1.
    public var version: Int
    public var index: Int
    public var count: Int
    public var items: [TrainingItem]

    public func validate() throws(MessageError) {
        guard index >= 0, index < count, !items.isEmpty else { throw MessageError("batch \(index) of \(count) is empty or out of range") }
    }
}

/// trainer -> evaluator (and coordinator, through Redis): a new policy version exists.
public struct CheckpointReady: ClusterMessage, Equatable {
    public static let type = "checkpoint_ready"
    public var version: Int
    public var path: String
}

/// evaluator (on a checkpoint event) -> evaluators: greedy-decode test
/// questions `start ..< start + count` of the run with policy `version`.
public struct EvalShard: ClusterMessage, Equatable {
    public static let type = "eval_shard"
    public var version: Int
    public var path: String
    public var shard: Int
    public var shards: Int
    public var start: Int
    public var count: Int

    public func validate() throws(MessageError) {
        guard shard >= 0, shard < shards, start >= 0, count >= 1 else {
            throw MessageError("evaluation shard \(shard) of \(shards) (questions \(start) + \(count)) is out of range")
        }
    }
}
