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

    public init(role: String) {
        _ = Self.bootstrap
        self.role = role
        ok = CoreMetrics.Counter(label: "east_messages_total", dimensions: [("role", role), ("outcome", "done")])
        requeued = CoreMetrics.Counter(label: "east_messages_total", dimensions: [("role", role), ("outcome", "requeued")])
        deadLettered = CoreMetrics.Counter(label: "east_messages_total", dimensions: [("role", role), ("outcome", "dead_lettered")])
        stale = CoreMetrics.Counter(label: "east_messages_total", dimensions: [("role", role), ("outcome", "stale")])
        duration = Metrics.Timer(label: "east_message_seconds", dimensions: [("role", role)], preferredDisplayUnit: .seconds)
    }

    /// A gauge of the worker's own, e.g. the trainer's last loss.
    public func gauge(_ name: String) -> CoreMetrics.Gauge { CoreMetrics.Gauge(label: "east_\(name)", dimensions: [("role", role)]) }

    public static var text: String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
