@testable import EASTEngine
import Foundation
import Testing

/// SmolLM2-135M-Instruct from its Q4_1 GGUF against Hugging Face transformers
/// on the same file (.fixtures/smollm2_parity.json, written by
/// scripts/parity/smollm2_reference.py): token ids, next-token log-probs, a
/// greedy continuation and a completion's log-prob. Skipped when
/// models/smollm2 is absent (scripts/fetch-smollm2.sh fetches it).
@Suite(.enabled(if: GGUFTests.haveRealFile, "models/smollm2 is absent (scripts/fetch-smollm2.sh)"))
struct SmolLM2ParityTests {
    struct Fixture: Decodable {
        struct Tokenized: Decodable { let text: String; let ids: [Int] }
        struct Prompt: Decodable {
            let question: String
            let text: String
            let ids: [Int]
            let top10_ids: [Int]
            let top10_logprobs: [Float]
        }
        struct Greedy: Decodable { let prompt_ids: [Int]; let ids: [Int] }
        struct Completion: Decodable {
            let prompt_ids: [Int]
            let completion_ids: [Int]
            let sum_logprob: Float
        }
        let tokenization: [Tokenized]
        let prompts: [Prompt]
        let greedy: Greedy
        let completion: Completion
    }

    static let fixture: Fixture = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent(".fixtures/smollm2_parity.json")
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()

    /// Loaded once for the suite (dequantizing 135M parameters takes a while in a
    /// debug build); a load error fails each test instead of crashing the run.
    nonisolated(unsafe) static let loaded = Result { try GGUFModel.load(from: GGUFTests.realFile) }

    @Test func tokenIdsMatch() throws {
        let tokenizer = try #require(try Self.loaded.get().tokenizer)
        for t in Self.fixture.tokenization {
            #expect(tokenizer.encode(t.text) == t.ids, "\(t.text.debugDescription)")
            #expect(tokenizer.decode(t.ids) == t.text.replacingOccurrences(of: "<|im_start|>", with: "")
                .replacingOccurrences(of: "<|im_end|>", with: ""))
        }
    }

    @Test func chatPromptMatches() throws {
        let tokenizer = try #require(try Self.loaded.get().tokenizer)
        for p in Self.fixture.prompts {
            let text = try Self.loaded.get().chatTemplate.prompt(user: p.question)
            #expect(text == p.text)
            #expect(tokenizer.encode(text) == p.ids)
        }
    }

    @Test func nextTokenLogProbsMatch() throws {
        let sampler = Sampler(model: try Self.loaded.get().model, maxRows: 1, maxSequenceLength: 128)
        var worst: Float = 0
        for p in Self.fixture.prompts {
            let logProbs = sampler.nextTokenLogProbs(prompt: p.ids)
            let top = logProbs.indices.sorted { logProbs[$0] > logProbs[$1] }.prefix(10)
            #expect(Array(top) == p.top10_ids)
            for (id, expected) in zip(p.top10_ids, p.top10_logprobs) { worst = max(worst, abs(logProbs[id] - expected)) }
        }
        print("SmolLM2 parity: largest top-10 log-prob difference \(worst)")
        #expect(worst < 1e-3, "largest top-10 log-prob difference \(worst)")
    }

    /// The sampler decodes from the file's Q4_1 / Q8_0 codes (a quarter of
    /// the bytes per step); every matrix's codes must reproduce the loaded
    /// weights exactly, and decoding must give the same bits as from a
    /// Float32 copy of the model that has no codes. On both paths (code
    /// panels with AVX-512, one-byte codes without).
    @Test func decodingFromTheCodesChangesNoBit() throws {
        let model = try Self.loaded.get().model
        let quantized = try #require(model.quantized)
        #expect(quantized.matrices.count == 7 * model.config.layers + 1, "every matrix and the tied head")
        try DecodeKernelTests.expectCodesSampleLikeFloats(model, prompt: Self.fixture.greedy.prompt_ids, maxSequenceLength: 256)
    }

    @Test func greedyContinuationMatches() throws {
        let g = Self.fixture.greedy
        let sampler = Sampler(model: try Self.loaded.get().model, maxRows: 1, maxSequenceLength: 256)
        let sample = sampler.generate(prompt: g.prompt_ids, n: 1,
                                      parameters: .greedy(maxNewTokens: 48, stopTokens: [2]))[0]
        #expect(sample.tokens == g.ids)
    }

    @Test func completionLogProbMatches() throws {
        let c = Self.fixture.completion
        let batch = TokenBatch(sequences: [(c.prompt_ids, c.completion_ids)], padId: 2)
        let sum = SequenceLogProbs.sums(of: try Self.loaded.get().model, on: batch)[0]
        print("SmolLM2 parity: completion log-prob \(sum), transformers \(c.sum_logprob)")
        #expect(abs(sum - c.sum_logprob) < 1e-2)
    }
}
