/// The shape of a Llama-style decoder: everything needed to lay out the
/// parameters and run the model. Field meanings follow Hugging Face's
/// `LlamaConfig` (see `Checkpoints/LlamaConfigFile.swift` for the key names).
/// Qwen2 is the same decoder with biases on the q, k and v projections
/// (`attentionBias`); Llama 3 the same with scaled RoPE (`ropeScaling`).
public struct ModelConfig: Codable, Equatable, Sendable {
    public var vocabSize: Int
    /// Width of the residual stream (hidden_size).
    public var dim: Int
    public var layers: Int
    /// Query heads; each has `headDim` channels.
    public var heads: Int
    /// Key/value heads (grouped-query attention): `heads / kvHeads` query heads share one.
    public var kvHeads: Int
    /// Width of the SwiGLU feed-forward layer (intermediate_size).
    public var hiddenDim: Int
    public var ropeTheta: Float
    public var rmsNormEps: Float
    /// When true, the output head reuses the token embedding matrix (no lm_head.weight).
    public var tiedEmbeddings: Bool
    /// Longest sequence the RoPE table and KV cache are sized for.
    public var maxSeqLen: Int
    /// Qwen2's biases on q_proj, k_proj and v_proj (not o_proj).
    public var attentionBias: Bool
    /// Llama 3's RoPE frequency scaling, or nil for plain RoPE.
    public var ropeScaling: RoPEScaling?
    /// Channels per attention head: config.json's `head_dim`, by default
    /// dim / heads (as transformers computes it). When heads * headDim is
    /// not dim, q_proj maps dim to that width and o_proj back.
    public var headDim: Int

    public init(
        vocabSize: Int, dim: Int, layers: Int, heads: Int, kvHeads: Int, hiddenDim: Int,
        ropeTheta: Float = 10_000, rmsNormEps: Float = 1e-5, tiedEmbeddings: Bool = true,
        maxSeqLen: Int = 2048, attentionBias: Bool = false, ropeScaling: RoPEScaling? = nil, headDim: Int? = nil
    ) {
        self.vocabSize = vocabSize
        self.dim = dim
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.hiddenDim = hiddenDim
        self.ropeTheta = ropeTheta
        self.rmsNormEps = rmsNormEps
        self.tiedEmbeddings = tiedEmbeddings
        self.maxSeqLen = maxSeqLen
        self.attentionBias = attentionBias
        self.ropeScaling = ropeScaling
        self.headDim = headDim ?? (heads > 0 ? dim / heads : 0)
    }

    private enum CodingKeys: String, CodingKey {
        case vocabSize, dim, layers, heads, kvHeads, hiddenDim, ropeTheta, rmsNormEps, tiedEmbeddings, maxSeqLen
        case attentionBias, ropeScaling, headDim
    }

    /// Configs written before the Qwen2 and Llama 3 fields decode as plain Llama.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            vocabSize: try c.decode(Int.self, forKey: .vocabSize), dim: try c.decode(Int.self, forKey: .dim),
            layers: try c.decode(Int.self, forKey: .layers), heads: try c.decode(Int.self, forKey: .heads),
            kvHeads: try c.decode(Int.self, forKey: .kvHeads), hiddenDim: try c.decode(Int.self, forKey: .hiddenDim),
            ropeTheta: try c.decode(Float.self, forKey: .ropeTheta), rmsNormEps: try c.decode(Float.self, forKey: .rmsNormEps),
            tiedEmbeddings: try c.decode(Bool.self, forKey: .tiedEmbeddings), maxSeqLen: try c.decode(Int.self, forKey: .maxSeqLen),
            attentionBias: try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false,
            ropeScaling: try c.decodeIfPresent(RoPEScaling.self, forKey: .ropeScaling),
            headDim: try c.decodeIfPresent(Int.self, forKey: .headDim))
    }

    /// Bounds on the numbers a file may give (the largest of the supported
    /// families are far inside them: Llama 3.1 405B has 126 layers of 16,384).
    public static let maxVocabulary = 1 << 20, maxWidth = 1 << 16, maxLayers = 1024, maxHeads = 1024
    public static let maxPositions = 1 << 24, maxParameters = 1 << 36

    /// An upper bound of the parameter count with no arithmetic that can
    /// overflow for the bounded fields (each at most 2^24): embeddings, head,
    /// and per layer the attention and MLP matrices with their biases and norms.
    var parameterCountBound: Int {
        let perLayer = 2 * dim * (heads * headDim) + 2 * dim * (kvHeads * headDim) + 3 * dim * hiddenDim + 4 * dim + 2 * (heads * headDim)
        return 2 * vocabSize * dim + layers * perLayer + dim
    }

    /// Width of the Q projection and of the attention output: heads * headDim (dim unless head_dim says otherwise).
    public var qDim: Int { heads * headDim }
    /// Width of the K and V projections: kvHeads * headDim.
    public var kvDim: Int { kvHeads * headDim }

    /// SmolLM2-135M's shape (30 layers, width 576, 9 heads, 3 KV heads, tied).
    public static let smolLM2_135M = ModelConfig(
        vocabSize: 49_152, dim: 576, layers: 30, heads: 9, kvHeads: 3, hiddenDim: 1536,
        ropeTheta: 100_000, rmsNormEps: 1e-5, tiedEmbeddings: true, maxSeqLen: 8192)

    /// Qwen2.5-0.5B(-Instruct)'s shape (24 layers, width 896, 14 heads, 2 KV heads, q/k/v biases, tied).
    public static let qwen25_05B = ModelConfig(
        vocabSize: 151_936, dim: 896, layers: 24, heads: 14, kvHeads: 2, hiddenDim: 4864,
        ropeTheta: 1_000_000, rmsNormEps: 1e-6, tiedEmbeddings: true, maxSeqLen: 32_768, attentionBias: true)

    /// Llama-3.2-1B(-Instruct)'s shape (16 layers, width 2048, 32 heads, 8 KV heads, llama3 RoPE, tied).
    public static let llama32_1B = ModelConfig(
        vocabSize: 128_256, dim: 2048, layers: 16, heads: 32, kvHeads: 8, hiddenDim: 8192,
        ropeTheta: 500_000, rmsNormEps: 1e-5, tiedEmbeddings: true, maxSeqLen: 131_072,
        ropeScaling: .llama3(factor: 32))

    /// Throws when the numbers cannot describe a model (e.g. dim not divisible by heads).
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws {
            if !ok { throw ModelConfigError(message: message) }
        }
        try check(vocabSize > 0 && dim > 0 && layers > 0 && hiddenDim > 0 && maxSeqLen > 0,
                  "vocabSize, dim, layers, hiddenDim and maxSeqLen must be positive")
        // Upper bounds before anything is sized by them (numbers from a file can be anything).
        for (name, value, bound) in [("vocabSize", vocabSize, Self.maxVocabulary), ("dim", dim, Self.maxWidth),
                                     ("hiddenDim", hiddenDim, 4 * Self.maxWidth), ("layers", layers, Self.maxLayers),
                                     ("heads", heads, Self.maxHeads), ("kvHeads", kvHeads, Self.maxHeads),
                                     ("headDim", headDim, 4096), ("maxSeqLen", maxSeqLen, Self.maxPositions)] {
            try check(value <= bound, "\(name) \(value) is beyond the engine's bound \(bound)")
        }
        try check(parameterCountBound <= Self.maxParameters,
                  "\(parameterCountBound) parameters are beyond the engine's bound \(Self.maxParameters)")
        try check(heads > 0 && headDim > 0, "heads \(heads) and head dimension \(headDim) must be positive")
        try check(headDim % 2 == 0, "head dimension \(headDim) must be even for RoPE")
        try check(kvHeads > 0 && heads % kvHeads == 0, "heads \(heads) is not divisible by kvHeads \(kvHeads)")
        try check(rmsNormEps > 0 && ropeTheta > 0, "rmsNormEps and ropeTheta must be positive")
        try ropeScaling?.validate()
    }
}

public struct ModelConfigError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "invalid model config: \(message)" }
}
