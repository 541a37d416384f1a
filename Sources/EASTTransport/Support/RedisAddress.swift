/// Where a process finds Redis: one server, or the primary of a set that
/// Redis Sentinel watches.
///
///     redis://[user:password@]host[:port]                       one server (port 6379)
///     rediss://[user:password@]host[:port]?cafile=PATH          one server over TLS
///     redis-sentinel://[user:password@]s1[:port],s2[:port],.../NAME
///
/// With `redis-sentinel://`, s1, s2 ... are sentinels (port 26379) and NAME
/// is the set they monitor (`sentinel monitor NAME ...`). The client asks
/// the sentinels in turn which server is NAME's primary
/// (`SENTINEL get-master-addr-by-name`), connects to it and checks with
/// `ROLE` that it is a primary; after a lost connection, or a write refused
/// by a server that has become a replica, it asks again. The user and
/// password are the primary's, and are also given to the sentinels when
/// they ask for a password. Writes that record results wait for one replica
/// to acknowledge them (`RedisConnection.writeReplicated`), so a replica
/// that Sentinel promotes holds every write a worker was told succeeded.
public enum RedisAddress: Equatable, Sendable, CustomStringConvertible {
    case server(Endpoint)
    case sentinel(Sentinels)

    public struct Sentinels: Equatable, Sendable {
        /// The sentinels, in the order they are asked.
        public var nodes: [Endpoint]
        /// The name of the set they monitor.
        public var master: String
        public var user: String?
        public var password: String?

        /// The primary at `host:port`, with the set's credentials.
        public func server(host: String, port: Int) -> Endpoint {
            Endpoint(scheme: "redis", host: host, port: port, user: user, password: password)
        }

        /// The URL, the password masked or not.
        func url(masked: Bool) -> String {
            "redis-sentinel://\(Endpoint.userInfo(user, password, masked: masked))\(nodes.map { "\($0.host):\($0.port)" }.joined(separator: ","))/\(master)"
        }
    }

    public static let sentinelPort = 26379

    public init(url: String) throws {
        guard url.hasPrefix("redis-sentinel://") else {
            let endpoint = try Endpoint(url: url, defaultPort: 6379)
            guard ["redis", "rediss"].contains(endpoint.scheme) else {
                throw Endpoint.ParseError(url: endpoint.description, reason: "a Redis URL starts with redis://, rediss:// or redis-sentinel://")
            }
            try endpoint.requireOwnCredentialsOffLoopback(server: "Redis")
            self = .server(endpoint)
            return
        }
        let parts = try Endpoint.URLParts(url, defaultPort: Self.sentinelPort)
        guard !parts.path.isEmpty, !parts.path.contains("/") else {
            throw Endpoint.ParseError(url: url, reason: "expected redis-sentinel://[user:password@]host[:port],host[:port].../NAME (NAME: the monitored set)")
        }
        guard parts.caFile == nil else { throw Endpoint.ParseError(url: url, reason: "TLS (cafile) is not supported with Sentinel") }
        let nodes = parts.hosts.map {
            Endpoint(scheme: "redis", host: $0.host, port: $0.port, user: parts.user, password: parts.password)
        }
        // Every sentinel and the primary they name must keep the rule; the primary is checked when found.
        for node in nodes { try node.requireOwnCredentialsOffLoopback(server: "Redis Sentinel") }
        self = .sentinel(Sentinels(nodes: nodes, master: parts.path, user: parts.user, password: parts.password))
    }

    /// The URL again, passwords included (for child processes).
    public var url: String {
        switch self {
        case let .server(endpoint): endpoint.url
        case let .sentinel(set): set.url(masked: false)
        }
    }

    /// The URL with the password masked, for logs.
    public var description: String {
        switch self {
        case let .server(endpoint): endpoint.description
        case let .sentinel(set): set.url(masked: true)
        }
    }

    /// Replicas that must acknowledge a recorded write: one under Sentinel
    /// (a primary without a replica is not highly available), none for a
    /// single server.
    public var replicasToAcknowledge: Int {
        if case .sentinel = self { return 1 }
        return 0
    }
}
