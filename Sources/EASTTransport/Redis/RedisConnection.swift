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
/// hiredis's protocol pieces (`rediss://`, see `RedisTLSLink`).
///
/// Not thread-safe (neither is hiredis): keep it to one thread or actor.
/// Commands go out with `redisCommandArgv` (the variadic `redisCommand` cannot
/// be called from Swift); `pipeline` sends many before reading any reply.
/// After a lost connection, `reconnect` (or any call, which reconnects once
/// with backoff) restores it; callers retry only idempotent writes.
public final class RedisConnection {
    private var context: UnsafeMutablePointer<redisContext>?
    /// The connection instead of `context` for `rediss://`.
    private var tls: RedisTLSLink?
    public let endpoint: Endpoint
    private let timeout: Double

    public init(endpoint: Endpoint, timeout: Double = 10) throws {
        self.endpoint = endpoint
        self.timeout = timeout
        try open()
    }

    deinit { if let context { redisFree(context) } }

    private func open() throws {
        if let context { redisFree(context) }
        context = nil
        tls = nil
        if endpoint.isTLS {
            tls = try RedisTLSLink(endpoint: endpoint, timeout: timeout)
            try authenticate()
            return
        }
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
        try authenticate()
    }

    private func authenticate() throws {
        if let password = endpoint.password, !password.isEmpty {
            let args = endpoint.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            if case let .error(message) = try send(args.map { Array($0.utf8) }) {
                throw RedisError(context: "AUTH", reason: message, connectionLost: false)
            }
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
            throw RedisError(context: Self.name(args), reason: message, connectionLost: false)
        }
        return reply
    }

    /// Sends all commands, then reads all replies (one round trip). Error
    /// replies are returned in place, not thrown.
    public func pipeline(_ commands: [[String]]) throws -> [RedisReply] {
        try pipeline(bytes: commands.map { $0.map { Array($0.utf8) } })
    }

    /// `pipeline` with arguments of any bytes.
    public func pipeline(bytes commands: [[[UInt8]]]) throws -> [RedisReply] {
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
            if tls === link { tls = nil }
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
        return RedisError(context: what, reason: reason, connectionLost: true)
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
