import CHiredis
import Foundation

/// A Redis reply, decoded from hiredis's `redisReply`.
public enum RedisReply: Equatable, Sendable {
    case status(String)
    case error(String)
    case integer(Int)
    case bulk([UInt8])
    case array([RedisReply])
    case null

    public var string: String? {
        switch self {
        case let .bulk(b): return String(decoding: b, as: UTF8.self)
        case let .status(s): return s
        default: return nil
        }
    }

    public var integer: Int? {
        switch self {
        case let .integer(i): return i
        case let .bulk(b): return Int(String(decoding: b, as: UTF8.self))
        default: return nil
        }
    }

    public var array: [RedisReply]? {
        if case let .array(a) = self { return a }
        return nil
    }
}

public struct RedisError: Error, CustomStringConvertible, Sendable {
    public let context: String
    public let reason: String
    /// True when the connection is broken (reconnect to go on); false for a
    /// command the server refused.
    public let connectionLost: Bool
    public var description: String { "Redis \(context): \(reason)" }

    public init(context: String, reason: String, connectionLost: Bool) {
        self.context = context
        self.reason = reason
        self.connectionLost = connectionLost
    }
}

/// One Redis connection over hiredis (`redis://`), or over OpenSSL with
/// hiredis's protocol pieces (`rediss://`, see `RedisTLSLink`), to one
/// server or to the primary that Sentinel names (`RedisAddress`).
///
/// Not thread-safe (neither is hiredis): keep it to one thread or actor.
/// Commands go out with `redisCommandArgv` (the variadic `redisCommand` cannot
/// be called from Swift); `pipeline` sends many before reading any reply.
/// After a lost connection, `reconnect` (or any call, which reconnects once
/// with backoff) restores it; callers retry only idempotent writes. Under
/// Sentinel a reconnect asks the sentinels for the primary again, and a
/// write refused with READONLY (the server has become a replica) counts as
/// a lost connection.
public final class RedisConnection {
    private var context: UnsafeMutablePointer<redisContext>?
    /// The connection instead of `context` for `rediss://`.
    private var tls: RedisTLSLink?
    public let address: RedisAddress
    /// The server this connection talks to (under Sentinel: the primary found last).
    public private(set) var endpoint: Endpoint
    private let timeout: Double
    /// Seconds a recorded write waits for replicas (`writeReplicated`).
    private let replicaWait: Double
    /// `endpoint` while connected, readable from any thread (`/readyz`, `east status`).
    private let connectedServer = Locked<Endpoint?>(nil)

    public convenience init(endpoint: Endpoint, timeout: Double = 10) throws {
        try self.init(address: .server(endpoint), timeout: timeout)
    }

    public init(address: RedisAddress, timeout: Double = 10, replicaWait: Double = RedisConnection.defaultReplicaWait) throws {
        self.address = address
        self.timeout = timeout
        self.replicaWait = replicaWait
        switch address {
        case let .server(server): endpoint = server
        case let .sentinel(set): endpoint = set.nodes[0]  // replaced by the primary in `open`
        }
        try open()
    }

    deinit { if let context { redisFree(context) } }

    /// The server this connection is connected to now, or nil (any thread).
    public var connectedTo: Endpoint? { connectedServer.value }

    private func open() throws {
        if let context { redisFree(context) }
        context = nil
        tls = nil
        connectedServer.value = nil
        if case let .sentinel(set) = address { endpoint = try Self.primary(of: set, timeout: timeout) }
        if endpoint.isTLS {
            tls = try RedisTLSLink(endpoint: endpoint, timeout: timeout)
        } else {
            let tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
            guard let c = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), tv) else {
                throw RedisError(context: "connect to \(endpoint)", reason: "out of memory", connectionLost: true)
            }
            if c.pointee.err != 0 {
                let reason = Self.errorText(c)
                redisFree(c)
                throw RedisError(context: "connect to \(endpoint)", reason: reason, connectionLost: true)
            }
            redisSetTimeout(c, tv)
            context = c
        }
        try authenticate()
        if case .sentinel = address { try requirePrimary() }
        connectedServer.value = endpoint
    }

    private func authenticate() throws {
        if let password = endpoint.password, !password.isEmpty {
            let args = endpoint.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            if case let .error(message) = try send(args.map { Array($0.utf8) }) {
                throw RedisError(context: "AUTH", reason: message, connectionLost: false)
            }
        }
    }

    /// Asks the sentinels in turn for the set's primary. No answer is a lost
    /// connection (the caller's reconnect asks again, with backoff).
    static func primary(of set: RedisAddress.Sentinels, timeout: Double) throws -> Endpoint {
        var reasons: [String] = []
        for sentinel in set.nodes {
            do {
                // A sentinel without a password refuses AUTH; then it needs none.
                let connection = try RedisConnection(endpoint: Endpoint(scheme: "redis", host: sentinel.host, port: sentinel.port), timeout: min(timeout, 2))
                if let password = set.password, !password.isEmpty {
                    let args = set.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]
                    if case let .error(message) = try connection.send(args.map { Array($0.utf8) }), !message.contains("without any password configured") {
                        throw RedisError(context: "AUTH", reason: message, connectionLost: false)
                    }
                }
                let reply = try connection.command(["SENTINEL", "get-master-addr-by-name", set.master])
                guard let pair = reply.array, pair.count == 2, let host = pair[0].string, let port = pair[1].integer else {
                    reasons.append("\(sentinel.host):\(sentinel.port) knows no set named \(set.master)")
                    continue
                }
                let primary = set.server(host: host, port: port)
                try primary.requireOwnCredentialsOffLoopback(server: "Redis")
                return primary
            } catch let error as Endpoint.CredentialsError {
                throw RedisError(context: "Sentinel", reason: error.description, connectionLost: false)
            } catch {
                reasons.append("\(sentinel.host):\(sentinel.port): \(error)")
            }
        }
        throw RedisError(context: "Sentinel", reason: "no sentinel named the primary of \(set.master): " + reasons.joined(separator: "; "), connectionLost: true)
    }

    /// Under Sentinel, the server found must be a primary: one demoted since
    /// the sentinels answered would take no writes. A replica counts as a
    /// lost connection, so that the caller asks the sentinels again.
    private func requirePrimary() throws {
        let reply = try send([Array("ROLE".utf8)])
        if case let .error(message) = reply {
            throw RedisError(context: "ROLE on \(endpoint)", reason: "\(message) (under Sentinel the Redis user needs the ROLE command: +role in its ACL)", connectionLost: false)
        }
        guard let role = reply.array?.first?.string, role == "master" else {
            throw RedisError(context: "connect to \(endpoint)", reason: "it is a \(reply.array?.first?.string ?? "server of no known role") now, not the primary; asking the sentinels again", connectionLost: true)
        }
    }

    /// How long a caller waits for Redis to come back after a lost
    /// connection (a restart on its AOF takes a second or two).
    public static let reconnectWithin: Double = 30

    /// Drops the connection and connects again, retrying with backoff for up
    /// to `within` seconds, until Redis answers: one restarting on its AOF
    /// accepts connections but refuses commands with LOADING until it has
    /// read the file.
    public func reconnect(within: Double = reconnectWithin) throws {
        var backoff = Backoff()
        let deadline = Date().addingTimeInterval(within)
        while true {
            do {
                try open()
                if case let .error(message) = try send([Array("PING".utf8)]), message.hasPrefix("LOADING"), Date() < deadline {
                    backoff.wait()
                    continue
                }
                return
            } catch let error as RedisError where error.connectionLost && Date() < deadline {
                backoff.wait()
            }
        }
    }

    /// Runs `body` (idempotent Redis work) again once after a lost
    /// connection is restored, waiting up to `within` seconds for Redis to
    /// come back. A write that reached Redis before the connection broke is
    /// harmless to repeat; without this the first call after a Redis restart
    /// fails, which requeues the caller's message or stops the coordinator.
    public func retryingOnceIfLost<T>(within: Double = reconnectWithin, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as RedisError where error.connectionLost {
            try reconnect(within: within)
            return try body()
        }
    }

    /// Runs one command; a server error reply is thrown as `RedisError`.
    @discardableResult
    public func command(_ args: [String]) throws -> RedisReply {
        try command(bytes: args.map { Array($0.utf8) })
    }

    /// `command` with arguments of any bytes (binary values such as blob chunks).
    @discardableResult
    public func command(bytes args: [[UInt8]]) throws -> RedisReply {
        let reply = try send(args)
        if case let .error(message) = reply {
            if message.hasPrefix("READONLY") { throw demoted(Self.name(args), message) }
            throw RedisError(context: Self.name(args), reason: message, connectionLost: false)
        }
        return reply
    }

    /// Sends all commands, then reads all replies (one round trip). Error
    /// replies are returned in place, not thrown.
    public func pipeline(_ commands: [[String]]) throws -> [RedisReply] {
        try pipeline(bytes: commands.map { $0.map { Array($0.utf8) } })
    }

    /// `pipeline` with arguments of any bytes. A write refused because the
    /// server has become a replica (READONLY) is thrown as a lost connection.
    public func pipeline(bytes commands: [[[UInt8]]]) throws -> [RedisReply] {
        let replies = try sendPipeline(commands)
        for case let .error(message) in replies where message.hasPrefix("READONLY") { throw demoted("pipeline", message) }
        return replies
    }

    /// How long a recorded write waits for a replica's acknowledgement, by default.
    public static let defaultReplicaWait: Double = 20

    /// Sends `commands` (writes that record results) and, where the address
    /// asks for it (`RedisAddress.replicasToAcknowledge`), waits until that
    /// many replicas hold them and every earlier write of this connection
    /// (WAIT, in the same round trip, then again in 1-second steps): a
    /// replica Sentinel promotes then holds them. Nobody acknowledging within
    /// the connection's `replicaWait` seconds is an error naming the primary; the writes are
    /// on the primary, and repeating them is harmless. The commands' replies,
    /// errors in place.
    public func writeReplicated(_ commands: [[String]]) throws -> [RedisReply] {
        let needed = address.replicasToAcknowledge
        guard needed > 0 else { return try pipeline(commands) }
        let wait = ["WAIT", String(needed), "1000"]
        var replies = try pipeline(commands + [wait])
        var acknowledged = replies.removeLast().integer ?? 0
        let deadline = Date().addingTimeInterval(replicaWait)
        while acknowledged < needed, Date() < deadline {
            acknowledged = try command(wait).integer ?? 0
        }
        guard acknowledged >= needed else {
            throw RedisError(context: "WAIT on \(endpoint)", reason: "no replica acknowledged a recorded write within \(Int(replicaWait)) s "
                             + "(\(needed) needed): is the replica down or cut off? The write is on the primary only", connectionLost: false)
        }
        return replies
    }

    /// Sends the commands, then reads every reply.
    private func sendPipeline(_ commands: [[[UInt8]]]) throws -> [RedisReply] {
        if let tls = try liveTLS() {
            return try dropping(tls) {
                try tls.send(commands)
                return try commands.map { _ in try Self.decodeAndFree(tls.readReply(context: "pipeline")) }
            }
        }
        let c = try live()
        for args in commands {
            let status = withArgv(args) { argc, argv, lengths in redisAppendCommandArgv(c, argc, argv, lengths) }
            guard status == REDIS_OK else { throw lost("pipeline") }
        }
        return try commands.map { _ in try readReply(c, context: "pipeline") }
    }

    // MARK: Helpers

    private static func name(_ args: [[UInt8]]) -> String { args.first.map { String(decoding: $0, as: UTF8.self) } ?? "command" }

    private func send(_ args: [[UInt8]]) throws -> RedisReply {
        if let tls = try liveTLS() {
            return try dropping(tls) {
                try tls.send([args])
                return try Self.decodeAndFree(tls.readReply(context: Self.name(args)))
            }
        }
        let c = try live()
        let raw = withArgv(args) { argc, argv, lengths in redisCommandArgv(c, argc, argv, lengths) }
        guard let raw else { throw lost(Self.name(args)) }
        defer { freeReplyObject(raw) }
        return Self.decode(raw.assumingMemoryBound(to: redisReply.self))
    }

    private func readReply(_ c: UnsafeMutablePointer<redisContext>, context: String) throws -> RedisReply {
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(c, &raw) == REDIS_OK, let raw else { throw lost(context) }
        defer { freeReplyObject(raw) }
        return Self.decode(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// The TLS link for `rediss://` (reconnecting first if it was lost); nil for `redis://`.
    private func liveTLS() throws -> RedisTLSLink? {
        guard endpoint.isTLS else { return nil }
        if tls == nil { try reconnect(within: timeout) }
        return tls
    }

    /// Runs `body` on the TLS link; a lost connection drops the link, so the
    /// next call reconnects (as `lost` does for hiredis's context).
    private func dropping<T>(_ link: RedisTLSLink, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as RedisError where error.connectionLost {
            if tls === link {
                tls = nil
                connectedServer.value = nil
            }
            throw error
        }
    }

    private static func decodeAndFree(_ raw: UnsafeMutableRawPointer) -> RedisReply {
        defer { freeReplyObject(raw) }
        return decode(raw.assumingMemoryBound(to: redisReply.self))
    }

    private func live() throws -> UnsafeMutablePointer<redisContext> {
        if let context, context.pointee.err == 0 { return context }
        try reconnect(within: timeout)
        return context!
    }

    private func lost(_ what: String) -> RedisError {
        let reason = context.map(Self.errorText) ?? "not connected"
        if let context { redisFree(context) }
        context = nil
        connectedServer.value = nil
        return RedisError(context: what, reason: reason, connectionLost: true)
    }

    /// The server refused a write as a replica: drop the connection, so the
    /// next call (or the caller's retry) finds the primary again.
    private func demoted(_ what: String, _ message: String) -> RedisError {
        if let context { redisFree(context) }
        context = nil
        tls = nil
        connectedServer.value = nil
        return RedisError(context: what, reason: "\(endpoint) is a replica now (\(message))", connectionLost: true)
    }

    private static func errorText(_ c: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: c.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    private static func decode(_ r: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let reply = r.pointee
        func text() -> [UInt8] {
            guard let s = reply.str, reply.len > 0 else { return [] }
            return Array(UnsafeRawBufferPointer(start: s, count: Int(reply.len)))
        }
        switch reply.type {
        case REDIS_REPLY_STATUS: return .status(String(decoding: text(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: text(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(Int(reply.integer))
        case REDIS_REPLY_STRING: return .bulk(text())
        case REDIS_REPLY_ARRAY:
            return .array((0..<Int(reply.elements)).map { decode(reply.element[$0]!) })
        default: return .null
        }
    }
}

/// Lends `args` to C as argc/argv/argvlen for the duration of `body`. Each
/// argument is copied with its length, so values may hold any bytes.
func withArgv<T>(_ args: [[UInt8]], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> T) -> T {
    let lengths = args.map(\.count)
    var pointers: [UnsafePointer<CChar>?] = args.map { arg in
        let bytes = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, arg.count))
        arg.withUnsafeBytes { raw in
            if let base = raw.baseAddress { UnsafeMutableRawPointer(bytes).copyMemory(from: base, byteCount: raw.count) }
        }
        return UnsafePointer(bytes)
    }
    defer { pointers.forEach { UnsafeMutablePointer(mutating: $0!).deallocate() } }
    return pointers.withUnsafeMutableBufferPointer { argv in
        lengths.withUnsafeBufferPointer { lens in body(Int32(args.count), argv.baseAddress!, lens.baseAddress!) }
    }
}

/// A value other threads may read while its owner changes it.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) { stored = value }

    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
