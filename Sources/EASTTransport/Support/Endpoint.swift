/// A server address parsed from a URL such as `amqp://user:pass@host:5672/vhost`
/// or `redis://:password@host:6379`. Workers take these from flags or the
/// environment (`EAST_AMQP_URL`, `EAST_REDIS_URL`).
public struct Endpoint: Equatable, Sendable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    /// The path without its leading slash (an AMQP vhost; empty means "/").
    public var path: String

    public struct ParseError: Error, CustomStringConvertible {
        public let url: String
        public let reason: String
        public var description: String { "bad server URL \"\(url)\": \(reason)" }
    }

    public init(url: String, defaultPort: Int) throws(ParseError) {
        guard let schemeEnd = url.range(of: "://") else { throw ParseError(url: url, reason: "expected scheme://host[:port]") }
        scheme = String(url[..<schemeEnd.lowerBound])
        var rest = Substring(url[schemeEnd.upperBound...])
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
        return "\(scheme)://\(credentials)\(host):\(port)/\(path)"
    }

    /// The URL with the password masked, for logs.
    public var description: String {
        let credentials = user.map { "\($0)\(password == nil ? "" : ":***")@" } ?? (password == nil ? "" : ":***@")
        return "\(scheme)://\(credentials)\(host):\(port)/\(path)"
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

    /// A flag's value, else the environment variable, else the default.
    public static func amqp(_ flag: String? = nil, environment: [String: String]) throws(ParseError) -> Endpoint {
        try Endpoint(url: flag ?? environment["EAST_AMQP_URL"] ?? defaultAMQPURL, defaultPort: 5672)
    }

    public static func redis(_ flag: String? = nil, environment: [String: String]) throws(ParseError) -> Endpoint {
        try Endpoint(url: flag ?? environment["EAST_REDIS_URL"] ?? defaultRedisURL, defaultPort: 6379)
    }
}
