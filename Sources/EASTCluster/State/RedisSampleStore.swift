import EASTCore
import EASTStages
import EASTTransport
import Foundation

/// The cluster's `SampleStore`: samples and greedy answers in Redis by
/// content address, shared by every sampler and evaluator (and by every run
/// of an experiment, which is the point):
///
/// | key                  | type | holds                                      | written by           |
/// | -------------------- | ---- | ------------------------------------------ | -------------------- |
/// | `east:samples:<key>` | str  | `QuestionSamples` (JSON), `SampleKey`'s key | samplers, evaluators |
///
/// Entries expire a week after they were written: long enough for any
/// experiment's runs to share them, and Redis does not grow without end.
public final class RedisSampleStore: SampleStore {
    public let redis: RedisConnection
    public static let lifetime = 7 * 24 * 3600

    public init(redis: RedisConnection) {
        self.redis = redis
    }

    static func key(_ key: String) -> String { "east:samples:\(key)" }

    public func load(_ keys: [String]) throws -> [QuestionSamples?] {
        guard !keys.isEmpty else { return [] }
        let reply = try redis.retryingOnceIfLost { try redis.command(["MGET"] + keys.map(Self.key)) }
        guard let values = reply.array, values.count == keys.count else {
            throw RedisError(context: "MGET", reason: "expected \(keys.count) values", connectionLost: false)
        }
        return try zip(keys, values).map { key, value in
            try value.string.map { try JSONCoding.decode(QuestionSamples.self, from: $0, what: "the samples \(Self.key(key)) in Redis") }
        }
    }

    public func save(_ entries: [(key: String, samples: QuestionSamples)]) throws {
        guard !entries.isEmpty else { return }
        let commands = try entries.map { ["SET", Self.key($0.key), try JSONCoding.string($0.samples), "EX", String(Self.lifetime)] }
        _ = try redis.retryingOnceIfLost { try redis.pipeline(commands) }
    }
}
