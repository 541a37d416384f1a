import EASTCore
import Foundation

/// One token per Unicode scalar, after four special tokens:
/// 0 <pad>, 1 <bos>, 2 <eos>, 3 <unk> (any character not in the alphabet).
/// Enough for tiny test and demo models; saved as a small `tokenizer.json`.
public struct CharacterTokenizer: Tokenizer, Codable, Equatable {
    public static let specials = ["<pad>", "<bos>", "<eos>", "<unk>"]
    public let padId = 0
    public let bosId = 1
    public let eosId = 2
    public let unkId = 3
    /// The alphabet; character i has id 4 + i.
    public let characters: [String]
    private let idByScalar: [Unicode.Scalar: Int]

    public init(characters: [Character]) {
        var seen = Set<Unicode.Scalar>()
        var alphabet: [String] = []
        for c in characters {
            for s in c.unicodeScalars where seen.insert(s).inserted { alphabet.append(String(s)) }
        }
        self.init(alphabet: alphabet)
    }

    /// All characters of `text`, in order of first appearance.
    public init(covering text: String) { self.init(characters: Array(text)) }

    private init(alphabet: [String]) {
        characters = alphabet
        var ids: [Unicode.Scalar: Int] = [:]
        for (i, s) in alphabet.enumerated() { ids[s.unicodeScalars.first!] = Self.specials.count + i }
        idByScalar = ids
    }

    public var vocabSize: Int { Self.specials.count + characters.count }

    public func encode(_ text: String) -> [Int] {
        text.unicodeScalars.map { idByScalar[$0] ?? unkId }
    }

    public func decode(_ ids: [Int]) -> String {
        var out = ""
        for id in ids where id >= Self.specials.count && id < vocabSize {
            out += characters[id - Self.specials.count]
        }
        return out
    }

    public func tokenText(_ id: Int) -> String {
        if id >= 0 && id < Self.specials.count { return Self.specials[id] }
        if id >= Self.specials.count && id < vocabSize { return characters[id - Self.specials.count] }
        return "<\(id)?>"
    }

    // tokenizer.json: {"type": "character", "specials": [...], "characters": [...]}
    private enum CodingKeys: String, CodingKey { case type, specials, characters }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decode(String.self, forKey: .type)
        guard type == "character" else {
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "unknown tokenizer type \(type)")
        }
        let alphabet = try c.decode([String].self, forKey: .characters)
        guard alphabet.allSatisfy({ $0.unicodeScalars.count == 1 }), Set(alphabet).count == alphabet.count else {
            throw DecodingError.dataCorruptedError(forKey: .characters, in: c,
                                                   debugDescription: "characters must be distinct single scalars")
        }
        self.init(alphabet: alphabet)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("character", forKey: .type)
        try c.encode(Self.specials, forKey: .specials)
        try c.encode(characters, forKey: .characters)
    }

    public func save(to url: URL) throws {
        try AtomicFile.write(try JSONCoding.encode(self, pretty: true), to: url)
    }

    public static func load(from url: URL) throws -> CharacterTokenizer {
        let data = try CheckpointError.reading(url)
        do {
            return try JSONCoding.decode(CharacterTokenizer.self, from: data, what: url.path)
        } catch {
            throw CheckpointError(file: url, message: "not a character tokenizer: \(error)")
        }
    }

    public static func == (a: CharacterTokenizer, b: CharacterTokenizer) -> Bool { a.characters == b.characters }
}
