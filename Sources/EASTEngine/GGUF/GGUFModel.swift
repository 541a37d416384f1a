import Foundation

/// A Llama- or Qwen2-architecture model from a GGUF file (e.g.
/// SmolLM2-135M-Instruct.Q4_1.gguf, Llama-3.2-1B-Instruct-Q8_0.gguf,
/// qwen2.5-0.5b-instruct-q8_0.gguf): its config from the `llama.*` or
/// `qwen2.*` metadata, its weights dequantized to Float32 under our Hugging
/// Face names (quantized matrices also keep their codes for the integer
/// decode kernels), and its tokenizer and chat template from the `tokenizer.*` metadata.
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
        // Every tensor the header's model needs is in the file with its shape
        // before the model's size is allocated (a header can claim anything).
        for e in layout.entries { try file.check(ggufName(e.name), shape: e.shape) }
        let parameters = FloatBuffer(count: layout.totalCount)
        var quantized: [Int: QuantizedMatrix] = [:]
        for e in layout.entries {
            let name = ggufName(e.name)
            try file.read(name, shape: e.shape, into: parameters.at(e.offset))
            var codes = e.isMatrix ? file.blockCodes(name) : nil
            // llama.cpp's converter reorders the rows of each Q and K head of a
            // llama model (not of qwen2, whose ggml RoPE is already HF's); undo it.
            let permuted = file.metadata["general.architecture"]?.stringValue == "llama"
            let heads = !permuted ? 0 : name.hasSuffix("attn_q.weight") ? config.heads
                : name.hasSuffix("attn_k.weight") ? config.kvHeads : 0
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

    /// Architectures we run, by `general.architecture`; their metadata keys start with the name.
    public static let supportedArchitectures = ["llama", "qwen2"]

    /// The config a GGUF file's `llama.*` or `qwen2.*` metadata describes. The
    /// output head is tied when the file has no `output.weight` tensor (as in
    /// SmolLM2). A llama file with a `rope_freqs` tensor (Llama 3.1 and later)
    /// gets Llama 3's RoPE scaling, checked against that tensor.
    public static func modelConfig(_ file: GGUFFile) throws -> ModelConfig {
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: file.url, message: message) }
        let architecture = file.metadata["general.architecture"]?.stringValue
        guard let arch = architecture, supportedArchitectures.contains(arch) else {
            throw fail("general.architecture \(architecture.map { "\"\($0)\"" } ?? "(none)") is not supported "
                + "(only \(supportedArchitectures.joined(separator: ", ")))")
        }
        func int(_ key: String) throws -> Int {
            guard let v = file.metadata[arch + "." + key]?.intValue else { throw fail("missing or non-integer metadata \(arch).\(key)") }
            return v
        }
        func float(_ key: String, default value: Float) throws -> Float {
            guard let v = file.metadata[arch + "." + key] else { return value }
            guard let f = v.floatValue else { throw fail("metadata \(arch).\(key) is not a number") }
            return Float(f)
        }
        let dim = try int("embedding_length")
        let heads = try int("attention.head_count")
        // The vocabulary is the token list; without one, the embedding's row count.
        let vocabSize = file.metadata["tokenizer.ggml.tokens"]?.arrayValue?.count
            ?? file.metadata[arch + ".vocab_size"]?.intValue
            ?? file[tensor: "token_embd.weight"]?.shape.first ?? 0
        // head_dim: attention.key_length when given (and value_length equal to it), else embedding_length / head_count
        let headDim = file.metadata[arch + ".attention.key_length"]?.intValue ?? (heads > 0 ? dim / heads : 0)
        if let valueLength = file.metadata[arch + ".attention.value_length"]?.intValue, valueLength != headDim {
            throw fail("\(arch).attention.value_length \(valueLength) is not supported (it must equal the key length \(headDim))")
        }
        if let rope = file.metadata[arch + ".rope.dimension_count"]?.intValue, rope != headDim {
            throw fail("\(arch).rope.dimension_count \(rope) differs from the head size \(headDim); partial RoPE is not supported")
        }
        if let experts = file.metadata[arch + ".expert_count"]?.intValue, experts > 0 {
            throw fail("\(arch).expert_count \(experts) is not supported (mixture of experts is not implemented)")
        }
        if let type = file.metadata[arch + ".rope.scaling.type"]?.stringValue, type != "none" {
            throw fail("\(arch).rope.scaling.type \"\(type)\" is not supported (only none, or llama3's rope_freqs tensor)")
        }
        if let window = file.metadata[arch + ".attention.sliding_window"]?.intValue, window > 0 {
            throw fail("\(arch).attention.sliding_window \(window) is not supported (sliding window attention is not implemented)")
        }
        // Biases: qwen2 has them on q, k and v; on o_proj (or on a llama) we have none.
        for t in file.tensors where t.name.hasSuffix(".bias") {
            let qkv = ["attn_q.bias", "attn_k.bias", "attn_v.bias"].contains { t.name.hasSuffix($0) }
            if !(arch == "qwen2" && qkv) { throw fail("tensor \(t.name) is not supported (only qwen2's q/k/v biases)") }
        }
        var config = ModelConfig(
            vocabSize: vocabSize, dim: dim, layers: try int("block_count"), heads: heads,
            kvHeads: file.metadata[arch + ".attention.head_count_kv"]?.intValue ?? heads,
            hiddenDim: try int("feed_forward_length"),
            ropeTheta: try float("rope.freq_base", default: 10_000),
            rmsNormEps: try float("attention.layer_norm_rms_epsilon", default: 1e-5),
            tiedEmbeddings: file[tensor: "output.weight"] == nil,
            maxSeqLen: try int("context_length"),
            attentionBias: arch == "qwen2", headDim: headDim)
        do { try config.validate() } catch { throw fail("\(error)") }
        if file[tensor: "rope_freqs.weight"] != nil {
            config.ropeScaling = try llama3Scaling(file, arch: arch, config: config)
        }
        return config
    }

    /// Llama 3's scaling from the `rope_freqs` tensor llama.cpp writes (each
    /// frequency's divisor): the factor is the largest divisor, the original
    /// context `rope.scaling.original_context_length` (8192 when absent) and
    /// the low/high factors Meta's 1 and 4. Every divisor must then match
    /// what these give, so that we never run other frequencies than the file's.
    static func llama3Scaling(_ file: GGUFFile, arch: String, config: ModelConfig) throws -> RoPEScaling {
        let divisors = try file.values("rope_freqs.weight")
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: file.url, message: "tensor rope_freqs.weight: \(message)") }
        guard divisors.count == config.headDim / 2 else {
            throw fail("has \(divisors.count) values, the head size \(config.headDim) needs \(config.headDim / 2)")
        }
        let original = file.metadata[arch + ".rope.scaling.original_context_length"]?.intValue ?? 8192
        let scaling = RoPEScaling.llama3(factor: Double(divisors.max() ?? 1), originalMaxPositions: original)
        do { try scaling.validate() } catch { throw fail("\(error)") }
        for (i, d) in divisors.enumerated() {
            let f = pow(Double(config.ropeTheta), -2.0 * Double(i) / Double(config.headDim))
            let expected = scaling.divisor(frequency: f)
            if abs(Double(d) - expected) > 1e-5 * expected {
                throw fail("value \(i) is \(d), llama3 scaling (factor \(scaling.factor), low_freq_factor 1, high_freq_factor 4, "
                    + "original context \(original)) gives \(expected); other scalings are not supported")
            }
        }
        return scaling
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
            "self_attn.q_proj.bias": "attn_q.bias",
            "self_attn.k_proj.bias": "attn_k.bias",
            "self_attn.v_proj.bias": "attn_v.bias",
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
