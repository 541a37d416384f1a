import EASTEngine
import Foundation
import Testing

/// Reading Llama 3.x and Qwen2 configs (config.json and GGUF metadata), and
/// the errors for what the engine does not implement: each names the key and value.
@Suite struct ModelFamilyConfigTests {
    static func configFile(_ json: [String: Any]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("east-config-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        return url
    }

    /// Llama-3.2-1B-Instruct's config.json, trimmed to the keys we read.
    nonisolated(unsafe) static let llama32: [String: Any] = [
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128_256, "hidden_size": 2048,
        "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
        "head_dim": 64, "rope_theta": 500_000.0, "rms_norm_eps": 1e-5, "tie_word_embeddings": true,
        "max_position_embeddings": 131_072, "bos_token_id": 128_000, "eos_token_id": [128_001, 128_008, 128_009],
        "hidden_act": "silu", "attention_bias": false, "mlp_bias": false,
        "rope_scaling": ["factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"],
    ]

    /// Qwen2.5-0.5B-Instruct's config.json, trimmed likewise.
    nonisolated(unsafe) static let qwen25: [String: Any] = [
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 151_936, "hidden_size": 896,
        "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
        "rope_theta": 1_000_000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": true, "max_position_embeddings": 32_768,
        "bos_token_id": 151_643, "eos_token_id": 151_645, "hidden_act": "silu", "use_sliding_window": false,
        "sliding_window": 32_768, "max_window_layers": 21,
    ]

    @Test func readsLlama32AndQwen25() throws {
        let (llama, llamaSpecials) = try LlamaConfigFile.read(from: Self.configFile(Self.llama32))
        #expect(llama == ModelConfig.llama32_1B)
        #expect(llama.ropeScaling == RoPEScaling(factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192))
        #expect(llamaSpecials.eos == 128_001 && llamaSpecials.pad == 0)
        let (qwen, qwenSpecials) = try LlamaConfigFile.read(from: Self.configFile(Self.qwen25))
        #expect(qwen == ModelConfig.qwen25_05B)
        #expect(qwen.attentionBias && qwen.ropeScaling == nil && qwenSpecials.eos == 151_645)
        // transformers 5's rope_parameters
        var v5 = Self.llama32
        v5["rope_scaling"] = nil
        v5["rope_theta"] = nil
        v5["rope_parameters"] = (Self.llama32["rope_scaling"] as! [String: Any]).merging(["rope_theta": 500_000.0]) { a, _ in a }
        #expect(try LlamaConfigFile.read(from: Self.configFile(v5)).0 == ModelConfig.llama32_1B)
    }

    /// head_dim other than hidden_size / heads (as in Qwen3 or Gemma): q_proj is (heads * head_dim, hidden).
    @Test func explicitHeadDim() throws {
        let c = try LlamaConfigFile.read(from: Self.configFile(Self.llama32.merging(["head_dim": 128]) { _, b in b })).0
        #expect(c.headDim == 128 && c.qDim == 4096 && c.kvDim == 1024 && c.dim == 2048)
        #expect(ParameterLayout(config: c)["model.layers.0.self_attn.o_proj.weight"]?.shape == [2048, 4096])
        var wide = ModelConfig.qwen25_05B
        wide.headDim = 128
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("east-config-\(UUID().uuidString).json")
        try LlamaConfigFile.write(wide, specials: .init(bos: 1, eos: 2, pad: 0), to: url)
        #expect(try LlamaConfigFile.read(from: url).0 == wide)
    }

    @Test func writtenConfigsReadBack() throws {
        for c in [ModelConfig.llama32_1B, .qwen25_05B] {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("east-config-\(UUID().uuidString).json")
            try LlamaConfigFile.write(c, specials: .init(bos: 1, eos: 2, pad: 0), to: url)
            #expect(try LlamaConfigFile.read(from: url).0 == c)
        }
    }

    /// Llama 3.2's frequencies at theta 500000, head size 64, against
    /// transformers' _compute_llama3_parameters (its float32 values).
    @Test func llama3FrequenciesMatchTransformers() {
        let f = ModelConfig.llama32_1B.ropeFrequencies
        #expect(f.count == 32)
        // inv_freq from transformers 5.24 (float32): kept, kept, smoothed, divided, divided
        let reference: [(Int, Double)] = [(0, 1.0), (12, 0.00729266507551074), (16, 0.000429556705057621),
                                          (20, 8.570255886297673e-06), (31, 9.418306490260875e-08)]
        for (i, value) in reference { #expect(abs(f[i] / value - 1) < 1e-6, "frequency \(i): \(f[i]) vs \(value)") }
    }

    static func expectError(_ json: [String: Any], _ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = try configFile(json)
        #expect(sourceLocation: sourceLocation) { try LlamaConfigFile.read(from: url) } throws: { error in
            guard let e = error as? CheckpointError, e.message.contains(text) else {
                Issue.record("\(error) does not say \(text)", sourceLocation: sourceLocation)
                return false
            }
            return true
        }
    }

    @Test func unsupportedSettingsNameTheKeyAndValue() throws {
        func with(_ base: [String: Any], _ key: String, _ value: Any) -> [String: Any] { base.merging([key: value]) { _, b in b } }
        try Self.expectError(with(Self.qwen25, "use_sliding_window", true), "use_sliding_window true is not supported")
        try Self.expectError(with(Self.llama32, "rope_scaling", ["rope_type": "yarn", "factor": 4.0]), "rope_type \"yarn\" is not supported")
        try Self.expectError(with(Self.qwen25, "model_type", "qwen2_moe"), "model_type \"qwen2_moe\" is not supported")
        try Self.expectError(with(Self.qwen25, "num_experts", 60), "num_experts 60 is not supported")
        try Self.expectError(with(Self.llama32, "architectures", ["MistralForCausalLM"]), "architectures \"MistralForCausalLM\"")
        try Self.expectError(with(Self.llama32, "attention_bias", true), "attention_bias true is not supported")
        try Self.expectError(with(Self.llama32, "mlp_bias", true), "mlp_bias true is not supported")
        try Self.expectError(with(Self.llama32, "hidden_act", "gelu"), "hidden_act \"gelu\" is not supported")
        var noFactor = Self.llama32
        noFactor["rope_scaling"] = ["rope_type": "llama3", "low_freq_factor": 1.0]
        try Self.expectError(noFactor, "key factor")
    }

    /// A Qwen2-shaped checkpoint in two shards with model.safetensors.index.json.
    @Test func readsShardedSafetensors() throws {
        let config = ModelConfig(vocabSize: 11, dim: 8, layers: 2, heads: 2, kvHeads: 1, hiddenDim: 12,
                                 tiedEmbeddings: false, maxSeqLen: 16, attentionBias: true)
        let model = try Transformer(config: config, seed: 3)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("east-shards-\(UUID().uuidString)")
        try Checkpoint.save(model, tokenizer: nil, to: dir)
        let whole = try Checkpoint.load(from: dir).model
        #expect(whole.parameters.array == model.parameters.array)
        try FileManager.default.removeItem(at: dir.appendingPathComponent(Checkpoint.modelFile))
        var map: [String: String] = [:]
        for (i, shard) in [model.layout.entries.prefix(9), model.layout.entries.dropFirst(9)].enumerated() {
            let name = "model-0000\(i + 1)-of-00002.safetensors"
            try SafeTensors.write(shard.map { e in
                SafeTensors.TensorData(name: e.name, shape: e.shape,
                                       values: UnsafeBufferPointer(start: model.parameters.at(e.offset), count: e.count))
            }, to: dir.appendingPathComponent(name))
            for e in shard { map[e.name] = name }
        }
        try JSONSerialization.data(withJSONObject: ["weight_map": map])
            .write(to: dir.appendingPathComponent(Checkpoint.modelIndexFile))
        let sharded = try Checkpoint.load(from: dir).model
        #expect(sharded.config == config && sharded.parameters.array == model.parameters.array)
    }

    @Test func ggufSettingsWeDoNotRunAreErrors() throws {
        let good = GGUFTests.writer(for: try GGUFTests.model())
        func expect(_ edit: (inout GGUFWriter) -> Void, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            var w = good
            edit(&w)
            let url = GGUFTests.tempFile()
            try w.write(to: url)
            GGUFTests.expectError(url, contains: text, sourceLocation: sourceLocation)
        }
        try expect({ $0.add("llama.expert_count", .u32(8)) }, "llama.expert_count 8 is not supported")
        try expect({ $0.add("llama.rope.scaling.type", .string("yarn")) }, "llama.rope.scaling.type \"yarn\" is not supported")
        try expect({ $0.add("llama.attention.value_length", .u32(8)) }, "llama.attention.value_length 8 is not supported")
        try expect({ $0.add("llama.attention.key_length", .u32(8)) }, "has shape [32, 32], the model needs [16, 32]")
        try expect({ $0.addF32("blk.0.attn_output.bias", shape: [32], [Float](repeating: 0, count: 32)) },
                   "tensor blk.0.attn_output.bias is not supported")
        // a rope_freqs tensor that is not Llama 3's scaling (head size 16: 8 values)
        try expect({ $0.addF32("rope_freqs.weight", shape: [8], [1, 2, 1, 2, 1, 2, 1, 2]) }, "tensor rope_freqs.weight: value")
    }
}
