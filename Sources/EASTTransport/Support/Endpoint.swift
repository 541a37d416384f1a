/// A server address parsed from a URL such as `amqp://user:pass@host:5672/vhost`
/// or `redis://:password@host:6379`. Workers take these from flags or the
/// environment (`EAST_AMQP_URL`, `EAST_REDIS_URL`).
///
/// `amqps://` and `rediss://` mean TLS, with the server's certificate and
/// name verified against the CA file named by the `cafile` query
/// (`amqps://east:pw@broker:5671/east?cafile=/etc/east/ca.pem`), else
/// against the system's CA store. The query travels with the URL, so every
/// child process a launcher starts verifies the same way.
public struct Endpoint: Equatable, Sendable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    /// The path without its leading slash (an AMQP vhost; empty means "/").
    public var path: String
    /// The PEM file of the CA that signed a TLS server's certificate (`?cafile=`).
    public var caFile: String?

    public struct ParseError: Error, CustomStringConvertible {
        public let url: String
        public let reason: String
        public var description: String { "bad server URL \"\(url)\": \(reason)" }
    }

    public init(url: String, defaultPort: Int) throws(ParseError) {
        let parts = try URLParts(url, defaultPort: defaultPort)
        guard parts.hosts.count == 1 else {
            throw ParseError(url: url, reason: "one host expected (a list of hosts is for redis-sentinel:// only)")
        }
        self.init(scheme: parts.scheme, host: parts.hosts[0].host, port: parts.hosts[0].port, user: parts.user, password: parts.password,
                  path: parts.path, caFile: parts.caFile)
    }

    public init(scheme: String, host: String, port: Int, user: String? = nil, password: String? = nil, path: String = "", caFile: String? = nil) {
        (self.scheme, self.host, self.port, self.user, self.password, self.path, self.caFile) = (scheme, host, port, user, password, path, caFile)
    }

    /// A URL taken apart: `scheme://[user[:password]@]host[:port][,host[:port]...][/path][?cafile=PATH]`.
    struct URLParts {
        var scheme: String
        var user: String?
        var password: String?
        var hosts: [(host: String, port: Int)] = []
        var path = ""
        var caFile: String?

        init(_ url: String, defaultPort: Int) throws(ParseError) {
            guard let schemeEnd = url.range(of: "://") else { throw ParseError(url: url, reason: "expected scheme://host[:port]") }
            scheme = String(url[..<schemeEnd.lowerBound])
            var rest = Substring(url[schemeEnd.upperBound...])
            if let question = rest.firstIndex(of: "?") {
                for item in rest[rest.index(after: question)...].split(separator: "&") {
                    let pair = item.split(separator: "=", maxSplits: 1)
                    guard pair.count == 2, pair[0] == "cafile" else {
                        throw ParseError(url: url, reason: "unknown query \"\(item)\" (the only one is cafile=PATH)")
                    }
                    caFile = String(pair[1]).removingPercentEncodingSimple
                }
                rest = rest[..<question]
            }
            if let slash = rest.firstIndex(of: "/") {
                path = String(rest[rest.index(after: slash)...]).removingPercentEncodingSimple
                rest = rest[..<slash]
            }
            if let at = rest.lastIndex(of: "@") {
                let credentials = rest[..<at]
                rest = rest[rest.index(after: at)...]
                let parts = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                user = parts[0].isEmpty ? nil : String(parts[0]).removingPercentEncodingSimple
                password = parts.count > 1 ? String(parts[1]).removingPercentEncodingSimple : nil
            }
            for var address in rest.split(separator: ",", omittingEmptySubsequences: false) {
                var port = defaultPort
                // A port follows the last colon, unless that colon is inside an IPv6 address's brackets.
                if let colon = address.lastIndex(of: ":"), !address[colon...].contains("]") {
                    guard let p = Int(address[address.index(after: colon)...]), (1...65535).contains(p) else {
                        throw ParseError(url: url, reason: "port must be a number from 1 to 65535")
                    }
                    port = p
                    address = address[..<colon]
                }
                guard !address.isEmpty else { throw ParseError(url: url, reason: "missing host") }
                hosts.append((String(address), port))
            }
        }
    }

    /// The URL again, password included (for handing to child processes).
    public var url: String { "\(scheme)://\(Self.userInfo(user, password, masked: false))\(host):\(port)/\(path)\(query)" }

    /// The URL with the password masked, for logs.
    public var description: String { "\(scheme)://\(Self.userInfo(user, password, masked: true))\(host):\(port)/\(path)\(query)" }

    /// `user:password@` (or what of it there is), the password as `***` when `masked`.
    static func userInfo(_ user: String?, _ password: String?, masked: Bool) -> String {
        let secret = password.map { masked ? "***" : $0 }
        return user.map { "\($0)\(secret.map { ":\($0)" } ?? "")@" } ?? (secret.map { ":\($0)@" } ?? "")
    }

    private var query: String { caFile.map { "?cafile=\($0)" } ?? "" }

    /// `host:port`, to name a server in status lines.
    public var hostAndPort: String { "\(host):\(port)" }

    /// `amqps://` or `rediss://`.
    public var isTLS: Bool { scheme == "amqps" || scheme == "rediss" }

    /// localhost, 127.0.0.0/8 or ::1: a server only this machine can reach.
    public var isLoopback: Bool {
        if ["localhost", "::1", "[::1]"].contains(host.lowercased()) { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}

extension String {
    /// Decodes `%XX` escapes (enough for credentials and vhosts; no Foundation needed).
    var removingPercentEncodingSimple: String {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        var it = Array(utf8)[...]
        while let c = it.first {
            it = it.dropFirst()
            if c == UInt8(ascii: "%"), it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(c)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Endpoint {
    /// Where scripts/servers.sh puts the servers on loopback: the defaults of
    /// every worker, `east` subcommand, launcher and test, defined once.
    public static let defaultAMQPURL = "amqp://guest:guest@127.0.0.1:5673/"
    public static let defaultRedisURL = "redis://127.0.0.1:6390"

    /// The broker's nodes, in the order a client tries them: a flag's
    /// value, else `EAST_AMQP_URL`, else the default. Several nodes of one
    /// RabbitMQ cluster are URLs separated by commas
    /// (`amqp://u:p@h1:5672/east,amqp://u:p@h2:5672/east`; a comma inside a
    /// password is written `%2C`). Each is refused when it would use default
    /// credentials off loopback.
    public static func brokers(_ flag: String? = nil, environment: [String: String]) throws -> [Endpoint] {
        let list = flag ?? environment["EAST_AMQP_URL"] ?? defaultAMQPURL
        return try list.split(separator: ",", omittingEmptySubsequences: false).map { item in
            let url = String(item.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
            let endpoint = try Endpoint(url: url, defaultPort: url.hasPrefix("amqps:") ? 5671 : 5672)
            guard ["amqp", "amqps"].contains(endpoint.scheme) else {
                throw ParseError(url: endpoint.description, reason: "a broker URL starts with amqp:// or amqps:// (several are separated by commas)")
            }
            try endpoint.requireOwnCredentialsOffLoopback(server: "broker")
            return endpoint
        }
    }

    /// The URLs of `nodes` as one list, passwords included (for child processes).
    public static func urlList(_ nodes: [Endpoint]) -> String { nodes.map(\.url).joined(separator: ",") }

    /// Where Redis is: a flag's value, else `EAST_REDIS_URL`, else the
    /// default; one server, or the primary Sentinel names (`RedisAddress`).
    public static func redis(_ flag: String? = nil, environment: [String: String]) throws -> RedisAddress {
        try RedisAddress(url: flag ?? environment["EAST_REDIS_URL"] ?? defaultRedisURL)
    }

    public struct CredentialsError: Error, CustomStringConvertible {
        /// The URL, password masked.
        public let url: String
        public let reason: String
        public var description: String { "refusing \(url): \(reason)" }
    }

    /// The one rule for credentials: a server off loopback needs a user of
    /// its own and a password. RabbitMQ's `guest` (and no user, which means
    /// `guest`) and a Redis without a password are for one machine only;
    /// anyone on the network could use them. Loopback keeps the defaults.
    public func requireOwnCredentialsOffLoopback(server: String) throws(CredentialsError) {
        guard !isLoopback else { return }
        let advice = "a \(server) off loopback needs its own user and a password in the URL (\(scheme)://USER:PASSWORD@\(host):\(port)/...)"
        guard let user, !user.isEmpty else { throw CredentialsError(url: description, reason: "no user; \(advice)") }
        guard user != "guest" else { throw CredentialsError(url: description, reason: "the default user guest; \(advice)") }
        guard let password, !password.isEmpty else { throw CredentialsError(url: description, reason: "no password; \(advice)") }
    }
}
