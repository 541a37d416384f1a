/// Global-norm gradient clipping: if the L2 norm of all gradients together
/// exceeds `maxNorm`, scale them all down so it equals `maxNorm`.
public enum GradientClipping {
    /// Returns the norm before clipping (worth logging: spikes show instability).
    @discardableResult
    public static func clip(_ gradients: FloatBuffer, maxNorm: Float) -> Float {
        let g = gradients.pointer
        var sumSquares: Double = 0  // Double: 100M squares in Float lose digits
        for i in 0..<gradients.count { sumSquares += Double(g[i] * g[i]) }
        let norm = Float(sumSquares.squareRoot())
        if maxNorm > 0 && norm > maxNorm {
            let scale = maxNorm / norm
            for i in 0..<gradients.count { g[i] *= scale }
        }
        return norm
    }
}
