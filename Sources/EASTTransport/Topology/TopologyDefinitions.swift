import EASTCore

/// The topology as a RabbitMQ definitions file (the format of
/// `rabbitmqctl export_definitions` and the `load_definitions` setting).
extension Topology {
    /// The file's form: queues, exchanges and bindings, each with its vhost.
    public struct Definitions: Encodable, Sendable {
        struct Queue: Encodable {
            var name: String, vhost: String, durable = true, autoDelete = false, arguments: [String: AMQPFieldValue]
            enum CodingKeys: String, CodingKey { case name, vhost, durable, autoDelete = "auto_delete", arguments }
        }
        struct Exchange: Encodable {
            var name: String, vhost: String, type: String, durable = true, autoDelete = false, `internal` = false
            var arguments: [String: AMQPFieldValue] = [:]
            enum CodingKeys: String, CodingKey { case name, vhost, type, durable, autoDelete = "auto_delete", `internal`, arguments }
        }
        struct Binding: Encodable {
            var source: String, vhost: String, destination: String, destinationType = "queue", routingKey: String
            var arguments: [String: AMQPFieldValue] = [:]
            enum CodingKeys: String, CodingKey {
                case source, vhost, destination, destinationType = "destination_type", routingKey = "routing_key", arguments
            }
        }
        struct VirtualHost: Encodable { var name: String }
        /// The vhost to create first (none for the default "/").
        var vhosts: [VirtualHost]?
        var queues: [Queue]
        var exchanges: [Exchange]
        var bindings: [Binding]

        /// The file's text (indented, keys sorted).
        public var text: String { ((try? JSONCoding.string(self, pretty: true)) ?? "{}") + "\n" }
    }

    /// On `vhost`: "/" for scripts/servers.sh's broker (topology/definitions.json),
    /// "east" for compose's (docker/rabbitmq/topology.json, which creates it).
    public func definitions(vhost: String = "/") -> Definitions {
        Definitions(
            vhosts: vhost == "/" ? nil : [.init(name: vhost)],
            queues: queues.map { q in
                .init(name: q.name, vhost: vhost, arguments: Dictionary(q.arguments, uniquingKeysWith: { $1 }))
            },
            exchanges: exchanges.map { .init(name: $0.name, vhost: vhost, type: $0.type) },
            bindings: bindings.map { .init(source: $0.exchange, vhost: vhost, destination: $0.queue, routingKey: $0.routingKey) })
    }

    public struct DefinitionsError: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { "topology definitions: \(reason)" }
    }

    /// Reads a definitions file back (queues, exchanges, bindings; other keys ignored).
    public init(definitions: JSON) throws {
        func string(_ j: JSON?, _ what: String) throws -> String {
            guard let s = j?.stringValue else { throw DefinitionsError(reason: "\(what) must be a string") }
            return s
        }
        func field(_ j: JSON) throws -> AMQPFieldValue {
            switch j {
            case let .string(s): return .string(s)
            case let .bool(b): return .bool(b)
            default:
                if let i = j.intValue { return .int(Int64(i)) }
                throw DefinitionsError(reason: "unsupported argument value (strings, booleans and integers only)")
            }
        }
        exchanges = try (definitions["exchanges"]?.arrayValue ?? []).map {
            Exchange(name: try string($0["name"], "exchange name"), type: try string($0["type"], "exchange type"))
        }
        queues = try (definitions["queues"]?.arrayValue ?? []).map { q in
            guard case let .object(pairs) = q["arguments"] ?? .object([]) else { throw DefinitionsError(reason: "queue arguments must be an object") }
            return Queue(name: try string(q["name"], "queue name"), arguments: try pairs.map { ($0.0, try field($0.1)) })
        }
        bindings = try (definitions["bindings"]?.arrayValue ?? []).map { b in
            guard b["destination_type"]?.stringValue == "queue" else { throw DefinitionsError(reason: "only queue bindings are supported") }
            return Binding(exchange: try string(b["source"], "binding source"), queue: try string(b["destination"], "binding destination"),
                           routingKey: try string(b["routing_key"], "routing key"))
        }
    }
}
