import Foundation

/// Linear warmup from 0 to `peak`, then linear or cosine decay to
/// `peak * minRatio` at `totalSteps` (and flat after).
public struct LearningRateSchedule: Codable, Sendable {
    public enum Decay: String, Codable, Sendable { case linear, cosine, constant }

    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public var decay: Decay
    public var minRatio: Float

    public init(peak: Float, warmupSteps: Int = 0, totalSteps: Int, decay: Decay = .cosine, minRatio: Float = 0.1) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.decay = decay
        self.minRatio = minRatio
    }

    /// The rate for optimizer step `step` (0-based).
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let decaySteps = max(1, totalSteps - warmupSteps)
        let progress = min(1, Float(step - warmupSteps) / Float(decaySteps))  // 0 -> 1
        let floor = peak * minRatio
        switch decay {
        case .constant: return peak
        case .linear: return peak - (peak - floor) * progress
        case .cosine: return floor + (peak - floor) * 0.5 * (1 + cos(Float.pi * progress))
        }
    }
}
