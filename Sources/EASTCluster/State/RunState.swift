import EASTCore
import EASTStages
import EASTTransport
import Foundation

/// A run's shared state in Redis: every key the coordinator, the workers and
/// `east status` read or write, and its codec, live here and nowhere else.
/// Keys are per run, so several runs share one cluster side by side. Every
/// write is idempotent (a redelivered message writes the same value again,
/// or nothing), so at-least-once delivery never double-counts.
///
/// Writes that record results (the spec, question records, training steps,
/// evaluations, reports, policy versions, the trainer's resume point) go
/// through `recorded`: under Sentinel they wait for a replica to hold them
/// (`RedisConnection.writeReplicated`) before the worker acks its message,
/// so a failover loses none of them. Phase, timings and failure counts are
/// progress notes and do not wait.
///
/// | key                              | type | holds                                              | written by  |
/// | -------------------------------- | ---- | -------------------------------------------------- | ----------- |
/// | `east:current`                   | str  | the run `east status` shows (the latest started)   | coordinator |
/// | `east:runs`                      | set  | every run id                                       | coordinator |
/// | `east:run:<run>:spec`            | str  | the `RunSpec` (JSON), the run's one definition     | coordinator |
/// | `east:run:<run>:state`           | hash | phase, iteration, version, questions, iterations, prompt, note | coordinator |
/// | `east:run:<run>:test`            | str  | the test questions (JSON)                          | coordinator |
/// | `east:run:<run>:records:<it>`    | hash | question id -> `QuestionRecord` (JSON)             | clusterer   |
/// | `east:run:<run>:reports`         | hash | iteration -> `IterationReport` (JSON)              | coordinator |
/// | `east:run:<run>:trainer`         | str  | the trainer's latest step, `TrainerProgress` (JSON) | trainer    |
/// | `east:run:<run>:steps`           | hash | "<iteration>:<batch>" -> `TrainingStep` (JSON)     | trainer     |
/// | `east:run:<run>:checkpoints`     | hash | policy version -> its manifest's sha256 (`PolicyStore`) | trainer, coordinator (v0) |
/// | `east:run:<run>:trainer-state`   | hash | manifest, iteration, batch, step: the resume point | trainer     |
/// | `east:run:<run>:accuracy`        | hash | policy version -> greedy test accuracy             | evaluator   |
/// | `east:run:<run>:evaluations`     | hash | policy version -> `[QuestionResult]` (JSON)        | evaluator   |
/// | `east:run:<run>:eval-shards:<v>` | hash | shard index -> its `[QuestionResult]` (JSON)       | evaluators  |
/// | `east:run:<run>:failures`        | hash | dead_lettered, requeued (counts), last (reason)    | any worker  |
/// | `east:run:<run>:timings`         | hash | "<iteration>:sampling" -> seconds (whole phases)   | coordinator |
///
/// Beside them, shared by all runs: `east:samples:<key>` (`RedisSampleStore`).
public final class RunState {
    public let redis: RedisConnection
    public let run: String

    public init(redis: RedisConnection, run: String) {
        self.redis = redis
        self.run = run
    }

    public static let currentKey = "east:current"
    public static let runsKey = "east:runs"
    func key(_ suffix: String) -> String { "east:run:\(run):\(suffix)" }

    // MARK: The spec and the phase

    public enum Phase: String, Sendable {
        case sampling, training, evaluating, done, failed
    }

    public struct Snapshot: Sendable {
        public var phase: Phase?
        public var iteration: Int
        public var version: Int
        public var questions: Int
        public var iterations: Int
        public var note: String?
    }

    /// Stores the spec, the test questions and the prompt format once, when the run starts.
    public func start(spec: RunSpec, questions: Int, test: [Question], prompt: String) throws {
        _ = try recorded([
            ["SET", Self.currentKey, run],
            ["SADD", Self.runsKey, run],
            ["SET", key("spec"), try JSONCoding.string(spec)],
            ["SET", key("test"), try JSONCoding.string(test)],
            ["HSET", key("state"), "questions", String(questions), "iterations", String(spec.iterations), "prompt", prompt],
        ])
    }

    /// The prompt format the run's policies use (`PromptFormat.description`).
    public func prompt() throws -> String {
        guard let prompt = try command(["HGET", key("state"), "prompt"]).string else {
            throw MessageError("run \(run) has no prompt format in Redis", run: run)
        }
        return prompt
    }

    /// The run's spec; nil when the run was never started.
    public func spec() throws -> RunSpec? {
        guard let text = try command(["GET", key("spec")]).string else { return nil }
        return try JSONCoding.decode(RunSpec.self, from: text, what: "the spec of run \(run) in Redis")
    }

    public func testQuestions() throws -> [Question] {
        guard let text = try command(["GET", key("test")]).string else {
            throw MessageError("run \(run) has no test questions in Redis", run: run)
        }
        return try JSONCoding.decode([Question].self, from: text, what: "the test questions of run \(run)")
    }

    public func snapshot() throws -> Snapshot {
        let fields = try hash(key("state"))
        return Snapshot(
            phase: fields["phase"].flatMap(Phase.init), iteration: fields["iteration"].flatMap { Int($0) } ?? 0,
            version: fields["version"].flatMap { Int($0) } ?? 0, questions: fields["questions"].flatMap { Int($0) } ?? 0,
            iterations: fields["iterations"].flatMap { Int($0) } ?? 0, note: fields["note"])
    }

    public func setPhase(_ phase: Phase, iteration: Int, version: Int, note: String? = nil) throws {
        try command(["HSET", key("state"), "phase", phase.rawValue, "iteration", String(iteration),
                           "version", String(version), "note", note ?? ""])
    }

    // MARK: Per-question records and per-iteration reports

    /// Records each question's record once, in one round trip: a second
    /// write (a redelivered result, a duplicate sample) is ignored. Whether
    /// each was new.
    @discardableResult
    public func record(iteration: Int, _ records: [QuestionRecord]) throws -> [Bool] {
        let commands = try records.map { ["HSETNX", key("records:\(iteration)"), $0.questionID, try JSONCoding.string($0)] }
        return try recorded(commands).map { reply in
            if case let .error(message) = reply { throw RedisError(context: "HSETNX", reason: message, connectionLost: false) }
            return reply.integer == 1
        }
    }

    public func recordCount(iteration: Int) throws -> Int {
        try command(["HLEN", key("records:\(iteration)")]).integer ?? 0
    }

    /// Question id -> record.
    public func records(iteration: Int) throws -> [String: QuestionRecord] {
        try hash(key("records:\(iteration)")).mapValues {
            try JSONCoding.decode(QuestionRecord.self, from: $0, what: "a record of run \(run), iteration \(iteration)")
        }
    }

    public func storeReport(_ report: IterationReport) throws {
        _ = try recorded([["HSET", key("reports"), String(report.iteration), try JSONCoding.string(report)]])
    }

    /// Every stored iteration report, in order.
    public func reports() throws -> [IterationReport] {
        try hash(key("reports")).values.map {
            try JSONCoding.decode(IterationReport.self, from: $0, what: "an iteration report of run \(run)")
        }.sorted { $0.iteration < $1.iteration }
    }

    // MARK: Trainer, accuracy, checkpoints

    /// Where the trainer stands in a run, for progress lines and `east status`.
    public struct TrainerProgress: Codable, Equatable, Sendable {
        public var iteration: Int
        public var batch: Int
        public var step: Int
        public var loss: Double
    }

    public func recordTrainerStep(iteration: Int, batch: Int, step: Int, _ report: TrainingStep) throws {
        let progress = TrainerProgress(iteration: iteration, batch: batch, step: step, loss: report.loss)
        _ = try recorded([
            ["SET", key("trainer"), try JSONCoding.string(progress)],
            ["HSET", key("steps"), "\(iteration):\(batch)", try JSONCoding.string(report)],
        ])
    }

    /// The trainer's latest step in this run, nil before its first.
    public func trainer() throws -> TrainerProgress? {
        try command(["GET", key("trainer")]).string.map {
            try JSONCoding.decode(TrainerProgress.self, from: $0, what: "the trainer progress of run \(run)")
        }
    }

    /// Every optimizer step by (iteration, batch), in training order.
    public func trainingSteps() throws -> [(iteration: Int, batch: Int, step: TrainingStep)] {
        try hash(key("steps")).map { k, v -> (Int, Int, TrainingStep) in
            let parts = k.split(separator: ":").compactMap { Int($0) }
            guard parts.count == 2 else { throw MessageError("run \(run): training step \"\(k)\" is not <iteration>:<batch>", run: run) }
            return (parts[0], parts[1], try JSONCoding.decode(TrainingStep.self, from: v, what: "training step \(k) of run \(run)"))
        }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
    }

    /// A version's accuracy and its per-question results, together.
    public func recordEvaluation(version: Int, _ result: EvaluationStage.Result) throws {
        _ = try recorded([
            ["HSET", key("evaluations"), String(version), try JSONCoding.string(result.questions)],
            ["HSET", key("accuracy"), String(version), String(result.accuracy)],
        ])
    }

    /// Records one shard's results (once: a redelivered shard changes
    /// nothing); when it completes the set, assembles them in shard order
    /// into the version's evaluation and returns it. With nil results (a
    /// redelivered shard already recorded) it only assembles.
    public func recordEvaluationShard(version: Int, shard: Int, shards: Int, _ results: [QuestionResult]?) throws -> EvaluationStage.Result? {
        let shardsKey = key("eval-shards:\(version)")
        if let results { _ = try recorded([["HSETNX", shardsKey, String(shard), try JSONCoding.string(results)]]) }
        // Count first: only the last shard's evaluator reads them all.
        guard try command(["HLEN", shardsKey]).integer == shards else { return nil }
        let parts = try hash(shardsKey)
        var all: [QuestionResult] = []
        for i in 0..<shards {
            guard let text = parts[String(i)] else { throw MessageError("run \(run) v\(version): shard \(i) of \(shards) is missing", run: run) }
            all += try JSONCoding.decode([QuestionResult].self, from: text, what: "shard \(i) of the evaluation of v\(version) of run \(run)")
        }
        let result = EvaluationStage.Result(questions: all)
        try recordEvaluation(version: version, result)
        return result
    }

    /// How long a phase of an iteration took, when one coordinator saw all of it.
    public func recordTiming(iteration: Int, phase: String, seconds: Double) throws {
        try command(["HSET", key("timings"), "\(iteration):\(phase)", String(seconds)])
    }

    /// "<iteration>:<phase>" -> seconds.
    public func timings() throws -> [String: Double] { try hash(key("timings")).compactMapValues(Double.init) }

    /// Whether a shard of a version is recorded.
    public func hasEvaluationShard(version: Int, shard: Int) throws -> Bool {
        try command(["HEXISTS", key("eval-shards:\(version)"), String(shard)]).integer == 1
    }

    /// Policy version -> one result per test question, in test-set order.
    public func evaluations() throws -> [Int: [QuestionResult]] {
        var out: [Int: [QuestionResult]] = [:]
        for (k, v) in try hash(key("evaluations")) {
            guard let version = Int(k) else { continue }
            out[version] = try JSONCoding.decode([QuestionResult].self, from: v, what: "the evaluation of v\(version) of run \(run)")
        }
        return out
    }

    public func accuracies() throws -> [Int: Double] {
        var out: [Int: Double] = [:]
        for (k, v) in try hash(key("accuracy")) { if let version = Int(k), let a = Double(v) { out[version] = a } }
        return out
    }

    /// Records a policy version's manifest once; the one recorded (when a
    /// standby trainer published the version first, its manifest stays).
    @discardableResult
    public func recordCheckpoint(version: Int, manifest: String) throws -> String {
        // In the run set too: retention keeps what any listed run records.
        let replies = try recorded([["SADD", Self.runsKey, run], ["HSETNX", key("checkpoints"), String(version), manifest],
                                    ["HGET", key("checkpoints"), String(version)]])
        return replies[2].string ?? manifest
    }

    /// The manifest digest of a policy version.
    public func checkpoint(version: Int) throws -> String? {
        try command(["HGET", key("checkpoints"), String(version)]).string
    }

    /// Policy version -> manifest digest.
    public func checkpoints() throws -> [Int: String] {
        var out: [Int: String] = [:]
        for (k, v) in try hash(key("checkpoints")) { if let version = Int(k) { out[version] = v } }
        return out
    }

    /// Un-records versions (retention deleted them): messages naming them are refused.
    public func forgetCheckpoints(versions: [Int]) throws {
        guard !versions.isEmpty else { return }
        try command(["HDEL", key("checkpoints")] + versions.map(String.init))
    }

    /// Every manifest any run records: its policy versions and its trainer's
    /// resume point (what retention must not delete).
    public static func recordedManifests(_ redis: RedisConnection) throws -> Set<String> {
        let runs = try Self.runs(redis)
        guard !runs.isEmpty else { return [] }
        let replies = try redis.pipeline(runs.flatMap { run in
            [["HVALS", "east:run:\(run):checkpoints"], ["HGET", "east:run:\(run):trainer-state", "manifest"]]
        })
        var live = Set<String>()
        for reply in replies {
            if let values = reply.array { live.formUnion(values.compactMap(\.string)) } else if let value = reply.string { live.insert(value) }
        }
        return live
    }

    /// Where the trainer stands: the last batch whose update is in the saved model.
    public struct TrainerPosition: Equatable, Sendable {
        public var iteration: Int
        public var batch: Int
        public var step: Int

        public init(iteration: Int, batch: Int, step: Int) {
            (self.iteration, self.batch, self.step) = (iteration, batch, step)
        }
    }

    /// The trainer's last save: its manifest (model, optimizer) and position.
    public func trainerState() throws -> (manifest: String, position: TrainerPosition)? {
        let fields = try hash(key("trainer-state"))
        guard let manifest = fields["manifest"] else { return nil }
        guard let it = fields["iteration"].flatMap({ Int($0) }), let b = fields["batch"].flatMap({ Int($0) }),
              let s = fields["step"].flatMap({ Int($0) }) else {
            throw MessageError("run \(run): the trainer state in Redis needs iteration, batch and step", run: run)
        }
        return (manifest, TrainerPosition(iteration: it, batch: b, step: s))
    }

    /// Switches the resume point to a new save in one command: a crash
    /// leaves the old save or the new one, never a new model with an old position.
    public func setTrainerState(manifest: String, position: TrainerPosition) throws {
        _ = try recorded([["HSET", key("trainer-state"), "manifest", manifest, "iteration", String(position.iteration),
                           "batch", String(position.batch), "step", String(position.step)]])
    }

    public func clearTrainerState() throws { try command(["DEL", key("trainer-state")]) }

    /// Every run id (`east:runs`).
    public static func runs(_ redis: RedisConnection) throws -> [String] {
        try redis.command(["SMEMBERS", runsKey]).array?.compactMap(\.string) ?? []
    }

    // MARK: Failures

    public struct Failures: Sendable, Equatable {
        public var deadLettered: Int
        public var requeued: Int
        /// The last reason a worker gave, with its name.
        public var last: String?
    }

    /// A worker could not handle one of the run's messages: `deadLettered`
    /// when it refused it for good, else it went back to the queue.
    /// Not retried after a lost connection (HINCRBY is the one write that is
    /// not idempotent): a failure lost with Redis is better than one counted twice.
    public func recordFailure(worker: String, reason: String, deadLettered: Bool) throws {
        _ = try redis.pipeline([
            ["HINCRBY", key("failures"), deadLettered ? "dead_lettered" : "requeued", "1"],
            ["HSET", key("failures"), "last", "\(worker): \(reason)"],
        ])
    }

    public func failures() throws -> Failures {
        let fields = try hash(key("failures"))
        return Failures(deadLettered: fields["dead_lettered"].flatMap { Int($0) } ?? 0,
                        requeued: fields["requeued"].flatMap { Int($0) } ?? 0, last: fields["last"])
    }

    public static func currentRun(_ redis: RedisConnection) throws -> String? {
        try redis.command(["GET", currentKey]).string
    }

    /// One command, sent again once after a lost connection is restored
    /// (`RedisConnection.retryingOnceIfLost`): every write here is idempotent.
    @discardableResult
    private func command(_ args: [String]) throws -> RedisReply {
        try redis.retryingOnceIfLost { try redis.command(args) }
    }

    /// A write that records results: one round trip, waiting for a
    /// replica under Sentinel; sent again once after a lost connection.
    /// Error replies in place.
    private func recorded(_ commands: [[String]]) throws -> [RedisReply] {
        try redis.retryingOnceIfLost { try redis.writeReplicated(commands) }
    }

    private func hash(_ key: String) throws -> [String: String] {
        guard let items = try command(["HGETALL", key]).array else { return [:] }
        var out: [String: String] = [:]
        var i = 0
        while i + 1 < items.count {
            if let k = items[i].string, let v = items[i + 1].string { out[k] = v }
            i += 2
        }
        return out
    }
}
