import CRabbitMQ
import CTLS
import Foundation

public struct AMQPError: Error, CustomStringConvertible, Sendable {
    public let context: String
    public let reason: String
    /// True when the connection can no longer be used (reconnect to go on).
    public let connectionLost: Bool
    public var description: String { "AMQP \(context): \(reason)" }
}

/// A value in an AMQP field table (queue arguments, message headers).
public enum AMQPFieldValue: Equatable, Sendable, Encodable {
    case string(String)
    case int(Int64)
    case bool(Bool)

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case let .string(s): try c.encode(s)
        case let .int(i): try c.encode(i)
        case let .bool(b): try c.encode(b)
        }
    }
}

/// One message handed to a consumer. Ack or nack it on the same client; a
/// delivery from before a reconnect cannot be acked (the broker has already
/// requeued it) and its ack is ignored.
public struct AMQPDelivery: Sendable {
    public var body: [UInt8]
    public var deliveryTag: UInt64
    public var redelivered: Bool
    public var exchange: String
    public var routingKey: String
    /// Which connection (counting reconnects) delivered it.
    public var generation: Int
    /// Failed deliveries before this one (a quorum queue's `x-delivery-count`;
    /// 0 on the first). Past `Topology.deliveryLimit` the broker dead-letters.
    public var deliveryCount: Int = 0
}

/// One AMQP 0-9-1 connection with one channel, over rabbitmq-c.
///
/// Not thread-safe (neither is rabbitmq-c): use it from one thread only.
/// `AMQPClient` gives it that thread and keeps heartbeats flowing.
/// Publisher confirms are on, so `publish` returns only once the broker has
/// taken responsibility for the message.
public final class AMQPConnection {
    private var state: amqp_connection_state_t?
    /// Queue -> the tag of its consumer on this channel; consumers started so far.
    private var consumerTags: [String: String] = [:]
    private var consumers = 0
    private let channel: amqp_channel_t = 1
    private var nextPublishSequence: UInt64 = 1
    /// Published sequence numbers the broker has not confirmed yet.
    private var unconfirmed = Set<UInt64>()
    private var nacked = Set<UInt64>()
    private var buffered: [AMQPDelivery] = []
    public let generation: Int

    /// Connects, logs in, opens the channel and turns on publisher confirms.
    /// `heartbeat` is in seconds (0 turns heartbeats off).
    public init(endpoint: Endpoint, heartbeat: Int = 30, connectTimeout: Double = 5, generation: Int = 0) throws {
        self.generation = generation
        guard let state = amqp_new_connection() else {
            throw AMQPError(context: "connect", reason: "out of memory", connectionLost: true)
        }
        self.state = state
        do {
            let socket = try Self.socket(state, endpoint)
            var timeout = timeval(tv_sec: Int(connectTimeout), tv_usec: 0)
            let status = amqp_socket_open_noblock(socket, endpoint.host, Int32(endpoint.port), &timeout)
            guard status == AMQP_STATUS_OK.rawValue else {
                throw AMQPError(context: "connect to \(endpoint)", reason: Self.openFailure(status, endpoint), connectionLost: true)
            }
            var rpcTimeout = timeval(tv_sec: 30, tv_usec: 0)
            amqp_set_rpc_timeout(state, &rpcTimeout)
            let vhost = endpoint.path.isEmpty ? "/" : endpoint.path
            try check(east_amqp_login_plain(state, vhost, 0, 131_072, Int32(heartbeat),
                                            endpoint.user ?? "guest", endpoint.password ?? "guest"), "login to \(endpoint)")
            amqp_channel_open(state, channel)
            try check(amqp_get_rpc_reply(state), "open channel")
            amqp_confirm_select(state, channel)
            try check(amqp_get_rpc_reply(state), "confirm.select")
        } catch {
            amqp_destroy_connection(state)
            self.state = nil
            throw error
        }
    }

    deinit { close() }

    /// A plain TCP socket, or for `amqps://` a TLS one that verifies the
    /// broker's certificate chain and host name (against `cafile`, else the
    /// system's CA store).
    private static func socket(_ state: amqp_connection_state_t, _ endpoint: Endpoint) throws -> OpaquePointer {
        guard endpoint.isTLS else {
            guard let socket = amqp_tcp_socket_new(state) else {
                throw AMQPError(context: "connect", reason: "cannot create a socket", connectionLost: true)
            }
            return socket
        }
        guard let socket = amqp_ssl_socket_new(state) else {
            throw AMQPError(context: "connect to \(endpoint)", reason: "cannot create a TLS socket", connectionLost: true)
        }
        amqp_ssl_socket_set_verify_peer(socket, 1)
        amqp_ssl_socket_set_verify_hostname(socket, 1)
        if let caFile = endpoint.caFile {
            guard amqp_ssl_socket_set_cacert(socket, caFile) == AMQP_STATUS_OK.rawValue else {
                throw AMQPError(context: "connect to \(endpoint)", reason: "cannot read the CA file \(caFile)", connectionLost: false)
            }
        } else if let context = amqp_ssl_socket_get_context(socket) {
            _ = east_tls_use_system_cas(context)
        }
        return socket
    }

    /// rabbitmq-c's reason, with what to check when TLS verification failed.
    private static func openFailure(_ status: Int32, _ endpoint: Endpoint) -> String {
        let reason = String(cString: amqp_error_string2(status))
        let verification = [AMQP_STATUS_SSL_ERROR, AMQP_STATUS_SSL_CONNECTION_FAILED, AMQP_STATUS_SSL_PEER_VERIFY_FAILED, AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED]
        guard endpoint.isTLS, verification.map(\.rawValue).contains(status) else { return reason }
        return "\(reason) (is the broker's certificate signed by \(endpoint.caFile.map { "the CA in \($0)" } ?? "a CA in the system store") and issued for \(endpoint.host)?)"
    }

    /// Closes the channel and connection politely (errors are ignored: we are leaving).
    public func close() {
        guard let state else { return }
        _ = amqp_channel_close(state, channel, Int32(AMQP_REPLY_SUCCESS))
        _ = amqp_connection_close(state, Int32(AMQP_REPLY_SUCCESS))
        amqp_destroy_connection(state)
        self.state = nil
    }

    // MARK: Topology

    public func declareExchange(_ name: String, type: String, durable: Bool = true) throws {
        let state = try live()
        withBytes(name) { n in
            withBytes(type) { t in
                _ = amqp_exchange_declare(state, channel, n, t, 0, durable ? 1 : 0, 0, 0, amqp_empty_table)
            }
        }
        try check(amqp_get_rpc_reply(state), "declare exchange \(name)")
    }

    /// Declares a queue (idempotent when the arguments match what exists) and
    /// returns its ready-message and consumer counts.
    @discardableResult
    public func declareQueue(_ name: String, durable: Bool = true, arguments: [(String, AMQPFieldValue)] = []) throws -> (messages: Int, consumers: Int) {
        let state = try live()
        let ok = withBytes(name) { n in
            withTable(arguments) { table in amqp_queue_declare(state, channel, n, 0, durable ? 1 : 0, 0, 0, table) }
        }
        try check(amqp_get_rpc_reply(state), "declare queue \(name)")
        guard let ok else { throw AMQPError(context: "declare queue \(name)", reason: "no reply", connectionLost: true) }
        return (Int(ok.pointee.message_count), Int(ok.pointee.consumer_count))
    }

    /// The ready-message and consumer counts of an existing queue (passive declare).
    public func inspectQueue(_ name: String) throws -> (messages: Int, consumers: Int) {
        let state = try live()
        let ok = withBytes(name) { n in amqp_queue_declare(state, channel, n, 1, 0, 0, 0, amqp_empty_table) }
        try check(amqp_get_rpc_reply(state), "inspect queue \(name)")
        guard let ok else { throw AMQPError(context: "inspect queue \(name)", reason: "no reply", connectionLost: true) }
        return (Int(ok.pointee.message_count), Int(ok.pointee.consumer_count))
    }

    public func bindQueue(_ queue: String, exchange: String, routingKey: String) throws {
        let state = try live()
        withBytes(queue) { q in
            withBytes(exchange) { e in
                withBytes(routingKey) { k in _ = amqp_queue_bind(state, channel, q, e, k, amqp_empty_table) }
            }
        }
        try check(amqp_get_rpc_reply(state), "bind \(queue) to \(exchange) (\(routingKey))")
    }

    public func purgeQueue(_ name: String) throws {
        let state = try live()
        withBytes(name) { n in _ = amqp_queue_purge(state, channel, n) }
        try check(amqp_get_rpc_reply(state), "purge \(name)")
    }

    public func deleteQueue(_ name: String) throws {
        let state = try live()
        withBytes(name) { n in _ = amqp_queue_delete(state, channel, n, 0, 0) }
        try check(amqp_get_rpc_reply(state), "delete \(name)")
    }

    // MARK: Publishing

    /// Publishes a persistent message and waits for the broker's confirm.
    public func publish(exchange: String, routingKey: String, body: [UInt8], timeout: Double = 30) throws {
        try publish([(exchange, routingKey, body)], timeout: timeout)
    }

    /// Publishes persistent messages, then waits until the broker has
    /// confirmed every one (one round trip for the batch, not one each).
    /// Messages the broker refuses (nack: a quorum queue without a leader
    /// for a moment, while its replicas elect one) are sent again, up to
    /// `resends` times, a second apart, and then count as a lost connection.
    /// A lost connection throws: the unconfirmed messages are then the
    /// caller's to send again (`AMQPClient.perform` does, on the next
    /// connection).
    public func publish(_ messages: [(exchange: String, routingKey: String, body: [UInt8])], timeout: Double = 30) throws {
        let state = try live()
        let deadline = Date().addingTimeInterval(timeout)
        var pending = messages[...]
        for attempt in 0... {
            var sequences: [UInt64: Int] = [:]  // sequence -> index in `messages`
            for (index, (exchange, routingKey, body)) in zip(pending.indices, pending) {
                try send(state, exchange: exchange, routingKey: routingKey, body: body)
                sequences[nextPublishSequence] = index
                unconfirmed.insert(nextPublishSequence)
                nextPublishSequence += 1
            }
            while sequences.keys.contains(where: unconfirmed.contains) {
                guard Date() < deadline else {
                    throw AMQPError(context: "publish", reason: "no confirm within \(timeout) s", connectionLost: true)
                }
                try pump(timeout: 0.2)
            }
            let refused = sequences.keys.filter { nacked.remove($0) != nil }.compactMap { sequences[$0] }.sorted()
            if refused.isEmpty { return }
            guard attempt < Self.resends, Date().addingTimeInterval(1) < deadline else {
                // Counted as a lost connection: a new channel (on the next node)
                // learns the queues' current leaders, where this one may keep
                // sending to a dead one (see AMQPClient.failoverSettle).
                throw AMQPError(context: "publish", reason: "the broker refused \(refused.count) message(s) (nack) \(attempt + 1) time(s)", connectionLost: true)
            }
            Thread.sleep(forTimeInterval: 1)
            pending = ArraySlice(refused.map { messages[$0] })
        }
    }

    /// Times a refused message is sent again before `publish` gives up.
    public static let resends = 5

    private func send(_ state: amqp_connection_state_t, exchange: String, routingKey: String, body: [UInt8]) throws {
        var properties = amqp_basic_properties_t()
        properties._flags = amqp_flags_t(AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG)
        properties.delivery_mode = 2  // persistent
        let status: Int32 = withBytes("application/json") { contentType in
            properties.content_type = contentType
            return withBytes(exchange) { e in
                withBytes(routingKey) { k in
                    body.withUnsafeBytes { raw in
                        let bytes = amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress))
                        return amqp_basic_publish(state, channel, e, k, 0, 0, &properties, bytes)
                    }
                }
            }
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(context: "publish to \(exchange)/\(routingKey)", reason: String(cString: amqp_error_string2(status)), connectionLost: true)
        }
    }

    // MARK: Consuming

    /// Limits unacked deliveries to `count` (per consumer).
    public func setPrefetch(_ count: Int) throws {
        let state = try live()
        amqp_basic_qos(state, channel, 0, UInt16(count), 0)
        try check(amqp_get_rpc_reply(state), "basic.qos")
    }

    /// Starts a manual-ack consumer on `queue`, with a consumer tag of its own
    /// (reusing a cancelled consumer's tag crashes RabbitMQ 3.10's channel
    /// when a quorum queue's delivery for the old consumer is still in flight).
    public func consume(_ queue: String) throws {
        let state = try live()
        consumers += 1
        let tag = "\(queue).\(consumers)"
        withBytes(queue) { q in withBytes(tag) { t in _ = amqp_basic_consume(state, channel, q, t, 0, 0, 0, amqp_empty_table) } }
        try check(amqp_get_rpc_reply(state), "consume \(queue)")
        consumerTags[queue] = tag
    }

    /// Ends the consumer on `queue`. Its unacked deliveries stay in hand and
    /// can still be acked (they return to the queue only if the channel closes).
    public func cancel(_ queue: String) throws {
        guard let tag = consumerTags.removeValue(forKey: queue) else { return }
        let state = try live()
        withBytes(tag) { t in _ = amqp_basic_cancel(state, channel, t) }
        try check(amqp_get_rpc_reply(state), "cancel the consumer of \(queue)")
    }

    /// The socket, for a caller that waits on it together with other things
    /// (`AMQPClient` waits on it and on its request pipe).
    public var socketDescriptor: Int32 { state.map { amqp_get_sockfd($0) } ?? -1 }

    /// True when input is already read off the socket (a delivery, or frames
    /// in rabbitmq-c's buffers): waiting on the socket would not see it.
    public var hasBufferedInput: Bool {
        guard let state else { return false }
        return !buffered.isEmpty || amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0
    }

    /// The next delivery, waiting up to `timeout` seconds; nil on timeout.
    /// Waiting is also what answers the broker's heartbeats.
    public func nextDelivery(timeout: Double) throws -> AMQPDelivery? {
        if buffered.isEmpty { try pump(timeout: timeout) }
        return buffered.isEmpty ? nil : buffered.removeFirst()
    }

    public func ack(_ delivery: AMQPDelivery) throws {
        guard delivery.generation == generation else { return }  // already requeued by the broker
        let state = try live()
        let status = amqp_basic_ack(state, channel, delivery.deliveryTag, 0)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(context: "ack", reason: String(cString: amqp_error_string2(status)), connectionLost: true)
        }
    }

    /// Rejects a delivery; with `requeue` false a queue with a dead-letter
    /// exchange dead-letters it.
    public func nack(_ delivery: AMQPDelivery, requeue: Bool) throws {
        guard delivery.generation == generation else { return }
        let state = try live()
        let status = amqp_basic_nack(state, channel, delivery.deliveryTag, 0, requeue ? 1 : 0)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(context: "nack", reason: String(cString: amqp_error_string2(status)), connectionLost: true)
        }
    }

    // MARK: Frames

    /// Reads what the broker sent (deliveries, confirms, closes) for up to
    /// `timeout` seconds. rabbitmq-c sends our heartbeats while it waits.
    func pump(timeout: Double) throws {
        let state = try live()
        amqp_maybe_release_buffers(state)
        var envelope = amqp_envelope_t()
        var wait = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        let reply = amqp_consume_message(state, &envelope, &wait, 0)
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            defer { amqp_destroy_envelope(&envelope) }
            let body = envelope.message.body
            buffered.append(AMQPDelivery(
                body: body.len == 0 ? [] : Array(UnsafeRawBufferPointer(start: body.bytes, count: body.len)),
                deliveryTag: envelope.delivery_tag,
                redelivered: envelope.redelivered != 0,
                exchange: string(envelope.exchange),
                routingKey: string(envelope.routing_key),
                generation: generation,
                deliveryCount: deliveryCount(envelope.message.properties)))
        case AMQP_RESPONSE_LIBRARY_EXCEPTION where reply.library_error == AMQP_STATUS_TIMEOUT.rawValue:
            return
        case AMQP_RESPONSE_LIBRARY_EXCEPTION where reply.library_error == AMQP_STATUS_UNEXPECTED_STATE.rawValue:
            try readMethodFrame(state)
        default:
            throw failure(reply, "receive")
        }
    }

    /// Handles a non-delivery frame: confirms, returns, or the broker closing us.
    private func readMethodFrame(_ state: amqp_connection_state_t) throws {
        var frame = amqp_frame_t()
        let status = amqp_simple_wait_frame(state, &frame)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(context: "receive", reason: String(cString: amqp_error_string2(status)), connectionLost: true)
        }
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else { return }
        let method = frame.payload.method
        switch method.id {
        case EAST_AMQP_BASIC_ACK_METHOD:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            confirm(through: ack.delivery_tag, multiple: ack.multiple != 0, nack: false)
        case EAST_AMQP_BASIC_NACK_METHOD:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            confirm(through: nack.delivery_tag, multiple: nack.multiple != 0, nack: true)
        case EAST_AMQP_BASIC_RETURN_METHOD:
            // We never publish with `mandatory`, so a return means nothing to us;
            // its content frames are read and dropped.
            var message = amqp_message_t()
            _ = amqp_read_message(state, channel, &message, 0)
            amqp_destroy_message(&message)
        case EAST_AMQP_CHANNEL_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            var ok = amqp_channel_close_ok_t(dummy: 0)
            _ = amqp_send_method(state, channel, EAST_AMQP_CHANNEL_CLOSE_OK_METHOD, &ok)
            throw AMQPError(context: "channel", reason: "closed by the broker: \(close.reply_code) \(string(close.reply_text))", connectionLost: true)
        case EAST_AMQP_CONNECTION_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            var ok = amqp_connection_close_ok_t(dummy: 0)
            _ = amqp_send_method(state, 0, EAST_AMQP_CONNECTION_CLOSE_OK_METHOD, &ok)
            throw AMQPError(context: "connection", reason: "closed by the broker: \(close.reply_code) \(string(close.reply_text))", connectionLost: true)
        default:
            return
        }
    }

    private func confirm(through tag: UInt64, multiple: Bool, nack: Bool) {
        let settled = multiple ? unconfirmed.filter { $0 <= tag } : [tag]
        for t in settled {
            unconfirmed.remove(t)
            if nack { nacked.insert(t) }
        }
    }

    // MARK: Helpers

    private func live() throws -> amqp_connection_state_t {
        guard let state else { throw AMQPError(context: "connection", reason: "closed", connectionLost: true) }
        return state
    }

    private func check(_ reply: amqp_rpc_reply_t, _ context: String) throws {
        guard reply.reply_type != AMQP_RESPONSE_NORMAL else { return }
        throw failure(reply, context)
    }

    private func failure(_ reply: amqp_rpc_reply_t, _ context: String) -> AMQPError {
        switch reply.reply_type {
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            return AMQPError(context: context, reason: String(cString: amqp_error_string2(reply.library_error)), connectionLost: true)
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == EAST_AMQP_CHANNEL_CLOSE_METHOD {
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                return AMQPError(context: context, reason: "\(close.reply_code) \(string(close.reply_text))", connectionLost: true)
            }
            if reply.reply.id == EAST_AMQP_CONNECTION_CLOSE_METHOD {
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                return AMQPError(context: context, reason: "\(close.reply_code) \(string(close.reply_text))", connectionLost: true)
            }
            return AMQPError(context: context, reason: "server error (method \(reply.reply.id))", connectionLost: true)
        default:
            return AMQPError(context: context, reason: "no reply", connectionLost: true)
        }
    }

    /// The integer header `x-delivery-count`, 0 when absent.
    private func deliveryCount(_ properties: amqp_basic_properties_t) -> Int {
        guard properties._flags & amqp_flags_t(AMQP_BASIC_HEADERS_FLAG) != 0, let entries = properties.headers.entries else { return 0 }
        for entry in UnsafeBufferPointer(start: entries, count: Int(properties.headers.num_entries))
        where string(entry.key) == "x-delivery-count" {
            let value = entry.value
            switch Int(value.kind) {
            case Int(AMQP_FIELD_KIND_I64.rawValue): return Int(value.value.i64)
            case Int(AMQP_FIELD_KIND_U64.rawValue): return Int(value.value.u64)
            case Int(AMQP_FIELD_KIND_I32.rawValue): return Int(value.value.i32)
            case Int(AMQP_FIELD_KIND_U32.rawValue): return Int(value.value.u32)
            case Int(AMQP_FIELD_KIND_I16.rawValue): return Int(value.value.i16)
            case Int(AMQP_FIELD_KIND_U16.rawValue): return Int(value.value.u16)
            case Int(AMQP_FIELD_KIND_I8.rawValue): return Int(value.value.i8)
            case Int(AMQP_FIELD_KIND_U8.rawValue): return Int(value.value.u8)
            default: return 0
            }
        }
        return 0
    }

    private func string(_ bytes: amqp_bytes_t) -> String {
        guard bytes.len > 0, let base = bytes.bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: base, count: bytes.len), as: UTF8.self)
    }
}

/// Lends a Swift string to C as `amqp_bytes_t` for the duration of `body`
/// (`amqp_cstring_bytes` on a Swift string would keep a dangling pointer).
func withBytes<T>(_ s: String, _ body: (amqp_bytes_t) throws -> T) rethrows -> T {
    var s = s
    return try s.withUTF8 { buffer in
        try body(amqp_bytes_t(len: buffer.count, bytes: UnsafeMutableRawPointer(mutating: buffer.baseAddress)))
    }
}

/// Builds an `amqp_table_t` for the duration of `body`. Keys and strings are
/// copied into C memory and freed afterwards.
func withTable<T>(_ entries: [(String, AMQPFieldValue)], _ body: (amqp_table_t) throws -> T) rethrows -> T {
    guard !entries.isEmpty else { return try body(amqp_empty_table) }
    var owned: [amqp_bytes_t] = []
    defer { owned.forEach { amqp_bytes_free($0) } }
    func copy(_ s: String) -> amqp_bytes_t {
        let b = withBytes(s) { amqp_bytes_malloc_dup($0) }
        owned.append(b)
        return b
    }
    var table = entries.map { key, value -> amqp_table_entry_t in
        var entry = amqp_table_entry_t()
        entry.key = copy(key)
        switch value {
        case let .string(s):
            entry.value.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
            entry.value.value.bytes = copy(s)
        case let .int(i):
            entry.value.kind = UInt8(AMQP_FIELD_KIND_I64.rawValue)
            entry.value.value.i64 = i
        case let .bool(b):
            entry.value.kind = UInt8(AMQP_FIELD_KIND_BOOLEAN.rawValue)
            entry.value.value.boolean = b ? 1 : 0
        }
        return entry
    }
    return try table.withUnsafeMutableBufferPointer { buffer in
        try body(amqp_table_t(num_entries: Int32(buffer.count), entries: buffer.baseAddress))
    }
}
