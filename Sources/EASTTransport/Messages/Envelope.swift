import EASTCore
import Foundation

/// Every message on the queues is one JSON object:
/// `{"schema": 1, "type": "sample_job", "run": "run-id", "body": {...}}`.
///
/// The schema version lets a worker refuse messages from an incompatible
/// build instead of misreading them; the run id names the run whose spec
/// (in Redis) the worker applies. A message that cannot be decoded is a
/// `MessageError`, and workers dead-letter it (never requeue it forever).
public struct Envelope<Body: Codable & Sendable>: Codable, Sendable {
    public static var schemaVersion: Int { 1 }

    public var schema: Int
    public var type: String
    public var run: String
    public var body: Body

    public init(type: String, run: String, body: Body) {
        (schema, self.type, self.run, self.body) = (Self.schemaVersion, type, run, body)
    }

    public var bytes: [UInt8] {
        // Encoding our own Codable types cannot fail.
        Array(try! JSONCoding.encode(self))
    }

    /// Decodes and checks the schema version and the type before the body,
    /// so a message of another kind is named as such, not as a missing field.
    public init(bytes: [UInt8], expecting expected: String) throws(MessageError) {
        let header = try Self.header(bytes)
        guard header.type == expected else { throw MessageError("expected a \(expected) message, got \(header.type)") }
        do {
            self = try JSONCoding.decode(Envelope.self, from: Data(bytes), what: "\(expected) message")
        } catch {
            throw MessageError(error.reason, run: header.run)
        }
    }

    /// The schema, type and run of a message, whatever its body.
    public static func header(_ bytes: [UInt8]) throws(MessageError) -> (type: String, run: String) {
        let header: EnvelopeHeader
        do {
            header = try JSONCoding.decode(EnvelopeHeader.self, from: Data(bytes), what: "message")
        } catch {
            throw MessageError(error.reason)
        }
        guard header.schema == schemaVersion else { throw MessageError("schema \(header.schema) is not the supported \(schemaVersion)") }
        return (header.type, header.run)
    }
}

/// What every envelope holds whatever its body.
struct EnvelopeHeader: Decodable {
    var schema: Int
    var type: String
    var run: String
}

public struct MessageError: Error, CustomStringConvertible, Sendable {
    public let reason: String
    /// The run the message belongs to, when its envelope could be read.
    public let run: String?
    public init(_ reason: String, run: String? = nil) {
        self.reason = reason
        self.run = run
    }
    public var description: String { "bad message: \(reason)" }
}
