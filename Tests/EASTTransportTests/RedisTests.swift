import EASTTransport
import Testing

@Suite struct RedisTests {
    @Test func commandsPipelinesAndErrors() throws {
        let redis = try RedisConnection(endpoint: Servers.redis)
        let key = Servers.unique("test:key")
        defer { _ = try? redis.command(["DEL", key, key + ":n"]) }
        try redis.command(["SET", key, "héllo\r\nwörld"])
        #expect(try redis.command(["GET", key]).string == "héllo\r\nwörld")
        #expect(try redis.command(["GET", key + ":missing"]) == .null)

        let replies = try redis.pipeline(Array(repeating: ["INCR", key + ":n"], count: 100))
        #expect(replies.map(\.integer) == (1...100).map { $0 })

        // A refused command is an error reply, not a broken connection.
        #expect {
            try redis.command(["INCR", key])
        } throws: { error in
            (error as? RedisError)?.connectionLost == false
        }
        #expect(try redis.command(["PING"]) == .status("PONG"))
    }

    @Test func reconnectsAfterTheServerDropsTheConnection() throws {
        let redis = try RedisConnection(endpoint: Servers.redis)
        let admin = try RedisConnection(endpoint: Servers.redis)
        try redis.command(["CLIENT", "SETNAME", "victim"])
        let list = try admin.command(["CLIENT", "LIST"]).string ?? ""
        let id = try #require(list.split(separator: "\n").first { $0.contains("name=victim") }?
            .split(separator: " ").first { $0.hasPrefix("id=") }?.dropFirst(3))
        try admin.command(["CLIENT", "KILL", "ID", String(id)])
        // The first command notices the broken connection...
        #expect(throws: RedisError.self) { try redis.command(["PING"]) }
        // ...and the next one reconnects.
        #expect(try redis.command(["PING"]) == .status("PONG"))
    }

    @Test func refusedConnectionIsAClearError() {
        #expect {
            try RedisConnection(endpoint: Endpoint(url: "redis://127.0.0.1:1", defaultPort: 6379), timeout: 1)
        } throws: { error in
            String(describing: error).contains("connect to redis://127.0.0.1:1")
        }
    }
}
