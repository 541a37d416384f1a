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

    /// The Float32 path (a copy of the weights without their codes): within
    /// float rounding of transformers.
    @Test func nextTokenLogProbsMatch() throws {
        let model = try Self.loaded.get().model
        let floats = try Transformer(config: model.config, parameters: FloatBuffer(model.parameters.array))
        let sampler = Sampler(model: floats, maxRows: 1, maxSequenceLength: 128)
        var worst: Float = 0
        for p in Self.fixture.prompts {
            let logProbs = sampler.nextTokenLogProbs(prompt: p.ids)
            let top = logProbs.indices.sorted { logProbs[$0] > logProbs[$1] }.prefix(10)
            #expect(Array(top) == p.top10_ids)
            for (id, expected) in zip(p.top10_ids, p.top10_logprobs) { worst = max(worst, abs(logProbs[id] - expected)) }
        }
        print("SmolLM2 parity, Float32 path: largest top-10 log-prob difference \(worst)")
        #expect(worst < 1e-3, "largest top-10 log-prob difference \(worst)")
    }

    /// The integer path (the file's Q4_1 and Q8_0 codes, 8-bit activations):
    /// every matrix decodes from its codes; the same top token as
    /// transformers for every prompt and the top-10 log-probs within what
    /// 8-bit activations allow.
    @Test func integerPathStaysCloseToTransformers() throws {
        let model = try Self.loaded.get().model
        let quantized = try #require(model.quantized)
        #expect(quantized.matrices.count == 7 * model.config.layers + 1, "every matrix and the tied head")
        let sampler = Sampler(model: model, maxRows: 1, maxSequenceLength: 128)
        var worst: Float = 0
        for p in Self.fixture.prompts {
            let logProbs = sampler.nextTokenLogProbs(prompt: p.ids)
            #expect(logProbs.indices.max { logProbs[$0] < logProbs[$1] } == p.top10_ids[0])
            for (id, expected) in zip(p.top10_ids, p.top10_logprobs) { worst = max(worst, abs(logProbs[id] - expected)) }
        }
        print("SmolLM2 parity, integer path: largest top-10 log-prob difference \(worst)")
        #expect(worst < 0.35, "largest top-10 log-prob difference \(worst)")
    }

    /// Greedy decoding gives transformers' continuation: all 48 tokens on
    /// the Float32 path. On the integer path, fed transformers'
    /// continuation token by token, each of its tokens is the top token or
    /// within 0.35 of it (the tolerance of the top-10 log-probs above): the
    /// continuation holds near ties (its first token leads the second by
    /// 0.0075 on the Float32 path; the integer path picks the second on
    /// AVX2), so a free-running integer continuation may part from it at
    /// any of them.
    @Test func greedyContinuationMatches() throws {
        let g = Self.fixture.greedy
        let model = try Self.loaded.get().model
        let floats = try Transformer(config: model.config, parameters: FloatBuffer(model.parameters.array))
        let parameters = SamplingParameters.greedy(maxNewTokens: 48, stopTokens: [2])
        let fromFloats = Sampler(model: floats, maxRows: 1, maxSequenceLength: 256).generate(prompt: g.prompt_ids, n: 1, parameters: parameters)[0]
        #expect(fromFloats.tokens == g.ids)
        let sampler = Sampler(model: model, maxRows: 1, maxSequenceLength: 256)
        var worst: Float = 0, top = 0
        for t in g.ids.indices {
            let logProbs = sampler.nextTokenLogProbs(prompt: g.prompt_ids + g.ids[..<t])
            let best = logProbs.max()!
            worst = max(worst, best - logProbs[g.ids[t]])
            if logProbs[g.ids[t]] == best { top += 1 }
        }
        print("SmolLM2 parity, integer path on transformers' greedy continuation: its token on top at \(top) of \(g.ids.count) steps, "
              + "at most \(worst) below the top elsewhere")
        #expect(worst < 0.35)
    }

    @Test func completionLogProbMatches() throws {
        let c = Self.fixture.completion
        let batch = TokenBatch(sequences: [(c.prompt_ids, c.completion_ids)], padId: 2)
        let sum = SequenceLogProbs.sums(of: try Self.loaded.get().model, on: batch)[0]
        print("SmolLM2 parity: completion log-prob \(sum), transformers \(c.sum_logprob)")
        #expect(abs(sum - c.sum_logprob) < 1e-2)
    }
}
