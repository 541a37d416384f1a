/// Holm's step-down correction for several comparisons at once (a 16-point
/// a-sweep against one baseline): controls the chance of any false positive
/// at alpha without Bonferroni's loss of power.
public enum Holm {
    /// Adjusted p-values in the input order: sort ascending, multiply the
    /// i-th smallest (from 0) by (m - i), keep them non-decreasing, cap at 1.
    /// A comparison is significant at alpha when its adjusted p is <= alpha.
    public static func adjust(_ pValues: [Double]) throws(StatisticsError) -> [Double] {
        for (i, p) in pValues.enumerated() where !(p >= 0 && p <= 1) {
            throw .invalidParameter("p-value #\(i) is \(p): p-values must be in [0, 1]")
        }
        let m = pValues.count
        let order = pValues.indices.sorted { pValues[$0] < pValues[$1] }
        var adjusted = [Double](repeating: 0, count: m)
        var runningMax = 0.0
        for (rank, index) in order.enumerated() {
            runningMax = max(runningMax, min(1, Double(m - rank) * pValues[index]))
            adjusted[index] = runningMax
        }
        return adjusted
    }
}
