import EASTTransport
import Testing

/// URLs and the credentials rule: default credentials only on loopback.
@Suite struct EndpointTests {
    struct NotOneServer: Error { let address: RedisAddress }

    func amqp(_ url: String) throws -> Endpoint {
        let nodes = try Endpoint.brokers(url, environment: [:])
        try #require(nodes.count == 1)
        return nodes[0]
    }

    func redis(_ url: String) throws -> Endpoint {
        let address = try Endpoint.redis(url, environment: [:])
        guard case let .server(endpoint) = address else { throw NotOneServer(address: address) }
        return endpoint
    }

    @Test func loopbackKeepsTheDefaults() throws {
        for url in ["amqp://guest:guest@127.0.0.1:5673/", "amqp://localhost", "amqp://guest:guest@127.8.9.10/", "amqp://[::1]:5672/"] {
            #expect(throws: Never.self, "\(url)") { try amqp(url) }
        }
        for url in ["redis://127.0.0.1:6390", "redis://localhost:6379", "rediss://localhost:6380?cafile=/tmp/ca.pem"] {
            #expect(throws: Never.self, "\(url)") { try redis(url) }
        }
        // With no flag and no environment the defaults are servers.sh's, on loopback.
        #expect(try Endpoint.brokers(environment: [:]).map(\.url) == [Endpoint.defaultAMQPURL])
    }

    @Test func defaultCredentialsOffLoopbackAreRefused() throws {
        let refused = [
            "amqp://10.0.0.5:5672/",                  // no user: rabbitmq-c would log in as guest
            "amqp://guest:guest@10.0.0.5:5672/",
            "amqps://guest:secret@broker.example:5671/east",
            "amqp://east@10.0.0.5:5672/",             // no password
            "amqp://east:@10.0.0.5:5672/",            // empty password
            "amqp://guest:guest@128.0.0.1/",          // 127/8 only
            "amqp://guest:guest@127.0.0.1.example/",  // a name, not an address
        ]
        for url in refused {
            #expect(throws: Endpoint.CredentialsError.self, "\(url)") { try amqp(url) }
        }
        for url in ["redis://redis.example:6379", "redis://:secret@10.0.0.6:6379", "redis://east@10.0.0.6", "rediss://east:@10.0.0.6"] {
            #expect(throws: Endpoint.CredentialsError.self, "\(url)") { try redis(url) }
        }
        // Own user and password: allowed anywhere.
        #expect(throws: Never.self) { try amqp("amqps://east:s3cret@broker.example/east?cafile=/etc/east/ca.pem") }
        #expect(throws: Never.self) { try redis("rediss://east:s3cret@10.0.0.6:6380") }
    }

    @Test func theErrorNamesTheURLWithThePasswordMasked() throws {
        let error = try #require(throws: Endpoint.CredentialsError.self) {
            try Endpoint.brokers(environment: ["EAST_AMQP_URL": "amqp://guest:hunter2@10.1.2.3:5672/east"])
        }
        #expect(error.description.contains("amqp://guest:***@10.1.2.3:5672/east"), "\(error)")
        #expect(error.description.contains("guest"))
        #expect(!error.description.contains("hunter2"))
    }

    @Test func tlsURLsCarryTheirCAFileAndDefaultPort() throws {
        let broker = try amqp("amqps://east:pw@broker.example/east?cafile=/etc/east/ca%20file.pem")
        #expect(broker.isTLS && broker.port == 5671 && broker.path == "east")
        #expect(broker.caFile == "/etc/east/ca file.pem")
        #expect(broker.description == "amqps://east:***@broker.example:5671/east?cafile=/etc/east/ca file.pem")
        let plain = try amqp("amqp://guest:guest@127.0.0.1/")
        #expect(!plain.isTLS && plain.port == 5672 && plain.caFile == nil)
        let cache = try redis("rediss://localhost:6380?cafile=/tmp/ca.pem")
        #expect(cache.isTLS && cache.port == 6380 && cache.caFile == "/tmp/ca.pem" && cache.path == "")
        // The URL handed to child processes parses back to the same endpoint.
        #expect(try Endpoint(url: cache.url, defaultPort: 6379) == cache)
        #expect(throws: Endpoint.ParseError.self) { try redis("rediss://localhost:6380?ca=/tmp/ca.pem") }
        #expect(throws: Endpoint.ParseError.self) { try redis("http://localhost:6380") }
    }
}

/// Lists of broker nodes and the Sentinel form of the Redis URL.
@Suite struct HighlyAvailableURLTests {
    @Test func brokerListKeepsTheOrderAndChecksEveryNode() throws {
        let nodes = try Endpoint.brokers("amqp://east:pw@10.0.0.1:5672/east,amqp://east:pw@10.0.0.2/east, amqps://east:pw@h3:5671/east", environment: [:])
        #expect(nodes.map(\.hostAndPort) == ["10.0.0.1:5672", "10.0.0.2:5672", "h3:5671"])
        #expect(nodes.allSatisfy { $0.path == "east" && $0.user == "east" })
        // What a launcher hands its children parses back to the same nodes.
        #expect(try Endpoint.brokers(Endpoint.urlList(nodes), environment: [:]) == nodes)
        // One node with guest off loopback spoils the list; so does a stray scheme.
        #expect(throws: Endpoint.CredentialsError.self) { try Endpoint.brokers("amqp://east:pw@10.0.0.1/east,amqp://guest:guest@10.0.0.2/", environment: [:]) }
        #expect(throws: Endpoint.ParseError.self) { try Endpoint.brokers("amqp://east:pw@10.0.0.1/east,redis://10.0.0.2", environment: [:]) }
        #expect(throws: Endpoint.ParseError.self) { try Endpoint.brokers("amqp://east:pw@10.0.0.1:5672,10.0.0.2:5672/east", environment: [:]) }
    }

    @Test func sentinelURLNamesTheSentinelsAndTheSet() throws {
        let address = try RedisAddress(url: "redis-sentinel://east:s3cret@10.0.0.1:26379,10.0.0.2,10.0.0.3:26380/east")
        guard case let .sentinel(set) = address else { Issue.record("not a sentinel address: \(address)"); return }
        #expect(set.nodes.map(\.hostAndPort) == ["10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26380"])
        #expect(set.master == "east" && set.user == "east" && set.password == "s3cret")
        #expect(set.server(host: "10.0.0.9", port: 6379).url == "redis://east:s3cret@10.0.0.9:6379/")
        #expect(address.description == "redis-sentinel://east:***@10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26380/east")
        #expect(try RedisAddress(url: address.url) == address)
        #expect(address.replicasToAcknowledge == 1)
        #expect(try RedisAddress(url: "redis://127.0.0.1:6390").replicasToAcknowledge == 0)
        // The set's name is required; TLS is not offered with Sentinel; the credentials rule holds.
        #expect(throws: Endpoint.ParseError.self) { try RedisAddress(url: "redis-sentinel://east:pw@10.0.0.1:26379") }
        #expect(throws: Endpoint.ParseError.self) { try RedisAddress(url: "redis-sentinel://east:pw@10.0.0.1/east?cafile=/tmp/ca.pem") }
        #expect(throws: Endpoint.CredentialsError.self) { try RedisAddress(url: "redis-sentinel://10.0.0.1:26379,10.0.0.2:26379/east") }
        #expect(throws: Never.self) { try RedisAddress(url: "redis-sentinel://127.0.0.1:26391,127.0.0.1:26392/east") }
    }
}
