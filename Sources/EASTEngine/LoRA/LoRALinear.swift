/// The LoRA path beside one linear layer, forward and backward side by side
/// (llm.c style). The base layer y = x W^T is the plain `Matmul` before it.
///
///   u = x A^T                (M, r)    kept for backward
///   y += scale * u B^T       (M, out)
enum LoRALinear {
    /// inp: (M, K), a: (r, K), b: (N, r), out: (M, N) added to, u: (M, r) written.
    static func forward(
        out: UnsafeMutablePointer<Float>, u: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, scale: Float, M: Int, K: Int, N: Int, r: Int
    ) {
        Matmul.forward(out: u, inp: inp, weight: a, M: M, K: K, N: r)
        Matmul.gemm(transA: false, transB: true, M: M, N: N, K: r, alpha: scale,
                    A: u, lda: r, B: b, ldb: r, beta: 1, C: out, ldc: N)
    }

    /// Given dout = dL/dy (M, N):
    ///   dB   += scale * dout^T u    (N, r)
    ///   du    = scale * dout B      (M, r)   into the scratch `du`
    ///   dA   += du^T x              (r, K)
    ///   dinp += du A                (M, K)   added to the base layer's input gradient
    static func backward(
        dinp: UnsafeMutablePointer<Float>, da: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>,
        du: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, u: UnsafePointer<Float>,
        inp: UnsafePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        scale: Float, M: Int, K: Int, N: Int, r: Int
    ) {
        Matmul.gemm(transA: true, transB: false, M: N, N: r, K: M, alpha: scale,
                    A: dout, lda: N, B: u, ldb: r, beta: 1, C: db, ldc: r)
        Matmul.gemm(transA: false, transB: false, M: M, N: r, K: N, alpha: scale,
                    A: dout, lda: N, B: b, ldb: r, beta: 0, C: du, ldc: r)
        Matmul.gemm(transA: true, transB: false, M: r, N: K, K: M,
                    A: du, lda: r, B: inp, ldb: K, beta: 1, C: da, ldc: K)
        Matmul.gemm(transA: false, transB: false, M: M, N: K, K: r,
                    A: du, lda: r, B: a, ldb: K, beta: 1, C: dinp, ldc: K)
    }
}

/// What the LoRA path keeps between forward and backward: u = x A^T of every
/// adapted module, plus the backward's (M, r) scratch. Allocated on the first
/// pass with an adapter and reused after (reallocated only for a larger one).
final class LoRABuffers {
    let rank: Int
    let slots: Int
    let rows: Int
    let u: FloatBuffer    // (slots, rows, r)
    let du: FloatBuffer   // (rows, r)

    init(rank: Int, slots: Int, rows: Int) {
        self.rank = rank
        self.slots = slots
        self.rows = rows
        u = FloatBuffer(count: slots * rows * rank)
        du = FloatBuffer(count: rows * rank)
    }

    /// `existing` if it is large enough, else a new one stored into it.
    static func reuse(_ existing: inout LoRABuffers?, rank: Int, slots: Int, rows: Int) -> LoRABuffers {
        if let e = existing, e.rank == rank, e.slots >= slots, e.rows >= rows { return e }
        let fresh = LoRABuffers(rank: rank, slots: slots, rows: rows)
        existing = fresh
        return fresh
    }
}

/// One forward (and backward) pass's view of the adapter: the model code
/// calls `forward` right after each wrapped `Matmul.forward`, and `backward`
/// right after each wrapped `Matmul.backward`. Targets the adapter does not
/// wrap are no-ops, so the call sites need no `if`.
struct LoRAPass {
    let adapter: LoRAAdapter
    let buffers: LoRABuffers
    /// Rows (positions) of this pass.
    let M: Int
    /// Whether every module's u gets its own slot (training: backward needs
    /// them) or all share slot 0 (inference).
    let keepsInputs: Bool

    /// rows: positions of this pass; capacity: the most any pass on these buffers has (the slot stride).
    init(adapter: LoRAAdapter, buffers: inout LoRABuffers?, rows: Int, capacity: Int, keepsInputs: Bool) {
        let c = adapter.modelConfig
        self.adapter = adapter
        self.M = rows
        self.keepsInputs = keepsInputs
        self.buffers = LoRABuffers.reuse(&buffers, rank: adapter.config.rank,
                                         slots: keepsInputs ? c.layers * LoRATarget.allCases.count : 1, rows: capacity)
    }

    private func u(_ target: LoRATarget, _ layer: Int) -> UnsafeMutablePointer<Float> {
        let slot = keepsInputs ? layer * LoRATarget.allCases.count + target.index : 0
        return buffers.u.at(slot * buffers.rows * buffers.rank)
    }

    /// out (M, out) += scale * (inp A^T) B^T for `target` of `layer`.
    func forward(_ target: LoRATarget, _ layer: Int, out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>) {
        guard let m = adapter.layout.layers[layer][target.index] else { return }
        let p = adapter.parameters
        LoRALinear.forward(out: out, u: u(target, layer), inp: inp, a: p.at(m.a), b: p.at(m.b),
                           scale: adapter.config.scale, M: M, K: m.inFeatures, N: m.outFeatures, r: adapter.config.rank)
    }

    /// Adds the adapter's gradients and its share of dinp, given dout of `target`'s output.
    func backward(_ target: LoRATarget, _ layer: Int, dinp: UnsafeMutablePointer<Float>,
                  dout: UnsafePointer<Float>, inp: UnsafePointer<Float>) {
        guard let m = adapter.layout.layers[layer][target.index] else { return }
        let p = adapter.parameters, g = adapter.gradients
        LoRALinear.backward(dinp: dinp, da: g.at(m.a), db: g.at(m.b), du: buffers.du.pointer, dout: dout,
                            u: u(target, layer), inp: inp, a: p.at(m.a), b: p.at(m.b),
                            scale: adapter.config.scale, M: M, K: m.inFeatures, N: m.outFeatures,
                            r: adapter.config.rank)
    }
}
