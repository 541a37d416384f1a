/// Where each named tensor lives inside the model's single parameter block.
///
/// Names are Hugging Face Llama's (`model.layers.3.self_attn.q_proj.weight`),
/// so a checkpoint is just this table written out. The gradient block uses
/// the same offsets, and so do the optimizer's moment buffers.
public struct ParameterLayout: Sendable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        /// Linear weights are (out, in), as in PyTorch.
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
        /// Norm gains are vectors; AdamW applies weight decay to matrices only.
        public var isMatrix: Bool { shape.count == 2 }
        /// Qwen2's q/k/v biases: vectors like the norm gains, but starting at 0, not 1.
        public var isBias: Bool { name.hasSuffix(".bias") }
    }

    /// Offsets of one decoder layer's tensors, for the forward/backward code.
    public struct LayerOffsets: Sendable {
        public let inputNorm, q, k, v, o, postNorm, gate, up, down: Int
        /// The q/k/v projections' biases, when the config has them (Qwen2).
        public let qBias, kBias, vBias: Int?
    }

    public let entries: [Entry]
    public let totalCount: Int
    public let embedding: Int
    public let layers: [LayerOffsets]
    public let finalNorm: Int
    /// The output head's (vocab, dim) matrix: the embedding when tied.
    public let outputHead: Int
    private let indexByName: [String: Int]

    public init(config c: ModelConfig) {
        var entries: [Entry] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let entry = Entry(name: name, shape: shape, offset: offset)
            entries.append(entry)
            offset += entry.count
            return entry.offset
        }
        embedding = add("model.embed_tokens.weight", [c.vocabSize, c.dim])
        var layers: [LayerOffsets] = []
        for l in 0..<c.layers {
            let p = "model.layers.\(l)."
            func bias(_ name: String, _ count: Int) -> Int? {
                c.attentionBias ? add(p + "self_attn.\(name).bias", [count]) : nil
            }
            layers.append(LayerOffsets(
                inputNorm: add(p + "input_layernorm.weight", [c.dim]),
                q: add(p + "self_attn.q_proj.weight", [c.qDim, c.dim]),
                k: add(p + "self_attn.k_proj.weight", [c.kvDim, c.dim]),
                v: add(p + "self_attn.v_proj.weight", [c.kvDim, c.dim]),
                o: add(p + "self_attn.o_proj.weight", [c.dim, c.qDim]),
                postNorm: add(p + "post_attention_layernorm.weight", [c.dim]),
                gate: add(p + "mlp.gate_proj.weight", [c.hiddenDim, c.dim]),
                up: add(p + "mlp.up_proj.weight", [c.hiddenDim, c.dim]),
                down: add(p + "mlp.down_proj.weight", [c.dim, c.hiddenDim]),
                qBias: bias("q_proj", c.qDim), kBias: bias("k_proj", c.kvDim), vBias: bias("v_proj", c.kvDim)))
        }
        self.layers = layers
        finalNorm = add("model.norm.weight", [c.dim])
        outputHead = c.tiedEmbeddings ? embedding : add("lm_head.weight", [c.vocabSize, c.dim])
        self.entries = entries
        totalCount = offset
        indexByName = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    public subscript(name: String) -> Entry? {
        indexByName[name].map { entries[$0] }
    }
}
