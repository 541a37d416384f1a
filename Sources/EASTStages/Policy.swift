import EASTCore
import EASTEngine
import Foundation

/// How a question becomes the model's prompt, and where its answer ends.
///
/// The embedded model reads `Question: ...\nAnswer:` and writes its worked
/// solution after one space, ending in `#### N` and <eos>. (Chat models use
/// their chat template instead; see issue #6.)
public struct PromptFormat: Sendable {
    public init() {}

    public func prompt(_ question: String, tokenizer: any Tokenizer) -> [Int] {
        [tokenizer.bosId] + tokenizer.encode("Question: \(question)\nAnswer:")
    }

    /// The tokens a response contributes to training, <eos> included.
    public func completion(_ response: String, tokenizer: any Tokenizer) -> [Int] {
        tokenizer.encode(" " + response) + [tokenizer.eosId]
    }

    /// The response text of generated tokens (the stop token is not part of it).
    public func response(_ tokens: [Int], tokenizer: any Tokenizer) -> String {
        let text = tokenizer.decode(tokens.filter { $0 != tokenizer.eosId })
        return text.hasPrefix(" ") ? String(text.dropFirst()) : text
    }
}

/// A model with its tokenizer and prompt format: what samplers, trainers and
/// evaluators pass around. Its `version` counts training iterations
/// (0 = the starting model).
public final class Policy: @unchecked Sendable {
    public let model: Transformer
    public let tokenizer: any Tokenizer
    public let format: PromptFormat
    public var version: Int

    public init(model: Transformer, tokenizer: any Tokenizer, format: PromptFormat = PromptFormat(), version: Int = 0) {
        self.model = model
        self.tokenizer = tokenizer
        self.format = format
        self.version = version
    }

    /// Loads a checkpoint directory, which must hold a tokenizer.
    public static func load(from directory: URL, version: Int = 0) throws -> Policy {
        let loaded = try Checkpoint.load(from: directory)
        guard let tokenizer = loaded.tokenizer else {
            throw CheckpointError(file: directory.appendingPathComponent(Checkpoint.tokenizerFile), message: "missing: a policy needs its tokenizer")
        }
        return Policy(model: loaded.model, tokenizer: tokenizer, version: version)
    }

    public func save(to directory: URL) throws {
        try Checkpoint.save(model, tokenizer: tokenizer, to: directory)
    }

    /// An independent copy (e.g. the frozen reference for DPO and KTO).
    public func copy() -> Policy {
        Policy(model: model.copy(), tokenizer: tokenizer, format: format, version: version)
    }
}
