import EASTTestSupport
import EASTTransport
import Foundation
import Testing

/// amqps:// and rediss:// against servers that speak only TLS, with a CA
/// made at test time; and the refusal when the client trusts another CA.
@Suite(.serialized) struct TLSTests {
    @Test(.enabled(if: TLSServers.toolsAvailable, "needs openssl, rabbitmq-server and redis-server (with TLS)"),
          .timeLimit(.minutes(3)))
    func amqpsAndRedissWorkAndAWrongCAIsRefused() throws {
        let servers = try TLSServers()
        defer { servers.stop() }
        #expect(servers.amqp.scheme == "amqps" && servers.redis.scheme == "rediss")

        // AMQP: publish with confirms and consume over TLS.
        let broker = try AMQPConnection(endpoint: servers.amqp)
        let queue = Servers.unique("test.tls")
        try broker.declareQueue(queue, arguments: [("x-queue-type", .string("quorum"))])
        try broker.publish((0..<20).map { ("", queue, Array("tls \($0)".utf8)) })
        try broker.consume(queue)
        var received: [String] = []
        while received.count < 20, let delivery = try broker.nextDelivery(timeout: 5) {
            received.append(String(decoding: delivery.body, as: UTF8.self))
            try broker.ack(delivery)
        }
        #expect(received == (0..<20).map { "tls \($0)" })
        try broker.deleteQueue(queue)

        // Redis: commands, a pipeline, a reply larger than one TLS record, and a reconnect.
        let redis = try RedisConnection(endpoint: servers.redis)
        let key = Servers.unique("test:tls")
        try redis.command(["SET", key, "héllo\r\nwörld"])
        #expect(try redis.command(["GET", key]).string == "héllo\r\nwörld")
        #expect(try redis.pipeline(Array(repeating: ["INCR", key + ":n"], count: 100)).map(\.integer) == (1...100).map { $0 })
        let big = String(repeating: "0123456789", count: 100_000)
        try redis.command(["SET", key, big])
        #expect(try redis.command(["GET", key]).string == big)
        #expect { try redis.command(["INCR", key]) } throws: { ($0 as? RedisError)?.connectionLost == false }
        try redis.reconnect()
        #expect(try redis.command(["STRLEN", key]).integer == big.utf8.count)
        // The server drops us; the next call but one reconnects, as on plain connections.
        try redis.command(["CLIENT", "SETNAME", "tls-victim"])
        let admin = try RedisConnection(endpoint: servers.redis)
        try admin.command(["CLIENT", "KILL", "USER", "default", "SKIPME", "yes"])
        #expect(throws: RedisError.self) { try redis.command(["PING"]) }
        #expect(try redis.command(["PING"]) == .status("PONG"))

        // A client that trusts another CA refuses both servers, saying why.
        var wrongBroker = servers.amqp, wrongRedis = servers.redis
        wrongBroker.caFile = servers.wrongCA
        wrongRedis.caFile = servers.wrongCA
        #expect {
            try AMQPConnection(endpoint: wrongBroker, connectTimeout: 5)
        } throws: { error in
            let text = String(describing: error)
            return text.contains("connect to amqps://guest:***@localhost") && text.contains("SSL") && text.contains(servers.wrongCA)
        }
        #expect {
            try RedisConnection(endpoint: wrongRedis, timeout: 5)
        } throws: { error in
            let text = String(describing: error)
            return text.contains("connect to rediss://localhost") && text.contains("certificate verification failed")
        }
        // A plain client at a TLS-only port gets no Redis session either.
        var plain = servers.redis
        plain.scheme = "redis"
        plain.caFile = nil
        #expect(throws: RedisError.self) { try RedisConnection(endpoint: plain, timeout: 2).command(["PING"]) }
    }
}
