import EASTCore
import EASTEngine
@testable import EASTStages
import Foundation
import Testing

/// A Hugging Face instruct folder of a new family (here Qwen2: config.json,
/// model.safetensors, tokenizer.json, tokenizer_config.json with the chat
/// template) becomes a chat policy, as `east selftrain --checkpoint DIR` loads it.
@Suite struct HuggingFaceInstructFolderTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EASTEngineTests/.fixtures")

    @Test func qwen2FolderIsAChatPolicyWithItsStops() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("east-qwen2-\(UUID().uuidString)")
        // the tokenizer trained by scripts/parity/bpe_tokenizer_reference.py has 603 tokens
        let config = ModelConfig(vocabSize: 603, dim: 16, layers: 1, heads: 2, kvHeads: 1, hiddenDim: 32,
                                 ropeTheta: 1_000_000, rmsNormEps: 1e-6, tiedEmbeddings: true, maxSeqLen: 128, attentionBias: true)
        try Checkpoint.save(try Transformer(config: config, seed: 1), tokenizer: nil, to: dir)
        try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("qwen2-tokenizer.json"),
                                         to: dir.appendingPathComponent("tokenizer.json"))
        let template = "{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"
        try JSONSerialization.data(withJSONObject: ["chat_template": template])
            .write(to: dir.appendingPathComponent("tokenizer_config.json"))

        let policy = try Policy.load(from: dir)
        #expect(policy.model.config == config)
        let bpe = try #require(policy.tokenizer as? ByteLevelBPETokenizer)
        #expect(bpe.preName == "qwen2")
        guard case let .chat(chat, system, endOfTurn) = policy.format.style else {
            Issue.record("expected the chat format")
            return
        }
        #expect(chat.format == .chatML && system == PromptFormat.paperSystem && endOfTurn == bpe.id(of: "<|im_end|>"))
        let stops = policy.format.stopTokens(policy.tokenizer)
        let imEnd = try #require(bpe.id(of: "<|im_end|>")), endOfText = try #require(bpe.id(of: "<|endoftext|>"))
        #expect(stops.contains(imEnd) && stops.contains(endOfText))
        let prompt = policy.format.prompt("What is 2+2?", tokenizer: policy.tokenizer)
        #expect(prompt.first == bpe.id(of: "<|im_start|>"))
        #expect(bpe.decode(prompt).contains(PromptFormat.paperSystem))
    }
}
