import EASTCore
import EASTEngine
@testable import EASTStages
import Foundation
import Testing

/// SmolLM2 through the stages: chat prompt with the paper's system message,
/// LoRA training that leaves the base untouched (skipped without the GGUF;
/// scripts/fetch-smollm2.sh gets it).
enum SmolLM2File {
    static let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    static var available: Bool { FileManager.default.fileExists(atPath: url.path) }
}

@Suite(.enabled(if: SmolLM2File.available, "needs models/smollm2 (scripts/fetch-smollm2.sh)"))
struct InstructModelTests {
    static let gguf = SmolLM2File.url

    @Test func chatPromptLoRATrainingAndSampling() throws {
        let policy = try Policy.load(from: Self.gguf, lora: LoRAConfig(rank: 8, alpha: 16, targets: [.q, .v]), seed: 1)
        let tokenizer = policy.tokenizer
        let prompt = tokenizer.decode(policy.format.prompt("What is 2+3?", tokenizer: tokenizer))
        #expect(prompt.contains("Please reason step by step, and put your final answer within \\boxed{}."))
        #expect(prompt.contains("What is 2+3?"))
        let completion = policy.format.completion("2+3 = 5. The answer is \\boxed{5}.", tokenizer: tokenizer)
        #expect(completion.last == policy.format.stopTokens(tokenizer)[0])

        let base = policy.model.parameters.array
        var spec = RunSpec(checkpoint: Self.gguf.path, train: .file(path: "", limit: 1), test: .file(path: "", limit: 1),
                           sampling: SamplingSettings(n: 2, temperature: 1, maxNewTokens: 8))
        spec.learningRate = 5e-3
        let session = TrainingSession(policy: policy, spec: spec, totalSteps: 4)
        let item = TrainingItem(question: "What is 2+3?", example: .sft(questionID: "q", response: "\\boxed{5}", weight: 1))
        let first = session.step([item]).loss
        var last = first
        for _ in 0..<3 { last = session.step([item]).loss }
        #expect(last < first, "\(first) -> \(last)")
        #expect(policy.model.parameters.array == base)  // the base stays frozen

        let sampler = Sampler(model: policy.model, maxRows: 2, maxSequenceLength: 128)
        let samples = SamplingStage.sample(policy, question: Question(id: "q", text: "What is 2+3?", gold: "5"),
                                           settings: SamplingSettings(n: 2, temperature: 1, maxNewTokens: 8), runSeed: 1, sampler: sampler)
        #expect(samples.responses.count == 2)

        // Saved as PEFT files + base.json, loaded back as base + adapter with the chat format.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("east-adapter-\(UUID().uuidString)")
        try policy.save(to: dir)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("adapter_model.safetensors").path))
        let loaded = try Policy.load(from: dir, version: 3)
        #expect(loaded.version == 3)
        #expect(loaded.model.adapter?.parameters.array == policy.model.adapter?.parameters.array)
        #expect(loaded.format.prompt("What is 2+3?", tokenizer: loaded.tokenizer) == policy.format.prompt("What is 2+3?", tokenizer: tokenizer))
        try loaded.save(to: dir.appendingPathComponent("again"))  // the base path survives the round trip
    }
}
