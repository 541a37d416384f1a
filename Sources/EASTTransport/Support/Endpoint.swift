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
        } else {
            path = ""
        }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let parts = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            user = parts[0].isEmpty ? nil : String(parts[0]).removingPercentEncodingSimple
            password = parts.count > 1 ? String(parts[1]).removingPercentEncodingSimple : nil
        }
        if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                throw ParseError(url: url, reason: "port must be a number from 1 to 65535")
            }
            port = p
            rest = rest[..<colon]
        } else {
            port = defaultPort
        }
        guard !rest.isEmpty else { throw ParseError(url: url, reason: "missing host") }
        host = String(rest)
    }

    /// The URL again, password included (for handing to child processes).
    public var url: String {
        let credentials = user.map { "\($0)\(password.map { ":\($0)" } ?? "")@" } ?? (password.map { ":\($0)@" } ?? "")
        return "\(scheme)://\(credentials)\(host):\(port)/\(path)\(query)"
    }

    /// The URL with the password masked, for logs.
    public var description: String {
        let credentials = user.map { "\($0)\(password == nil ? "" : ":***")@" } ?? (password == nil ? "" : ":***@")
        return "\(scheme)://\(credentials)\(host):\(port)/\(path)\(query)"
    }

    private var query: String { caFile.map { "?cafile=\($0)" } ?? "" }

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

    /// A flag's value, else the environment variable, else the default;
    /// refused when it would use default credentials off loopback.
    public static func amqp(_ flag: String? = nil, environment: [String: String]) throws -> Endpoint {
        let url = flag ?? environment["EAST_AMQP_URL"] ?? defaultAMQPURL
        let endpoint = try Endpoint(url: url, defaultPort: url.hasPrefix("amqps:") ? 5671 : 5672)
        guard ["amqp", "amqps"].contains(endpoint.scheme) else {
            throw ParseError(url: endpoint.description, reason: "a broker URL starts with amqp:// or amqps://")
        }
        try endpoint.requireOwnCredentialsOffLoopback(server: "broker")
        return endpoint
    }

    public static func redis(_ flag: String? = nil, environment: [String: String]) throws -> Endpoint {
        let endpoint = try Endpoint(url: flag ?? environment["EAST_REDIS_URL"] ?? defaultRedisURL, defaultPort: 6379)
        guard ["redis", "rediss"].contains(endpoint.scheme) else {
            throw ParseError(url: endpoint.description, reason: "a Redis URL starts with redis:// or rediss://")
        }
        try endpoint.requireOwnCredentialsOffLoopback(server: "Redis")
        return endpoint
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
