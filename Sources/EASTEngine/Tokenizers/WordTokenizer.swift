import EASTCore
import Foundation

/// A word-and-digit tokenizer for the tiny embedded model.
///
/// Text splits into pieces: a run of letters, a single digit, or a single
/// other character, each optionally carrying the one space before it (like
/// GPT-2's "Ġ"). "Mia has 12." → ["Mia", " has", " 1", "2", "."]. Digits are
/// single tokens so arithmetic is learnable digit by digit; words are whole
/// tokens so a question is ~50 tokens instead of ~200 characters. The
/// vocabulary is the pieces of a corpus (plus every digit and the
/// specials); a piece outside it becomes <unk>.
public struct WordTokenizer: Tokenizer, Equatable {
    public static let specials = ["<pad>", "<bos>", "<eos>", "<unk>"]
    public let padId = 0
    public let bosId = 1
    public let eosId = 2
    public let unkId = 3
    /// Piece i has id 4 + i.
    public let pieces: [String]
    private let idByPiece: [String: Int]

    /// The vocabulary of `corpus`, in order of first appearance (deterministic).
    public init(corpus: [String]) {
        var seen = Set<String>()
        var vocabulary: [String] = []
        func add(_ piece: String) { if seen.insert(piece).inserted { vocabulary.append(piece) } }
        for d in 0...9 { add("\(d)"); add(" \(d)") }
        add(" ")
        add("\n")
        for text in corpus { for piece in Self.split(text) { add(piece) } }
        self.init(pieces: vocabulary)
    }

    public init(pieces: [String]) {
        self.pieces = pieces
        var ids: [String: Int] = [:]
        for (i, p) in pieces.enumerated() { ids[p] = Self.specials.count + i }
        idByPiece = ids
    }

    public var vocabSize: Int { Self.specials.count + pieces.count }

    /// The pieces of `text`; joining them gives `text` back.
    public static func split(_ text: String) -> [String] {
        var out: [String] = []
        let scalars = Array(text.unicodeScalars)
        var i = 0
        while i < scalars.count {
            var piece = String.UnicodeScalarView()
            if scalars[i] == " ", i + 1 < scalars.count, scalars[i + 1] != " " {
                piece.append(" ")
                i += 1
            }
            let first = scalars[i]
            piece.append(first)
            i += 1
            if first.properties.isAlphabetic {
                while i < scalars.count, scalars[i].properties.isAlphabetic {
                    piece.append(scalars[i])
                    i += 1
                }
            }
            out.append(String(piece))
        }
        return out
    }

    public func encode(_ text: String) -> [Int] {
        Self.split(text).map { idByPiece[$0] ?? unkId }
    }

    public func decode(_ ids: [Int]) -> String {
        var out = ""
        for id in ids {
            if id == unkId { out += "?" } else if id >= Self.specials.count && id < vocabSize { out += pieces[id - Self.specials.count] }
        }
        return out
    }

    public func tokenText(_ id: Int) -> String {
        if id >= 0 && id < Self.specials.count { return Self.specials[id] }
        if id >= Self.specials.count && id < vocabSize { return pieces[id - Self.specials.count] }
        return "<\(id)?>"
    }

    // tokenizer.json: {"type": "word", "specials": [...], "pieces": [...]}
    public func save(to url: URL) throws {
        struct File: Encodable { var type = "word", specials: [String], pieces: [String] }
        let json = File(specials: Self.specials, pieces: pieces)
        try AtomicFile.write(try JSONCoding.encode(json, pretty: true), to: url)
    }

    init(json: JSON, file: URL) throws {
        guard let list = json["pieces"]?.arrayValue else {
            throw CheckpointError(file: file, message: "word tokenizer without a \"pieces\" list")
        }
        let pieces = try list.map { item -> String in
            guard let s = item.stringValue, !s.isEmpty else { throw CheckpointError(file: file, message: "pieces must be non-empty strings") }
            return s
        }
        guard Set(pieces).count == pieces.count else { throw CheckpointError(file: file, message: "pieces must be distinct") }
        self.init(pieces: pieces)
    }

    public static func == (a: WordTokenizer, b: WordTokenizer) -> Bool { a.pieces == b.pieces }
}
