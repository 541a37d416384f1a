import EASTCore
import EASTTransport
import Foundation

/// The servers a worker is connected to, for `/readyz` and `east status`:
/// the broker node of its client and the Redis server (under Sentinel, the
/// primary) of its loop's connection.
public final class Health: @unchecked Sendable {
    private let lock = NSLock()
    private weak var client: AMQPClient?
    private weak var redis: RedisConnection?

    public init() {}

    func watch(_ client: AMQPClient) {
        lock.withLock { self.client = client }
    }

    func watch(_ redis: RedisConnection) {
        lock.withLock { self.redis = redis }
    }

    /// The broker node connected to, or nil.
    public var brokerNode: Endpoint? { lock.withLock { client?.connectedNode } }

    /// The Redis server connected to, or nil (also nil before the worker's loop connects).
    public var redisServer: Endpoint? { lock.withLock { redis?.connectedTo } }

    /// Connected to a broker node and to Redis (the primary, under Sentinel).
    public var isReady: Bool { brokerNode != nil && redisServer != nil }
}

/// What every worker needs: its name, the broker, Redis, where policies
/// live (and its own cache of them), its log, metrics and health.
public struct WorkerEnvironment: Sendable {
    public var name: String
    /// The broker's nodes, tried in turn.
    public var amqp: [Endpoint]
    public var redis: RedisAddress
    public var policies: PolicyStore.Settings
    public var heartbeat: Int
    public var log: @Sendable (String) -> Void
    public var metrics: WorkerMetrics
    public var health = Health()
    /// Whether samplers and evaluators reuse samples and greedy answers by
    /// content address (`RedisSampleStore`); off only to measure what reuse saves.
    public var reuseSamples = true

    public init(name: String, role: String, amqp: [Endpoint], redis: RedisAddress, policies: PolicyStore.Settings, heartbeat: Int = 30,
                log: @escaping @Sendable (String) -> Void) {
        (self.name, self.amqp, self.redis, self.policies, self.heartbeat, self.log) = (name, amqp, redis, policies, heartbeat, log)
        metrics = WorkerMetrics(role: role)
    }

    /// A policy store with its own Redis connection, for one worker loop.
    public func openPolicyStore() -> PolicyStore {
        let log = self.log
        return PolicyStore(settings: policies, redis: redis, log: { log($0) })
    }

    /// An AMQP client that declares the standard topology on every (re)connect.
    public func connectBroker(prefetch: Int) throws -> AMQPClient {
        let log = self.log
        let client = try AMQPClient(nodes: amqp, heartbeat: heartbeat, prefetch: prefetch,
                                    setup: { try Topology.standard.declare(on: $0) }, log: { log("amqp: \($0)") })
        health.watch(client)
        return client
    }

    /// A Redis connection whose server `/readyz` and `east status` report.
    public func connectRedis() throws -> RedisConnection {
        let redis = try RedisConnection(address: redis)
        health.watch(redis)
        return redis
    }
}
