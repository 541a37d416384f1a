import CHiredis
import CTLS

/// A Redis connection over TLS, for `rediss://`.
///
/// Debian 12's hiredis (0.14.1) is built without SSL, so the TCP + TLS
/// connection is OpenSSL's (the CTLS target) and hiredis only does the
/// protocol: `redisFormatCommandArgv` encodes commands, a `redisReader`
/// decodes replies. Replies are hiredis's `redisReply` objects, so
/// `RedisConnection` decodes them exactly as it does on plain connections.
final class RedisTLSLink {
    private let stream: OpaquePointer
    private let reader: UnsafeMutablePointer<redisReader>
    private let endpoint: Endpoint

    init(endpoint: Endpoint, timeout: Double) throws {
        self.endpoint = endpoint
        var error = [CChar](repeating: 0, count: 256)
        let opened = error.withUnsafeMutableBufferPointer { buffer in
            east_tls_connect(endpoint.host, Int32(endpoint.port), endpoint.caFile, timeout, buffer.baseAddress, buffer.count)
        }
        guard let opened else {
            let reason = String(decoding: error.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw RedisError(context: "connect to \(endpoint)", reason: Self.withAdvice(reason, endpoint), connectionLost: true)
        }
        guard let reader = redisReaderCreate() else {
            east_tls_close(opened)
            throw RedisError(context: "connect to \(endpoint)", reason: "out of memory", connectionLost: true)
        }
        stream = opened
        self.reader = reader
    }

    deinit {
        east_tls_close(stream)
        redisReaderFree(reader)
    }

    /// Encodes and writes the commands in one go.
    func send(_ commands: [[[UInt8]]]) throws {
        var bytes: [UInt8] = []
        for args in commands {
            var command: UnsafeMutablePointer<CChar>?
            let length = withArgv(args) { argc, argv, lengths in redisFormatCommandArgv(&command, argc, argv, lengths) }
            guard length > 0, let command else { throw failure(Self.name(args), "cannot encode the command") }
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: command, count: Int(length)))
            redisFreeCommand(command)
        }
        guard bytes.withUnsafeBytes({ east_tls_write(stream, $0.baseAddress, $0.count) }) == 0 else {
            throw failure(commands.first.map(Self.name) ?? "command", String(cString: east_tls_error(stream)))
        }
    }

    private static func name(_ args: [[UInt8]]) -> String { args.first.map { String(decoding: $0, as: UTF8.self) } ?? "command" }

    /// The next reply (free it with `freeReplyObject`), reading from the
    /// connection until one is complete.
    func readReply(context: String) throws -> UnsafeMutableRawPointer {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            var reply: UnsafeMutableRawPointer?
            guard redisReaderGetReply(reader, &reply) == REDIS_OK else { throw failure(context, "protocol error") }
            if let reply { return reply }
            let count = buffer.withUnsafeMutableBytes { east_tls_read(stream, $0.baseAddress, $0.count) }
            guard count > 0 else {
                throw failure(context, count == 0 ? "the server closed the connection" : String(cString: east_tls_error(stream)))
            }
            let fed = buffer.withUnsafeBytes { raw in
                redisReaderFeed(reader, raw.baseAddress!.assumingMemoryBound(to: CChar.self), count)
            }
            guard fed == REDIS_OK else { throw failure(context, "protocol error") }
        }
    }

    private func failure(_ context: String, _ reason: String) -> RedisError {
        RedisError(context: context, reason: reason, connectionLost: true)
    }

    /// The handshake's reason, with what to check when the certificate was refused.
    private static func withAdvice(_ reason: String, _ endpoint: Endpoint) -> String {
        guard reason.contains("certificate") else { return reason }
        return "\(reason) (is the server's certificate signed by \(endpoint.caFile.map { "the CA in \($0)" } ?? "a CA in the system store") and issued for \(endpoint.host)?)"
    }
}
