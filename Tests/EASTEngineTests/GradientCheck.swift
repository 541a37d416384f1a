import EASTCore
import EASTEngine
import Testing

/// Central finite differences in Float, with the loss summed in Double.
/// With eps = 1e-2 on inputs of size ~1, the error of a correct backward is
/// ~1e-3; a wrong one is off by O(1), so the bound below is meaningful.
func checkGradient(
    _ label: String, values: [Float], analytic: [Float], eps: Float = 1e-2,
    relative: Double = 2e-2, absolute: Double = 2e-3,
    sourceLocation: SourceLocation = #_sourceLocation,
    loss: ([Float]) -> Double
) {
    #expect(values.count == analytic.count, "\(label): sizes", sourceLocation: sourceLocation)
    var failures = 0
    for i in 0..<values.count {
        var plus = values, minus = values
        plus[i] += eps
        minus[i] -= eps
        let numeric = (loss(plus) - loss(minus)) / Double(2 * eps)
        let a = Double(analytic[i])
        let error = abs(numeric - a)
        if error > absolute + relative * max(abs(numeric), abs(a)) {
            failures += 1
            if failures <= 3 {
                Issue.record("\(label)[\(i)]: analytic \(a), numeric \(numeric)", sourceLocation: sourceLocation)
            }
        }
    }
    if failures > 0 {
        Issue.record("\(label): \(failures) of \(values.count) entries off", sourceLocation: sourceLocation)
    }
}

func randomFloats(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    return (0..<count).map { _ in (rng.nextUnitFloat() * 2 - 1) * scale }
}

/// sum_i w_i * y_i in Double: the scalar whose gradient w.r.t. y is w.
func weightedSum(_ y: [Float], _ w: [Float]) -> Double {
    zip(y, w).reduce(0) { $0 + Double($1.0) * Double($1.1) }
}

extension Array where Element == Float {
    /// Runs `body` with a mutable pointer to a copy; returns the copy.
    func mutated(_ body: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        var copy = self
        copy.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
        return copy
    }
}
