import EASTCore
import EASTStages
import EASTTransport
import Foundation

/// What a worker did with a message.
public enum Disposition: Sendable {
    /// Handled: ack it.
    case done
    /// Work for an older policy than the run's current one: ack and drop it.
    case stale(String)
    /// The worker acks it later itself (the trainer, at its next save).
    case deferred
}

/// One message in hand, with what a handler needs to do its work.
public struct Work {
    public let run: String
    public let delivery: AMQPDelivery
    public let client: AMQPClient
    public let redis: RedisConnection
    public let environment: WorkerEnvironment
    let specs: SpecCache

    public var state: RunState { RunState(redis: redis, run: run) }

    /// The run's spec, read from Redis once per run.
    public func spec() throws -> RunSpec { try specs.spec(run: run, redis: redis) }

    public func publish<M: ClusterMessage>(_ message: M, exchange: String = Topology.jobsExchange, routingKey: String) throws {
        try client.publish(exchange: exchange, routingKey: routingKey, body: message.envelope(run: run))
    }
}

/// A role's message handler; `WorkerLoop` does the rest.
public protocol Worker: AnyObject {
    associatedtype Message: ClusterMessage
    static var queue: String { get }
    /// Messages held at once (default 1; the trainer holds its unsaved batches).
    var prefetch: Int { get }
    func handle(_ message: Message, _ work: Work) throws -> Disposition
    /// After a failure: give back what was deferred (in the order it
    /// arrived; not the failed message, which the loop returns right after)
    /// and forget in-memory progress, so the redelivery starts from saved
    /// state. What it gave back.
    @discardableResult
    func abandon(_ client: AMQPClient) throws -> [AMQPDelivery]
    /// Whether the order of its queue matters (the trainer's batches): after
    /// a failure the loop then also returns the messages the broker sent
    /// ahead, so all come back in their first order. (Each return spends a
    /// try of theirs, which is why other workers keep them.)
    var keepsOrder: Bool { get }
    /// A line for the log when the loop stops.
    var stopNote: String? { get }
    /// A batching worker (the sampler) holds messages (`.deferred`) and
    /// finishes them in `advance`: whether it takes another message now,
    /// and whether it holds work to advance.
    var canTake: Bool { get }
    var isBusy: Bool { get }
    /// Whether its busy and idle seconds are the role's (false for a helper
    /// loop beside the role's main one, e.g. the evaluator's splitter).
    var countsUtilisation: Bool { get }
    /// Does a slice of the held work, publishing and acking what it finished.
    func advance(_ client: AMQPClient) throws
    /// The runs whose messages it holds (a failed `advance` counts against each).
    var runsInHand: Set<String> { get }
}

extension Worker {
    public var prefetch: Int { 1 }
    public var keepsOrder: Bool { false }
    public func abandon(_ client: AMQPClient) throws -> [AMQPDelivery] { [] }
    public var stopNote: String? { nil }
    public var canTake: Bool { true }
    public var countsUtilisation: Bool { true }
    public var isBusy: Bool { false }
    public func advance(_ client: AMQPClient) throws {}
    public var runsInHand: Set<String> { [] }
}

/// Specs never change once a run has started, so each worker reads one per run.
final class SpecCache {
    private var specs: [String: RunSpec] = [:]

    func spec(run: String, redis: RedisConnection) throws -> RunSpec {
        if let spec = specs[run] { return spec }
        guard let spec = try RunState(redis: redis, run: run).spec() else {
            throw MessageError("run \(run) has no spec in Redis (never started, or its state was deleted)", run: run)
        }
        specs[run] = spec
        return spec
    }
}

/// The loop every role runs: take a message, decode and validate it, hand it
/// to the worker, ack it. One error policy for all: a message that cannot be
/// decoded, or that the handler calls malformed (`MessageError`), is
/// rejected without requeue, so the broker dead-letters it and the run goes
/// on; any other failure requeues it, and the queue's delivery limit
/// dead-letters it after a few tries. Either way the run's failure counts in
/// Redis go up, which is how a coordinator notices a run that cannot progress.
public enum WorkerLoop {
    /// For a worker whose queue order matters, after a failure returned
    /// `returned`: the deliveries the broker had sent ahead of them (prefetch)
    /// go back too, after them, so all come back in their first order. They
    /// are the ones that arrive before the first of `returned` comes back
    /// (the channel keeps the broker's order); that one stays first in line.
    /// (Each return spends a try, which is why other workers keep theirs.)
    /// Those on their last try the broker dead-letters: they are returned
    /// (their runs must count them, or would wait for them).
    static func returnSentAhead(_ client: AMQPClient, after returned: [AMQPDelivery]) throws -> [AMQPDelivery] {
        guard !returned.isEmpty else { return [] }
        let bodies = Set(returned.map(\.body))
        let deadline = Date().addingTimeInterval(5)
        var lost: [AMQPDelivery] = []
        while let next = client.next(timeout: max(0, deadline.timeIntervalSinceNow)) {
            if bodies.contains(next.body) {
                client.putBack(next)
                break
            }
            try client.nack(next, requeue: true)
            if next.deliveryCount >= Int(Topology.deliveryLimit) { lost.append(next) }
        }
        return lost
    }

    public static func run<W: Worker>(_ worker: W, environment env: WorkerEnvironment, stop: StopFlag) throws {
        let client = try env.connectBroker(prefetch: worker.prefetch)
        defer { client.close() }
        let redis = try env.connectRedis()
        let specs = SpecCache()
        try client.consume(W.queue)
        env.log("consuming \(W.queue)")
        // A run's failure counts go up where a worker gives up on its message.
        func countFailure(_ run: String?, _ reason: String, deadLettered: Bool) {
            if let run { try? RunState(redis: redis, run: run).recordFailure(worker: env.name, reason: reason, deadLettered: deadLettered) }
        }
        var reported = Date.distantPast
        var workedSinceReport = false
        // Busy and idle seconds count for the role unless the worker is a helper loop.
        func account(_ seconds: WorkerMetrics.Seconds, since start: DispatchTime) {
            if worker.countsUtilisation { seconds.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds)) }
        }
        while !stop.isRequested {
            // Every 5 s, and soon after a burst of work ends (a burst shorter
            // than 5 s would otherwise never show in the registry).
            let sinceReport = Date().timeIntervalSince(reported)
            if worker.countsUtilisation, sinceReport >= 5 || (workedSinceReport && !worker.isBusy && sinceReport >= 0.5) {
                reported = Date()
                workedSinceReport = false
                let entry = WorkerRegistry.Entry(name: env.name, role: env.metrics.role, utilisation: env.metrics.utilisation.read(),
                                                 broker: client.connectedNode?.hostAndPort, redis: redis.connectedTo?.hostAndPort)
                try? WorkerRegistry.report(entry, redis: redis)
            }
            if worker.isBusy {
                let start = DispatchTime.now()
                do {
                    try worker.advance(client)
                } catch {
                    // Counted against every run in hand: each requeue spends a
                    // try of their messages, and a run whose work keeps failing
                    // must fail loudly (`Coordinator.maxRequeues`), not wait.
                    env.log("returning the held messages to \(W.queue) after an error: \(error)")
                    let runs = worker.runsInHand
                    try worker.abandon(client)
                    env.metrics.requeued.increment()
                    for run in runs { countFailure(run, "\(error)", deadLettered: false) }
                }
                account(env.metrics.busy, since: start)
                workedSinceReport = true
            }
            guard worker.canTake else { continue }
            let waited = DispatchTime.now()
            let delivery = client.next(timeout: worker.isBusy ? 0 : 0.5)
            account(env.metrics.idle, since: waited)
            guard let delivery else { continue }
            let start = DispatchTime.now()
            var run: String?
            do {
                let envelope = try Envelope<W.Message>(bytes: delivery.body, expecting: W.Message.type)
                run = envelope.run
                do { try envelope.body.validate() } catch { throw MessageError(error.reason, run: envelope.run) }
                let work = Work(run: envelope.run, delivery: delivery, client: client, redis: redis, environment: env, specs: specs)
                switch try worker.handle(envelope.body, work) {
                case .done:
                    try client.ack(delivery)
                    env.metrics.ok.increment()
                case let .stale(reason):
                    env.log("dropping stale work: \(reason)")
                    try client.ack(delivery)
                    env.metrics.stale.increment()
                case .deferred:
                    env.metrics.ok.increment()
                }
            } catch let error as MessageError {
                env.log("dead-lettering a message from \(W.queue): \(error)")
                try client.nack(delivery, requeue: false)
                env.metrics.deadLettered.increment()
                countFailure(run ?? error.run, error.description, deadLettered: true)
            } catch {
                // After its last allowed try the broker dead-letters the
                // requeued message itself: count it as dead-lettered, or a
                // run with few messages would wait for them forever.
                let last = delivery.deliveryCount >= Int(Topology.deliveryLimit)
                env.log(last ? "dead-lettering a message from \(W.queue) after \(delivery.deliveryCount + 1) tries: \(error)"
                             : "requeueing a message from \(W.queue) after an error: \(error)")
                // The deferred messages go back first: they arrived before this
                // one, and the broker redelivers returns in the order it got
                // them, so the trainer's batches come back in training order.
                let returned = try worker.abandon(client) + (last ? [] : [delivery])
                try client.nack(delivery, requeue: !last)
                if worker.keepsOrder {
                    for gone in try returnSentAhead(client, after: returned) {
                        env.log("a message sent ahead was dead-lettered by the broker when returned (its last try)")
                        env.metrics.deadLettered.increment()
                        countFailure((try? Envelope<W.Message>(bytes: gone.body, expecting: W.Message.type))?.run,
                                     "returned on its last try after \(error)", deadLettered: true)
                    }
                }
                (last ? env.metrics.deadLettered : env.metrics.requeued).increment()
                countFailure(run, "\(error)", deadLettered: last)
            }
            env.metrics.duration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds))
            account(env.metrics.busy, since: start)
            workedSinceReport = true
        }
        env.log("shutting down" + (worker.stopNote.map { ": \($0)" } ?? ""))
    }
}
