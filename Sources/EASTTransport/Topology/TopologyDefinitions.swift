import EASTCore

/// The topology as a RabbitMQ definitions file (the format of
/// `rabbitmqctl export_definitions` and the `load_definitions` setting).
extension Topology {
    public func definitions(vhost: String = "/") -> JSON {
        func value(_ v: AMQPFieldValue) -> JSON {
            switch v {
            case let .string(s): return .string(s)
            case let .int(i): return .number(Double(i))
            case let .bool(b): return .bool(b)
            }
        }
        return .object([
            ("queues", .array(queues.map { q in
                .object([
                    ("name", .string(q.name)), ("vhost", .string(vhost)), ("durable", true), ("auto_delete", false),
                    ("arguments", .object(q.arguments.map { ($0.0, value($0.1)) })),
                ])
            })),
            ("exchanges", .array(exchanges.map { e in
                .object([
                    ("name", .string(e.name)), ("vhost", .string(vhost)), ("type", .string(e.type)),
                    ("durable", true), ("auto_delete", false), ("internal", false), ("arguments", .object([])),
                ])
            })),
            ("bindings", .array(bindings.map { b in
                .object([
                    ("source", .string(b.exchange)), ("vhost", .string(vhost)), ("destination", .string(b.queue)),
                    ("destination_type", "queue"), ("routing_key", .string(b.routingKey)), ("arguments", .object([])),
                ])
            })),
        ])
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
                throw DefinitionsError(reason: "unsupported argument value \(j.text)")
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
