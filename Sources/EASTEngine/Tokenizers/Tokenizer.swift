import EASTCore
import Foundation

/// Text to token ids and back. The engine only needs ids; a tokenizer lives
/// next to the checkpoint (`tokenizer.json`) so tools can show text.
public protocol Tokenizer: Sendable {
    var vocabSize: Int { get }
    var bosId: Int { get }
    var eosId: Int { get }
    var padId: Int { get }
    /// Ids of `text`, without BOS/EOS (callers add them where they belong).
    func encode(_ text: String) -> [Int]
    /// Text of `ids`; special tokens are left out.
    func decode(_ ids: [Int]) -> String
    /// Text of one id, special tokens shown as e.g. "<eos>" (for listings).
    func tokenText(_ id: Int) -> String
    /// Writes `tokenizer.json` (atomically).
    func save(to url: URL) throws
}

/// Reads any of our `tokenizer.json` files by its "type".
public enum TokenizerFile {
    public static func load(from url: URL) throws -> any Tokenizer {
        let data = try CheckpointError.reading(url)
        let json: JSON
        do { json = try JSON.parse(String(decoding: data, as: UTF8.self)) } catch {
            throw CheckpointError(file: url, message: "not JSON (\(error))")
        }
        switch json["type"]?.stringValue {
        case "character": return try CharacterTokenizer.load(from: url)
        case "word": return try WordTokenizer(json: json, file: url)
        case ByteLevelBPETokenizer.fileType: return try ByteLevelBPETokenizer(json: json, file: url)
        case let other: throw CheckpointError(file: url, message: "unknown tokenizer type \(other.map { "\"\($0)\"" } ?? "(none)")")
        }
    }
}
