import EASTCore
import EASTStages
import EASTTransport
import Foundation

/// An experiment's state on the cluster, beside its runs' `RunState`:
///
/// | key                               | type | holds                                          | written by       |
/// | --------------------------------- | ---- | ---------------------------------------------- | ---------------- |
/// | `east:experiments`                | set  | every experiment name                          | `east experiment` |
/// | `east:experiment:<name>:spec`     | str  | the `ExperimentSpec` (JSON)                    | `east experiment` |
/// | `east:experiment:<name>:progress` | str  | the latest `ExperimentProgress` (JSON)         | `east experiment` |
///
/// The runs themselves are ordinary runs named `<experiment>.<run>`, so a
/// rerun after a kill resumes each one where its coordinator left it.
public struct ExperimentState {
    public let redis: RedisConnection
    public let name: String

    public init(redis: RedisConnection, name: String) {
        (self.redis, self.name) = (redis, name)
    }

    public static let experimentsKey = "east:experiments"
    func key(_ suffix: String) -> String { "east:experiment:\(name):\(suffix)" }

    /// The cluster's run id of one of the experiment's runs.
    public func runID(_ run: ExperimentSpec.Run) -> String { "\(name).\(run.id)" }

    /// The stored spec, nil before the experiment's first start.
    public func spec() throws -> ExperimentSpec? {
        guard let text = try redis.command(["GET", key("spec")]).string else { return nil }
        return try JSONCoding.decode(ExperimentSpec.self, from: text, what: "the spec of experiment \(name) in Redis")
    }

    /// Stores the spec on the first start; afterwards refuses another one, naming what differs.
    public func claim(_ spec: ExperimentSpec) throws {
        if let stored = try self.spec() {
            guard stored == spec else {
                throw RunSpec.Invalid(setting: "experiment \(name)",
                                      reason: "exists in Redis with another spec (it differs in \(stored.differences(from: spec).joined(separator: ", ")))")
            }
            return
        }
        _ = try redis.pipeline([["SET", key("spec"), try JSONCoding.string(spec)], ["SADD", Self.experimentsKey, name]])
    }

    public func record(_ progress: ExperimentProgress) throws {
        _ = try redis.command(["SET", key("progress"), String(decoding: try progress.encoded(), as: UTF8.self)])
    }

    public func progress() throws -> ExperimentProgress? {
        guard let text = try redis.command(["GET", key("progress")]).string else { return nil }
        return try ExperimentProgress.decode(Data(text.utf8), what: "the progress of experiment \(name) in Redis")
    }

    /// Every experiment's latest progress, by name (one whose record cannot
    /// be read, written by another version of east, is left out: this is a view).
    public static func all(_ redis: RedisConnection) throws -> [ExperimentProgress] {
        let names = try redis.command(["SMEMBERS", experimentsKey]).array?.compactMap(\.string) ?? []
        return try names.sorted().compactMap { name in
            do { return try ExperimentState(redis: redis, name: name).progress() } catch is JSONCoding.DecodeError { return nil }
        }
    }
}
