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

/// coordinator -> samplers: sample one question with the named policy version.
public struct SampleJob: ClusterMessage, Equatable {
    public static let type = "sample_job"
    public var iteration: Int
    public var version: Int
    public var question: Question
}

/// samplers -> clusterer: the n responses of one job's question.
public struct SampleResult: ClusterMessage, Equatable {
    public static let type = "sample_result"
    /// The job answered: its iteration, policy version and question.
    public var job: SampleJob
    public var samples: QuestionSamples
    public var sampler: String

    public func validate() throws(MessageError) {
        guard !samples.responses.isEmpty else { throw MessageError("field \"samples.responses\" is empty") }
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
