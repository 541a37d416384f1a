import Foundation

/// Exponential backoff with full jitter, for reconnecting to a server that
/// is restarting: 0.1 s, 0.2 s, 0.4 s ... capped at `maximum`.
public struct Backoff: Sendable {
    public var initial: Double
    public var maximum: Double
    private var attempt = 0

    public init(initial: Double = 0.1, maximum: Double = 5) {
        self.initial = initial
        self.maximum = maximum
    }

    /// Seconds to wait before the next attempt.
    public mutating func nextDelay() -> Double {
        let ceiling = min(maximum, initial * pow(2, Double(attempt)))
        attempt = min(attempt + 1, 30)
        return Double.random(in: (ceiling / 2)...ceiling)
    }

    public mutating func reset() { attempt = 0 }

    /// Sleeps for the next delay.
    public mutating func wait() {
        Thread.sleep(forTimeInterval: nextDelay())
    }
}
