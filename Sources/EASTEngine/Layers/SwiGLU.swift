import Foundation

/// The Llama feed-forward nonlinearity: h = silu(gate) * up, silu(g) = g * sigmoid(g).
/// (The gate/up/down projections around it are plain `Matmul`s.)
enum SwiGLU {
    /// gate, up, h: (N) flattened
    static func forward(
        h: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, N: Int
    ) {
        for i in 0..<N {
            let g = gate[i]
            h[i] = g / (1 + exp(-g)) * up[i]
        }
    }

    /// dgate = dh * up * silu'(g), silu'(g) = s * (1 + g * (1 - s)) with s = sigmoid(g)
    /// dup   = dh * silu(g)
    static func backward(
        dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>,
        dh: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, N: Int
    ) {
        for i in 0..<N {
            let g = gate[i]
            let s = 1 / (1 + exp(-g))
            dgate[i] = dh[i] * up[i] * s * (1 + g * (1 - s))
            dup[i] = dh[i] * g * s
        }
    }
}
