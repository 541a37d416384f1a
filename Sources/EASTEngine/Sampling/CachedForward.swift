import Foundation

/// Scratch for the cached (inference) forward pass, sized once for up to
/// `maxPositions` new positions per call; reused every step, so decoding
/// allocates nothing per token.
final class InferenceBuffers {
    let maxPositions: Int
    let maxRows: Int
    let x, normed, q, attention, projection: FloatBuffer  // (maxPositions, C)
    let k, v: FloatBuffer                                 // (maxPositions, kvC)
    let gate, up: FloatBuffer                             // (maxPositions, hidden)
    let rstd: FloatBuffer                                 // (maxPositions)
    let scores: FloatBuffer                               // (cache capacity)
    let lastHidden: FloatBuffer                           // (maxRows, C)
    let logits: FloatBuffer                               // (maxRows, V)
    var cacheRows: [Int]                                  // (maxRows): cache row of each input row
    var lora: LoRABuffers?                                // the adapter's scratch, when one is attached

    init(config c: ModelConfig, maxPositions: Int, maxRows: Int, cacheCapacity: Int) {
        self.maxPositions = maxPositions
        self.maxRows = maxRows
        x = FloatBuffer(count: maxPositions * c.dim); normed = FloatBuffer(count: maxPositions * c.dim)
        q = FloatBuffer(count: maxPositions * c.dim); attention = FloatBuffer(count: maxPositions * c.dim)
        projection = FloatBuffer(count: maxPositions * c.dim)
        k = FloatBuffer(count: maxPositions * c.kvDim); v = FloatBuffer(count: maxPositions * c.kvDim)
        gate = FloatBuffer(count: maxPositions * c.hiddenDim); up = FloatBuffer(count: maxPositions * c.hiddenDim)
        rstd = FloatBuffer(count: maxPositions)
        scores = FloatBuffer(count: cacheCapacity)
        lastHidden = FloatBuffer(count: maxRows * c.dim)
        logits = FloatBuffer(count: maxRows * c.vocabSize)
        cacheRows = [Int](repeating: 0, count: maxRows)
    }
}

extension Transformer {
    /// Runs `T` new tokens for each of `rows` input rows. Input row i belongs
    /// to KV-cache row `b.cacheRows[i]` and its tokens go at that row's next
    /// positions; their keys and values are appended to the cache. Leaves the
    /// logits of each input row's last new token in `b.logits` (rows, V).
    ///
    /// Prefill: rows = 1, T = prompt length. Decode: one token for every
    /// unfinished sample, T = 1, so every matmul has M = number of samples
    /// and the weights are read once for all of them.
    /// tokens: (rows, T)
    func forwardCached(tokens: UnsafePointer<Int32>, rows: Int, T: Int, cache: KVCache, buffers b: InferenceBuffers) {
        let c = config
        let M = rows * T, C = c.dim, kvC = c.kvDim, Hd = c.hiddenDim
        let H = c.heads, KV = c.kvHeads, hd = c.headDim
        precondition(M <= b.maxPositions && rows <= b.maxRows, "cached forward: \(rows)x\(T) tokens exceed the buffers")
        for i in 0..<rows {
            precondition(cache.lengths[b.cacheRows[i]] + T <= cache.capacity, "cached forward: KV cache row is full")
        }
        for i in 0..<M { precondition(tokens[i] >= 0 && Int(tokens[i]) < c.vocabSize, "cached forward: token id outside the vocabulary") }
        let p = parameters.pointer
        let x = b.x.pointer, n = b.normed.pointer, q = b.q.pointer, att = b.attention.pointer
        let k = b.k.pointer, v = b.v.pointer, proj = b.projection.pointer
        let scale = 1 / Float(hd).squareRoot()
        // an attached adapter is applied unmerged, so sampling always sees its current values
        let lora = adapter.map { LoRAPass(adapter: $0, buffers: &b.lora, rows: M, capacity: b.maxPositions, keepsInputs: false) }

        Embedding.forward(out: x, tokens: tokens, table: p + layout.embedding, N: M, C: C)
        for l in 0..<c.layers {
            let w = layout.layers[l]
            RMSNorm.forward(out: n, rstd: b.rstd.pointer, inp: x, weight: p + w.inputNorm, N: M, C: C, eps: c.rmsNormEps)
            Matmul.forward(out: q, inp: n, weight: p + w.q, M: M, K: C, N: C)
            lora?.forward(.q, l, out: q, inp: n)
            Matmul.forward(out: k, inp: n, weight: p + w.k, M: M, K: C, N: kvC)
            lora?.forward(.k, l, out: k, inp: n)
            Matmul.forward(out: v, inp: n, weight: p + w.v, M: M, K: C, N: kvC)
            lora?.forward(.v, l, out: v, inp: n)
            for i in 0..<rows {  // each row at its own positions
                let start = cache.lengths[b.cacheRows[i]]
                rope.forward(q + i * T * C, N: T, T: T, heads: H, startPosition: start)
                rope.forward(k + i * T * kvC, N: T, T: T, heads: KV, startPosition: start)
            }
            let scores = b.scores.pointer
            for i in 0..<rows {
                let row = b.cacheRows[i], start = cache.lengths[row]
                // append this step's keys and values: cache[l, row, start + t] = k[i, t]
                for t in 0..<T {
                    let o = cache.offset(layer: l, row: row, position: start + t)
                    cache.keys.at(o).update(from: k + (i * T + t) * kvC, count: kvC)
                    cache.values.at(o).update(from: v + (i * T + t) * kvC, count: kvC)
                }
                // attention of each new position over the cache up to itself
                let keys = cache.keys.at(cache.offset(layer: l, row: row, position: 0))
                let values = cache.values.at(cache.offset(layer: l, row: row, position: 0))
                for t in 0..<T {
                    let position = start + t
                    for h in 0..<H {
                        let g = h / (H / KV)
                        let qh = q + (i * T + t) * C + h * hd
                        // scores (position+1) = scale * K_g[0...position] q_h   (K_g rows strided by kvC)
                        Matmul.gemv(transA: false, M: position + 1, N: hd, alpha: scale, A: keys + g * hd, lda: kvC,
                                    x: qh, beta: 0, y: scores)
                        var maxScore = -Float.infinity
                        for j in 0...position { maxScore = max(maxScore, scores[j]) }
                        var sum: Float = 0
                        for j in 0...position {
                            scores[j] = exp(scores[j] - maxScore)
                            sum += scores[j]
                        }
                        // out_h (hd) = V_g[0...position]^T softmax(scores)
                        Matmul.gemv(transA: true, M: position + 1, N: hd, alpha: 1 / sum, A: values + g * hd, lda: kvC,
                                    x: scores, beta: 0, y: att + (i * T + t) * C + h * hd)
                    }
                }
            }
            Matmul.forward(out: proj, inp: att, weight: p + w.o, M: M, K: C, N: C)
            lora?.forward(.o, l, out: proj, inp: att)
            for j in 0..<(M * C) { x[j] += proj[j] }

            RMSNorm.forward(out: n, rstd: b.rstd.pointer, inp: x, weight: p + w.postNorm, N: M, C: C, eps: c.rmsNormEps)
            Matmul.forward(out: b.gate.pointer, inp: n, weight: p + w.gate, M: M, K: C, N: Hd)
            lora?.forward(.gate, l, out: b.gate.pointer, inp: n)
            Matmul.forward(out: b.up.pointer, inp: n, weight: p + w.up, M: M, K: C, N: Hd)
            lora?.forward(.up, l, out: b.up.pointer, inp: n)
            SwiGLU.forward(h: b.gate.pointer, gate: b.gate.pointer, up: b.up.pointer, N: M * Hd)
            Matmul.forward(out: proj, inp: b.gate.pointer, weight: p + w.down, M: M, K: Hd, N: C)
            lora?.forward(.down, l, out: proj, inp: b.gate.pointer)
            for j in 0..<(M * C) { x[j] += proj[j] }
        }
        for i in 0..<rows { cache.lengths[b.cacheRows[i]] += T }
        // final norm and output head, for the last new position of each row only
        for i in 0..<rows {
            RMSNorm.forward(out: b.lastHidden.at(i * C), rstd: b.rstd.pointer, inp: x + (i * T + T - 1) * C,
                            weight: p + layout.finalNorm, N: 1, C: C, eps: c.rmsNormEps)
        }
        Matmul.forward(out: b.logits.pointer, inp: b.lastHidden.pointer, weight: p + layout.outputHead,
                       M: rows, K: C, N: c.vocabSize)
    }
}
