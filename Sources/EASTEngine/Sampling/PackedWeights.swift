import CKernels
import Dispatch

/// The sampler's copy of the model's matrices, packed for decoding.
///
/// A decode step multiplies every weight matrix by only a few rows (one per
/// unfinished sample). sgemm then spends about half its time repacking the
/// weight matrix into its own panel layout, on every call. Packing once per
/// model version into panels of 16 rows (see CKernels.h) and reading that
/// copy at every step doubles the speed at M = 16; `east bench engine`
/// prints the sampling speeds.
///
/// The copy costs as much memory as the model's matrices. The sampler
/// refreshes it at the start of a `generate` call when the model's
/// `parameterVersion` moved (a `Trainer` step moves it), and packing
/// SmolLM2-135M takes a few hundred milliseconds, so it is not done per call.
final class PackedWeights {
    /// Offsets into `buffer` of one layer's packed matrices.
    struct Layer { let q, k, v, o, gate, up, down: Int }

    let buffer: FloatBuffer
    let layers: [Layer]
    let outputHead: Int
    /// (source offset in the parameters, packed offset, K, N) of every matrix.
    private let matrices: [(source: Int, packed: Int, K: Int, N: Int)]

    /// nil when the CPU lacks AVX-512: decoding then uses BLAS.
    init?(layout: ParameterLayout, config c: ModelConfig) {
        guard east_kernels_available() != 0 else { return nil }
        var matrices: [(source: Int, packed: Int, K: Int, N: Int)] = []
        var next = 0
        func add(_ source: Int, K: Int, N: Int) -> Int {
            matrices.append((source, next, K, N))
            defer { next += east_packed_count(K, N) }
            return next
        }
        layers = layout.layers.map { w in
            Layer(q: add(w.q, K: c.dim, N: c.dim), k: add(w.k, K: c.dim, N: c.kvDim), v: add(w.v, K: c.dim, N: c.kvDim),
                  o: add(w.o, K: c.dim, N: c.dim), gate: add(w.gate, K: c.dim, N: c.hiddenDim),
                  up: add(w.up, K: c.dim, N: c.hiddenDim), down: add(w.down, K: c.hiddenDim, N: c.dim))
        }
        outputHead = add(layout.outputHead, K: c.dim, N: c.vocabSize)
        self.matrices = matrices
        buffer = FloatBuffer(count: next)
    }

    /// Copies the model's current matrices in, split over the BLAS threads.
    func pack(from parameters: UnsafePointer<Float>) {
        let threads = max(1, min(BLASThreads.current, matrices.count))
        nonisolated(unsafe) let (source, target) = (parameters, buffer.pointer)
        let matrices = self.matrices
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in stride(from: t, to: matrices.count, by: threads) {
                let m = matrices[i]
                east_pack_weight(target + m.packed, source + m.source, m.K, m.N)
            }
        }
    }

    /// out = inp W^T for the packed W at `offset`, its columns split over the
    /// BLAS threads when the product is big enough to pay for the hand-off.
    /// inp: (M, K), W: (N, K), out: (M, N)
    func matmul(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, offset: Int, M: Int, K: Int, N: Int) {
        nonisolated(unsafe) let packed = buffer.pointer + offset
        let panels = (N + 15) / 16
        let threads = min(BLASThreads.current, panels / 4)
        if threads <= 1 || M * N * K < 1 << 18 {
            east_matmul_packed(out, inp, packed, M, K, N, 0, N)
            return
        }
        let per = (panels + threads - 1) / threads * 16  // whole panels per thread
        nonisolated(unsafe) let (o, x) = (out, inp)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let n0 = t * per, n1 = min(N, n0 + per)
            if n0 < n1 { east_matmul_packed(o, x, packed, M, K, N, n0, n1) }
        }
    }
}
