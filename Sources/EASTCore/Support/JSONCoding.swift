import Foundation

/// The one way east writes JSON, and reads back what it wrote: Foundation's
/// coders with one configuration (keys sorted, so the same value always gives
/// the same bytes; dates in ISO 8601), and decoding errors that name the place
/// (`what`) and the field path instead of Foundation's debug text. Results,
/// run records, iteration reports, messages, specs and what workers keep in
/// Redis all go through here, as `Codable` types whose multi-word keys are
/// snake_case (`dominant_incorrect`, `learning_rate`), spelled out in each
/// type's `CodingKeys`. A field east wrote is never optional on the way back
/// unless it is optional in the type: a missing field is an error, not 0.
///
/// (`JSON` is the reader of other people's formats: datasets, tokenizer.json,
/// config.json.)
public enum JSONCoding {
    public struct DecodeError: Error, CustomStringConvertible, Sendable {
        public let what: String
        public let reason: String
        public init(what: String, reason: String) {
            (self.what, self.reason) = (what, reason)
        }
        public var description: String { "\(what): \(reason)" }
    }

    static func encoder(pretty: Bool) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    /// Compact (one line) or, for files people read, indented.
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = false) throws -> Data {
        try encoder(pretty: pretty).encode(value)
    }

    public static func string<T: Encodable>(_ value: T, pretty: Bool = false) throws -> String {
        String(decoding: try encode(value, pretty: pretty), as: UTF8.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, what: String) throws(DecodeError) -> T {
        do {
            return try decoder().decode(type, from: data)
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
        case let .typeMismatch(type, context) where context.codingPath.isEmpty:
            return "the top level must be \(describe(type))"
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
            // (YAML's decoder names its mappings and sequences itself.)
            return name.hasPrefix("Array") || name == "Sequence" ? "an array"
                : name.hasPrefix("Dictionary") || name == "Mapping" ? "an object (keys and values)" : "a \(name)"
        }
    }
}

/// Any key of an object, to list the keys a decoder was given.
public struct AnyCodingKey: CodingKey, Sendable {
    public let stringValue: String
    public let intValue: Int?
    public init(stringValue: String) { (self.stringValue, intValue) = (stringValue, nil) }
    public init(intValue: Int) { (stringValue, self.intValue) = (String(intValue), intValue) }
}

extension Decoder {
    /// Refuses an object holding a key that is not one of `Key`'s: a
    /// misspelled setting (`learning_rat: 0.5`) would otherwise be ignored and
    /// the run would go on at the default. Names the key and the closest
    /// known one.
    public func refuseUnknownKeys<Key: CodingKey & CaseIterable>(_ keys: Key.Type) throws {
        try refuseUnknownKeys(Key.allCases.map(\.stringValue))
    }

    /// The same, for an object whose keys are `known`.
    public func refuseUnknownKeys(_ known: [String]) throws {
        let container = try self.container(keyedBy: AnyCodingKey.self)
        for key in container.allKeys where !known.contains(key.stringValue) {
            var reason = "unknown key \"\(key.stringValue)\""
            if let close = closestMatch(to: key.stringValue, among: known) { reason += " (did you mean \"\(close)\"?)" }
            reason += "; known keys: " + known.joined(separator: ", ")
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath + [key], debugDescription: reason))
        }
    }
}

/// The candidate nearest to `word` by edit distance, when it is near enough
/// to be a likely misspelling (at most a third of the word's letters differ).
public func closestMatch(to word: String, among candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in 1...max(1, b.count) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : b.isEmpty ? a.count : previous[b.count]
    }
    let letters = Array(word.lowercased())
    let scored = candidates.map { (candidate: $0, distance: distance(letters, Array($0.lowercased()))) }
    guard let best = scored.min(by: { $0.distance < $1.distance }) else { return nil }
    return best.distance <= max(1, letters.count / 3) ? best.candidate : nil
}

extension JSONCoding {
    /// The fields in which two encoded values differ, as `path (a, b)` with
    /// nested keys joined by dots (`base.learning_rate (0.0001, 0.5)`): what a
    /// resumed run or a changed experiment names when it refuses to go on.
    public static func differences(_ a: Data, _ b: Data) -> [String] {
        func flat(_ data: Data) -> [String: String] {
            guard let value = try? JSON.parse(String(decoding: data, as: UTF8.self)) else { return [:] }
            var out: [String: String] = [:]
            func walk(_ value: JSON, _ name: String) {
                if case let .object(pairs) = value, !pairs.isEmpty {
                    for (key, member) in pairs { walk(member, name.isEmpty ? key : "\(name).\(key)") }
                } else {
                    out[name] = value.text
                }
            }
            walk(value, "")
            return out
        }
        let (mine, theirs) = (flat(a), flat(b))
        return Set(mine.keys).union(theirs.keys).sorted().compactMap { key in
            mine[key] == theirs[key] ? nil : "\(key) (\(mine[key] ?? "unset"), \(theirs[key] ?? "unset"))"
        }
    }
}
