import EASTEngine
import Foundation
import Testing

/// A checkpoint written by Hugging Face `transformers` (.fixtures/hf-llama-tiny,
/// see make_fixture.py there; the folder is hidden so that SwiftPM does not
/// warn about non-source files in the test target): loading it and running our forward must give
/// the log-probs `LlamaForCausalLM` gave. This pins the conventions that the
/// finite-difference tests cannot: RoPE pairing, GQA head grouping, (out, in)
/// weight layout, RMSNorm placement, tensor names and config keys.
@Suite struct HuggingFaceParityTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent(".fixtures/hf-llama-tiny")

    struct Expected: Decodable {
        let prompt: [Int]
        let logProbs: [[Float]]
        let loss: Float
        let gradients: [String: [Float]]
    }

    static func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: fixture.appendingPathComponent("expected.json")))
    }

    @Test func logProbsMatchTransformers() throws {
        let loaded = try Checkpoint.load(from: Self.fixture)
        let c = loaded.model.config
        #expect(c.ropeTheta == 300 && c.kvHeads == 2 && !c.tiedEmbeddings)  // from transformers 5's rope_parameters
        let expected = try Self.expected()
        let V = c.vocabSize
        // training forward path, every position
        let logits = loaded.model.fullLogits(tokens: expected.prompt)
        var worst: Float = 0
        for t in 0..<expected.prompt.count {
            let row = logits[t * V ..< (t + 1) * V]
            let maxLogit = row.max()!
            let logZ = maxLogit + log(row.reduce(Float(0)) { $0 + exp($1 - maxLogit) })
            for v in 0..<V { worst = max(worst, abs(row[t * V + v] - logZ - expected.logProbs[t][v])) }
        }
        #expect(worst < 1e-4, "largest log-prob difference \(worst)")
        // cached inference path, last position
        let next = Sampler(model: loaded.model, maxRows: 1).nextTokenLogProbs(prompt: expected.prompt)
        for v in 0..<V { #expect(abs(next[v] - expected.logProbs.last![v]) < 1e-4) }
    }

    /// loss = -sum of log p(target) over the completion (prompt = first 4 tokens):
    /// our backward against PyTorch autograd.
    @Test func gradientsMatchAutograd() throws {
        let model = try Checkpoint.load(from: Self.fixture).model
        let expected = try Self.expected()
        let batch = TokenBatch(sequences: [(prompt: Array(expected.prompt[0..<4]), completion: Array(expected.prompt[4...]))],
                               padId: 0)
        let acts = Activations(config: model.config, batchSize: 1, seqLen: batch.seqLen)
        let out = model.forward(batch, acts)
        let loss = -zip(out.logProbs, batch.lossMask).reduce(Float(0)) { $0 + $1.0 * $1.1 }
        #expect(abs(loss - expected.loss) < 1e-4 * abs(expected.loss))
        model.zeroGradients()
        model.backward(batch, acts, dLogProbs: batch.lossMask.map { -$0 })
        #expect(expected.gradients.count == 8)
        for (name, reference) in expected.gradients {
            let entry = try #require(model.layout[name])
            let ours = model.gradients.slice(entry.offset, entry.count)
            let scale = reference.map(abs).max()!
            let worst = zip(ours, reference).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-3 * scale, "\(name): largest difference \(worst), largest gradient \(scale)")
        }
    }

    @Test func configKeysOfBothTransformersGenerations() throws {
        let dir = CheckpointTests.tempDirectory(), url = dir.appendingPathComponent("config.json")
        func read(_ json: String) throws -> (ModelConfig, LlamaConfigFile.SpecialTokens) {
            try json.write(to: url, atomically: true, encoding: .utf8)
            return try LlamaConfigFile.read(from: url)
        }
        let base = "\"vocab_size\": 10, \"hidden_size\": 8, \"intermediate_size\": 12, \"num_hidden_layers\": 1, \"num_attention_heads\": 2"
        #expect(try read("{\(base), \"rope_theta\": 123.0}").0.ropeTheta == 123)
        #expect(try read("{\(base), \"rope_parameters\": {\"rope_theta\": 77.0, \"rope_type\": \"default\"}}").0.ropeTheta == 77)
        #expect(try read("{\(base), \"eos_token_id\": [5, 6]}").1.eos == 5)
        #expect(try read("{\(base)}").0.kvHeads == 2)
        #expect(throws: CheckpointError.self) { try read("{\(base), \"rope_scaling\": {\"rope_type\": \"llama3\"}}") }
        #expect(try read("{\(base), \"head_dim\": 8}").0.qDim == 16)  // an explicit head_dim widens q_proj
        #expect(throws: CheckpointError.self) { try read("{\(base), \"head_dim\": 7}") }  // odd: no RoPE pairs
        #expect(throws: CheckpointError.self) { try read("{\(base), \"num_key_value_heads\": 3}") }
    }
}
