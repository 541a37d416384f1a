/// The training forward and backward passes, layer by layer, side by side.
///
/// One decoder layer (pre-norm Llama):
///   x1 = x  + o_proj(attention(rope(q_proj(n1)), rope(k_proj(n1)), v_proj(n1))),  n1 = rmsnorm(x)
/// (q_proj, k_proj and v_proj with a bias in Qwen2; RoPE's frequencies scaled in Llama 3)
///   x2 = x1 + down_proj(silu(gate_proj(n2)) * up_proj(n2)),                     n2 = rmsnorm(x1)
/// then the final norm and the output head give log p(target) at every position.
///
/// With a LoRA adapter attached, `lora?.forward` / `lora?.backward` right
/// after a projection's Matmul add that projection's low-rank path, and the
/// base weights get no gradient (`grad(_:)` is nil).
extension Transformer {
    /// Runs the model over `batch` and returns, per position, log p(target)
    /// and log sum_v p(v)^2. Keeps what backward needs in `acts`.
    @discardableResult
    public func forward(_ batch: TokenBatch, _ acts: Activations) -> TokenLogProbs {
        precondition(batch.batchSize <= acts.batchSize && batch.seqLen <= acts.seqLen,
                     "batch \(batch.batchSize)x\(batch.seqLen) exceeds activations \(acts.batchSize)x\(acts.seqLen)")
        let c = config
        let B = batch.batchSize, T = batch.seqLen, N = B * T
        let C = c.dim, qC = c.qDim, kvC = c.kvDim, Hd = c.hiddenDim, H = c.heads, KV = c.kvHeads, hd = c.headDim
        let Ncap = acts.batchSize * acts.seqLen  // layer stride in the stacked buffers
        let p = parameters.pointer
        let V = Int32(c.vocabSize)
        precondition(batch.inputs.allSatisfy { $0 >= 0 && $0 < V } && batch.targets.allSatisfy { $0 >= 0 && $0 < V },
                     "forward: token id outside the vocabulary 0..<\(V)")

        let lora = adapter.map { LoRAPass(adapter: $0, buffers: &acts.lora, rows: N, capacity: Ncap, keepsInputs: true) }
        batch.inputs.withUnsafeBufferPointer { tokens in
            // x: (N, C)
            Embedding.forward(out: acts.residual.pointer, tokens: tokens.baseAddress!,
                              table: p + layout.embedding, N: N, C: C)
        }
        for l in 0..<c.layers {
            let w = layout.layers[l]
            let (x, n1, r1, q, k, v, probs, att, x1, n2, r2, gate, up, h) = acts.layer(l)
            let x2 = acts.residual.at((l + 1) * Ncap * C)
            let proj = acts.projection.pointer

            // attention block
            RMSNorm.forward(out: n1, rstd: r1, inp: x, weight: p + w.inputNorm, N: N, C: C, eps: c.rmsNormEps)
            Matmul.forward(out: q, inp: n1, weight: p + w.q, M: N, K: C, N: qC)
            lora?.forward(.q, l, out: q, inp: n1)
            if let b = w.qBias { Bias.forward(q, bias: p + b, N: N, C: qC) }
            Matmul.forward(out: k, inp: n1, weight: p + w.k, M: N, K: C, N: kvC)
            lora?.forward(.k, l, out: k, inp: n1)
            if let b = w.kBias { Bias.forward(k, bias: p + b, N: N, C: kvC) }
            Matmul.forward(out: v, inp: n1, weight: p + w.v, M: N, K: C, N: kvC)
            lora?.forward(.v, l, out: v, inp: n1)
            if let b = w.vBias { Bias.forward(v, bias: p + b, N: N, C: kvC) }
            rope.forward(q, N: N, T: T, heads: H)
            rope.forward(k, N: N, T: T, heads: KV)
            Attention.forward(out: att, probs: probs, q: q, k: k, v: v, B: B, T: T, H: H, KV: KV, hd: hd)
            Matmul.forward(out: proj, inp: att, weight: p + w.o, M: N, K: qC, N: C)
            lora?.forward(.o, l, out: proj, inp: att)
            for i in 0..<(N * C) { x1[i] = x[i] + proj[i] }

            // feed-forward block
            RMSNorm.forward(out: n2, rstd: r2, inp: x1, weight: p + w.postNorm, N: N, C: C, eps: c.rmsNormEps)
            Matmul.forward(out: gate, inp: n2, weight: p + w.gate, M: N, K: C, N: Hd)
            lora?.forward(.gate, l, out: gate, inp: n2)
            Matmul.forward(out: up, inp: n2, weight: p + w.up, M: N, K: C, N: Hd)
            lora?.forward(.up, l, out: up, inp: n2)
            SwiGLU.forward(h: h, gate: gate, up: up, N: N * Hd)
            Matmul.forward(out: proj, inp: h, weight: p + w.down, M: N, K: Hd, N: C)
            lora?.forward(.down, l, out: proj, inp: h)
            for i in 0..<(N * C) { x2[i] = x1[i] + proj[i] }
        }
        let xL = acts.residual.at(c.layers * Ncap * C)
        RMSNorm.forward(out: acts.lnf.pointer, rstd: acts.lnfRstd.pointer, inp: xL,
                        weight: p + layout.finalNorm, N: N, C: C, eps: c.rmsNormEps)
        batch.targets.withUnsafeBufferPointer { targets in
            OutputHead.forward(
                targetLogProbs: acts.targetLogProbs.pointer, logSumExp: acts.logSumExp.pointer,
                logSumSquaredProbs: acts.logSumSquaredProbs.pointer,
                hidden: acts.lnf.pointer, weight: p + layout.outputHead, targets: targets.baseAddress!,
                scratch: acts.logitsChunk.pointer, chunkRows: acts.chunkRows, N: N, C: C, V: c.vocabSize)
        }
        return TokenLogProbs(logProbs: acts.targetLogProbs.slice(0, N),
                             logSumSquaredProbs: acts.logSumSquaredProbs.slice(0, N))
    }

    /// Adds dL/dparameters to `gradients`, given dL/d log p(target) at every
    /// position (B, T) from a loss. `acts` must hold this batch's forward.
    /// Gradients accumulate over calls until `zeroGradients()`. With an adapter
    /// attached, only the adapter's gradients are computed (into `adapter.gradients`).
    public func backward(_ batch: TokenBatch, _ acts: Activations, dLogProbs: [Float]) {
        let c = config
        let B = batch.batchSize, T = batch.seqLen, N = B * T
        precondition(dLogProbs.count == N, "dLogProbs has \(dLogProbs.count) values for \(N) positions")
        let C = c.dim, qC = c.qDim, kvC = c.kvDim, Hd = c.hiddenDim, H = c.heads, KV = c.kvHeads, hd = c.headDim
        let Ncap = acts.batchSize * acts.seqLen
        let p = parameters.pointer
        // the base's gradient block, or nil when frozen under an adapter (then never allocated)
        let g: UnsafeMutablePointer<Float>? = adapter == nil ? gradients.pointer : nil
        func grad(_ offset: Int) -> UnsafeMutablePointer<Float>? { g.map { $0 + offset } }
        let lora = adapter.map { LoRAPass(adapter: $0, buffers: &acts.lora, rows: N, capacity: Ncap, keepsInputs: true) }
        let dx = acts.dResidual.pointer      // gradient of the residual stream, flows down the layers
        let dn = acts.dNormed.pointer        // gradient of a norm's output

        // output head and final norm
        let xL = acts.residual.at(c.layers * Ncap * C)
        dLogProbs.withUnsafeBufferPointer { dlogp in
            batch.targets.withUnsafeBufferPointer { targets in
                OutputHead.backward(
                    dhidden: dn, dweight: grad(layout.outputHead), dlogp: dlogp.baseAddress!,
                    hidden: acts.lnf.pointer, weight: p + layout.outputHead, targets: targets.baseAddress!,
                    logSumExp: acts.logSumExp.pointer, scratch: acts.logitsChunk.pointer,
                    chunkRows: acts.chunkRows, N: N, C: C, V: c.vocabSize)
            }
        }
        dx.update(repeating: 0, count: N * C)
        RMSNorm.backward(dinp: dx, dweight: grad(layout.finalNorm), dout: dn, inp: xL,
                         weight: p + layout.finalNorm, rstd: acts.lnfRstd.pointer, N: N, C: C)

        for l in stride(from: c.layers - 1, through: 0, by: -1) {
            let w = layout.layers[l]
            let (x, n1, r1, q, k, v, probs, att, x1, n2, r2, gate, up, h) = acts.layer(l)
            let dh = acts.dSwiglu.pointer, dgate = acts.dGate.pointer, dup = acts.dUp.pointer
            let datt = acts.dAttention.pointer
            let dq = acts.dq.pointer, dk = acts.dk.pointer, dv = acts.dv.pointer

            // feed-forward block: dx holds dL/dx2, and dL/dx1 = dL/dx2 + (through the block)
            Matmul.backward(dinp: dh, dweight: grad(w.down), dout: dx, inp: h, weight: p + w.down,
                            M: N, K: Hd, N: C)
            lora?.backward(.down, l, dinp: dh, dout: dx, inp: h)
            SwiGLU.backward(dgate: dgate, dup: dup, dh: dh, gate: gate, up: up, N: N * Hd)
            Matmul.backward(dinp: dn, dweight: grad(w.gate), dout: dgate, inp: n2, weight: p + w.gate,
                            M: N, K: C, N: Hd)
            lora?.backward(.gate, l, dinp: dn, dout: dgate, inp: n2)
            Matmul.backward(dinp: dn, dweight: grad(w.up), dout: dup, inp: n2, weight: p + w.up,
                            M: N, K: C, N: Hd, accumulateInput: true)
            lora?.backward(.up, l, dinp: dn, dout: dup, inp: n2)
            RMSNorm.backward(dinp: dx, dweight: grad(w.postNorm), dout: dn, inp: x1, weight: p + w.postNorm,
                             rstd: r2, N: N, C: C)

            // attention block: dx now holds dL/dx1
            Matmul.backward(dinp: datt, dweight: grad(w.o), dout: dx, inp: att, weight: p + w.o,
                            M: N, K: qC, N: C)
            lora?.backward(.o, l, dinp: datt, dout: dx, inp: att)
            Attention.backward(dq: dq, dk: dk, dv: dv, dout: datt,
                               probs: probs, q: q, k: k, v: v, B: B, T: T, H: H, KV: KV, hd: hd)
            rope.backward(dq, N: N, T: T, heads: H)
            rope.backward(dk, N: N, T: T, heads: KV)
            // dq, dk, dv now hold dL/d(projection output), which is also dL/dbias per row
            if let b = w.qBias, let db = grad(b) { Bias.backward(dbias: db, dout: dq, N: N, C: qC) }
            if let b = w.kBias, let db = grad(b) { Bias.backward(dbias: db, dout: dk, N: N, C: kvC) }
            if let b = w.vBias, let db = grad(b) { Bias.backward(dbias: db, dout: dv, N: N, C: kvC) }
            Matmul.backward(dinp: dn, dweight: grad(w.q), dout: dq, inp: n1, weight: p + w.q, M: N, K: C, N: qC)
            lora?.backward(.q, l, dinp: dn, dout: dq, inp: n1)
            Matmul.backward(dinp: dn, dweight: grad(w.k), dout: dk, inp: n1, weight: p + w.k,
                            M: N, K: C, N: kvC, accumulateInput: true)
            lora?.backward(.k, l, dinp: dn, dout: dk, inp: n1)
            Matmul.backward(dinp: dn, dweight: grad(w.v), dout: dv, inp: n1, weight: p + w.v,
                            M: N, K: C, N: kvC, accumulateInput: true)
            lora?.backward(.v, l, dinp: dn, dout: dv, inp: n1)
            RMSNorm.backward(dinp: dx, dweight: grad(w.inputNorm), dout: dn, inp: x, weight: p + w.inputNorm,
                             rstd: r1, N: N, C: C)
        }
        if let g {  // the embedding is frozen under an adapter
            batch.inputs.withUnsafeBufferPointer { tokens in
                Embedding.backward(dtable: g + layout.embedding, dout: dx, tokens: tokens.baseAddress!, N: N, C: C)
            }
        }
    }

    /// Full logits (T, vocab) of one sequence through the training forward
    /// path; for tests and tools, not for sampling (see `Sampler`).
    public func fullLogits(tokens: [Int]) -> [Float] {
        let T = tokens.count
        let batch = TokenBatch(sequences: [(prompt: tokens + [0], completion: [])], padId: 0)
        let acts = Activations(config: config, batchSize: 1, seqLen: T)
        forward(batch, acts)
        var logits = [Float](repeating: 0, count: T * config.vocabSize)
        logits.withUnsafeMutableBufferPointer { out in
            Matmul.forward(out: out.baseAddress!, inp: acts.lnf.pointer,
                           weight: parameters.at(layout.outputHead), M: T, K: config.dim, N: config.vocabSize)
        }
        return logits
    }
}
