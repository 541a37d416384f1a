import Foundation

/// A Llama-architecture model from a GGUF file (e.g. SmolLM2-135M-Instruct.Q4_1.gguf):
/// its config from the `llama.*` metadata, its weights dequantized to Float32
/// under our Hugging Face names, and its tokenizer and chat template from the
/// `tokenizer.*` metadata.
public enum GGUFModel {
    public struct Loaded {
        public let model: Transformer
        /// Nil when the file has no `tokenizer.ggml.*` vocabulary.
        public let tokenizer: ByteLevelBPETokenizer?
        public let chatTemplate: ChatTemplate
        public let file: GGUFFile
    }

    /// Reads and checks the file, builds the config, dequantizes every tensor.
    /// Throws `CheckpointError` naming the file for a bad magic, a truncated
    /// file, another architecture, a tensor type we cannot read or a tensor of
    /// the wrong shape.
    public static func load(from url: URL) throws -> Loaded {
        let file = try GGUFFile(url: url)
        let config = try modelConfig(file)
        let layout = ParameterLayout(config: config)
        let parameters = FloatBuffer(count: layout.totalCount)
        var quantized: [Int: QuantizedMatrix] = [:]
        for e in layout.entries {
            let name = ggufName(e.name)
            try file.read(name, shape: e.shape, into: parameters.at(e.offset))
            var codes = e.isMatrix ? file.blockCodes(name) : nil
            // llama.cpp's converter reorders the rows of each Q and K head; undo it.
            let heads = name.hasSuffix("attn_q.weight") ? config.heads : name.hasSuffix("attn_k.weight") ? config.kvHeads : 0
            if heads > 0 {
                unpermuteRoPERows(parameters.at(e.offset), heads: heads, headDim: config.headDim, columns: config.dim)
                codes = codes?.rowsUnpermuted(heads: heads, headDim: config.headDim)
            }
            if let codes { quantized[e.offset] = codes }
        }
        let model = try Transformer(config: config, parameters: parameters)
        // Kept for the sampler, which decodes from these codes while the
        // weights are unchanged (see QuantizedMatrices).
        model.quantized = QuantizedMatrices(model: model, matrices: quantized)
        let tokenizer = try ByteLevelBPETokenizer(gguf: file)
        let template = ChatTemplate(ggufTemplate: file.metadata["tokenizer.chat_template"]?.stringValue)
        return Loaded(model: model, tokenizer: tokenizer, chatTemplate: template, file: file)
    }

    /// The config a GGUF file's `llama.*` metadata describes. The output head
    /// is tied when the file has no `output.weight` tensor (as in SmolLM2).
    public static func modelConfig(_ file: GGUFFile) throws -> ModelConfig {
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: file.url, message: message) }
        let architecture = file.metadata["general.architecture"]?.stringValue
        guard architecture == "llama" else {
            throw fail("architecture \(architecture.map { "\"\($0)\"" } ?? "(none)") is not supported (only llama)")
        }
        func int(_ key: String) throws -> Int {
            guard let v = file.metadata["llama." + key]?.intValue else { throw fail("missing or non-integer metadata llama.\(key)") }
            return v
        }
        func float(_ key: String, default value: Float) throws -> Float {
            guard let v = file.metadata["llama." + key] else { return value }
            guard let f = v.floatValue else { throw fail("metadata llama.\(key) is not a number") }
            return Float(f)
        }
        let dim = try int("embedding_length")
        let heads = try int("attention.head_count")
        // The vocabulary is the token list; without one, the embedding's row count.
        let vocabSize = file.metadata["tokenizer.ggml.tokens"]?.arrayValue?.count
            ?? file.metadata["llama.vocab_size"]?.intValue
            ?? file[tensor: "token_embd.weight"]?.shape.first ?? 0
        if let rope = file.metadata["llama.rope.dimension_count"]?.intValue, heads > 0, rope != dim / heads {
            throw fail("llama.rope.dimension_count \(rope) differs from the head size \(dim / heads); partial RoPE is not supported")
        }
        let config = ModelConfig(
            vocabSize: vocabSize, dim: dim, layers: try int("block_count"), heads: heads,
            kvHeads: file.metadata["llama.attention.head_count_kv"]?.intValue ?? heads,
            hiddenDim: try int("feed_forward_length"),
            ropeTheta: try float("rope.freq_base", default: 10_000),
            rmsNormEps: try float("attention.layer_norm_rms_epsilon", default: 1e-5),
            tiedEmbeddings: file[tensor: "output.weight"] == nil,
            maxSeqLen: try int("context_length"))
        do { try config.validate() } catch { throw fail("\(error)") }
        return config
    }

    /// The GGUF tensor name of one of our (Hugging Face) parameter names.
    public static func ggufName(_ hfName: String) -> String {
        switch hfName {
        case "model.embed_tokens.weight": return "token_embd.weight"
        case "model.norm.weight": return "output_norm.weight"
        case "lm_head.weight": return "output.weight"
        default: break
        }
        // model.layers.N.<part>.weight → blk.N.<gguf part>.weight
        let parts = hfName.split(separator: ".")
        guard parts.count >= 5, parts[0] == "model", parts[1] == "layers" else { return hfName }
        let part = parts[3...].joined(separator: ".")
        let names = [
            "input_layernorm.weight": "attn_norm.weight",
            "self_attn.q_proj.weight": "attn_q.weight",
            "self_attn.k_proj.weight": "attn_k.weight",
            "self_attn.v_proj.weight": "attn_v.weight",
            "self_attn.o_proj.weight": "attn_output.weight",
            "post_attention_layernorm.weight": "ffn_norm.weight",
            "mlp.gate_proj.weight": "ffn_gate.weight",
            "mlp.up_proj.weight": "ffn_up.weight",
            "mlp.down_proj.weight": "ffn_down.weight",
        ]
        return "blk.\(parts[2]).\(names[part] ?? part)"
    }

    /// Undoes the row order of llama.cpp's `permute` for a Q or K weight
    /// (heads·headDim rows of `columns` values each).
    ///
    /// Hugging Face's RoPE rotates channel i with channel i + headDim/2
    /// ("rotate_half"); ggml's rotates neighbours 2i and 2i+1. The converter
    /// therefore reorders each head's rows: GGUF row 2i + j is HF row
    /// j·headDim/2 + i (j = 0, 1). Our RoPE is HF's, so we put them back.
    public static func unpermuteRoPERows(_ w: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, columns: Int) {
        let half = headDim / 2
        var head = [Float](repeating: 0, count: headDim * columns)
        for h in 0..<heads {
            let base = w + h * headDim * columns
            for k in 0..<head.count { head[k] = base[k] }
            for i in 0..<half {
                for j in 0..<2 {
                    let from = (2 * i + j) * columns
                    let to = (j * half + i) * columns
                    for c in 0..<columns { base[to + c] = head[from + c] }
                }
            }
        }
    }
}
