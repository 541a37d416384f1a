/// The shape of a Llama-style decoder: everything needed to lay out the
/// parameters and run the model. Field meanings follow Hugging Face's
/// `LlamaConfig` (see `Checkpoints/LlamaConfigFile.swift` for the key names).
public struct ModelConfig: Codable, Equatable, Sendable {
    public var vocabSize: Int
    /// Width of the residual stream (hidden_size).
    public var dim: Int
    public var layers: Int
    /// Query heads; each has dim / heads channels.
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

    public init(
        vocabSize: Int, dim: Int, layers: Int, heads: Int, kvHeads: Int, hiddenDim: Int,
        ropeTheta: Float = 10_000, rmsNormEps: Float = 1e-5, tiedEmbeddings: Bool = true,
        maxSeqLen: Int = 2048
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
    }

    public var headDim: Int { dim / heads }
    /// Width of the K and V projections: kvHeads * headDim.
    public var kvDim: Int { kvHeads * headDim }

    /// SmolLM2-135M's shape (30 layers, width 576, 9 heads, 3 KV heads, tied).
    public static let smolLM2_135M = ModelConfig(
        vocabSize: 49_152, dim: 576, layers: 30, heads: 9, kvHeads: 3, hiddenDim: 1536,
        ropeTheta: 100_000, rmsNormEps: 1e-5, tiedEmbeddings: true, maxSeqLen: 8192)

    /// Throws when the numbers cannot describe a model (e.g. dim not divisible by heads).
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws {
            if !ok { throw ModelConfigError(message: message) }
        }
        try check(vocabSize > 0 && dim > 0 && layers > 0 && hiddenDim > 0 && maxSeqLen > 0,
                  "vocabSize, dim, layers, hiddenDim and maxSeqLen must be positive")
        try check(heads > 0 && dim % heads == 0, "dim \(dim) is not divisible by heads \(heads)")
        try check(headDim % 2 == 0, "head dimension \(headDim) must be even for RoPE")
        try check(kvHeads > 0 && heads % kvHeads == 0, "heads \(heads) is not divisible by kvHeads \(kvHeads)")
        try check(rmsNormEps > 0 && ropeTheta > 0, "rmsNormEps and ropeTheta must be positive")
    }
}

public struct ModelConfigError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "invalid model config: \(message)" }
}
