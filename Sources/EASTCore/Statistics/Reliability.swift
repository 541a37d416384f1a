/// How much a set of weights and a per-question score can be trusted.
public enum Reliability {
    /// (sum w)^2 / (N sum w^2): 1 for equal weights, lower as they spread
    /// (the share of the N examples that would carry the same information
    /// unweighted). nil for no weights or all zero.
    public static func effectiveSampleSize(_ weights: [Double]) -> Double? {
        let sum = weights.reduce(0, +), squares = weights.reduce(0) { $0 + $1 * $1 }
        guard !weights.isEmpty, squares > 0 else { return nil }
        return sum * sum / (Double(weights.count) * squares)
    }

    /// Pearson's correlation of paired values: computed on two halves of each
    /// question's samples, the split-half reliability of the score (how much
    /// of its spread across questions is not sampling noise). nil with fewer
    /// than three pairs or no spread.
    public static func correlation(_ x: [Double], _ y: [Double]) -> Double? {
        precondition(x.count == y.count, "correlation of \(x.count) and \(y.count) values")
        let n = Double(x.count)
        guard x.count >= 3 else { return nil }
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (a, b) in zip(x, y) {
            sxy += (a - mx) * (b - my)
            sxx += (a - mx) * (a - mx)
            syy += (b - my) * (b - my)
        }
        guard sxx > 0, syy > 0 else { return nil }
        return sxy / (sxx * syy).squareRoot()
    }

    /// Spearman-Brown: the reliability of a score from all n samples, given
    /// the correlation `r` of its two halves (each from n/2): 2r / (1 + r).
    public static func spearmanBrown(_ r: Double) -> Double { 2 * r / (1 + r) }
}
