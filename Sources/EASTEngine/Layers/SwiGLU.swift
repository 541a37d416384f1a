import CKernels

/// The Llama feed-forward nonlinearity: h = silu(gate) * up, silu(g) = g * sigmoid(g).
/// (The gate/up/down projections around it are plain `Matmul`s.) One
/// exponential per element, so vectorized (`CKernels`) and split over the threads.
enum SwiGLU {
    /// gate, up, h: (N) flattened
    static func forward(
        h: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, N: Int
    ) {
        nonisolated(unsafe) let (h, gate, up) = (h, gate, up)
        BLASThreads.shareRanges(N) { i0, i1 in east_swiglu(h + i0, gate + i0, up + i0, i1 - i0) }
    }

    /// dgate = dh * up * silu'(g), silu'(g) = s * (1 + g * (1 - s)) with s = sigmoid(g)
    /// dup   = dh * silu(g)
    static func backward(
        dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>,
        dh: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, N: Int
    ) {
        nonisolated(unsafe) let (dgate, dup, dh, gate, up) = (dgate, dup, dh, gate, up)
        BLASThreads.shareRanges(N) { i0, i1 in
            east_swiglu_backward(dgate + i0, dup + i0, dh + i0, gate + i0, up + i0, i1 - i0)
        }
    }
}
