import EASTTransport
import Foundation
import Testing

@Suite struct AMQPConnectionTests {
    /// A durable quorum queue with a delivery limit and a dead-letter queue.
    func declare(_ c: AMQPConnection, limit: Int64 = 2) throws -> (queue: String, dead: String, exchange: String) {
        let queue = Servers.unique("test.q"), dead = queue + ".dead", exchange = queue + ".dlx"
        try c.declareExchange(exchange, type: "fanout")
        try c.declareQueue(dead, arguments: [("x-queue-type", .string("quorum"))])
        try c.bindQueue(dead, exchange: exchange, routingKey: "")
        try c.declareQueue(queue, arguments: [
            ("x-queue-type", .string("quorum")), ("x-delivery-limit", .int(limit)),
            ("x-dead-letter-exchange", .string(exchange)),
        ])
        return (queue, dead, exchange)
    }

    /// A message the broker keeps refusing is sent again a few times, then
    /// the publish fails as a lost connection: a new channel learns the
    /// queues' current leaders, where a channel opened during a failover may
    /// keep sending to a dead one.
    @Test func publishRefusedAgainAndAgainCountsAsALostConnection() throws {
        let c = try AMQPConnection(endpoint: Servers.amqp)
        let queue = Servers.unique("test.full")
        try c.declareQueue(queue, arguments: [("x-max-length", .int(0)), ("x-overflow", .string("reject-publish"))])
        defer { try? c.deleteQueue(queue) }
        let error = try #require(throws: AMQPError.self) { try c.publish(exchange: "", routingKey: queue, body: Array("x".utf8)) }
        #expect(error.connectionLost && "\(error)".contains("refused 1 message(s) (nack) \(AMQPConnection.resends + 1) time(s)"), "\(error)")
    }

    @Test func publishConfirmConsumeAckAndDeadLetter() throws {
        let c = try AMQPConnection(endpoint: Servers.amqp)
        let (queue, dead, _) = try declare(c)
        defer { try? c.deleteQueue(queue); try? c.deleteQueue(dead) }

        try c.publish((0..<50).map { ("", queue, Array("m\($0)".utf8)) })
        #expect(try c.inspectQueue(queue).messages == 50)
        // Declaring again with the same arguments is idempotent.
        _ = try declare(c)

        try c.setPrefetch(100)
        try c.consume(queue)
        var received: [String] = []
        while received.count < 50, let d = try c.nextDelivery(timeout: 5) {
            received.append(String(decoding: d.body, as: UTF8.self))
            if received.count == 1 {
                try c.nack(d, requeue: true)  // comes back, marked redelivered
            } else {
                try c.ack(d)
            }
        }
        let again = try #require(try c.nextDelivery(timeout: 5))
        #expect(again.redelivered)
        #expect(String(decoding: again.body, as: UTF8.self) == "m0")
        // Keep failing it: past x-delivery-limit (2) it is dead-lettered, not retried forever.
        // Each delivery says how many failed before it (what a worker reads to know its last try).
        try c.nack(again, requeue: true)
        var last = again
        var counts = [again.deliveryCount]
        while let d = try c.nextDelivery(timeout: 2) {
            last = d
            counts.append(d.deliveryCount)
            try c.nack(d, requeue: true)
        }
        #expect(String(decoding: last.body, as: UTF8.self) == "m0")
        #expect(counts == [1, 2])
        Thread.sleep(forTimeInterval: 0.3)
        #expect(try c.inspectQueue(dead).messages == 1)
        #expect(try c.inspectQueue(queue).messages == 0)
        #expect(Set(received) == Set((0..<50).map { "m\($0)" }))
    }

    @Test func mismatchedArgumentsAreRefused() throws {
        let c = try AMQPConnection(endpoint: Servers.amqp)
        let (queue, dead, _) = try declare(c)
        defer { _ = try? AMQPConnection(endpoint: Servers.amqp).deleteQueue(queue); _ = try? AMQPConnection(endpoint: Servers.amqp).deleteQueue(dead) }
        #expect {
            try c.declareQueue(queue, arguments: [("x-queue-type", .string("classic"))])
        } throws: { error in
            String(describing: error).contains("PRECONDITION_FAILED")
        }
    }

    @Test func refusedConnectionIsAClearError() {
        #expect {
            try AMQPConnection(endpoint: Endpoint(url: "amqp://guest:guest@127.0.0.1:1/", defaultPort: 5672), connectTimeout: 1)
        } throws: { error in
            String(describing: error).contains("connect to amqp://guest:***@127.0.0.1:1/")
        }
    }
}

@Suite struct AMQPClientTests {
    /// A worker busy far longer than the heartbeat interval keeps its
    /// connection and can still ack: the client's thread answers heartbeats.
    @Test func busyWorkerKeepsItsConnection() throws {
        let queue = Servers.unique("test.busy")
        let client = try AMQPClient(nodes: [Servers.amqp], heartbeat: 1) { c in
            try c.declareQueue(queue, arguments: [("x-queue-type", .string("quorum"))])
        }
        defer { try? client.perform { try $0.deleteQueue(queue) }; client.close() }
        try client.publish(exchange: "", routingKey: queue, body: Array("job".utf8))
        try client.consume(queue)
        let job = try #require(client.next(timeout: 5))
        Thread.sleep(forTimeInterval: 4)  // "training": no AMQP calls from this thread
        try client.ack(job)
        #expect(client.isConnected)
        var depth = -1
        try client.perform { depth = try $0.inspectQueue(queue).messages }
        #expect(depth == 0)
        #expect(client.next(timeout: 0.5) == nil)  // acked on the same connection: not redelivered
    }

    /// Control for the test above: a bare connection that nobody services
    /// for the same time is closed by the broker.
    @Test func unservicedConnectionMissesHeartbeats() throws {
        let c = try AMQPConnection(endpoint: Servers.amqp, heartbeat: 1)
        Thread.sleep(forTimeInterval: 4)
        #expect(throws: AMQPError.self) {
            for _ in 0..<20 { _ = try c.nextDelivery(timeout: 0.1) }
        }
    }

    @Test func reconnectsAndResumesConsumingAfterAChannelError() throws {
        let queue = Servers.unique("test.reconnect")
        let client = try AMQPClient(nodes: [Servers.amqp], heartbeat: 5) { c in
            try c.declareQueue(queue, arguments: [("x-queue-type", .string("quorum"))])
        }
        defer { try? client.perform { try $0.deleteQueue(queue) }; client.close() }
        try client.consume(queue)
        try client.publish(exchange: "", routingKey: queue, body: Array("first".utf8))
        let first = try #require(client.next(timeout: 5))
        // Acking a tag the broker never sent makes the broker close the channel
        // (acks have no reply, so this surfaces on the connection thread).
        var bogus = first
        bogus.deliveryTag = 999_999
        try client.ack(bogus)
        // The client reconnects; the unacked message is redelivered on the new connection.
        let again = try #require(client.next(timeout: 10))
        #expect(again.redelivered && again.generation > first.generation)
        try client.ack(first)  // stale: ignored, not an error
        try client.ack(again)
        try client.publish(exchange: "", routingKey: queue, body: Array("second".utf8))
        let second = try #require(client.next(timeout: 5))
        #expect(String(decoding: second.body, as: UTF8.self) == "second")
        try client.ack(second)
    }

    /// A consumer's prefetch changed while it consumes takes effect at once
    /// (the broker applies a new prefetch only to new consumers: the client
    /// starts its consumers again), and what was in hand stays ackable.
    @Test func prefetchChangesWhileConsuming() throws {
        let queue = Servers.unique("test.prefetch")
        let client = try AMQPClient(nodes: [Servers.amqp], prefetch: 8) { c in
            try c.declareQueue(queue, arguments: [("x-queue-type", .string("quorum"))])
        }
        defer { try? client.perform { try $0.deleteQueue(queue) }; client.close() }
        for _ in 0..<30 { try client.publish(exchange: "", routingKey: queue, body: Array("m".utf8)) }
        try client.consume(queue)
        func drain() -> [AMQPDelivery] {
            var got: [AMQPDelivery] = []
            while let d = client.next(timeout: 1) { got.append(d) }
            return got
        }
        let first = drain()
        #expect(first.count == 8)
        try client.setPrefetch(2)
        for d in first { try client.ack(d) }
        let second = drain()
        #expect(second.count == 2, "the broker sent \(second.count) unacked deliveries after the prefetch went down to 2")
        for d in second { try client.ack(d) }
        var depth = -1
        try client.perform { depth = try $0.inspectQueue(queue).messages }
        #expect(depth == 20)  // 10 acked, none lost or redelivered
        #expect(second.allSatisfy { !$0.redelivered })
    }
}
