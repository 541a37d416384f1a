/// RMSNorm (Llama): out = x / sqrt(mean(x^2) + eps) * weight.
/// Unlike LayerNorm there is no mean subtraction and no bias.
/// Rows are split over the threads (the backward only without a gain gradient, which every row adds into).
enum RMSNorm {
    /// inp: (N, C), weight: (C), out: (N, C), rstd: (N) = 1/sqrt(mean(x^2)+eps), kept for backward
    static func forward(
        out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, N: Int, C: Int, eps: Float
    ) {
        nonisolated(unsafe) let (out, rstd, inp, weight) = (out, rstd, inp, weight)
        BLASThreads.shareRanges(N, align: 1, minimum: 64) { n0, n1 in
            for n in n0..<n1 {
                let x = inp + n * C
                let y = out + n * C
                var sumSquares: Float = 0
                for i in 0..<C { sumSquares += x[i] * x[i] }
                let r = 1 / (sumSquares / Float(C) + eps).squareRoot()
                for i in 0..<C { y[i] = x[i] * r * weight[i] }
                rstd[n] = r
            }
        }
    }

    /// With xhat = x * rstd and y = xhat * w:
    ///   dweight += sum_n dout * xhat
    ///   dinp    += rstd * (dxhat - xhat * mean(dxhat * xhat)),  dxhat = dout * w
    /// `dinp` is added to, because in the model it is the residual stream's gradient.
    /// `dweight: nil` skips the gain's gradient (a frozen base under LoRA).
    static func backward(
        dinp: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>?,
        dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rstd: UnsafePointer<Float>, N: Int, C: Int
    ) {
        nonisolated(unsafe) let (dinp, dweight, dout, inp, weight, rstd) = (dinp, dweight, dout, inp, weight, rstd)
        @Sendable func rows(_ n0: Int, _ n1: Int) {
            for n in n0..<n1 {
                let x = inp + n * C
                let d = dout + n * C
                let dx = dinp + n * C
                let r = rstd[n]
                var dot: Float = 0  // sum_i dxhat_i * xhat_i
                for i in 0..<C {
                    let xhat = x[i] * r
                    dot += d[i] * weight[i] * xhat
                }
                if let dweight {
                    for i in 0..<C { dweight[i] += d[i] * (x[i] * r) }
                }
                let meanDot = dot / Float(C)
                for i in 0..<C {
                    let xhat = x[i] * r
                    dx[i] += r * (d[i] * weight[i] - xhat * meanDot)
                }
            }
        }
        // rows in parallel, unless they all add into the gain's gradient
        if dweight == nil { BLASThreads.shareRanges(N, align: 1, minimum: 64, rows) } else { rows(0, N) }
    }
}
