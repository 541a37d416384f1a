import EASTCore

/// Every message on the queues is one JSON object:
/// `{"schema": 1, "type": "sample_job", "run": "run-id", "body": {...}}`.
///
/// The schema version lets a worker refuse messages from an incompatible
/// build instead of misreading them; the run id lets workers ignore messages
/// of a run that was stopped or replaced. A message that cannot be decoded is
/// a `MessageError`, and workers dead-letter it (never requeue it forever).
public struct Envelope: Equatable, Sendable {
    public static let schemaVersion = 1

    public var type: String
    public var run: String
    public var body: JSON

    public init(type: String, run: String, body: JSON) {
        self.type = type
        self.run = run
        self.body = body
    }

    public var bytes: [UInt8] {
        Array(JSON.object([
            ("schema", .number(Double(Self.schemaVersion))), ("type", .string(type)),
            ("run", .string(run)), ("body", body),
        ]).text.utf8)
    }

    /// Decodes and checks the schema version and, when given, the type.
    public init(bytes: [UInt8], expecting expected: String? = nil) throws(MessageError) {
        let text = String(decoding: bytes, as: UTF8.self)
        let json: JSON
        do { json = try JSON.parse(text) } catch { throw MessageError("not JSON (\(error))") }
        guard let schema = json["schema"]?.intValue else { throw MessageError("missing \"schema\"") }
        guard schema == Self.schemaVersion else {
            throw MessageError("schema \(schema) is not the supported \(Self.schemaVersion)")
        }
        guard let type = json["type"]?.stringValue, let run = json["run"]?.stringValue, let body = json["body"] else {
            throw MessageError("missing \"type\", \"run\" or \"body\"")
        }
        if let expected, type != expected { throw MessageError("expected a \(expected) message, got \(type)") }
        self.init(type: type, run: run, body: body)
    }
}

public struct MessageError: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "bad message: \(reason)" }
}

/// Typed access to a message body's fields, with errors naming the field.
public struct MessageFields {
    public let json: JSON
    public init(_ json: JSON) { self.json = json }

    public func string(_ key: String) throws(MessageError) -> String {
        guard let s = json[key]?.stringValue else { throw MessageError("field \"\(key)\" must be a string") }
        return s
    }

    public func int(_ key: String) throws(MessageError) -> Int {
        guard let i = json[key]?.intValue else { throw MessageError("field \"\(key)\" must be an integer") }
        return i
    }

    public func double(_ key: String) throws(MessageError) -> Double {
        guard let x = json[key]?.numberValue else { throw MessageError("field \"\(key)\" must be a number") }
        return x
    }

    public func array(_ key: String) throws(MessageError) -> [JSON] {
        guard let a = json[key]?.arrayValue else { throw MessageError("field \"\(key)\" must be an array") }
        return a
    }

    public func strings(_ key: String) throws(MessageError) -> [String] {
        try array(key).map { (item: JSON) throws(MessageError) -> String in
            guard let s = item.stringValue else { throw MessageError("field \"\(key)\" must hold strings") }
            return s
        }
    }
}
