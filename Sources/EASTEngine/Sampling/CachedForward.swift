import CKernels
import Foundation

/// Scratch for the cached (inference) forward pass, sized once for up to
/// `maxPositions` new positions per call; reused every step, so decoding
/// allocates nothing per token.
final class InferenceBuffers {
    let maxPositions: Int
    let maxRows: Int
    let x, normed, projection: FloatBuffer                // (maxPositions, C)
    let q, attention: FloatBuffer                         // (maxPositions, qC): heads * headDim
    let k, v: FloatBuffer                                 // (maxPositions, kvC)
    let gate, up: FloatBuffer                             // (maxPositions, hidden)
    let rstd: FloatBuffer                                 // (maxPositions)
    let scores: FloatBuffer                               // (maxThreads, 2, cache capacity): attention scratch
    /// Threads the attention and the token choice may use (each with its own scratch).
    static let maxThreads = 8
    let lastHidden: FloatBuffer                           // (maxRows, C)
    let logits: FloatBuffer                               // (maxRows, V)
    var cacheRows: [Int]                                  // (maxRows): cache row of each input row
    var lora: LoRABuffers?                                // the adapter's scratch, when one is attached

    init(config c: ModelConfig, maxPositions: Int, maxRows: Int, cacheCapacity: Int) {
        self.maxPositions = maxPositions
        self.maxRows = maxRows
        x = FloatBuffer(count: maxPositions * c.dim); normed = FloatBuffer(count: maxPositions * c.dim)
        q = FloatBuffer(count: maxPositions * c.qDim); attention = FloatBuffer(count: maxPositions * c.qDim)
        projection = FloatBuffer(count: maxPositions * c.dim)
        k = FloatBuffer(count: maxPositions * c.kvDim); v = FloatBuffer(count: maxPositions * c.kvDim)
        gate = FloatBuffer(count: maxPositions * c.hiddenDim); up = FloatBuffer(count: maxPositions * c.hiddenDim)
        rstd = FloatBuffer(count: maxPositions)
        scores = FloatBuffer(count: Self.maxThreads * 2 * cacheCapacity)
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
    ///
    /// With `packed` (a current copy of this model's matrices), every
    /// product it holds reads the packed copy, prefill (T > 1) as well as
    /// decode steps: the integer panels of quantized matrices (8-bit
    /// activations, integer dot products) on AVX2 or AVX-512 VNNI, the
    /// Float32 panels of the others with AVX-512. Each output is one sum in a
    /// fixed order and the kernels split a product by columns only, so a
    /// sample's numbers depend neither on which others share its steps nor
    /// on the thread count (OpenBLAS's sgemm gives other bits with 1 and 2
    /// threads at some prompt lengths). Float32 matrices without AVX-512
    /// decode on `RowMatmul`, with the same independence, and prefill on
    /// sgemm (a prompt is prefilled alone, so its M does not depend on
    /// companions). q, k and v, and gate and up, go to the threads in one
    /// hand-off each. With an adapter attached, its low-rank products still
    /// run on BLAS.
    func forwardCached(tokens: UnsafePointer<Int32>, rows: Int, T: Int, cache: KVCache, buffers b: InferenceBuffers,
                       packed: PackedWeights? = nil) {
        let c = config
        let M = rows * T, C = c.dim, qC = c.qDim, kvC = c.kvDim, Hd = c.hiddenDim
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
        // out = inp W^T over `rows` rows (default all M) for up to three
        // matrices reading the same input (q, k and v; gate and up): one
        // hand-off of the packed products when all three are packed, else
        // each on its own from the parameters at `weight`
        typealias Linear = (out: UnsafeMutablePointer<Float>, weight: Int, packedAt: Int?, N: Int)
        func linear(_ inp: UnsafePointer<Float>, K: Int, rows: Int? = nil, _ a: Linear, _ b: Linear? = nil, _ c: Linear? = nil) {
            let rows = rows ?? M
            func isPacked(_ l: Linear?) -> Bool { l.map { $0.packedAt.map { packed?.has($0) ?? false } ?? false } ?? true }
            if let packed, isPacked(a), isPacked(b), isPacked(c) {
                func product(_ l: Linear?) -> PackedWeights.Product? { l.map { .init(matrix: $0.packedAt!, out: $0.out) } }
                packed.matmul(inp: inp, M: rows, product(a)!, product(b), product(c))
                return
            }
            // Float32 matrices without a packed copy (no AVX-512)
            func single(_ l: Linear?) {
                guard let l else { return }
                if T == 1 {
                    // decode: still independent of the batch companions
                    RowMatmul.forward(out: l.out, inp: inp, weight: p + l.weight, M: rows, K: K, N: l.N)
                } else {
                    Matmul.forward(out: l.out, inp: inp, weight: p + l.weight, M: rows, K: K, N: l.N)
                }
            }
            single(a)
            single(b)
            single(c)
        }

        Embedding.forward(out: x, tokens: tokens, table: p + layout.embedding, N: M, C: C)
        for l in 0..<c.layers {
            let w = layout.layers[l], pw = packed?.layers[l]
            RMSNorm.forward(out: n, rstd: b.rstd.pointer, inp: x, weight: p + w.inputNorm, N: M, C: C, eps: c.rmsNormEps)
            linear(n, K: C, (q, w.q, pw?.q, qC), (k, w.k, pw?.k, kvC), (v, w.v, pw?.v, kvC))
            lora?.forward(.q, l, out: q, inp: n)
            lora?.forward(.k, l, out: k, inp: n)
            lora?.forward(.v, l, out: v, inp: n)
            if let bias = w.qBias { Bias.forward(q, bias: p + bias, N: M, C: qC) }
            if let bias = w.kBias { Bias.forward(k, bias: p + bias, N: M, C: kvC) }
            if let bias = w.vBias { Bias.forward(v, bias: p + bias, N: M, C: kvC) }
            for i in 0..<rows {  // each row at its own positions
                let start = cache.lengths[b.cacheRows[i]]
                rope.forward(q + i * T * qC, N: T, T: T, heads: H, startPosition: start)
                rope.forward(k + i * T * kvC, N: T, T: T, heads: KV, startPosition: start)
            }
            for i in 0..<rows {  // append this step's keys and values: cache[l, row, start + t] = k[i, t]
                let row = b.cacheRows[i], start = cache.lengths[row]
                for t in 0..<T {
                    cache.append(layer: l, row: row, position: start + t, key: k + (i * T + t) * kvC, value: v + (i * T + t) * kvC)
                }
            }
            // attention of each new position over its row's cache up to itself;
            // pairs of (row, position) are independent, so several threads share them out
            nonisolated(unsafe) let (keys, values) = (cache.keys.at(cache.offset(layer: l, row: 0)),
                                                      cache.values.at(cache.offset(layer: l, row: 0)))
            nonisolated(unsafe) let (queries, out, scores) = (UnsafePointer(q), att, b.scores.pointer)
            let rowStride = cache.offset(layer: 0, row: 1), capacity = cache.capacity
            let (keyBlockStride, valueStride, valueHeadStride) = (cache.keyBlockStride, cache.valueStride, cache.valueHeadStride)
            let cacheRows = b.cacheRows, lengths = cache.lengths
            let prefixRows = cache.prefixRows, prefixLengths = cache.prefixLengths
            // pair = one (row, position); position start + t sees positions 0...start + t,
            // those of its shared prompt in the row that holds it; one scratch row per thread
            BLASThreads.shareOut(M, limit: InferenceBuffers.maxThreads) { pair, thread in
                let (i, t) = pair.quotientAndRemainder(dividingBy: T)
                let row = cacheRows[i], start = lengths[row], shared = prefixRows[row]
                east_attend_one(out + (i * T + t) * qC, queries + (i * T + t) * qC,
                                keys + shared * rowStride, values + shared * rowStride, prefixLengths[row],
                                keys + row * rowStride, values + row * rowStride, start + t + 1, H, KV, hd,
                                keyBlockStride, valueStride, valueHeadStride, scale, scores + 2 * thread * capacity)
            }
            linear(att, K: qC, (proj, w.o, pw?.o, C))
            lora?.forward(.o, l, out: proj, inp: att)
            for j in 0..<(M * C) { x[j] += proj[j] }

            RMSNorm.forward(out: n, rstd: b.rstd.pointer, inp: x, weight: p + w.postNorm, N: M, C: C, eps: c.rmsNormEps)
            linear(n, K: C, (b.gate.pointer, w.gate, pw?.gate, Hd), (b.up.pointer, w.up, pw?.up, Hd))
            lora?.forward(.gate, l, out: b.gate.pointer, inp: n)
            lora?.forward(.up, l, out: b.up.pointer, inp: n)
            east_swiglu(b.gate.pointer, b.gate.pointer, b.up.pointer, M * Hd)  // SwiGLU.forward, vectorized
            linear(b.gate.pointer, K: Hd, (proj, w.down, pw?.down, C))
            lora?.forward(.down, l, out: proj, inp: b.gate.pointer)
            for j in 0..<(M * C) { x[j] += proj[j] }
        }
        for i in 0..<rows { cache.lengths[b.cacheRows[i]] += T }
        // final norm and output head, for the last new position of each row only
        for i in 0..<rows {
            RMSNorm.forward(out: b.lastHidden.at(i * C), rstd: b.rstd.pointer, inp: x + (i * T + T - 1) * C,
                            weight: p + layout.finalNorm, N: 1, C: C, eps: c.rmsNormEps)
        }
        linear(b.lastHidden.pointer, K: C, rows: rows, (b.logits.pointer, layout.outputHead, packed?.outputHead, c.vocabSize))
    }
}
