import EASTCore
import Foundation

/// An AMQP connection confined to a thread of its own, shared safely by the
/// rest of a worker.
///
/// Why a thread: rabbitmq-c is not thread-safe, and it only answers the
/// broker's heartbeats while some call is waiting on the socket. A sampler
/// busy for minutes on one job would otherwise be disconnected mid-job. This
/// thread keeps reading frames every few milliseconds whatever the worker is
/// doing, runs the worker's requests (publish, ack, ...) in between, and
/// reconnects with backoff when the broker goes away, declaring the topology
/// again (`setup`) and resuming the consumers. Deliveries from before a
/// reconnect are requeued by the broker; acking them is a no-op.
///
/// With several nodes of a RabbitMQ cluster it connects to the first and,
/// on losing a node (or failing to reach it), to the next in the list,
/// round the list. Quorum queues have replicas on every node, so consumers
/// resume where they were; a publish whose confirm the lost node never sent
/// runs again on the next node.
public final class AMQPClient: @unchecked Sendable {
    public typealias Setup = @Sendable (AMQPConnection) throws -> Void

    private let nodes: [Endpoint]
    /// Under `condition`: the node tried last (connected to while `connected`).
    private var node = 0
    private let heartbeat: Int
    /// Under `condition`: a reconnect applies the latest value.
    private var prefetch: Int
    private let setup: Setup
    private let log: @Sendable (String) -> Void

    // Shared between the caller threads and the connection thread, under `condition`.
    private let condition = NSCondition()
    private var requests: [Request] = []
    private var deliveries: [AMQPDelivery] = []
    private var consumedQueues: [String] = []
    private var connected = false
    private var stopping = false
    private var finished = false
    private var lastConnectError: Error?
    private var generation = 0
    /// Under `condition`: the node a round of connection attempts started at.
    private var firstTried = 0
    /// Written to when a request arrives, so the connection thread, waiting on
    /// the socket, serves it at once instead of after its poll ends.
    private let wakeup: (read: Int32, write: Int32)
    /// The connection thread, joined by `close()`.
    private var thread: JoinableThread?

    private final class Request {
        let body: (AMQPConnection) throws -> Void
        /// Nobody waits for a detached request (`submit`); its error is logged.
        let detached: Bool
        var done = false
        var error: Error?
        init(_ body: @escaping (AMQPConnection) throws -> Void, detached: Bool = false) {
            self.body = body
            self.detached = detached
        }
    }

    /// Starts the connection thread and waits until the first connection is
    /// up (retrying with backoff for up to `connectTimeout` seconds).
    public init(
        nodes: [Endpoint], heartbeat: Int = 30, prefetch: Int = 1, connectTimeout: Double = 30,
        setup: @escaping Setup = { _ in }, log: @escaping @Sendable (String) -> Void = { _ in }
    ) throws {
        precondition(!nodes.isEmpty, "a broker client needs at least one node")
        self.nodes = nodes
        self.heartbeat = heartbeat
        self.prefetch = prefetch
        self.setup = setup
        self.log = log
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw AMQPError(context: "client", reason: "cannot make a pipe: errno \(errno)", connectionLost: false)
        }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeup = (fds[0], fds[1])
        thread = JoinableThread(name: "amqp", stackSize: 8 << 20) { [unowned self] in self.runLoop() }
        condition.lock()
        let deadline = Date().addingTimeInterval(connectTimeout)
        while !connected, Date() < deadline { _ = condition.wait(until: min(deadline, Date().addingTimeInterval(0.1))) }
        let ok = connected
        let error = lastConnectError
        condition.unlock()
        if !ok {
            close()
            throw error ?? AMQPError(context: "connect to \(nodes.map(\.description).joined(separator: ", "))",
                                     reason: "timed out after \(connectTimeout) s", connectionLost: true)
        }
    }

    deinit {
        close()
        Glibc.close(wakeup.read)
        Glibc.close(wakeup.write)
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeup.write, &byte, 1)  // a full pipe already means "wake up"
    }

    /// Stops the connection thread and closes the connection. Unacked
    /// deliveries go back to their queues.
    public func close() {
        condition.lock()
        stopping = true
        condition.broadcast()
        wake()
        while !finished { _ = condition.wait(until: Date().addingTimeInterval(0.1)) }
        condition.unlock()
        thread?.join()
    }

    /// Runs `body` on the connection thread and waits for it. When the
    /// connection drops, a request with `retry` runs again once reconnected
    /// (publishing is at-least-once: consumers are idempotent).
    public func perform(retry: Bool = true, timeout: Double = 60, _ body: @escaping (AMQPConnection) throws -> Void) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let request = Request(body)
            condition.lock()
            guard !stopping else {
                condition.unlock()
                throw AMQPError(context: "request", reason: "the client is closed", connectionLost: true)
            }
            requests.append(request)
            condition.broadcast()
            wake()
            while !request.done, Date() < deadline { _ = condition.wait(until: deadline) }
            if !request.done { requests.removeAll { $0 === request } }
            condition.unlock()
            guard request.done else {
                throw AMQPError(context: "request", reason: "not done within \(timeout) s (is the broker up?)", connectionLost: true)
            }
            guard let error = request.error else { return }
            guard retry, let amqp = error as? AMQPError, amqp.connectionLost, Date() < deadline else { throw error }
        }
    }

    /// Hands `body` to the connection thread and returns at once, for work
    /// the broker repairs by itself when it fails: a sampler publishing a
    /// finished job's results and then acking the job. Waiting for that costs
    /// the decode loop the confirm round trip per publish; if it fails, the
    /// job is still unacked and comes back. Requests
    /// run in order, so a later `perform` sees every earlier `submit` done.
    public func submit(_ body: @escaping (AMQPConnection) throws -> Void) {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { return }
        requests.append(Request(body, detached: true))
        condition.broadcast()
        wake()
    }

    /// Changes how many unacked deliveries the broker sends ahead (now and
    /// after any reconnect). Deliveries already sent stay in hand. The broker
    /// applies a new prefetch only to consumers started after it, so every
    /// consumer is cancelled and started again.
    public func setPrefetch(_ count: Int) throws {
        condition.lock()
        prefetch = count
        let queues = consumedQueues
        condition.unlock()
        try perform { connection in
            try connection.setPrefetch(count)
            for queue in queues {
                try connection.cancel(queue)
                try connection.consume(queue)
            }
        }
    }

    public func publish(exchange: String, routingKey: String, body: [UInt8]) throws {
        try perform { try $0.publish(exchange: exchange, routingKey: routingKey, body: body) }
    }

    public func publish(_ messages: [(exchange: String, routingKey: String, body: [UInt8])]) throws {
        try perform { try $0.publish(messages) }
    }

    /// Starts consuming `queue` (again after every reconnect).
    public func consume(_ queue: String) throws {
        condition.lock()
        consumedQueues.append(queue)
        condition.unlock()
        try perform { try $0.consume(queue) }
    }

    /// The next delivery, waiting up to `timeout` seconds.
    public func next(timeout: Double) -> AMQPDelivery? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        while deliveries.isEmpty, !stopping, Date() < deadline { _ = condition.wait(until: deadline) }
        return deliveries.isEmpty ? nil : deliveries.removeFirst()
    }

    /// Puts a delivery taken with `next` back first in line.
    public func putBack(_ delivery: AMQPDelivery) {
        condition.lock()
        defer { condition.unlock() }
        deliveries.insert(delivery, at: 0)
        condition.broadcast()
    }

    public func ack(_ delivery: AMQPDelivery) throws {
        try perform(retry: false) { try $0.ack(delivery) }
    }

    public func nack(_ delivery: AMQPDelivery, requeue: Bool) throws {
        try perform(retry: false) { try $0.nack(delivery, requeue: requeue) }
    }

    public var isConnected: Bool {
        condition.lock()
        defer { condition.unlock() }
        return connected
    }

    /// The node connected to now, or nil while reconnecting.
    public var connectedNode: Endpoint? {
        condition.lock()
        defer { condition.unlock() }
        return connected ? nodes[node] : nil
    }

    // MARK: The connection thread

    private func runLoop() {
        var connection: AMQPConnection?
        var backoff = Backoff()
        while true {
            condition.lock()
            if stopping {
                connected = false
                condition.unlock()
                break
            }
            condition.unlock()

            guard let live = connection else {
                do {
                    connection = try connect()
                    backoff.reset()
                } catch {
                    condition.lock()
                    lastConnectError = error
                    node = (node + 1) % nodes.count
                    // Every node tried once: wait before the next round.
                    let roundDone = node == firstTried
                    condition.unlock()
                    log("\(error); " + (nodes.count > 1 ? "trying the next node" : "retrying"))
                    if roundDone { backoff.wait() }
                }
                continue
            }
            do {
                try serveRequests(live)
                if let delivery = try live.nextDelivery(timeout: 0) {
                    condition.lock()
                    deliveries.append(delivery)
                    condition.broadcast()
                    condition.unlock()
                } else if !live.hasBufferedInput {
                    waitForInput(socket: live.socketDescriptor)
                }
            } catch let error as AMQPError where error.connectionLost {
                live.close()
                connection = nil
                condition.lock()
                connected = false
                deliveries.removeAll()  // the broker requeues them
                if nodes.count > 1 { node = (node + 1) % nodes.count }
                firstTried = node
                let next = nodes[node]
                condition.unlock()
                log("\(error); reconnecting" + (nodes.count > 1 ? " to \(next)" : ""))
                if nodes.count > 1 { settle() }
            } catch {
                log("\(error)")
            }
        }
        connection?.close()
        connection = nil  // destroyed here, before close() returns
        condition.lock()
        finished = true
        for request in requests where !request.done {
            request.error = AMQPError(context: "request", reason: "the client is closed", connectionLost: true)
            request.done = true
        }
        requests.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    /// Seconds to wait after losing a node of a cluster before connecting to
    /// the next. The lost node's quorum queues elect new leaders within about
    /// a second, and RabbitMQ 3.10 gives a channel opened before the queues'
    /// records name them the dead leader: its consumers then get nothing and
    /// its publishes are refused until that node comes back.
    public static let failoverSettle: Double = 3

    /// Waits `failoverSettle` seconds, or less if the client is closed.
    private func settle() {
        let until = Date().addingTimeInterval(Self.failoverSettle)
        condition.lock()
        while !stopping, Date() < until { _ = condition.wait(until: until) }
        condition.unlock()
    }

    private func connect() throws -> AMQPConnection {
        condition.lock()
        generation += 1
        let generation = self.generation
        let queues = consumedQueues
        let prefetch = self.prefetch
        let endpoint = nodes[node]
        condition.unlock()
        let connection = try AMQPConnection(endpoint: endpoint, heartbeat: heartbeat, generation: generation)
        try setup(connection)
        try connection.setPrefetch(prefetch)
        for queue in queues { try connection.consume(queue) }
        condition.lock()
        connected = true
        condition.broadcast()
        condition.unlock()
        return connection
    }

    /// Sleeps until the broker sends something or a request arrives, for at
    /// most 50 ms (rabbitmq-c sends our heartbeats only from inside its calls).
    private func waitForInput(socket: Int32) {
        var fds = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeup.read, events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 2, 50)
        if fds[1].revents != 0 {
            var drain = [UInt8](repeating: 0, count: 64)
            while read(wakeup.read, &drain, drain.count) > 0 {}
        }
    }

    /// Runs the waiting requests. A lost connection fails the current request
    /// (its caller may retry) and is rethrown to trigger a reconnect.
    private func serveRequests(_ connection: AMQPConnection) throws {
        while true {
            condition.lock()
            guard !requests.isEmpty else {
                condition.unlock()
                return
            }
            let request = requests.removeFirst()
            condition.unlock()
            var failure: Error?
            do { try request.body(connection) } catch { failure = error }
            if request.detached, let failure { log("a submitted request failed: \(failure)") }
            condition.lock()
            request.error = failure
            request.done = true
            condition.broadcast()
            condition.unlock()
            if let amqp = failure as? AMQPError, amqp.connectionLost { throw amqp }
        }
    }
}
