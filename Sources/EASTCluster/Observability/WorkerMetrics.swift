import CoreMetrics
import Foundation
import Metrics
import Prometheus

/// The worker's metrics, through swift-metrics into one Prometheus registry
/// per process (served by `MetricsServer`).
public final class WorkerMetrics: @unchecked Sendable {
    public static let registry = PrometheusCollectorRegistry()
    private static let bootstrap: Void = {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }()

    let role: String
    let ok: CoreMetrics.Counter
    let requeued: CoreMetrics.Counter
    let deadLettered: CoreMetrics.Counter
    let stale: CoreMetrics.Counter
    let duration: Metrics.Timer
    /// Seconds working and seconds waiting for a message (verl's idle_ratio):
    /// `east_busy_seconds_total` and `east_idle_seconds_total` per role, and
    /// the same totals in `utilisation` for `east status` (through Redis).
    let busy: Seconds
    let idle: Seconds
    public let utilisation = Utilisation()

    public init(role: String) {
        _ = Self.bootstrap
        self.role = role
        ok = CoreMetrics.Counter(label: "east_messages_total", dimensions: [("role", role), ("outcome", "done")])
        requeued = CoreMetrics.Counter(label: "east_messages_total", dimensions: [("role", role), ("outcome", "requeued")])
        deadLettered = CoreMetrics.Counter(label: "east_messages_total", dimensions: [("role", role), ("outcome", "dead_lettered")])
        stale = CoreMetrics.Counter(label: "east_messages_total", dimensions: [("role", role), ("outcome", "stale")])
        duration = Metrics.Timer(label: "east_message_seconds", dimensions: [("role", role)], preferredDisplayUnit: .seconds)
        busy = Seconds(CoreMetrics.FloatingPointCounter(label: "east_busy_seconds_total", dimensions: [("role", role)]), utilisation, busy: true)
        idle = Seconds(CoreMetrics.FloatingPointCounter(label: "east_idle_seconds_total", dimensions: [("role", role)]), utilisation, busy: false)
    }

    /// A counter of seconds, also added to the worker's `Utilisation`.
    struct Seconds {
        let counter: CoreMetrics.FloatingPointCounter
        let utilisation: Utilisation
        let busy: Bool

        init(_ counter: CoreMetrics.FloatingPointCounter, _ utilisation: Utilisation, busy: Bool) {
            (self.counter, self.utilisation, self.busy) = (counter, utilisation, busy)
        }

        func recordNanoseconds(_ ns: Int64) {
            let seconds = Double(max(0, ns)) / 1e9
            counter.increment(by: seconds)
            utilisation.add(seconds, busy: busy)
        }
    }

    /// A gauge of the worker's own, e.g. the trainer's last loss.
    public func gauge(_ name: String, _ dimensions: [(String, String)] = []) -> CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: "east_\(name)", dimensions: [("role", role)] + dimensions)
    }

    public static var text: String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

/// A worker's busy and idle seconds since it started, and over the last
/// minute (what `east status` shows: where to add replicas).
public final class Utilisation: @unchecked Sendable {
    private let lock = NSLock()
    private var busyTotal = 0.0, idleTotal = 0.0
    /// (time, busy total, idle total) at each read (about every 5 s), back to a minute ago.
    private var history: [(Date, Double, Double)] = []

    func add(_ seconds: Double, busy: Bool) {
        lock.withLock { if busy { busyTotal += seconds } else { idleTotal += seconds } }
    }

    public struct Reading: Codable, Equatable, Sendable {
        public var busySeconds: Double
        public var idleSeconds: Double
        /// Busy share of the last minute (of the lifetime when younger).
        public var recent: Double

        enum CodingKeys: String, CodingKey { case busySeconds = "busy_seconds", idleSeconds = "idle_seconds", recent }
    }

    /// The totals, and the busy share since the oldest sample of the last minute.
    public func read(now: Date = Date()) -> Reading {
        lock.withLock {
            history.append((now, busyTotal, idleTotal))
            // The baseline is the newest sample at least a minute old (or the oldest there is).
            while history.count > 1, now.timeIntervalSince(history[1].0) >= 60 { history.removeFirst() }
            let (_, b0, i0) = history.first!
            let (db, di) = (busyTotal - b0, idleTotal - i0)
            let recent = db + di > 0 ? db / (db + di) : (busyTotal + idleTotal > 0 ? busyTotal / (busyTotal + idleTotal) : 0)
            return Reading(busySeconds: busyTotal, idleSeconds: idleTotal, recent: recent)
        }
    }
}
