import EASTCore
import EASTTransport
import Foundation

/// The workers alive on the cluster and how busy each is, for `east status`:
///
/// | key                    | type | holds                                               | written by  |
/// | ---------------------- | ---- | --------------------------------------------------- | ----------- |
/// | `east:workers`         | set  | every worker name seen                              | every worker |
/// | `east:worker:<name>`   | str  | its role, `Utilisation.Reading`, the broker node and Redis server it uses (JSON), 30 s TTL | the worker, every 5 s |
///
/// A worker that stops reporting drops out after its key expires.
public enum WorkerRegistry {
    public static let workersKey = "east:workers"
    static func key(_ name: String) -> String { "east:worker:\(name)" }

    public struct Entry: Codable, Equatable, Sendable {
        public var name: String
        public var role: String
        public var utilisation: Utilisation.Reading
        /// The broker node (`host:port`) its client is connected to, nil while reconnecting.
        public var broker: String?
        /// The Redis server (under Sentinel: the primary) it writes to.
        public var redis: String?
    }

    static func report(_ entry: Entry, redis: RedisConnection) throws {
        _ = try redis.pipeline([
            ["SADD", workersKey, entry.name],
            ["SET", key(entry.name), try JSONCoding.string(entry), "EX", "30"],
        ])
    }

    /// The workers that reported in the last 30 s, by role then name.
    public static func alive(_ redis: RedisConnection) throws -> [Entry] {
        let names = try redis.command(["SMEMBERS", workersKey]).array?.compactMap(\.string) ?? []
        var alive: [Entry] = []
        for name in names {
            guard let text = try redis.command(["GET", key(name)]).string else {
                _ = try redis.command(["SREM", workersKey, name])
                continue
            }
            alive.append(try JSONCoding.decode(Entry.self, from: text, what: "worker \(name) in Redis"))
        }
        return alive.sorted { ($0.role, $0.name) < ($1.role, $1.name) }
    }
}
