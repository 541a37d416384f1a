import CKernels

/// The sampler's copy of the model's matrices, packed for decoding (and
/// read by prefill too, so that no product of a sample runs on sgemm).
///
/// A decode step multiplies every weight matrix by only a few rows (one per
/// unfinished sample). sgemm then spends about half its time repacking the
/// weight matrix into its own panel layout, on every call. Packing once per
/// model version and reading that copy at every step is what the decode
/// kernels are built on; `east bench engine` prints the sampling speeds.
///
/// A matrix the model loaded from quantized GGUF blocks (and has not
/// trained since) becomes an integer panel (`east_ipack_weight`): its codes
/// at close to the file's density (Q4_1 and Q4_K 5 bits a weight, Q5_0 6,
/// Q6_K 8, Q8_0 8.5), multiplied in integers by 8-bit activations, on AVX2
/// or AVX-512 VNNI. Other matrices are Float32 panels with AVX-512
/// (`east_pack_weight`); without AVX-512 they are not packed (`has` is
/// false) and the caller multiplies the model's own Float32 weights.
///
/// The copy costs up to as much memory as the model's matrices. The sampler
/// refreshes it at the start of a `generate` call when the model's
/// `parameterVersion` moved (a `Trainer` step moves it); packing
/// SmolLM2-135M takes a few hundred milliseconds, so it is not done per call.
final class PackedWeights {
    /// Where a matrix's packed copy is.
    private enum Storage {
        case none
        case floats(offset: Int)                               // Float32 panels of 16 rows, in floats
        case integers(offset: Int, bits: Int32, sub: Int32)   // integer panels, in bytes
    }
    /// One matrix: where it is in the parameters, its shape, and its copy.
    private struct Matrix {
        let source: Int, K: Int, N: Int
        var storage = Storage.none
    }
    /// Indices into `matrices` of one layer's products.
    struct Layer { let q, k, v, o, gate, up, down: Int }

    /// One output of a product that shares its input with others (`matmul`).
    struct Product: @unchecked Sendable {  // each product's out is written by one part per column range
        let matrix: Int
        let out: UnsafeMutablePointer<Float>
    }

    let layers: [Layer]
    let outputHead: Int
    private var matrices: [Matrix]
    private var floats: FloatBuffer?
    private var integers: UnsafeMutableRawPointer?
    /// The input quantized to 8-bit blocks, grown to the largest product seen.
    private var acts: UnsafeMutableRawPointer?
    private var actsCapacity = 0
    /// Float32 panels need the AVX-512 kernels.
    private let floatPanels = east_kernels_available() != 0
    /// Rows of an integer panel for the kernel this CPU runs.
    private let panelRows = Int(east_int_rows())

    init(layout: ParameterLayout, config c: ModelConfig) {
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

    deinit {
        integers.map(east_free_streamed)
        acts.map(east_free_streamed)
    }

    /// Whether matrix `index` has a packed copy (`matmul` takes it).
    func has(_ index: Int) -> Bool {
        if case .none = matrices[index].storage { return false }
        return true
    }

    /// Packs the model's current matrices, from codes where the model has
    /// valid ones, split over the engine's threads.
    func pack(from model: Transformer) {
        let sources = matrices.map { model.quantized?.matrix(at: $0.source, for: model) }
        // lay out both buffers for this mix
        var floatCount = 0, integerBytes = 0
        for i in matrices.indices {
            let m = matrices[i]
            if let q = sources[i], m.K % 32 == 0 {
                let sub = Int32(q.type.subBlock), bits = q.panelFormat.bits
                matrices[i].storage = .integers(offset: integerBytes, bits: bits, sub: sub)
                integerBytes += east_ipacked_bytes(m.K, m.N, bits, sub, Int32(panelRows))
            } else if floatPanels {
                matrices[i].storage = .floats(offset: floatCount)
                floatCount += east_packed_count(m.K, m.N)
            } else {
                matrices[i].storage = .none
            }
        }
        if floats?.count != floatCount { floats = floatCount > 0 ? FloatBuffer(count: floatCount, streamed: true) : nil }
        integers.map(east_free_streamed)
        integers = nil
        if integerBytes > 0 {
            guard let memory = east_alloc_streamed(integerBytes) else { fatalError("out of memory packing \(integerBytes) bytes of codes") }
            integers = memory
        }

        nonisolated(unsafe) let (parameters, floatBase, integerBase) = (model.parameters.pointer, floats?.pointer, integers)
        let matrices = self.matrices, rows = Int32(panelRows)
        BLASThreads.shareOut(matrices.count) { i, _ in
            let m = matrices[i]
            switch m.storage {
            case .integers(let offset, let bits, let sub):
                let q = sources[i]!
                precondition(q.codes.count == m.N * m.K, "quantized matrix does not fit its shape")
                q.codes.withUnsafeBufferPointer { c in
                    q.offsets.withUnsafeBufferPointer { o in
                        east_ipack_weight(integerBase! + offset, c.baseAddress!, q.scales, o.baseAddress, m.K, m.N, sub, bits,
                                          q.panelFormat.lowest, rows)
                    }
                }
            case .floats(let offset):
                east_pack_weight(floatBase! + offset, parameters + m.source, m.K, m.N)
            case .none:
                break
            }
        }
    }

    /// out = inp W^T for every product given (all matrices of one width K,
    /// each packed: `has`), their columns split over the engine's threads in
    /// one hand-off when the work pays for it: q, k and v (or gate and up)
    /// of a decode step share their input and one wake-up of the threads.
    /// The input is quantized once for all integer panels.
    /// inp: (M, K), W: (N, K), out: (M, N)
    func matmul(inp: UnsafePointer<Float>, M: Int, _ a: Product, _ b: Product? = nil, _ c: Product? = nil) {
        let K = matrices[a.matrix].K
        var work = 0, anyIntegers = false
        // panels of each product (three arguments, not an array: a decode step allocates nothing)
        func panels(_ p: Product?) -> Int {
            guard let p else { return 0 }
            let m = self.matrices[p.matrix]
            precondition(m.K == K && has(p.matrix), "PackedWeights.matmul: matrix \(p.matrix) is not packed or not \(K) wide")
            if case .integers = m.storage { anyIntegers = true }
            work += M * m.N * K
            return (m.N + unit(m) - 1) / unit(m)
        }
        let counts = (panels(a), panels(b), panels(c))
        if anyIntegers {
            let bytes = east_acts_bytes(M, K)
            if bytes > actsCapacity {
                acts.map(east_free_streamed)
                guard let memory = east_alloc_streamed(bytes) else { fatalError("out of memory for \(bytes) bytes of activations") }
                (acts, actsCapacity) = (memory, bytes)
            }
            east_quantize_acts(acts, inp, M, K)
        }
        let total = counts.0 + counts.1 + counts.2
        let parts = work < 1 << 18 ? 1 : min(BLASThreads.current, max(1, total / 4))
        nonisolated(unsafe) let (x, q8, floatBase, integerBase) = (inp, UnsafeRawPointer(acts), floats?.pointer, UnsafeRawPointer(integers))
        let matrices = self.matrices, rows = panelRows
        // panels [u0, u1) of the three products laid end to end
        BLASThreads.shareRanges(total, parts: parts, align: 1) { u0, u1 in
            func run(_ p: Product?, first: Int, count: Int) {
                guard let p, u0 < first + count, u1 > first else { return }
                let m = matrices[p.matrix]
                let size = Self.unit(m, rows: rows)
                let n0 = (max(u0, first) - first) * size, n1 = min(m.N, (min(u1, first + count) - first) * size)
                switch m.storage {
                case .integers(let offset, let bits, let sub):
                    east_imatmul(p.out, q8, integerBase! + offset, M, K, m.N, n0, n1, bits, sub)
                case .floats(let offset):
                    east_matmul_packed(p.out, x, floatBase! + offset, M, K, m.N, n0, n1)
                case .none:
                    break
                }
            }
            run(a, first: 0, count: counts.0)
            run(b, first: counts.0, count: counts.1)
            run(c, first: counts.0 + counts.1, count: counts.2)
        }
    }

    /// Columns of a matrix's smallest slice: one panel.
    private func unit(_ m: Matrix) -> Int { Self.unit(m, rows: panelRows) }
    private static func unit(_ m: Matrix, rows: Int) -> Int {
        if case .integers = m.storage { return rows }
        return 16
    }
}

/// Which decode kernels this process runs, for reports (`east bench engine`).
public enum DecodeKernels {
    /// E.g. "integer AVX-512 VNNI (16 rows a panel), Float32 AVX-512".
    public static var description: String {
        let integer = switch east_int_path() {
        case Int32(EAST_INT_PATH_AVX512_VNNI): "AVX-512 VNNI"
        case Int32(EAST_INT_PATH_AVX2): "AVX2"
        default: "portable C"
        }
        let floats = east_kernels_available() != 0 ? "AVX-512 panels" : "AVX2 rows, sgemm prefill"
        return "integer \(integer) (\(east_int_rows()) rows a panel), Float32 \(floats)"
    }

    /// The kernels and OpenBLAS's core: the paths round differently, so the
    /// same policy samples other bits on another path. Reused samples are
    /// addressed by it.
    public static var path: String { description + ", OpenBLAS " + BLASKernels.coreName }
}
