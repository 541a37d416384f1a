import Foundation

/// Foundation's JSON coders with the project's settings, and decoding errors
/// that name the place (`what`) and the field path instead of Foundation's
/// debug text. Records, messages and specs all go through here.
public enum JSONCoding {
    public struct DecodeError: Error, CustomStringConvertible, Sendable {
        public let what: String
        public let reason: String
        public init(what: String, reason: String) {
            (self.what, self.reason) = (what, reason)
        }
        public var description: String { "\(what): \(reason)" }
    }

    /// Compact, keys sorted: the same value always gives the same bytes.
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    public static func string<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, what: String) throws(DecodeError) -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw DecodeError(what: what, reason: describe(error))
        } catch {
            throw DecodeError(what: what, reason: "not JSON (\(error.localizedDescription))")
        }
    }

    public static func decode<T: Decodable>(_ type: T.Type, from text: String, what: String) throws(DecodeError) -> T {
        try decode(type, from: Data(text.utf8), what: what)
    }

    /// "field \"a.b\" is missing" and the like.
    public static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case let .keyNotFound(key, context):
            return "field \"\(path(context.codingPath + [key]))\" is missing"
        case let .typeMismatch(type, context):
            return "field \"\(path(context.codingPath))\" must be \(describe(type))"
        case let .valueNotFound(type, context):
            return "field \"\(path(context.codingPath))\" must be \(describe(type)), got null"
        case let .dataCorrupted(context):
            if context.codingPath.isEmpty { return "not JSON (\(context.debugDescription))" }
            return "field \"\(path(context.codingPath))\": \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is UInt64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is Bool.Type: return "true or false"
        default:
            let name = String(describing: type)
            return name.hasPrefix("Array") ? "an array" : name.hasPrefix("Dictionary") ? "an object" : "a \(name)"
        }
    }
}
