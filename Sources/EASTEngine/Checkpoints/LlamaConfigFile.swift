import EASTCore
import Foundation

/// config.json with Hugging Face `LlamaConfig` keys, so that
/// `transformers.AutoModelForCausalLM.from_pretrained(dir)` can load a checkpoint.
public enum LlamaConfigFile {
    public struct SpecialTokens: Equatable, Sendable {
        public var bos: Int, eos: Int, pad: Int
        public init(bos: Int, eos: Int, pad: Int) { self.bos = bos; self.eos = eos; self.pad = pad }
    }

    public static func write(_ c: ModelConfig, specials: SpecialTokens, to url: URL) throws {
        let json: [String: Any] = [
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": c.vocabSize,
            "hidden_size": c.dim,
            "intermediate_size": c.hiddenDim,
            "num_hidden_layers": c.layers,
            "num_attention_heads": c.heads,
            "num_key_value_heads": c.kvHeads,
            "rope_theta": Double(c.ropeTheta),
            "rms_norm_eps": Double(c.rmsNormEps),
            "tie_word_embeddings": c.tiedEmbeddings,
            "max_position_embeddings": c.maxSeqLen,
            "bos_token_id": specials.bos,
            "eos_token_id": specials.eos,
            "pad_token_id": specials.pad,
            "hidden_act": "silu",
            "torch_dtype": "float32",
            "attention_bias": false,
            "mlp_bias": false,
        ]
        let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data, to: url)
    }

    public static func read(from url: URL) throws -> (ModelConfig, SpecialTokens) {
        let data = try CheckpointError.reading(url)
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: url, message: message) }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw fail("not a JSON object")
        }
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            if let v = json[key] as? Int { return v }
            if let list = json[key] as? [Int], let first = list.first { return first }  // e.g. several eos ids
            if let value { return value }
            throw fail("missing or non-integer key \(key)")
        }
        func float(_ key: String, in object: [String: Any]? = nil, default value: Float) throws -> Float {
            guard let v = (object ?? json)[key] else { return value }
            guard let d = v as? Double else { throw fail("non-numeric key \(key)") }
            return Float(d)
        }
        // RoPE: transformers < 5 writes rope_theta (and rope_scaling); 5 writes
        // rope_parameters {rope_theta, rope_type}. Only plain RoPE is implemented.
        let ropeParameters = json["rope_parameters"] as? [String: Any]
        let ropeType = (ropeParameters?["rope_type"] as? String)
            ?? ((json["rope_scaling"] as? [String: Any])?["rope_type"] as? String) ?? "default"
        guard ropeType == "default" else { throw fail("rope_type \(ropeType) is not supported (only default RoPE)") }
        let ropeTheta = try ropeParameters.map { try float("rope_theta", in: $0, default: 10_000) }
            ?? float("rope_theta", default: 10_000)

        let heads = try int("num_attention_heads")
        let config = ModelConfig(
            vocabSize: try int("vocab_size"), dim: try int("hidden_size"), layers: try int("num_hidden_layers"),
            heads: heads, kvHeads: try int("num_key_value_heads", default: heads),
            hiddenDim: try int("intermediate_size"),
            ropeTheta: ropeTheta, rmsNormEps: try float("rms_norm_eps", default: 1e-6),
            tiedEmbeddings: (json["tie_word_embeddings"] as? Bool) ?? false,
            maxSeqLen: try int("max_position_embeddings", default: 2048))
        do { try config.validate() } catch { throw fail("\(error)") }
        if let headDim = json["head_dim"] as? Int, headDim != config.headDim {
            throw fail("head_dim \(headDim) differs from hidden_size / num_attention_heads = \(config.headDim)")
        }
        let specials = SpecialTokens(bos: try int("bos_token_id", default: 1), eos: try int("eos_token_id", default: 2),
                                     pad: try int("pad_token_id", default: 0))
        return (config, specials)
    }
}
