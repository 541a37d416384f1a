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

/// trainer -> evaluator (and coordinator, through Redis): a new policy
/// version exists. It names the version's manifest (`PolicyStore`), never a
/// path: any host fetches and verifies the policy from the network store.
public struct CheckpointReady: ClusterMessage, Equatable {
    public static let type = "checkpoint_ready"
    public var version: Int
    /// The SHA-256 of the version's `PolicyManifest`.
    public var manifest: String

    public init(from decoder: any Decoder) throws {
        try refusePath(decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        (version, manifest) = (try c.decode(Int.self, forKey: .version), try c.decode(String.self, forKey: .manifest))
    }

    init(version: Int, manifest: String) { (self.version, self.manifest) = (version, manifest) }

    public func validate() throws(MessageError) { try validateManifest(manifest) }
}

/// evaluator (on a checkpoint event) -> evaluators: greedy-decode test
/// questions `start ..< start + count` of the run with policy `version`.
public struct EvalShard: ClusterMessage, Equatable {
    public static let type = "eval_shard"
    public var version: Int
    /// The SHA-256 of the version's `PolicyManifest`.
    public var manifest: String
    public var shard: Int
    public var shards: Int
    public var start: Int
    public var count: Int

    public init(from decoder: any Decoder) throws {
        try refusePath(decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(Int.self, forKey: .version)
        manifest = try c.decode(String.self, forKey: .manifest)
        (shard, shards) = (try c.decode(Int.self, forKey: .shard), try c.decode(Int.self, forKey: .shards))
        (start, count) = (try c.decode(Int.self, forKey: .start), try c.decode(Int.self, forKey: .count))
    }

    init(version: Int, manifest: String, shard: Int, shards: Int, start: Int, count: Int) {
        (self.version, self.manifest, self.shard, self.shards, self.start, self.count) = (version, manifest, shard, shards, start, count)
    }

    public func validate() throws(MessageError) {
        try validateManifest(manifest)
        guard shard >= 0, shard < shards, start >= 0, count >= 1 else {
            throw MessageError("evaluation shard \(shard) of \(shards) (questions \(start) + \(count)) is out of range")
        }
    }
}

/// Policies travel as a version and a manifest digest: a message naming a
/// path (as messages did when workers shared a checkpoint folder) is refused.
private struct PathKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

private func refusePath(_ decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: PathKey.self)
    let key = PathKey(stringValue: "path")
    if c.contains(key) {
        let path = (try? c.decode(String.self, forKey: key)) ?? "?"
        throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [key],
            debugDescription: "names a path (\(path)); policies travel as a version and a manifest sha256, never a path"))
    }
}

private func validateManifest(_ manifest: String) throws(MessageError) {
    if manifest.contains("/") {
        throw MessageError("field \"manifest\" names a path (\(manifest)); policies travel as a version and a manifest sha256, never a path")
    }
    guard SHA256.isDigest(manifest) else { throw MessageError("field \"manifest\" is not a sha256 digest (64 lowercase hex digits): \(manifest)") }
}
