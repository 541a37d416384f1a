import EASTCore
import EASTTransport
import Foundation

/// Whether the worker's broker connection is up, for `/health`.
public final class Health: @unchecked Sendable {
    private let lock = NSLock()
    private weak var client: AMQPClient?

    public init() {}

    func watch(_ client: AMQPClient) {
        lock.lock()
        self.client = client
        lock.unlock()
    }

    public var isHealthy: Bool {
        lock.lock()
        defer { lock.unlock() }
        return client?.isConnected ?? false
    }
}

/// What every worker needs: its name, the broker, Redis, where policies
/// live (and its own cache of them), its log, metrics and health.
public struct WorkerEnvironment: Sendable {
    public var name: String
    public var amqp: Endpoint
    public var redis: Endpoint
    public var policies: PolicyStore.Settings
    public var heartbeat: Int
    public var log: @Sendable (String) -> Void
    public var metrics: WorkerMetrics
    public var health = Health()
    /// Whether samplers and evaluators reuse samples and greedy answers by
    /// content address (`RedisSampleStore`); off only to measure what reuse saves.
    public var reuseSamples = true

    public init(name: String, role: String, amqp: Endpoint, redis: Endpoint, policies: PolicyStore.Settings, heartbeat: Int = 30,
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
        let client = try AMQPClient(endpoint: amqp, heartbeat: heartbeat, prefetch: prefetch,
                                    setup: { try Topology.standard.declare(on: $0) }, log: { log("amqp: \($0)") })
        health.watch(client)
        return client
    }
}
