import CKernels

/// The sampler's copy of the model's matrices, packed for decoding (and
/// read by prefill too, so that no product of a sample runs on sgemm).
///
/// A decode step multiplies every weight matrix by only a few rows (one per
/// unfinished sample). sgemm then spends about half its time repacking the
/// weight matrix into its own panel layout, on every call. Packing once per
/// model version into panels of 16 rows (see CKernels.h) and reading that
/// copy at every step doubles the speed at M = 16; `east bench engine`
/// prints the sampling speeds.
///
/// A matrix the model loaded from quantized GGUF blocks (and has not
/// trained since) is packed from its codes instead, at the file's density
/// (Q4_1 0.625 bytes a weight, Q8_0 1.0625, against 4): the same numbers bit
/// for bit.
///
/// The copy costs up to as much memory as the model's matrices. The sampler
/// refreshes it at the start of a `generate` call when the model's
/// `parameterVersion` moved (a `Trainer` step moves it); packing
/// SmolLM2-135M takes a few hundred milliseconds, so it is not done per call.
final class PackedWeights {
    /// One matrix: where it is in the parameters, its shape, and where its
    /// packed copy is (Float32 panels or code panels).
    private struct Matrix {
        let source: Int, K: Int, N: Int
        var floatOffset: Int?  // in floats
        var codeOffset: Int?   // in bytes
        var format: Int32 = 0, offsets: Int32 = 0  // of the code panels
    }
    /// Indices into `matrices` of one layer's products.
    struct Layer { let q, k, v, o, gate, up, down: Int }

    let layers: [Layer]
    let outputHead: Int
    private var matrices: [Matrix]
    private var floats: FloatBuffer?
    private var codes: UnsafeMutableRawPointer?

    /// nil when the CPU lacks AVX-512: sampling then uses BLAS.
    init?(layout: ParameterLayout, config c: ModelConfig) {
        guard east_kernels_available() != 0 else { return nil }
        var matrices: [Matrix] = []
        func add(_ source: Int, K: Int, N: Int) -> Int {
            matrices.append(Matrix(source: source, K: K, N: N))
            return matrices.count - 1
        }
        layers = layout.layers.map { w in
            Layer(q: add(w.q, K: c.dim, N: c.qDim), k: add(w.k, K: c.dim, N: c.kvDim), v: add(w.v, K: c.dim, N: c.kvDim),
                  o: add(w.o, K: c.qDim, N: c.dim), gate: add(w.gate, K: c.dim, N: c.hiddenDim),
                  up: add(w.up, K: c.dim, N: c.hiddenDim), down: add(w.down, K: c.hiddenDim, N: c.dim))
        }
        outputHead = add(layout.outputHead, K: c.dim, N: c.vocabSize)
        self.matrices = matrices
    }

    deinit { codes.map(east_free_streamed) }

    /// Packs the model's current matrices, from codes where the model has
    /// valid ones, split over the BLAS threads.
    func pack(from model: Transformer) {
        let sources = matrices.map { model.quantized?.matrix(at: $0.source, for: model) }
        // lay out both buffers for this mix (allocated once per mix)
        var floatCount = 0, codeBytes = 0
        for i in matrices.indices {
            let m = matrices[i]
            if let q = sources[i] {
                matrices[i].codeOffset = codeBytes; matrices[i].floatOffset = nil
                (matrices[i].format, matrices[i].offsets) = (q.format, q.hasOffsets ? 1 : 0)
                codeBytes += east_qpacked_bytes(m.K, m.N, q.format, q.hasOffsets ? 1 : 0)
            } else {
                matrices[i].floatOffset = floatCount; matrices[i].codeOffset = nil
                floatCount += east_packed_count(m.K, m.N)
            }
        }
        if floats?.count != floatCount { floats = floatCount > 0 ? FloatBuffer(count: floatCount, streamed: true) : nil }
        codes.map(east_free_streamed)
        codes = nil
        if codeBytes > 0 {
            guard let memory = east_alloc_streamed(codeBytes) else { fatalError("out of memory packing \(codeBytes) bytes of codes") }
            codes = memory
        }

        nonisolated(unsafe) let (parameters, floatBase, codeBase) = (model.parameters.pointer, floats?.pointer, codes)
        let matrices = self.matrices
        BLASThreads.shareOut(matrices.count) { i, _ in
            let m = matrices[i]
            if let q = sources[i], let codeBase, let offset = m.codeOffset {
                precondition(m.K % 32 == 0 && q.codes.count == m.N * m.K, "quantized matrix does not fit its shape")
                q.codes.withUnsafeBufferPointer { c in
                    q.offsets.withUnsafeBufferPointer { o in
                        east_qpack_weight(codeBase + offset, c.baseAddress!, q.scales, m.offsets != 0 ? o.baseAddress : nil,
                                          m.K, m.N, m.format)
                    }
                }
            } else if let floatBase, let offset = m.floatOffset {
                east_pack_weight(floatBase + offset, parameters + m.source, m.K, m.N)
            }
        }
    }

    /// out = inp W^T for matrix `index`, its columns split over the BLAS
    /// threads when the product is big enough to pay for the hand-off.
    /// inp: (M, K), W: (N, K), out: (M, N)
    func matmul(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, matrix index: Int, M: Int) {
        let m = matrices[index]
        let (K, N) = (m.K, m.N)
        nonisolated(unsafe) let floatWeights = m.floatOffset.map { floats!.pointer + $0 }
        nonisolated(unsafe) let codeWeights = m.codeOffset.map { UnsafeRawPointer(codes! + $0) }
        @Sendable func run(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ n0: Int, _ n1: Int) {
            if let codeWeights { east_matmul_qpacked(out, inp, codeWeights, M, K, N, n0, n1, m.format, m.offsets) }
            else { east_matmul_packed(out, inp, floatWeights!, M, K, N, n0, n1) }
        }
        let panels = (N + 15) / 16
        let slices = M * N * K < 1 << 18 ? 1 : min(BLASThreads.current, panels / 4)
        nonisolated(unsafe) let (o, x) = (out, inp)
        BLASThreads.shareRanges(N, parts: slices, align: 16) { n0, n1 in run(o, x, n0, n1) }  // whole panels per slice
    }
}
