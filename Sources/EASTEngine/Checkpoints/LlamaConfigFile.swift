import EASTCore
import Foundation

/// config.json with Hugging Face `LlamaConfig` (or `Qwen2Config`) keys, so that
/// `transformers.AutoModelForCausalLM.from_pretrained(dir)` can load a checkpoint.
public enum LlamaConfigFile {
    public struct SpecialTokens: Equatable, Sendable {
        public var bos: Int, eos: Int, pad: Int
        public init(bos: Int, eos: Int, pad: Int) { self.bos = bos; self.eos = eos; self.pad = pad }
    }

    /// The keys `write` gives (the ones transformers reads for these models).
    struct File: Encodable {
        struct RopeScaling: Encodable {
            var ropeType = "llama3"
            var factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositionEmbeddings: Int
            enum CodingKeys: String, CodingKey {
                case ropeType = "rope_type", factor, lowFreqFactor = "low_freq_factor", highFreqFactor = "high_freq_factor"
                case originalMaxPositionEmbeddings = "original_max_position_embeddings"
            }
        }
        var architectures: [String], modelType: String, vocabSize: Int, hiddenSize: Int, intermediateSize: Int
        var numHiddenLayers: Int, numAttentionHeads: Int, numKeyValueHeads: Int, headDim: Int, ropeTheta: Double, rmsNormEps: Double
        var tieWordEmbeddings: Bool, maxPositionEmbeddings: Int, bosTokenId: Int, eosTokenId: Int, padTokenId: Int
        var hiddenAct = "silu"
        var torchDtype = "float32"
        /// Qwen2's biases are implied by its model type; Llama's config says there are none.
        var useSlidingWindow: Bool?, attentionBias: Bool?, mlpBias: Bool?
        var ropeScaling: RopeScaling?

        enum CodingKeys: String, CodingKey {
            case architectures, modelType = "model_type", vocabSize = "vocab_size", hiddenSize = "hidden_size"
            case intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
            case numKeyValueHeads = "num_key_value_heads", headDim = "head_dim", ropeTheta = "rope_theta", rmsNormEps = "rms_norm_eps"
            case tieWordEmbeddings = "tie_word_embeddings", maxPositionEmbeddings = "max_position_embeddings"
            case bosTokenId = "bos_token_id", eosTokenId = "eos_token_id", padTokenId = "pad_token_id", hiddenAct = "hidden_act"
            case torchDtype = "torch_dtype", useSlidingWindow = "use_sliding_window", attentionBias = "attention_bias", mlpBias = "mlp_bias"
            case ropeScaling = "rope_scaling"
        }
    }

    public static func write(_ c: ModelConfig, specials: SpecialTokens, to url: URL) throws {
        let file = File(
            architectures: [c.attentionBias ? "Qwen2ForCausalLM" : "LlamaForCausalLM"], modelType: c.attentionBias ? "qwen2" : "llama",
            vocabSize: c.vocabSize, hiddenSize: c.dim, intermediateSize: c.hiddenDim, numHiddenLayers: c.layers, numAttentionHeads: c.heads,
            numKeyValueHeads: c.kvHeads, headDim: c.headDim, ropeTheta: Double(c.ropeTheta), rmsNormEps: Double(c.rmsNormEps),
            tieWordEmbeddings: c.tiedEmbeddings, maxPositionEmbeddings: c.maxSeqLen, bosTokenId: specials.bos, eosTokenId: specials.eos,
            padTokenId: specials.pad,
            useSlidingWindow: c.attentionBias ? false : nil, attentionBias: c.attentionBias ? nil : false, mlpBias: c.attentionBias ? nil : false,
            ropeScaling: c.ropeScaling.map {
                .init(factor: Double($0.factor), lowFreqFactor: Double($0.lowFreqFactor), highFreqFactor: Double($0.highFreqFactor),
                      originalMaxPositionEmbeddings: $0.originalMaxPositions)
            })
        try AtomicFile.write(try JSONCoding.encode(file, pretty: true), to: url)
    }

    /// The model types we run: Llama (1, 2, 3.x, SmolLM2) and Qwen2 (Qwen2, Qwen2.5).
    public static let supportedModelTypes = ["llama", "qwen2"]

    /// Reads a Llama or Qwen2 config.json. Anything the engine would run
    /// differently from what the file says (another architecture, sliding
    /// window attention, another RoPE type, experts, extra biases) stops with
    /// an error naming the key and its value.
    public static func read(from url: URL) throws -> (ModelConfig, SpecialTokens) {
        let data = try CheckpointError.reading(url)
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: url, message: message) }
        let json: JSON
        do { json = try JSON.parse(String(decoding: data, as: UTF8.self)) } catch { throw fail("not JSON (\(error))") }
        guard case .object = json else { throw fail("not a JSON object") }
        func int(_ key: String, in object: JSON? = nil, default value: Int? = nil) throws -> Int {
            let v = (object ?? json)[key]
            if let v = v?.intValue { return v }
            if let first = v?.arrayValue?.first?.intValue { return first }  // e.g. several eos ids
            if v == nil || v == .null, let value { return value }
            throw fail("missing or non-integer key \(key)")
        }
        func float(_ key: String, in object: JSON? = nil, default value: Double? = nil) throws -> Double {
            let v = (object ?? json)[key]
            if v == nil || v == .null, let value { return value }
            guard let d = v?.numberValue else { throw fail("missing or non-numeric key \(key)") }
            return d
        }
        func flag(_ key: String) -> Bool { json[key]?.boolValue ?? false }
        func refuse(_ key: String, _ value: Any, _ why: String) -> CheckpointError {
            fail("\(key) \(value) is not supported (\(why))")
        }

        let modelType = json["model_type"]?.stringValue ?? "llama"
        guard supportedModelTypes.contains(modelType) else {
            throw refuse("model_type", "\"\(modelType)\"", "only \(supportedModelTypes.joined(separator: ", "))")
        }
        let qwen2 = modelType == "qwen2"
        if let architectures = json["architectures"]?.arrayValue?.compactMap(\.stringValue) {
            let known = ["LlamaForCausalLM", "Qwen2ForCausalLM"]
            for a in architectures where !known.contains(a) {
                throw refuse("architectures", "\"\(a)\"", "only \(known.joined(separator: ", "))")
            }
        }
        for key in ["num_experts", "num_local_experts", "n_routed_experts"] {
            if let n = json[key]?.intValue, n > 0 { throw refuse(key, n, "mixture of experts is not implemented") }
        }
        if flag("use_sliding_window") {
            throw refuse("use_sliding_window", true, "sliding window attention is not implemented; sliding_window "
                + "\(json["sliding_window"]?.intValue.map { "\($0)" } ?? "(unset)")")
        }
        // Llama's attention_bias puts a bias on o_proj too; Qwen2 has q/k/v biases always.
        if !qwen2 && flag("attention_bias") { throw refuse("attention_bias", true, "for model_type llama it adds an o_proj bias") }
        if flag("mlp_bias") { throw refuse("mlp_bias", true, "no MLP biases") }
        if let act = json["hidden_act"]?.stringValue, act != "silu" { throw refuse("hidden_act", "\"\(act)\"", "only silu") }

        // RoPE: transformers < 5 writes rope_theta (and rope_scaling); 5 writes
        // rope_parameters {rope_theta, rope_type, ...}. Plain RoPE and llama3 are implemented.
        let rope = [json["rope_parameters"], json["rope_scaling"]].first { $0?.objectValue != nil } ?? nil
        let ropeType = rope?["rope_type"]?.stringValue ?? rope?["type"]?.stringValue ?? "default"
        let ropeTheta = try float("rope_theta", in: json["rope_theta"] == nil ? rope : nil, default: 10_000)
        var scaling: RoPEScaling?
        switch ropeType {
        case "default": break
        case "llama3":
            scaling = RoPEScaling(
                factor: try float("factor", in: rope), lowFreqFactor: try float("low_freq_factor", in: rope),
                highFreqFactor: try float("high_freq_factor", in: rope),
                originalMaxPositions: try int("original_max_position_embeddings", in: rope))
        default:
            throw refuse("rope_type", "\"\(ropeType)\"", "only default and llama3")
        }
        if let partial = json["partial_rotary_factor"]?.numberValue, partial != 1 {
            throw refuse("partial_rotary_factor", partial, "RoPE on every channel only")
        }

        let heads = try int("num_attention_heads")
        let config = ModelConfig(
            vocabSize: try int("vocab_size"), dim: try int("hidden_size"), layers: try int("num_hidden_layers"),
            heads: heads, kvHeads: try int("num_key_value_heads", default: heads),
            hiddenDim: try int("intermediate_size"),
            ropeTheta: Float(ropeTheta), rmsNormEps: Float(try float("rms_norm_eps", default: 1e-6)),
            tiedEmbeddings: json["tie_word_embeddings"]?.boolValue ?? false,
            maxSeqLen: try int("max_position_embeddings", default: 2048),
            attentionBias: qwen2, ropeScaling: scaling,
            headDim: json["head_dim"] == .null ? nil : try json["head_dim"].map { _ in try int("head_dim") })
        do { try config.validate() } catch { throw fail("\(error)") }
        let specials = SpecialTokens(bos: try int("bos_token_id", default: 1), eos: try int("eos_token_id", default: 2),
                                     pad: try int("pad_token_id", default: 0))
        return (config, specials)
    }
}
