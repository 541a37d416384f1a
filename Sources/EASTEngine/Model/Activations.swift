/// Everything the forward pass keeps for the backward pass, for batches of up
/// to `batchSize` x `seqLen` positions, plus the backward pass's scratch.
/// Allocated once and reused every step (no allocation inside a step).
///
/// Per-layer tensors are stacked: `q` holds layer l's (N, C) block at
/// l * N * C, where N = batchSize * seqLen.
public final class Activations {
    public let batchSize: Int
    public let seqLen: Int
    /// Rows of logits computed at once in the output head; the whole batch
    /// when its logits fit `keptLogitsBytes`, so backward reuses them.
    public let chunkRows: Int
    /// The most memory the whole batch's logits may take (otherwise they are
    /// computed in chunks of 256 rows, twice).
    public static let keptLogitsBytes = 1 << 30

    // forward, kept for backward
    let residual: FloatBuffer   // (L+1, N, C): input of layer l; [L] feeds the final norm
    let ln1, ln1Rstd: FloatBuffer       // (L, N, C), (L, N)
    let q, k, v: FloatBuffer            // (L, N, qC), (L, N, kvC), (L, N, kvC), after RoPE (qC = heads * headDim)
    let probs: FloatBuffer              // (L, B, H, T, T)
    let attention: FloatBuffer          // (L, N, qC), attention output before o_proj
    let residual2: FloatBuffer          // (L, N, C): residual after the attention block
    let ln2, ln2Rstd: FloatBuffer       // (L, N, C), (L, N)
    let gate, up, swiglu: FloatBuffer   // (L, N, hidden)
    let lnf, lnfRstd: FloatBuffer       // (N, C), (N)
    let logSumExp: FloatBuffer          // (N)
    let targetLogProbs, logSumSquaredProbs: FloatBuffer  // (N)
    let logitsChunk: FloatBuffer        // (chunkRows, V): the head's logits, then their gradient

    // backward scratch
    let dResidual, dNormed: FloatBuffer  // (N, C)
    let dAttention: FloatBuffer         // (N, qC)
    let dq, dk, dv: FloatBuffer         // (N, qC), (N, kvC), (N, kvC)
    let dGate, dUp, dSwiglu: FloatBuffer  // (N, hidden)
    let projection: FloatBuffer         // (N, C): o_proj / down_proj output in forward
    /// The LoRA path's kept inputs and scratch, allocated by the first pass with an adapter.
    var lora: LoRABuffers?

    // strides of the stacked per-layer buffers
    private let layerRows, dim, qDim, kvDim, hidden, probsStride: Int

    /// chunkRows: nil for the whole batch within `keptLogitsBytes`, else 256.
    public init(config c: ModelConfig, batchSize: Int, seqLen: Int, chunkRows: Int? = nil) {
        self.batchSize = batchSize
        self.seqLen = seqLen
        let N = batchSize * seqLen
        self.chunkRows = chunkRows ?? (N * c.vocabSize * 4 <= Self.keptLogitsBytes ? N : min(N, 256))
        let L = c.layers, C = c.dim, qC = c.qDim, kvC = c.kvDim, Hd = c.hiddenDim
        (layerRows, dim, qDim, kvDim, hidden) = (N, C, qC, kvC, Hd)
        probsStride = batchSize * c.heads * seqLen * seqLen
        residual = FloatBuffer(count: (L + 1) * N * C)
        ln1 = FloatBuffer(count: L * N * C); ln1Rstd = FloatBuffer(count: L * N)
        q = FloatBuffer(count: L * N * qC)
        k = FloatBuffer(count: L * N * kvC); v = FloatBuffer(count: L * N * kvC)
        probs = FloatBuffer(count: L * batchSize * c.heads * seqLen * seqLen)
        attention = FloatBuffer(count: L * N * qC)
        residual2 = FloatBuffer(count: L * N * C)
        ln2 = FloatBuffer(count: L * N * C); ln2Rstd = FloatBuffer(count: L * N)
        gate = FloatBuffer(count: L * N * Hd); up = FloatBuffer(count: L * N * Hd)
        swiglu = FloatBuffer(count: L * N * Hd)
        lnf = FloatBuffer(count: N * C); lnfRstd = FloatBuffer(count: N)
        logSumExp = FloatBuffer(count: N)
        targetLogProbs = FloatBuffer(count: N); logSumSquaredProbs = FloatBuffer(count: N)
        logitsChunk = FloatBuffer(count: self.chunkRows * c.vocabSize)
        dResidual = FloatBuffer(count: N * C); dNormed = FloatBuffer(count: N * C)
        dAttention = FloatBuffer(count: N * qC)
        dq = FloatBuffer(count: N * qC); dk = FloatBuffer(count: N * kvC); dv = FloatBuffer(count: N * kvC)
        dGate = FloatBuffer(count: N * Hd); dUp = FloatBuffer(count: N * Hd); dSwiglu = FloatBuffer(count: N * Hd)
        projection = FloatBuffer(count: N * C)
    }

    /// Layer l's slices of the stacked buffers, the same in forward and
    /// backward: input x, norm n1 and its rstd r1, q, k, v, attention probs,
    /// attention output, residual x1, norm n2 and rstd r2, gate, up, swiglu h.
    typealias Pointer = UnsafeMutablePointer<Float>
    func layer(_ l: Int) -> (x: Pointer, n1: Pointer, r1: Pointer, q: Pointer, k: Pointer, v: Pointer, probs: Pointer,
                             att: Pointer, x1: Pointer, n2: Pointer, r2: Pointer, gate: Pointer, up: Pointer, h: Pointer) {
        let N = layerRows
        return (residual.at(l * N * dim), ln1.at(l * N * dim), ln1Rstd.at(l * N),
                q.at(l * N * qDim), k.at(l * N * kvDim), v.at(l * N * kvDim), probs.at(l * probsStride),
                attention.at(l * N * qDim), residual2.at(l * N * dim), ln2.at(l * N * dim), ln2Rstd.at(l * N),
                gate.at(l * N * hidden), up.at(l * N * hidden), swiglu.at(l * N * hidden))
    }
}
