import EASTCore
import Foundation
import Logging
import ServiceLifecycle

/// Set by graceful shutdown (SIGTERM/SIGINT through the `ServiceGroup`) or
/// by cancellation; the blocking loops check it between messages.
public final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false

    public init() {}

    public func request() {
        lock.lock()
        requested = true
        lock.unlock()
    }

    public var isRequested: Bool {
        lock.lock()
        defer { lock.unlock() }
        return requested
    }
}

/// A service whose work is a blocking loop (rabbitmq-c and hiredis are
/// synchronous C libraries): the loop runs on a thread of its own, and
/// graceful shutdown or cancellation sets its `StopFlag`, so the message in
/// hand is finished (or returned to the queue) before the service returns.
public struct BlockingService: Service {
    public let name: String
    let body: @Sendable (StopFlag) throws -> Void

    public init(name: String, _ body: @escaping @Sendable (StopFlag) throws -> Void) {
        self.name = name
        self.body = body
    }

    public func run() async throws {
        let stop = StopFlag()
        let body = self.body, name = self.name
        let started = LockedValue<JoinableThread?>(nil)
        // The loop's thread is joined before the service returns, so that
        // nothing it held is released while the process exits.
        defer { started.value?.join() }
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                started.value = JoinableThread(name: name) { continuation.resume(with: Result { try body(stop) }) }
            }
        } onCancelOrGracefulShutdown: {
            stop.request()
        }
    }
}

/// `/metrics`, `/healthz` and `/readyz` for as long as the group runs.
public struct MetricsService: Service {
    let server: MetricsServer

    public init(server: MetricsServer) {
        self.server = server
    }

    public func run() async throws {
        try? await gracefulShutdown()
        server.close()
    }
}

/// Runs `main` (a worker's loop, or the coordinator) beside its metrics
/// server in one `ServiceGroup`: SIGTERM or SIGINT shut both down
/// gracefully, and when `main` returns or throws, the group ends with it.
public func runServices(main: BlockingService, metrics: MetricsServer?, logger: Logger) async throws {
    var services = [ServiceGroupConfiguration.ServiceConfiguration(
        service: main, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup,
        serviceName: main.name)]
    if let metrics { services.append(.init(service: MetricsService(server: metrics), serviceName: "metrics")) }
    var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    configuration.logging = .init()
    try await ServiceGroup(configuration: configuration).run()
}
