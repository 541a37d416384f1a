import EASTCore
import Foundation

/// A Hugging Face `tokenizers` tokenizer.json of a byte-level BPE model
/// (SmolLM2, Llama 3, Qwen2): the vocabulary, merges and added tokens, with
/// the pre-tokenizer recognised by its settings and named as llama.cpp names
/// it (`tokenizer.ggml.pre`), so both file kinds give the same tokenizer.
extension ByteLevelBPETokenizer {
    /// The Split regexes of Llama 3's and Qwen2's tokenizer.json, differing
    /// only in `\p{N}{1,3}` against `\p{N}`.
    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// True when `json` is a `tokenizers` file (a "model" object), not one of ours.
    static func isHuggingFaceFile(_ json: JSON) -> Bool { json["type"] == nil && json["model"] != nil }

    /// Reads tokenizer.json; bos, eos and pad come from config.json (`specials`),
    /// as transformers takes them. Throws naming the setting for a model other
    /// than BPE, a pre-tokenizer or normalizer we do not implement.
    public init(huggingFace json: JSON, file: URL, specials: LlamaConfigFile.SpecialTokens) throws {
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: file, message: message) }
        guard let model = json["model"], model["type"]?.stringValue == "BPE" else {
            throw fail("model.type \(json["model"]?["type"]?.stringValue.map { "\"\($0)\"" } ?? "(none)") is not supported (only BPE)")
        }
        let pre = try Self.preName(json["pre_tokenizer"], fail: fail)
        let normalizer = json["normalizer"]?["type"]?.stringValue
        if let normalizer, !(normalizer == "NFC" && pre == "qwen2") {
            throw fail("normalizer \"\(normalizer)\" is not supported with pre-tokenizer \(pre) (only Qwen2's NFC)")
        }
        if pre == "qwen2" && normalizer != "NFC" { throw fail("a qwen2 pre-tokenizer without Qwen2's NFC normalizer is not supported") }

        // id → token, from the vocabulary and the added tokens (specials are control tokens)
        var byId: [Int: (String, Int)] = [:]
        guard case let .object(vocab)? = model["vocab"] else { throw fail("model.vocab is not an object") }
        // Ids size the token table: bounded like a model's vocabulary.
        let bound = ModelConfig.maxVocabulary
        for (token, id) in vocab {
            guard let id = id.intValue, id >= 0, id < bound else { throw fail("model.vocab[\(token)] is not a token id from 0 to \(bound - 1)") }
            byId[id] = (token, TokenType.normal.rawValue)
        }
        for (i, added) in (json["added_tokens"]?.arrayValue ?? []).enumerated() {
            guard let id = added["id"]?.intValue, id >= 0, id < bound, let content = added["content"]?.stringValue, !content.isEmpty else {
                throw fail("added_tokens[\(i)] needs an id from 0 to \(bound - 1) and a non-empty content")
            }
            byId[id] = (content, added["special"]?.boolValue == true ? TokenType.control.rawValue : TokenType.userDefined.rawValue)
        }
        let count = (byId.keys.max() ?? -1) + 1
        var tokens = [String](repeating: "", count: count), types = [Int](repeating: TokenType.unused.rawValue, count: count)
        for (id, (token, type)) in byId { tokens[id] = token; types[id] = type }
        // merges: "a b" strings (tokenizers < 0.20) or ["a", "b"] pairs
        let merges = try (model["merges"]?.arrayValue ?? []).map { m -> String in
            if let s = m.stringValue { return s }
            if let pair = m.arrayValue?.compactMap(\.stringValue), pair.count == 2 { return pair[0] + " " + pair[1] }
            throw fail("model.merges holds \(m), neither \"a b\" nor [a, b]")
        }
        func id(_ v: Int, _ what: String) throws -> Int {
            guard v >= 0 && v < count else { throw fail("config.json's \(what) \(v) is not a token id of this tokenizer") }
            return v
        }
        let eos = try id(specials.eos, "eos_token_id")
        self.init(tokens: tokens, tokenTypes: types, merges: merges, bosId: try id(specials.bos, "bos_token_id"), eosId: eos,
                  padId: specials.pad < count ? specials.pad : eos, preName: pre)
    }

    /// llama.cpp's name for the pre-tokenizer of a tokenizer.json:
    /// ByteLevel with its own regex ("gpt2"), Digits(individual) then ByteLevel
    /// ("smollm"), or Llama 3's / Qwen2's Split then ByteLevel without regex.
    static func preName(_ pre: JSON?, fail: (String) -> CheckpointError) throws -> String {
        let steps = pre?["type"]?.stringValue == "Sequence" ? pre?["pretokenizers"]?.arrayValue ?? [] : pre.map { [$0] } ?? []
        let types = steps.map { $0["type"]?.stringValue ?? "?" }
        func byteLevel(regex: Bool) -> Bool {
            guard let last = steps.last, last["type"]?.stringValue == "ByteLevel" else { return false }
            return (last["use_regex"]?.boolValue ?? true) == regex && last["add_prefix_space"]?.boolValue != true
        }
        if types == ["ByteLevel"], byteLevel(regex: true) { return "gpt2" }
        if types == ["Digits", "ByteLevel"], steps[0]["individual_digits"]?.boolValue == true, byteLevel(regex: true) { return "smollm" }
        if types == ["Split", "ByteLevel"], byteLevel(regex: false), steps[0]["behavior"]?.stringValue == "Isolated",
           steps[0]["invert"]?.boolValue != true, let regex = steps[0]["pattern"]?["Regex"]?.stringValue {
            // the contractions are also spelled case by case, as llama.cpp writes them
            let pattern = regex.replacingOccurrences(of: #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"#,
                                                     with: #"(?i:'s|'t|'re|'ve|'m|'ll|'d)"#)
            if pattern == llama3Pattern { return "llama-bpe" }
            if pattern == qwen2Pattern { return "qwen2" }
            throw fail("pre_tokenizer Split pattern \(regex) is not supported (only Llama 3's and Qwen2's)")
        }
        throw fail("pre_tokenizer \(types.joined(separator: " + ")) is not supported (only ByteLevel, Digits + ByteLevel, "
            + "and Llama 3's or Qwen2's Split + ByteLevel)")
    }
}
