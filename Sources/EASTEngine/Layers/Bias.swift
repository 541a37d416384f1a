/// A linear layer's bias (Qwen2's q, k and v projections), added after the
/// `Matmul` (and its LoRA path): y = x W^T + b, the same b on every row.
enum Bias {
    /// out: (N, C) added to in place, bias: (C)
    static func forward(_ out: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, N: Int, C: Int) {
        for n in 0..<N {
            let row = out + n * C
            for j in 0..<C { row[j] += bias[j] }
        }
    }

    /// dbias (C) += sum over the rows of dout (N, C); dout passes on unchanged to the matmul.
    static func backward(dbias: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, N: Int, C: Int) {
        for n in 0..<N {
            let row = dout + n * C
            for j in 0..<C { dbias[j] += row[j] }
        }
    }
}
