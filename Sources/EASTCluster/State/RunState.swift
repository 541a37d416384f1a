import EASTCore
import EASTTransport

/// A run's shared state in Redis: what the coordinator, the workers and
/// `east status` read and write. Every write is idempotent (a redelivered
/// message writes the same value again, or nothing), so at-least-once
/// delivery never double-counts.
///
///   east:current                      the run `east status` shows
///   east:run:<run>:state        hash  phase, iteration, version, questions
///   east:run:<run>:spec         str   the run spec, for operators
///   east:run:<run>:stats:<it>   hash  question id -> statistics and examples
///   east:run:<run>:trainer      hash  step, loss, iteration, batch
///   east:run:<run>:losses       hash  "<iteration>:<batch>" -> loss
///   east:run:<run>:accuracy     hash  policy version -> greedy test accuracy
///   east:run:<run>:checkpoints  hash  policy version -> checkpoint path
public final class RunState {
    public let redis: RedisConnection
    public let run: String

    public init(redis: RedisConnection, run: String) {
        self.redis = redis
        self.run = run
    }

    public static let currentKey = "east:current"
    func key(_ suffix: String) -> String { "east:run:\(run):\(suffix)" }

    // MARK: Phase

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

    public func snapshot() throws -> Snapshot {
        let fields = try hash(key("state"))
        return Snapshot(
            phase: fields["phase"].flatMap(Phase.init), iteration: fields["iteration"].flatMap { Int($0) } ?? 0,
            version: fields["version"].flatMap { Int($0) } ?? 0, questions: fields["questions"].flatMap { Int($0) } ?? 0,
            iterations: fields["iterations"].flatMap { Int($0) } ?? 0, note: fields["note"])
    }

    public func setPhase(_ phase: Phase, iteration: Int, version: Int, note: String? = nil) throws {
        try redis.command(["HSET", key("state"), "phase", phase.rawValue, "iteration", String(iteration),
                           "version", String(version), "note", note ?? ""])
    }

    public func start(spec: JSON, questions: Int, iterations: Int) throws {
        _ = try redis.pipeline([
            ["SET", Self.currentKey, run],
            ["SET", key("spec"), spec.text],
            ["HSET", key("state"), "questions", String(questions), "iterations", String(iterations)],
        ])
    }

    // MARK: Per-question statistics

    /// Records a question's statistics once: a second write (a redelivered
    /// job, a duplicate sample) is ignored. Returns whether this call wrote it.
    @discardableResult
    public func recordStatistics(iteration: Int, questionID: String, _ value: JSON) throws -> Bool {
        try redis.command(["HSETNX", key("stats:\(iteration)"), questionID, value.text]).integer == 1
    }

    public func statisticsCount(iteration: Int) throws -> Int {
        try redis.command(["HLEN", key("stats:\(iteration)")]).integer ?? 0
    }

    public func statistics(iteration: Int) throws -> [String: JSON] {
        try hash(key("stats:\(iteration)")).compactMapValues { try? JSON.parse($0) }
    }

    // MARK: Trainer, accuracy, checkpoints

    public func recordTrainerStep(iteration: Int, batch: Int, step: Int, loss: Float) throws {
        _ = try redis.pipeline([
            ["HSET", key("trainer"), "step", String(step), "loss", String(loss), "iteration", String(iteration), "batch", String(batch)],
            ["HSET", key("losses"), "\(iteration):\(batch)", String(loss)],
        ])
    }

    public func trainer() throws -> [String: String] { try hash(key("trainer")) }

    /// Losses by (iteration, batch), in training order.
    public func losses() throws -> [(iteration: Int, batch: Int, loss: Double)] {
        try hash(key("losses")).compactMap { k, v -> (Int, Int, Double)? in
            let parts = k.split(separator: ":").compactMap { Int($0) }
            guard parts.count == 2, let loss = Double(v) else { return nil }
            return (parts[0], parts[1], loss)
        }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
    }

    public func recordAccuracy(version: Int, _ accuracy: Double) throws {
        try redis.command(["HSET", key("accuracy"), String(version), String(accuracy)])
    }

    public func accuracies() throws -> [Int: Double] {
        var out: [Int: Double] = [:]
        for (k, v) in try hash(key("accuracy")) { if let version = Int(k), let a = Double(v) { out[version] = a } }
        return out
    }

    public func recordCheckpoint(version: Int, path: String) throws {
        try redis.command(["HSET", key("checkpoints"), String(version), path])
    }

    public func checkpoint(version: Int) throws -> String? {
        try redis.command(["HGET", key("checkpoints"), String(version)]).string
    }

    public static func currentRun(_ redis: RedisConnection) throws -> String? {
        try redis.command(["GET", currentKey]).string
    }

    private func hash(_ key: String) throws -> [String: String] {
        guard let items = try redis.command(["HGETALL", key]).array else { return [:] }
        var out: [String: String] = [:]
        var i = 0
        while i + 1 < items.count {
            if let k = items[i].string, let v = items[i + 1].string { out[k] = v }
            i += 2
        }
        return out
    }
}
