import EASTCore
import HeapModule
import Foundation

/// GPT-2-style byte-level BPE, as SmolLM2 uses, built from a GGUF file's
/// `tokenizer.ggml.*` metadata (or from the tokenizer.json it saves).
///
/// Encoding `text`:
///   1. cut out special tokens (<|im_start|>, <|im_end|>, ...) where they occur
///      whole in the text; each is one id;
///   2. split the rest into pieces (`ByteLevelPreTokenizer`);
///   3. write each piece's UTF-8 bytes as printable characters (GPT-2's
///      byte-to-unicode table: a space becomes "Ġ", a newline "Ċ"), start from
///      one character per symbol, and repeatedly merge the adjacent pair with
///      the lowest rank in the merge list until no pair has a rank;
///   4. each resulting symbol is a token.
/// Decoding joins the tokens' characters, maps them back to bytes and reads UTF-8.
public struct ByteLevelBPETokenizer: Tokenizer, Equatable {
    /// GGUF token types (llama.cpp's `llama_token_type`).
    public enum TokenType: Int, Sendable {
        case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// Token strings in byte-level characters ("Ġthe"); index = id.
    public let tokens: [String]
    public let tokenTypes: [Int]
    /// "left right" pairs, best (earliest merged) first.
    public let merges: [String]
    public let bosId: Int
    public let eosId: Int
    public let padId: Int
    public let unknownId: Int
    /// The GGUF's `tokenizer.ggml.pre` name ("smollm", "gpt2", ...).
    public let preName: String
    public let preTokenizer: ByteLevelPreTokenizer

    private let idByToken: [String: Int]
    private let rankByPair: [String: Int]
    /// Control and user-defined tokens, matched whole in text; longest first so
    /// that one special that begins another does not win.
    private let specialTokens: [(text: [Unicode.Scalar], id: Int)]

    public static func == (a: Self, b: Self) -> Bool {
        a.tokens == b.tokens && a.tokenTypes == b.tokenTypes && a.merges == b.merges && a.bosId == b.bosId
            && a.eosId == b.eosId && a.padId == b.padId && a.unknownId == b.unknownId && a.preName == b.preName
    }

    /// Pre-tokenizer names we implement: GPT-2's split, "smollm" (digits
    /// first), Llama 3's "llama-bpe" and Qwen2's "qwen2" (see `ByteLevelPreTokenizer`).
    public static let knownPreTokenizers = ["gpt2", "default", "smollm", "llama-bpe", "qwen2"]

    public init(tokens: [String], tokenTypes: [Int], merges: [String], bosId: Int, eosId: Int, padId: Int,
                unknownId: Int = 0, preName: String) {
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.bosId = bosId
        self.eosId = eosId
        self.padId = padId
        self.unknownId = unknownId
        self.preName = preName
        preTokenizer = ByteLevelPreTokenizer(preName: preName)
        var ids: [String: Int] = [:]
        for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = i }
        idByToken = ids
        var ranks: [String: Int] = [:]
        for (i, m) in merges.enumerated() where ranks[m] == nil { ranks[m] = i }
        rankByPair = ranks
        var specials: [(text: [Unicode.Scalar], id: Int)] = []
        for (i, t) in tokens.enumerated() where i < tokenTypes.count && !t.isEmpty {  // an empty special matches nothing
            if tokenTypes[i] == TokenType.control.rawValue || tokenTypes[i] == TokenType.userDefined.rawValue {
                specials.append((Array(t.unicodeScalars), i))
            }
        }
        specials.sort { $0.text.count > $1.text.count }
        specialTokens = specials
    }

    /// The tokenizer of a GGUF file; nil when it has no token list. Throws for
    /// a tokenizer model other than "gpt2" (byte-level BPE) or an unknown pre-tokenizer.
    public init?(gguf file: GGUFFile) throws {
        let meta = file.metadata
        guard let tokenList = meta["tokenizer.ggml.tokens"]?.arrayValue else { return nil }
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: file.url, message: message) }
        guard tokenList.count <= ModelConfig.maxVocabulary else {
            throw fail("tokenizer.ggml.tokens holds \(tokenList.count) tokens, beyond the engine's bound \(ModelConfig.maxVocabulary)")
        }
        let model = meta["tokenizer.ggml.model"]?.stringValue ?? "(none)"
        guard model == "gpt2" else { throw fail("tokenizer.ggml.model \"\(model)\" is not supported (only gpt2, byte-level BPE)") }
        let pre = meta["tokenizer.ggml.pre"]?.stringValue ?? "default"
        guard Self.knownPreTokenizers.contains(pre) else {
            throw fail("pre-tokenizer \"\(pre)\" is not supported (known: \(Self.knownPreTokenizers.joined(separator: ", ")))")
        }
        let tokens = try tokenList.map { v in
            guard let s = v.stringValue else { throw fail("tokenizer.ggml.tokens holds a non-string") }
            return s
        }
        let types = meta["tokenizer.ggml.token_type"]?.arrayValue?.map { $0.intValue ?? 1 }
            ?? [Int](repeating: TokenType.normal.rawValue, count: tokens.count)
        guard types.count == tokens.count else {
            throw fail("tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
        }
        let merges = meta["tokenizer.ggml.merges"]?.arrayValue?.compactMap(\.stringValue) ?? []
        func id(_ key: String, _ fallback: Int) throws -> Int {
            let v = meta["tokenizer.ggml." + key]?.intValue ?? fallback
            guard v >= 0 && v < tokens.count else { throw fail("tokenizer.ggml.\(key) \(v) is not a token id") }
            return v
        }
        let eos = try id("eos_token_id", 0)
        self.init(tokens: tokens, tokenTypes: types, merges: merges, bosId: try id("bos_token_id", eos), eosId: eos,
                  padId: try id("padding_token_id", eos), unknownId: try id("unknown_token_id", 0), preName: pre)
    }

    public var vocabSize: Int { tokens.count }

    /// The id of a token given in byte-level characters, e.g. "<|im_end|>" or "Ġthe".
    public func id(of token: String) -> Int? { idByToken[token] }

    public func isControl(_ id: Int) -> Bool {
        id >= 0 && id < tokenTypes.count && tokenTypes[id] == TokenType.control.rawValue
    }

    // MARK: encoding

    /// Qwen2's tokenizer.json normalizes to NFC before splitting ("é" typed as e + U+0301 is one character).
    var normalizesNFC: Bool { preName == "qwen2" }
    /// Llama 3's tokenizer.json sets `ignore_merges`: a piece that is a token as a whole is that token.
    var ignoresMerges: Bool { preName == "llama-bpe" }

    public func encode(_ text: String) -> [Int] {
        let s = Array((normalizesNFC ? text.precomposedStringWithCanonicalMapping : text).unicodeScalars)
        var ids: [Int] = []
        var start = 0  // start of the ordinary text not yet encoded
        var i = 0
        while i < s.count {
            if let special = specialToken(at: i, in: s) {
                encodeOrdinary(s[start..<i], into: &ids)
                ids.append(special.id)
                i += special.length
                start = i
            } else {
                i += 1
            }
        }
        encodeOrdinary(s[start..<s.count], into: &ids)
        return ids
    }

    private func specialToken(at i: Int, in s: [Unicode.Scalar]) -> (id: Int, length: Int)? {
        for special in specialTokens where special.text.count <= s.count - i && s[i] == special.text[0] {
            var matches = true
            for k in 1..<special.text.count where s[i + k] != special.text[k] {
                matches = false
                break
            }
            if matches { return (special.id, special.text.count) }
        }
        return nil
    }

    private func encodeOrdinary(_ scalars: ArraySlice<Unicode.Scalar>, into ids: inout [Int]) {
        if scalars.isEmpty { return }
        var text = String.UnicodeScalarView()
        text.append(contentsOf: scalars)
        for piece in preTokenizer.split(String(text)) {
            var symbols: [String] = []
            for byte in piece.utf8 { symbols.append(String(Self.byteToChar[Int(byte)])) }
            if ignoresMerges, let id = idByToken[symbols.joined()] {
                ids.append(id)
                continue
            }
            for symbol in mergePairs(symbols) {
                if let id = idByToken[symbol] {
                    ids.append(id)
                } else {
                    // Not in the vocabulary (cannot happen with a complete byte-level
                    // vocabulary): fall back to its single characters, else unknown.
                    for ch in symbol.unicodeScalars { ids.append(idByToken[String(ch)] ?? unknownId) }
                }
            }
        }
    }

    /// Byte-pair merging of one piece: repeatedly join the adjacent pair with
    /// the lowest rank, every occurrence of it from left to right.
    ///
    /// Done with a heap of the adjacent pairs, ordered by rank and then
    /// position, over a linked list of the symbols, so a long unbroken piece
    /// (a hostile 100 kB "word") costs n log n, not n² rescans. Merging the
    /// lowest pair at the leftmost position first gives what the rule above
    /// gives: a merge never makes a new copy of the pair being merged (the
    /// joined symbol is longer than either half), and it consumes an
    /// overlapping copy to its right, as the left-to-right pass does.
    func mergePairs(_ start: [String]) -> [String] {
        guard start.count > 1 else { return start }
        var symbols = start
        var next = Array(1...start.count), previous = Array(-1..<(start.count - 1))
        var alive = [Bool](repeating: true, count: start.count)
        struct Candidate: Comparable {
            var rank: Int, left: Int, pair: String
            static func < (a: Candidate, b: Candidate) -> Bool { (a.rank, a.left) < (b.rank, b.left) }
        }
        var heap = Heap<Candidate>()
        func push(_ left: Int) {
            let right = next[left]
            guard right < symbols.count else { return }
            let pair = symbols[left] + " " + symbols[right]
            if let rank = rankByPair[pair] { heap.insert(Candidate(rank: rank, left: left, pair: pair)) }
        }
        for k in 0..<(symbols.count - 1) { push(k) }
        while let best = heap.popMin() {
            let left = best.left, right = next[left]
            // Stale: a merge since it was pushed changed one of its symbols.
            guard alive[left], right < symbols.count, symbols[left] + " " + symbols[right] == best.pair else { continue }
            symbols[left] += symbols[right]
            alive[right] = false
            next[left] = next[right]
            if next[left] < symbols.count { previous[next[left]] = left }
            if previous[left] >= 0 { push(previous[left]) }
            push(left)
        }
        return symbols.indices.filter { alive[$0] }.map { symbols[$0] }
    }

    // MARK: decoding

    /// Text of `ids`; control tokens (<|im_end|>, ...) are left out, bytes that
    /// do not form UTF-8 become U+FFFD.
    public func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && id < tokens.count && !isControl(id) {
            appendBytes(of: id, to: &bytes)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func tokenText(_ id: Int) -> String {
        guard id >= 0 && id < tokens.count else { return "<\(id)?>" }
        if isControl(id) { return tokens[id] }
        var bytes: [UInt8] = []
        appendBytes(of: id, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    private func appendBytes(of id: Int, to bytes: inout [UInt8]) {
        for ch in tokens[id].unicodeScalars {
            if let b = Self.charToByte[ch] {
                bytes.append(b)
            } else {
                bytes.append(contentsOf: Array(String(ch).utf8))  // e.g. a user-defined token's own text
            }
        }
    }

    // MARK: GPT-2's byte-to-unicode table

    /// Byte b as a printable character: the printable Latin-1 bytes stand for
    /// themselves, the other 68 (controls, space, ...) become U+0100 onwards in
    /// byte order, so a space (0x20) is "Ġ" (U+0120) and "\n" is "Ċ".
    static let byteToChar: [Unicode.Scalar] = {
        var printable = Set(33...126)
        printable.formUnion(161...172)
        printable.formUnion(174...255)
        var table: [Unicode.Scalar] = []
        var next = 256
        for b in 0..<256 {
            if printable.contains(b) {
                table.append(Unicode.Scalar(UInt8(b)))
            } else {
                table.append(Unicode.Scalar(UInt32(next))!)
                next += 1
            }
        }
        return table
    }()

    /// The one-character token of byte `byte` ("Ġ" for a space).
    public static func tokenFor(byte: UInt8) -> String { String(byteToChar[Int(byte)]) }

    static let charToByte: [Unicode.Scalar: UInt8] = {
        var table: [Unicode.Scalar: UInt8] = [:]
        for (b, ch) in byteToChar.enumerated() { table[ch] = UInt8(b) }
        return table
    }()

    // MARK: tokenizer.json

    public static let fileType = "byte-level-bpe"

    /// Our tokenizer.json's form.
    struct File: Encodable {
        var type: String, pre: String, bos: Int, eos: Int, pad: Int, unknown: Int, tokens: [String], tokenTypes: [Int], merges: [String]
        enum CodingKeys: String, CodingKey { case type, pre, bos, eos, pad, unknown, tokens, tokenTypes = "token_types", merges }
    }

    /// Writes our own tokenizer.json (type "byte-level-bpe"), read back by `TokenizerFile.load`.
    public func save(to url: URL) throws {
        let json = File(type: Self.fileType, pre: preName, bos: bosId, eos: eosId, pad: padId, unknown: unknownId, tokens: tokens,
                        tokenTypes: tokenTypes, merges: merges)
        try AtomicFile.write(try JSONCoding.encode(json), to: url)
    }

    init(json: JSON, file: URL) throws {
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: file, message: message) }
        guard let tokens = json["tokens"]?.arrayValue?.compactMap(\.stringValue),
              let types = json["token_types"]?.arrayValue?.compactMap(\.intValue), types.count == tokens.count,
              let merges = json["merges"]?.arrayValue?.compactMap(\.stringValue),
              let bos = json["bos"]?.intValue, let eos = json["eos"]?.intValue, let pad = json["pad"]?.intValue
        else { throw fail("byte-level BPE tokenizer without tokens, token_types, merges, bos, eos or pad") }
        let pre = json["pre"]?.stringValue ?? "default"
        guard Self.knownPreTokenizers.contains(pre) else { throw fail("pre-tokenizer \"\(pre)\" is not supported") }
        self.init(tokens: tokens, tokenTypes: types, merges: merges, bosId: bos, eosId: eos, padId: pad,
                  unknownId: json["unknown"]?.intValue ?? 0, preName: pre)
    }
}
