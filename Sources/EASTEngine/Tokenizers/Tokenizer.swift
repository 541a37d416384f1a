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
}
