import EASTCore
import EASTTransport
import Foundation

/// SIGTERM / SIGINT turn into a flag the worker loops check between jobs:
/// the job in hand is finished (or its message requeued by closing the
/// connection) and the worker exits cleanly.
public final class ShutdownSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false
    private var sources: [DispatchSourceSignal] = []

    public init() {}

    /// Listens for SIGTERM and SIGINT from now on.
    public func install() {
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.request() }
            source.resume()
            sources.append(source)
        }
    }

    public func request() {
        lock.lock()
        requested = true
        lock.unlock()
    }

    public var isRequested: Bool {
        lock.lock()
        defer { lock.unlock() }
        return requested
    }
}

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

/// What every worker needs: its name, the broker, Redis, the checkpoint
/// store, its log, metrics and health.
public struct WorkerEnvironment: Sendable {
    public var name: String
    public var amqp: Endpoint
    public var redis: Endpoint
    public var store: CheckpointStore
    public var heartbeat: Int
    public var log: @Sendable (String) -> Void
    public var metrics: WorkerMetrics
    public var health = Health()

    public init(name: String, role: String, amqp: Endpoint, redis: Endpoint, store: CheckpointStore, heartbeat: Int = 30,
                log: @escaping @Sendable (String) -> Void) {
        (self.name, self.amqp, self.redis, self.store, self.heartbeat, self.log) = (name, amqp, redis, store, heartbeat, log)
        metrics = WorkerMetrics(role: role)
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

/// The loop the sampler, clusterer and evaluator share: take a message,
/// decode it, handle it, ack it. A message that cannot be decoded (or that
/// the handler calls malformed) is rejected without requeue, so the broker
/// dead-letters it and the run goes on; any other failure requeues it, and
/// the queue's delivery limit dead-letters it after a few tries.
///
/// It owns the worker's broker and Redis connections; `handle` gets both
/// (the sampler publishes its results on the same connection).
public func consumeLoop(
    queue: String, type: String, prefetch: Int, shutdown: ShutdownSignal, environment env: WorkerEnvironment,
    handle: (Envelope, AMQPClient, RedisConnection) throws -> Void
) throws {
    let client = try env.connectBroker(prefetch: prefetch)
    defer { client.close() }
    let redis = try RedisConnection(endpoint: env.redis)
    try client.consume(queue)
    while !shutdown.isRequested {
        guard let delivery = client.next(timeout: 0.5) else { continue }
        let start = DispatchTime.now()
        do {
            let envelope = try Envelope(bytes: delivery.body, expecting: type)
            try handle(envelope, client, redis)
            try client.ack(delivery)
            env.metrics.ok.increment()
        } catch let error as MessageError {
            env.log("dead-lettering a message from \(queue): \(error)")
            try client.nack(delivery, requeue: false)
            env.metrics.deadLettered.increment()
        } catch {
            env.log("requeueing a message from \(queue) after an error: \(error)")
            try client.nack(delivery, requeue: true)
            env.metrics.requeued.increment()
        }
        env.metrics.duration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds))
    }
    env.log("shutting down")
}
